"""What CSR, CSRv2 and MRL share: the config (frozen embeddings, active dimensions k), a trainer over cached
embedding batches, the coder artifact and the evaluators.

Every method is compared at equal active dimensions k: CSR's k non-zero latents of ``hidden``, MRL's first k
dense coordinates, PCA's first k components (``nn_acc_pca``, computed by the evaluator on the same split).
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from shared.method import Evaluator, GradientTrainer
from shared.methods.sparse.config import SparseHeadConfig  # torch-free; re-exported
from shared.sparse.embeddings import EmbeddingSet, load_embeddings
from shared.sparse.index import InvertedIndex

RETRIEVAL_AT = 10


class Coder(nn.Module):
    """The artifact: frozen embedding -> code at k active dimensions (``forward``)."""


class EmbeddingHeadTrainer(GradientTrainer):
    """Trains a head on cached embedding batches (x, label); the subclass builds the head and its loss."""

    config: SparseHeadConfig

    def setup(self) -> None:
        self.data = load_embeddings(self.config.data)

    def steps_per_epoch(self) -> int:
        return max(1, len(self.data.train_y) // self.config.batch_size)

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, b = len(self.data.train_y), min(self.config.batch_size, len(self.data.train_y))
        order = torch.randperm(n, generator=self.generator)
        for step in range(self.steps_per_epoch()):
            idx = order[step * b:(step + 1) * b]
            yield self.data.train_x[idx], self.data.train_y[idx]


def nn_accuracy(train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor) -> float:
    """1-NN top-1 accuracy by cosine similarity, the train set as the database."""
    sims = F.normalize(test, dim=1) @ F.normalize(train, dim=1).T
    return (train_y[sims.argmax(1)] == test_y).float().mean().item()


def pca_codes(train: torch.Tensor, test: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first k principal components, fitted on the train embeddings."""
    mean = train.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(train - mean, full_matrices=False)
    basis = v[:k].T
    return (train - mean) @ basis, (test - mean) @ basis


def dead_fraction(codes: torch.Tensor) -> float:
    """Share of code dimensions that are zero on every sample."""
    return (~(codes != 0).any(dim=0)).float().mean().item()


def retrieval_scores(ranked: torch.Tensor, query_y: torch.Tensor, corpus_y: torch.Tensor) -> dict[str, float]:
    """recall@10 (found relevant / min(#relevant, 10)) and binary nDCG@10 of each query's ranked corpus ids."""
    hits = (corpus_y[ranked] == query_y[:, None]).float()  # (queries, 10)
    n_relevant = (corpus_y[None, :] == query_y[:, None]).sum(1).clamp(max=ranked.shape[1]).float()
    discounts = 1.0 / torch.log2(torch.arange(ranked.shape[1], dtype=torch.float32) + 2)
    ideal = torch.stack([discounts[: int(m)].sum() for m in n_relevant])
    ndcg = (hits * discounts).sum(1) / ideal.clamp_min(1e-12)
    recall = hits.sum(1) / n_relevant.clamp_min(1)
    return {"recall_at_10": recall.mean().item(), "ndcg_at_10": ndcg.mean().item()}


class SparseEvaluator(Evaluator):
    config: SparseHeadConfig

    def load_data(self) -> EmbeddingSet:
        return load_embeddings(self.config.data)


class CodeQuality(SparseEvaluator):
    """1-NN accuracy of the codes at k active dimensions, of PCA-k and of the full embedding; dead fraction
    (latents that never fire on the train set) and the mean number of active dimensions."""

    metrics = ("nn_acc", "nn_acc_pca", "nn_acc_full", "dead_fraction", "active_dims")

    @torch.no_grad()
    def evaluate(self, artifact: Coder) -> dict[str, float]:
        d = self.data
        train, test = artifact(d.train_x), artifact(d.test_x)
        pca_train, pca_test = pca_codes(d.train_x, d.test_x, self.config.k)
        return {"nn_acc": nn_accuracy(train, d.train_y, test, d.test_y),
                "nn_acc_pca": nn_accuracy(pca_train, d.train_y, pca_test, d.test_y),
                "nn_acc_full": nn_accuracy(d.train_x, d.train_y, d.test_x, d.test_y),
                "dead_fraction": dead_fraction(train),
                "active_dims": (train != 0).sum(1).float().mean().item()}


class Retrieval(SparseEvaluator):
    """recall@10 and nDCG@10 of the held-out queries against the corpus, both coded, searched exactly through the
    inverted index on the unit-normalised codes (cosine); ``query_ms``: the search's milliseconds per query."""

    metrics = ("recall_at_10", "ndcg_at_10", "query_ms")

    @torch.no_grad()
    def evaluate(self, artifact: Coder) -> dict[str, float]:
        d = self.data
        corpus = F.normalize(artifact(d.corpus_x), dim=1)
        queries = F.normalize(artifact(d.query_x), dim=1)
        index = InvertedIndex.build(corpus)
        start = time.perf_counter()
        ids, _ = index.search(queries, min(RETRIEVAL_AT, len(d.corpus_y)))
        query_ms = 1000 * (time.perf_counter() - start) / len(d.query_y)
        out = retrieval_scores(torch.as_tensor(ids, dtype=torch.long), d.query_y, d.corpus_y)
        return {**out, "query_ms": query_ms}


SPARSE_EVALUATORS = (CodeQuality, Retrieval)  # named in specs.py (with their metrics) for the torch-free specs


def total_steps(cfg: SparseHeadConfig, n_train: int) -> int:
    return cfg.epochs * max(1, n_train // cfg.batch_size)
