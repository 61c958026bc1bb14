"""Graph-sparsity projection by prize-collecting Steiner tree (pcst_fast), as GSLR's official code does it
(fraenkel-lab/GSLR, gslr/gslr.py: ``graph_proj_sparsity``, ``proj_softmax_matrix``), and the checks around it.

A vector w is projected (approximately) onto the vectors supported on one connected subgraph of a feature graph
with between ``low`` and ``high`` nodes: prizes w^2, edge costs lambda (1 + multiplier x edge cost), the PCST solved
by ``pcst_fast(edges, prizes, costs, root=-1, num_clusters=1, pruning='strong')``, and lambda bisected over
[0, 3 sum(prizes)] until the tree's size is in [low, high] (else the last, sparser, lambda_l tree). The official
code's tolerance is always 0 (a pitfall: ``min_nonzero_prize`` starts at 0), so it always runs ``max_iter`` rounds;
here the tolerance is 1% of the smallest non-zero prize, as intended - the result differs only in rounds saved.
"""
from __future__ import annotations

import numpy as np
import pcst_fast


def pcst_tree(edges: np.ndarray, prizes: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """The node ids of one prize-collecting Steiner tree (unrooted, one cluster, strong pruning)."""
    vertices, _ = pcst_fast.pcst_fast(edges, prizes, costs, -1, 1, "strong", 0)
    return np.sort(vertices)


def graph_projection(prizes: np.ndarray, edges: np.ndarray, low: int, high: int, max_iter: int = 30,
                     edge_costs: np.ndarray | None = None, multiplier: float = 0.0) -> np.ndarray:
    """The nodes of a connected subgraph of about [low, high] nodes collecting large ``prizes`` (bisection over the
    edge-cost scale lambda; module docstring)."""
    costs = np.ones(len(edges)) if edge_costs is None else 1.0 + multiplier * edge_costs
    right, left = 0.0, 3.0 * float(prizes.sum())  # lambda_r gives too many nodes, lambda_l too few
    positive = prizes[prizes > 0]
    eps = 0.01 * float(positive.min()) if len(positive) else 0.0
    for _ in range(max_iter):
        if left - right <= eps:
            break
        middle = (left + right) / 2.0
        nodes = pcst_tree(edges, prizes, middle * costs)
        if low <= len(nodes) <= high:
            return nodes
        if len(nodes) > high:
            right = middle
        else:
            left = middle
    return pcst_tree(edges, prizes, left * costs)


def project_rows(weights: np.ndarray, edges: np.ndarray, low: int, high: int, max_iter: int = 20) -> np.ndarray:
    """Each row of W kept only on its projection's nodes (``proj_softmax_matrix``: prizes are the squares, signs
    restored)."""
    out = np.zeros_like(weights)
    for row, w in enumerate(weights):
        nodes = graph_projection(np.square(w), edges, low, high, max_iter)
        out[row, nodes] = w[nodes]
    return out


def is_connected_support(nodes: np.ndarray, edges: np.ndarray) -> bool:
    """Whether ``nodes`` induce a connected subgraph (an empty or one-node set counts as connected)."""
    nodes = set(int(v) for v in nodes)
    if len(nodes) <= 1:
        return True
    adjacency: dict[int, list[int]] = {v: [] for v in nodes}
    for u, v in edges:
        if u in nodes and v in nodes:
            adjacency[int(u)].append(int(v))
            adjacency[int(v)].append(int(u))
    start = next(iter(nodes))
    seen, stack = {start}, [start]
    while stack:
        for nxt in adjacency[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen == nodes


def greedy_connected(prizes: np.ndarray, edges: np.ndarray, size: int) -> np.ndarray:
    """A baseline projection: start at the largest prize and repeatedly add the neighbour with the largest prize
    until ``size`` nodes (connected by construction)."""
    neighbours: dict[int, set[int]] = {v: set() for v in range(len(prizes))}
    for u, v in edges:
        neighbours[int(u)].add(int(v))
        neighbours[int(v)].add(int(u))
    chosen = {int(np.argmax(prizes))}
    frontier = set(neighbours[next(iter(chosen))])
    while len(chosen) < size and frontier:
        best = max(frontier, key=lambda v: prizes[v])
        chosen.add(best)
        frontier |= neighbours[best]
        frontier -= chosen
    return np.array(sorted(chosen))
