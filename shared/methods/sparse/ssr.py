"""SSR: "No More K-means: Single-Stage Sparse Coding for Efficient Multi-Vector Retrieval" (Guo, Wang, Wen, Feng,
Jegelka, You; ICML 2026, arXiv 2605.30120; official ``Y-Research-SBU/SSR``: ``ssr/losses.py``, ``ssr/retrieval``).

Every token embedding x of a ColBERT-style encoder becomes a sparse code z = ReLU(TopK_k(W (x - b_pre) + b_lat))
of the tied top-k SAE (``shared/sparse/sae.py``); retrieval is sparse MaxSim over a neuron-level inverted index,
score(q, d) = sum_i max_j <z_qi, z_dj> (``shared/sparse/maxsim.py``), with no k-means codebook. Training loss
(``CombinedSAELoss``, a weight of 0 skips a term):

    L = nmse(x, x_hat_k) + auxk_coef * L_aux + cl_coef * InfoNCE_tau(mean_t z_t(view 1), mean_t z_t(view 2))

the contrastive term on the mean-pooled sparse token codes of a sentence under two dropout views (tau 0.2).

Deliberate departures (CPU scope): the backbone (MiniLM, ``shared/sparse/tokens.py``) is frozen and its token
vectors cached, where SSR fine-tunes BERT; the two views therefore differ by dropout on the cached token vectors
(``view_dropout``), not by dropout inside the transformer; reconstruction is the normalised MSE of CSR's code;
hidden = 4 x 384 (official 16384 for 768-d BERT). Not ported: the supervised MaxSim triplet loss (weight 0 by
default in the official code) and SSR-CLS's separate [CLS] SAE. Codes are unit-normalised per token before MaxSim
(cosine, as ColBERT's normalised token vectors).

The evaluator reports, on the same queries and documents: sparse MaxSim (exact and pruned) against dense MaxSim on
the raw token vectors (``ndcg_at_10_dense``) and against MaxSim on k-means centroid codes (the PLAID / ColBERTv2
first stage SSR removes; ``kmeans_centroids`` = hidden by default), with the build time of each structure.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from shared.method import Evaluator, GradientTrainer
from shared.methods.sparse.common import RETRIEVAL_AT, dead_fraction, retrieval_scores
from shared.methods.sparse.config import SSRConfig  # torch-free; re-exported
from shared.methods.sparse.csr import SAECoder
from shared.methods.sparse.specs import SSR
from shared.models.sae import normalized_mse
from shared.sparse.losses import annealed_k, clipped_k_init, inbatch_infonce
from shared.sparse.maxsim import MaxSimIndex, dense_maxsim
from shared.sparse.sae import TiedTopKSAE
from shared.sparse.tokens import TokenSet, load_tokens


def sentence_mean(codes: torch.Tensor, sentence: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of each sentence's token codes (``sentence`` in 0..n-1)."""
    sums = codes.new_zeros(n, codes.shape[1]).index_add(0, sentence, codes)
    counts = torch.bincount(sentence, minlength=n).clamp_min(1).to(codes.dtype)
    return sums / counts[:, None]


