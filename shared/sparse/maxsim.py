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

from shared.sparse.index import InvertedIndex, to_csr, top_k_rows


def group_starts(owner: np.ndarray) -> np.ndarray:
    """Start offsets of each run of equal, sorted owner ids."""
    if owner.size and np.any(np.diff(owner) < 0):
        raise ValueError("token owners must be sorted (all tokens of one document or query together)")
    return np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])


@dataclass
class MaxSimIndex:
    tokens: InvertedIndex
    doc_starts: np.ndarray  # offset of each document's first token

    @classmethod
    def build(cls, token_codes: torch.Tensor | np.ndarray, token_doc: np.ndarray) -> MaxSimIndex:
        return cls(InvertedIndex.build(token_codes), group_starts(np.asarray(token_doc)))

    def scores(self, query_codes: torch.Tensor | np.ndarray, token_query: np.ndarray) -> np.ndarray:
        """(queries, documents) sparse MaxSim scores."""
        q = to_csr(query_codes)
        token_scores = self.tokens._scores(q)  # (query tokens, document tokens)
        per_doc = np.maximum.reduceat(token_scores, self.doc_starts, axis=1)  # max over each document's tokens
        return np.add.reduceat(per_doc, group_starts(np.asarray(token_query)), axis=0)  # sum over query tokens

    def search(self, query_codes: torch.Tensor | np.ndarray, token_query: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
        return top_k_rows(self.scores(query_codes, token_query), k)
