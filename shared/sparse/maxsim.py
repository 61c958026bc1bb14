"""Sparse MaxSim over an inverted index, SSR's retrieval (``Y-Research-SBU/SSR: ssr/retrieval/maxsim.py``):

    score(q, d) = sum over the query's tokens i of  max over the document's tokens j of  <q_i, d_j>

with every token a sparse code. The token postings are one inverted index (``index.py``); token-token products
come from one sparse product per query block, the max per document from ``np.maximum.reduceat`` over the
document-sorted tokens and the sum per query from ``np.add.reduceat``: no Python loop over documents or tokens.
Exact mode equals dense MaxSim on the same codes (non-overlapping tokens score 0 either way).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from shared.sparse.index import InvertedIndex, keep_largest_per_row, to_csr, top_k_rows


def group_starts(owner: np.ndarray) -> np.ndarray:
    """Start offsets of each run of equal, sorted owner ids."""
    if owner.size and np.any(np.diff(owner) < 0):
        raise ValueError("token owners must be sorted (all tokens of one document or query together)")
    return np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])


@dataclass
class MaxSimIndex:
    tokens: InvertedIndex
    doc_starts: np.ndarray  # offset of each document's first token
    query_block: int = 64  # queries scored at once

    @classmethod
    def build(cls, token_codes: torch.Tensor | np.ndarray, token_doc: np.ndarray) -> MaxSimIndex:
        return cls(InvertedIndex.build(token_codes), group_starts(np.asarray(token_doc)))

    def scores(self, query_codes: torch.Tensor | np.ndarray, token_query: np.ndarray) -> np.ndarray:
        """(queries, documents) sparse MaxSim scores."""
        q = to_csr(query_codes)
        starts, ends = query_bounds(token_query)
        out = []
        for first in range(0, len(starts), self.query_block):  # whole queries per block bound the token scores
            last = min(first + self.query_block, len(starts)) - 1
            token_scores = self.tokens._scores(q[starts[first]:ends[last]])  # (query tokens, document tokens)
            per_doc = np.maximum.reduceat(token_scores, self.doc_starts, axis=1)  # max over a document's tokens
            out.append(np.add.reduceat(per_doc, starts[first:last + 1] - starts[first], axis=0))  # sum over query
        return np.concatenate(out)

    def search(self, query_codes: torch.Tensor | np.ndarray, token_query: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
        return top_k_rows(self.scores(query_codes, token_query), k)

    def search_pruned(self, query_codes: torch.Tensor | np.ndarray, token_query: np.ndarray, k: int,
                      prune: int = 8, candidates: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """SSR's multi-stage mode: a coarse MaxSim with each query token's ``prune`` largest latents picks the
        best ``candidates`` documents; only their tokens are scored exactly (a sub-index per query)."""
        q = to_csr(query_codes)
        coarse = self.scores(keep_largest_per_row(q, prune), token_query)
        coarse_ids, _ = top_k_rows(coarse, min(candidates, coarse.shape[1]))
        doc_ends = np.r_[self.doc_starts[1:], self.tokens.n_docs]
        postings = self.tokens.postings.tocsr()
        ids, vals = [], []
        for qi, (start, end) in enumerate(zip(*query_bounds(token_query), strict=True)):
            docs = np.sort(coarse_ids[qi])
            rows = np.concatenate([np.arange(self.doc_starts[d], doc_ends[d]) for d in docs])
            starts = np.r_[0, np.cumsum(doc_ends[docs] - self.doc_starts[docs])[:-1]]
            token_scores = (q[start:end] @ postings[rows].T).toarray()
            exact = np.maximum.reduceat(token_scores, starts, axis=1).sum(0, keepdims=True)
            order, top = top_k_rows(exact, k)
            ids.append(docs[order[0]])
            vals.append(top[0])
        return np.stack(ids), np.stack(vals)


def query_bounds(token_query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) token offsets of each query."""
    starts = group_starts(np.asarray(token_query))
    return starts, np.r_[starts[1:], len(token_query)]


def dense_maxsim(query_x: torch.Tensor, token_query: torch.Tensor, doc_x: torch.Tensor, token_doc: torch.Tensor,
                 block: int = 4096) -> torch.Tensor:
    """(queries, documents) MaxSim of dense token vectors, ``token_doc`` in 0..D-1 (the reference of the sparse
    index; documents without tokens score 0). Query tokens in blocks bound the memory of the token-score block."""
    n_docs, n_queries = int(token_doc.max()) + 1, int(token_query.max()) + 1
    out = torch.zeros(n_queries, n_docs)
    for start in range(0, len(query_x), block):
        sims = query_x[start:start + block] @ doc_x.T
        per_doc = torch.full((len(sims), n_docs), float("-inf")).scatter_reduce(
            1, token_doc.expand(len(sims), -1), sims, reduce="amax")
        out.index_add_(0, token_query[start:start + block], per_doc.nan_to_num(neginf=0.0))
    return out
