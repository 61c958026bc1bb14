"""Graphon signal sampling, after "A Poincaré Inequality and Consistency Results for Signal Sampling on Large
Graphs" (Le, Ruiz, Jegelka; ICLR 2024). No public code exists; the steps follow the paper's abstract and reviews:

- graphs sampled from a graphon W with known latent positions x_i ~ U[0, 1]; bandlimited signals f = V_k c, with
  V_k the first k eigenvectors of the normalised Laplacian;
- a uniqueness (sampling) set by Gaussian elimination with pivoting on V_k^T (column-pivoted QR): f is recovered
  from its values there, f = V_k V_k[S]^+ f[S];
- consistency: the uniqueness set of latent intervals (m bins of [0, 1]) that the coarsened graph gives stays the
  same as the graph grows (the paper's consistency is for this interval set, which transfers without recomputing
  the large graph's spectrum; the nodes a node-level QR picks, mapped to bins, are a different and noisier object);
- interval sampling: coarsen the graph into m intervals, find a uniqueness set of intervals on that m-node graph,
  then draw nodes uniformly from the chosen intervals of the large graph.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg

Graphon = Callable[[np.ndarray, np.ndarray], np.ndarray]


def exponential_graphon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """W(x, y) = 0.8 exp(-3 |x - y|) (the spec card's smooth graphon)."""
    return 0.8 * np.exp(-3.0 * np.abs(x - y))


def block_graphon(x: np.ndarray, y: np.ndarray, blocks: int = 4, p_in: float = 0.5, p_out: float = 0.05) -> np.ndarray:
    """A stochastic block model as a graphon: equal blocks of [0, 1], p_in inside a block, p_out across."""
    return np.where(np.floor(x * blocks) == np.floor(y * blocks), p_in, p_out)


def sample_graph(rng: np.random.Generator, graphon: Graphon, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Latent positions x (sorted) and a symmetric 0/1 adjacency without self-loops, A_ij ~ Bernoulli(W(x_i, x_j))."""
    x = np.sort(rng.random(n))
    upper = np.triu(rng.random((n, n)) < graphon(x[:, None], x[None, :]), k=1)
    return x, (upper | upper.T).astype(float)


def laplacian_eigenvectors(adjacency: np.ndarray, k: int) -> np.ndarray:
    """The k eigenvectors of L = I - D^-1/2 A D^-1/2 with the smallest eigenvalues (isolated nodes: degree 1)."""
    degree = np.maximum(adjacency.sum(axis=1), 1.0)
    scale = 1.0 / np.sqrt(degree)
    laplacian = np.eye(len(adjacency)) - scale[:, None] * adjacency * scale[None, :]
    return scipy.linalg.eigh(laplacian, subset_by_index=[0, k - 1])[1]


def qr_sampling_set(basis: np.ndarray, size: int) -> np.ndarray:
    """Rows chosen by column-pivoted QR of basis^T (Gaussian elimination with pivoting): the first ``size`` pivots."""
    _, _, pivots = scipy.linalg.qr(basis.T, mode="economic", pivoting=True)
    return np.sort(pivots[:size])


def reconstruct(basis: np.ndarray, nodes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bandlimited signal with these values on ``nodes``: V (V[S])^+ f[S]."""
    return basis @ np.linalg.pinv(basis[nodes]) @ values


def intervals_of(x: np.ndarray, nodes: np.ndarray, m: int) -> set[int]:
    """The latent intervals (m equal bins of [0, 1]) that the nodes fall in."""
    return {int(b) for b in np.minimum(np.floor(x[nodes] * m), m - 1)}


def coarsened(adjacency: np.ndarray, x: np.ndarray, m: int) -> np.ndarray:
    """The m-interval graph: the mean adjacency between the nodes of each pair of latent intervals."""
    bins = np.minimum(np.floor(x * m), m - 1).astype(int)
    member = np.zeros((m, len(x)))
    member[bins, np.arange(len(x))] = 1.0
    counts = np.maximum(member.sum(axis=1), 1.0)
    return (member @ adjacency @ member.T) / counts[:, None] / counts[None, :]


def interval_uniqueness_set(adjacency: np.ndarray, x: np.ndarray, k: int, m: int) -> set[int]:
    """The paper's step (2): the k latent intervals that column-pivoted QR picks on the first k Laplacian
    eigenvectors of the m-interval coarsened graph (the graph's step graphon), not on the n-node graph."""
    return {int(i) for i in qr_sampling_set(laplacian_eigenvectors(coarsened(adjacency, x, m), k), k)}


def interval_sample(rng: np.random.Generator, adjacency: np.ndarray, x: np.ndarray, k: int, m: int,
                    budget: int) -> np.ndarray:
    """The paper's sampler: a uniqueness set of k intervals on the coarsened graph, then ``budget`` nodes drawn
    uniformly from the nodes of those intervals (all of them when fewer)."""
    chosen = sorted(interval_uniqueness_set(adjacency, x, k, m))
    bins = np.minimum(np.floor(x * m), m - 1).astype(int)
    pool = np.flatnonzero(np.isin(bins, chosen))
    return np.sort(rng.choice(pool, size=min(budget, len(pool)), replace=False))
