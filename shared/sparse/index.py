"""An inverted index over the non-zero latents of sparse codes (shared by CSR, CSRv2 and SSR retrieval).

The corpus is kept twice: a scipy CSC matrix (documents x latents: column j is latent j's posting list) for
token-level products (SSR's MaxSim, ``scores``), and its CSR rows for exact top-k search. Exact search scores a
block of queries at once with one sparse x dense product (corpus rows x the block's dense query codes, float32:
each stored code value times the block's query values, no Python loop over documents), then selects the top-k
without sorting the corpus: the block's scores are cut into groups of ``GROUP`` documents, the k-th largest group
maximum t is a lower bound of the k-th best score (k distinct documents reach it), so only groups whose maximum is
>= t can hold the top k; those few candidates (laid out per query) are selected by one argpartition. The score
block is (documents x block), bounded by ``BLOCK_CELLS``, never documents x all queries. Results equal dense
scoring (ids may differ only between equal scores); any sign of code values is allowed (documents sharing no
latent score 0 and are ranked like the rest). Pruned search keeps each query's ``prune`` largest latents for a
coarse pass, takes the best ``candidates`` documents and reranks them exactly (SSR's multi-stage mode). Scores are
dot products; normalise first for cosine.

Why not a sparse x sparse product for exact search: learnt latents fire with Zipf-like popularity, so a query at
k = 8 touches ~35% of the corpus and scipy's sparse output path (per-row accumulators, then sorting ~N stored
scores per query) costs more than the dense block; at k = 8 against FAISS flat (CPU seconds, loaded machine,
``jobs/bench_retrieval.py``): 11.1x on 10^5 codes (9.8x before each query's candidates were selected by one
argpartition instead of a lexsort over all candidates: 1.07-1.21x faster side by side; the first path: 4.9x, wall)
and 227x on 10^6 (18x against a dense matmul over the same array; measured before that change).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

BLOCK_CELLS = 1 << 26  # documents x queries scored at once (256 MiB of float32 scores)
BLOCK = 64  # queries scored at once: a smaller score block stays nearer the cache (128: ~10% slower at 10^5 codes)
GROUP = 64  # documents per group of the top-k selection (its maxima bound which groups can hold the top k)
# The sparse x sparse path (scipy's sparse output, each query's stored scores ranked) costs ~this many times more
# per (query, posting) pair than the dense block per stored code value and query: it wins only when queries touch
# few documents (rare latents, small k). Measured on synthetic Zipf codes (``jobs/bench_retrieval.py``).
SPARSE_PATH_RATIO = 40


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


def top_k_columns(scores: np.ndarray, k: int, group: int = GROUP) -> tuple[np.ndarray, np.ndarray]:
    """Per column of a (documents x queries) score block, the ids and values of the k largest scores, best first
    (equal scores: the lower id first), as (queries, k) arrays. Exact: the k-th largest of the per-group maxima is
    reached by k distinct documents, so every document outside a group whose maximum reaches it scores below the
    k-th best (or ties it). Each query's candidate groups are laid side by side in one (queries x candidates) array
    (padded with -inf) and selected with one argpartition: no sort over all candidates."""
    n, b = scores.shape
    k = min(k, n)
    group = max(1, min(group, n // (4 * k)))  # at least 4k groups, so k group maxima exist
    n_groups = -(-n // group)
    if n_groups * group != n:  # pad to whole groups with scores no document can lose to
        scores = np.concatenate([scores, np.full((n_groups * group - n, b), -np.inf, scores.dtype)])
    groups = scores.reshape(n_groups, group, b)
    maxima = torch.from_numpy(groups).amax(dim=1).numpy()  # (groups, queries); numpy's middle-axis max is ~6x slower
    bound = np.partition(maxima, n_groups - k, axis=0)[n_groups - k]  # per query: a lower bound of its k-th score
    cand_query, cand_group = np.nonzero((maxima >= bound).T)  # by query: >= k groups each, few beyond k
    counts = np.bincount(cand_query, minlength=b)
    slot = np.arange(cand_query.size) - np.repeat(np.cumsum(counts) - counts, counts)  # rank among its query's
    width = int(counts.max())
    vals = np.full((b, width, group), -np.inf, scores.dtype)
    vals[cand_query, slot] = groups[cand_group, :, cand_query]
    first = np.zeros((b, width), dtype=np.int64)  # each candidate group's first document id
    first[cand_query, slot] = cand_group * group
    vals = vals.reshape(b, width * group)
    part = np.argpartition(-vals, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(vals, part, axis=1)
    ids = np.take_along_axis(first, part // group, axis=1) + part % group
    order = np.lexsort((ids, -top), axis=1)  # best first, equal scores by id
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(top, order, axis=1)


def top_k_sparse_rows(scores: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``top_k_rows`` of a sparse score matrix whose missing entries are 0, reading only each row's stored scores:
    exact whenever a row has at least k positive scores (no unstored 0 can enter its top k); the other rows (few
    overlapping documents, or negative scores) take the dense path. A loop over queries, not documents."""
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
    block: int = BLOCK  # at most this many queries scored at once (and at most BLOCK_CELLS scores)
    rows: sp.csr_matrix = field(init=False, repr=False)  # the same codes, row-major (+ empty rows to whole groups)
    posting_lengths: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rows = self.postings.tocsr()
        n, pad = rows.shape[0], -rows.shape[0] % GROUP  # empty rows up to whole groups: the score block needs no copy
        indptr = np.concatenate([rows.indptr, np.full(pad, rows.indptr[-1], rows.indptr.dtype)])
        self.rows = sp.csr_matrix((rows.data, rows.indices, indptr), shape=(n + pad, rows.shape[1]))
        self.posting_lengths = np.diff(self.postings.indptr)

    @classmethod
    def build(cls, codes: torch.Tensor | np.ndarray | sp.spmatrix, block: int = BLOCK) -> InvertedIndex:
        return cls(to_csr(codes).tocsc(), block)

    @classmethod
    def from_shards(cls, shards: list[sp.spmatrix], block: int = BLOCK) -> InvertedIndex:
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
        if q.shape[1] != self.rows.shape[1]:
            raise ValueError(f"queries have {q.shape[1]} latents, the index {self.rows.shape[1]}")
        step = max(1, min(self.block, BLOCK_CELLS // max(1, self.rows.shape[0])))
        ids, vals = [], []
        for start in range(0, q.shape[0], step):
            block = q[start:start + step]
            touched = self.posting_lengths[block.indices].sum()  # (query, posting) pairs the sparse product walks
            if touched * SPARSE_PATH_RATIO < self.rows.nnz * block.shape[0] and self.n_docs > 4 * GROUP:
                i, v = top_k_sparse_rows((block @ self.postings.T).tocsr().astype(np.float32, copy=False), k)
            else:
                dense = np.ascontiguousarray(block.toarray().T)  # (latents x block) query codes
                scores = np.asarray(self.rows @ dense, dtype=np.float32)  # (documents + padding) x block
                scores[self.n_docs:] = -np.inf
                i, v = top_k_columns(scores, min(k, self.n_docs))
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
