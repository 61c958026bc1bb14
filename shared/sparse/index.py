"""An inverted index over the non-zero latents of sparse codes (shared by CSR, CSRv2 and SSR retrieval).

The corpus is a scipy CSC matrix (documents x latents): column j is latent j's posting list (documents, values).
Exact search scores every document sharing a latent with the query, through one sparse-sparse product per query
block (no Python loop over documents); pruned search keeps each query's ``prune`` largest latents for a coarse
pass, takes the best ``candidates`` documents and reranks them exactly (SSR's multi-stage mode).
Scores are dot products; normalise the codes first for cosine.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

# Up to this many documents (or when most scores are stored) one vectorised top-k over the dense score block beats
# ranking each query's stored scores in a loop.
DENSE_TOP_K_DOCS = 4096


def to_csr(codes: torch.Tensor | np.ndarray | sp.spmatrix) -> sp.csr_matrix:
    """A dense or sparse code matrix as float32 scipy CSR (zeros dropped)."""
    if isinstance(codes, torch.Tensor):
        codes = codes.detach().cpu().numpy()
    matrix = sp.csr_matrix(codes, dtype=np.float32)
    matrix.eliminate_zeros()
    return matrix


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the indices and values of the k largest scores, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def top_k_sparse_rows(scores: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``top_k_rows`` of a sparse score matrix whose missing entries are 0, reading only each row's stored scores:
    exact whenever a row has at least k positive scores (no unstored 0 can enter its top k); the other rows (few
    overlapping documents, or negative scores) take the dense path."""
    k = min(k, scores.shape[1])
    ids = np.empty((scores.shape[0], k), dtype=np.int64)
    vals = np.empty((scores.shape[0], k), dtype=np.float32)
    rows = np.repeat(np.arange(scores.shape[0]), np.diff(scores.indptr))
    positive = np.bincount(rows[scores.data > 0], minlength=scores.shape[0])
    for row in range(scores.shape[0]):
        start, end = scores.indptr[row], scores.indptr[row + 1]
        if positive[row] >= k:
            i, v = top_k_rows(scores.data[None, start:end], k)
            ids[row], vals[row] = scores.indices[start:end][i[0]], v[0]
        else:
            i, v = top_k_rows(scores[row].toarray(), k)
            ids[row], vals[row] = i[0], v[0]
    return ids, vals


def keep_largest_per_row(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Each row's ``keep`` largest-magnitude entries (the query pruning of the coarse pass), vectorised."""
    coo = matrix.tocoo()
    order = np.lexsort((-np.abs(coo.data), coo.row))  # by row, then largest first
    rows, cols, data = coo.row[order], coo.col[order], coo.data[order]
    starts = np.searchsorted(rows, rows, side="left")
    rank = np.arange(rows.size) - starts
    keep_mask = rank < keep
    return sp.csr_matrix((data[keep_mask], (rows[keep_mask], cols[keep_mask])), shape=matrix.shape)


@dataclass
class InvertedIndex:
    postings: sp.csc_matrix  # documents x latents, column-major: latent -> its documents
    block: int = 1024  # queries scored at once (bounds the dense score block's memory)

    @classmethod
    def build(cls, codes: torch.Tensor | np.ndarray | sp.spmatrix, block: int = 1024) -> InvertedIndex:
        return cls(to_csr(codes).tocsc(), block)

    @classmethod
    def from_shards(cls, shards: list[sp.spmatrix], block: int = 1024) -> InvertedIndex:
        """The index of the row blocks stacked in order (shards coded apart, e.g. as Ray tasks, whose results are
        read-only views of the object store: copied before ``to_csr`` drops explicit zeros in place)."""
        return cls(sp.vstack([to_csr(sp.csr_matrix(s, copy=True)) for s in shards], format="csr").tocsc(), block)

    @property
    def n_docs(self) -> int:
        return self.postings.shape[0]

    def _scores(self, queries: sp.csr_matrix) -> np.ndarray:
        # (q x latents) @ (latents x docs): scipy walks only the posting lists of the queries' non-zero latents
        return (queries @ self.postings.T).toarray().astype(np.float32, copy=False)

    def search(self, queries: torch.Tensor | np.ndarray | sp.spmatrix, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k: (indices, scores), each (n_queries, k), best first; equals dense scoring of the codes."""
        q = to_csr(queries)
        ids, vals = [], []
        for start in range(0, q.shape[0], self.block):
            # the product stays sparse: only documents sharing a latent with the query are stored and ranked
            scores = (q[start:start + self.block] @ self.postings.T).tocsr().astype(np.float32, copy=False)
            dense = self.n_docs <= DENSE_TOP_K_DOCS or scores.nnz > 0.5 * scores.shape[0] * self.n_docs
            i, v = top_k_rows(scores.toarray(), k) if dense else top_k_sparse_rows(scores, k)
            ids.append(i)
            vals.append(v)
        return np.concatenate(ids), np.concatenate(vals)

    def search_pruned(self, queries: torch.Tensor | np.ndarray | sp.spmatrix, k: int, prune: int = 8,
                      candidates: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """Coarse top-``candidates`` with each query's ``prune`` largest latents, then an exact rerank of those."""
        q = to_csr(queries)
        coarse_ids, _ = self.search(keep_largest_per_row(q, prune), min(candidates, self.n_docs))
        n_q, n_c = coarse_ids.shape
        docs = self.postings.tocsr()[coarse_ids.ravel()]
        repeated = q[np.repeat(np.arange(n_q), n_c)]
        exact = np.asarray(docs.multiply(repeated).sum(axis=1), dtype=np.float32).reshape(n_q, n_c)
        order, vals = top_k_rows(exact, k)
        return np.take_along_axis(coarse_ids, order, axis=1), vals
