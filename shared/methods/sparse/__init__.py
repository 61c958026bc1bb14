"""The sparse adaptive-embedding family: CSR, CSRv2 and their MRL baseline (heads on frozen embeddings) and SSR
(sparse token codes for multi-vector retrieval)."""
