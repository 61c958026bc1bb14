"""The sparse-embedding family's shared parts (CSR, CSRv2, SSR): the tied top-k sparse autoencoder with multi-top-k
and AuxK (``sae``), its losses (``losses``), the inverted index over non-zero latents (``index``), the frozen
embeddings the heads train on (``embeddings``) and the ``data:`` sections with their torch-free checks (``config``).
Plain PyTorch and scipy; never imports Ray."""
