"""The pieces of "On the Emergence of Position Bias in Transformers" (Wu, Wang, Jadbabaie, Jegelka; ICML 2025, arXiv
2502.01951): attention masks as directed graphs and their multi-layer composition, the Gaussian-mixture in-context
retrieval task, and the paper's "SAN" (a stack of single-head self-attention layers, then an MLP on the query token).

Theory (Sec. 3-4): one layer of attention under a mask is a row-stochastic matrix A supported on the mask's edges;
L layers compose to P^(L) = A^(L) ... A^(1). Under a causal mask the first token is the only one every token reaches,
so the cumulative attention concentrates on it as L grows (for uniform causal attention, A_ij = 1/i for j <= i:
P^(L)_{i,1} -> 1, at rate 2^-L since A's eigenvalues are 1, 1/2, 1/3, ...). A window mask slows the drift; a prefix
mask sends the mass to the prefix; a decay mask (weights gamma^(i-j)) favours recent tokens within a layer, and
across layers this competes with the early tokens' cumulative weight.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from shared.lm.config import MASKS  # noqa: F401  (torch-free: the config checks the mask; re-exported)


def attention_graph(kind: str, n: int, window: int = 4, prefix: int = 4, gamma: float = 0.9) -> np.ndarray:
    """Unnormalised attention weights of a mask over n tokens (0 = no edge): 1 on the mask's edges, and
    gamma^(i-j) for the decay mask (causal support). Row i is what token i attends to."""
    i, j = np.indices((n, n))
    if kind == "full":
        return np.ones((n, n))
    if kind == "causal":
        return (j <= i).astype(float)
    if kind == "window":  # the w most recent tokens, itself included
        return ((j <= i) & (j > i - window)).astype(float)
    if kind == "prefix":  # the first `prefix` tokens see each other; every token sees the prefix and its past
        return ((j <= i) | ((i < prefix) & (j < prefix))).astype(float)
    if kind == "decay":
        return np.where(j <= i, gamma ** np.clip(i - j, 0, None), 0.0)
    raise ValueError(f"unknown mask {kind!r}; known: {', '.join(MASKS)}")


def uniform_attention(weights: np.ndarray) -> np.ndarray:
    """The row-stochastic attention matrix of a mask when every score is equal (rows normalised)."""
    return weights / weights.sum(axis=1, keepdims=True)


def cumulative_attention(layer: np.ndarray, depth: int) -> np.ndarray:
    """P^(L) = A^L: the weight each token's output puts on each input token after ``depth`` identical layers."""
    return np.linalg.matrix_power(layer, depth)


def first_token_mass(kind: str, n: int, depth: int, **mask: float) -> float:
    """The last token's cumulative attention on the first token after ``depth`` uniform layers of the mask."""
    return float(cumulative_attention(uniform_attention(attention_graph(kind, n, **mask)), depth)[-1, 0])


# -- the in-context retrieval task (Sec. 5, official data.py) -------------------------------------------------
def class_means(rng: np.random.Generator, classes: int, dim: int) -> np.ndarray:
    return rng.normal(0.0, 1.0 / dim, size=(classes, dim))


def items(rng: np.random.Generator, means: np.ndarray, eps: float) -> np.ndarray:
    """Noisy items of the given class means, (mu + eps * noise) / sqrt(1 + eps^2), as in the official code."""
    noise = rng.normal(0.0, 1.0 / means.shape[-1], size=means.shape)
    return (means + eps * noise) / np.sqrt(1.0 + eps**2)


def retrieval_batch(rng: np.random.Generator, means: np.ndarray, label_vectors: np.ndarray, batch: int, pairs: int,
                    burstiness: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of ``pairs`` (item, label) tokens then a query item; ``pairs / burstiness`` classes per sequence,
    each repeated ``burstiness`` times at random positions, with a label drawn per sequence and class (so only
    retrieval in context answers; see the method's departures). Target: the label of the query's class."""
    n_classes, n_labels = pairs // burstiness, label_vectors.shape[0]
    rows = np.arange(batch)[:, None]
    chosen = np.argsort(rng.random((batch, means.shape[0])), axis=1)[:, :n_classes]  # distinct classes per row
    labels = np.argsort(rng.random((batch, n_labels)), axis=1)[:, :n_classes]  # distinct labels per row
    slots = np.repeat(np.arange(n_classes), burstiness)[np.argsort(rng.random((batch, pairs)), axis=1)]
    query = rng.integers(n_classes, size=batch)
    tokens = np.empty((batch, 2 * pairs + 1, means.shape[1]))
    tokens[:, 0:-1:2] = items(rng, means[chosen[rows, slots]], eps)
    tokens[:, 1:-1:2] = label_vectors[labels[rows, slots]]
    tokens[:, -1] = items(rng, means[chosen[np.arange(batch), query]], eps)
    return tokens, labels[np.arange(batch), query]


def first_middle_batch(rng: np.random.Generator, means: np.ndarray, label_vectors: np.ndarray, batch: int, pairs: int,
                       eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test of position preference (the paper's IC_first_middle / IC_middle_first pair in one set): the query's
    class appears twice, at the first and the middle pair, with two different labels; the other pairs are other
    classes. Returns the tokens and the labels at the first and at the middle position."""
    middle, n_labels = pairs // 2, label_vectors.shape[0]
    tokens = np.empty((batch, 2 * pairs + 1, means.shape[1]))
    first_labels, middle_labels = np.empty(batch, dtype=np.int64), np.empty(batch, dtype=np.int64)
    for b in range(batch):
        chosen = rng.choice(means.shape[0], size=pairs - 1, replace=False)  # chosen[0]: the query's class
        slot_class = np.concatenate([[0], rng.permutation(np.arange(1, pairs - 1))])
        slot_class = np.insert(slot_class, middle, 0)
        labels = rng.choice(n_labels, size=pairs, replace=False)
        tokens[b, 0:-1:2] = items(rng, means[chosen[slot_class]], eps)
        tokens[b, 1:-1:2] = label_vectors[labels]
        tokens[b, -1] = items(rng, means[chosen[0]][None], eps)[0]
        first_labels[b], middle_labels[b] = labels[0], labels[middle]
    return tokens, first_labels, middle_labels


class SAN(nn.Module):
    """The paper's model: single-head self-attention layers under a mask (no biases, no LayerNorm, no MLP between
    layers; residual connections off by default, as in the official code), then a 3-layer ReLU MLP on the last
    (query) token and a linear read-out to the labels. No positional encoding (NoPE)."""

    def __init__(self, dim: int, hidden: int, layers: int, n_labels: int, mask: torch.Tensor,
                 residual: bool = False) -> None:
        super().__init__()
        self.embed = nn.Linear(dim, hidden, bias=False)
        self.qkv = nn.ModuleList(nn.Linear(hidden, 3 * hidden, bias=False) for _ in range(layers))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_labels))
        self.register_buffer("log_mask", torch.log(mask))  # 0 on edges, -inf off them, log gamma^(i-j) for decay
        self.residual = residual

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens)
        for qkv in self.qkv:
            q, k, v = qkv(h).chunk(3, dim=-1)
            scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5 + self.log_mask
            out = torch.softmax(scores, dim=-1) @ v
            h = h + out if self.residual else out
        return self.head(h[:, -1])