class SSRTrainer(GradientTrainer):
    config: SSRConfig

    def setup(self) -> None:
        self.data = load_tokens(self.config.data)
        sentence = self.data.sentence_of_doc_token
        self.sentence_start = torch.searchsorted(sentence, torch.arange(self.data.n_sentences + 1))

    def build_model(self) -> TiedTopKSAE:
        return TiedTopKSAE(self.data.dim, self.config.hidden or 4 * self.data.dim, self.config.dead_threshold)

    def steps_per_epoch(self) -> int:
        return max(1, self.data.n_sentences // self.config.batch_size)

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(token vectors, each token's sentence in 0..b-1) for b sentences per step."""
        b = min(self.config.batch_size, self.data.n_sentences)
        order = torch.randperm(self.data.n_sentences, generator=self.generator)
        for step in range(self.steps_per_epoch()):
            chosen = order[step * b:(step + 1) * b]
            starts, ends = self.sentence_start[chosen], self.sentence_start[chosen + 1]
            lengths = ends - starts
            sentence = torch.repeat_interleave(torch.arange(len(chosen)), lengths)
            offsets = torch.arange(int(lengths.sum())) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
            yield self.data.doc_x[starts[sentence] + offsets], sentence

    def current_k(self) -> int:
        cfg = self.config
        if not cfg.k_init:
            return cfg.k
        k_init = clipped_k_init(cfg.k_init, cfg.k, self.model.hidden)
        return annealed_k(self.global_step, cfg.epochs * self.steps_per_epoch(), k_init, cfg.k, cfg.k_decay_ratio)

    def contrastive(self, x: torch.Tensor, sentence: torch.Tensor, k: int) -> torch.Tensor:
        """InfoNCE between the mean-pooled codes of two dropout views of each sentence's tokens."""
        n, p = int(sentence.max()) + 1, self.config.view_dropout
        views = [sentence_mean(self.model.encode(F.dropout(x, p, training=True), k), sentence, n) for _ in range(2)]
        return inbatch_infonce(*views, self.config.temperature)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, sae = self.config, self.model
        x, sentence = batch
        k = self.current_k()
        out = sae(x, k)
        total = normalized_mse(out.recon, x)
        parts = {"recon": total.item(), "k": float(k)}
        if cfg.auxk_coef:
            aux = sae.auxk_loss(x, out, cfg.auxk or max(1, sae.hidden // 16))
            total, parts["auxk"] = total + cfg.auxk_coef * aux, aux.item()
        if cfg.cl_coef:
            cl = self.contrastive(x, sentence, k)
            total, parts["cl"] = total + cfg.cl_coef * cl, cl.item()
        sae.update_idle(out.code)
        parts["dead_now"] = sae.dead_mask().float().mean().item()
        return total, parts

    def artifact(self) -> SAECoder:
        return SAECoder(self.model, self.config.k)


def ranked_scores(scores: np.ndarray | torch.Tensor, query_doc: torch.Tensor, present: torch.Tensor
                  ) -> dict[str, float]:
    """recall@10 / nDCG@10 of (queries, present documents) scores; ``present`` maps columns to document ids."""
    scores = torch.as_tensor(np.asarray(scores))
    ranked = scores.topk(min(RETRIEVAL_AT, scores.shape[1]), dim=1).indices
    return retrieval_scores(ranked, query_doc, present)


def kmeans_codes(doc_x: torch.Tensor, centroids: int, seed: int) -> tuple[torch.Tensor, float]:
    """Each document token replaced by its nearest of ``centroids`` k-means centroids (PLAID's centroid stage),
    and the seconds that building the codebook and assigning the tokens took."""
    import faiss

    start = time.perf_counter()
    x = doc_x.numpy().astype(np.float32)
    # min_points_per_centroid=1: a codebook as wide as the SAE on a small corpus is the comparison, not a mistake
    kmeans = faiss.Kmeans(x.shape[1], min(centroids, len(x)), niter=20, seed=seed, spherical=True,
                          min_points_per_centroid=1)
    kmeans.train(x)
    _, assign = kmeans.index.search(x, 1)
    return torch.from_numpy(kmeans.centroids[assign[:, 0]]), time.perf_counter() - start


class MultiVectorRetrieval(Evaluator):
    """Held-out sentences retrieve their source document by MaxSim: sparse over the inverted index (exact and
    pruned), dense on the raw token vectors, and on k-means centroid codes; dead fraction of the document codes."""

    config: SSRConfig
    metrics = ("ndcg_at_10", "recall_at_10", "ndcg_at_10_pruned", "pruned_top1_agreement", "ndcg_at_10_dense",
               "ndcg_at_10_kmeans", "dead_fraction", "active_dims", "index_build_s", "kmeans_build_s", "query_ms")

    def load_data(self) -> TokenSet:
        return load_tokens(self.config.data)

    @torch.no_grad()
    def evaluate(self, artifact: SAECoder) -> dict[str, float]:
        cfg, d = self.config, self.data
        present, doc_column = torch.unique_consecutive(d.doc_of_token, return_inverse=True)
        start = time.perf_counter()
        doc_codes = artifact(d.doc_x)
        index = MaxSimIndex.build(F.normalize(doc_codes, dim=1), doc_column.numpy())
        build_s = time.perf_counter() - start
        queries, token_query = F.normalize(artifact(d.query_x), dim=1), d.query_of_token.numpy()
        start = time.perf_counter()
        exact = index.scores(queries, token_query)
        query_ms = 1000 * (time.perf_counter() - start) / len(d.query_doc)
        pruned_ids, _ = index.search_pruned(queries, token_query, RETRIEVAL_AT, cfg.prune, cfg.candidates)
        pruned = retrieval_scores(torch.as_tensor(pruned_ids, dtype=torch.long), d.query_doc, present)
        centroid_x, kmeans_s = kmeans_codes(d.doc_x, cfg.kmeans_centroids or artifact.sae.hidden, cfg.seed)
        out = ranked_scores(exact, d.query_doc, present)
        return {**out, "ndcg_at_10_pruned": pruned["ndcg_at_10"],
                "pruned_top1_agreement": float((pruned_ids[:, 0] == exact.argmax(1)).mean()),
                "ndcg_at_10_dense": ranked_scores(dense_maxsim(d.query_x, d.query_of_token, d.doc_x, doc_column),
                                                  d.query_doc, present)["ndcg_at_10"],
                "ndcg_at_10_kmeans": ranked_scores(dense_maxsim(d.query_x, d.query_of_token, centroid_x, doc_column),
                                                   d.query_doc, present)["ndcg_at_10"],
                "dead_fraction": dead_fraction(doc_codes), "active_dims": (doc_codes != 0).sum(1).float().mean().item(),
                "index_build_s": build_s, "kmeans_build_s": kmeans_s, "query_ms": query_ms}


SPEC = SSR  # the spec lives torch-free in shared/methods/sparse/specs.py (the registry's entry)
