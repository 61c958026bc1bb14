"""Tree Mover's Distance (Chuang and Jegelka, "Tree Mover's Distance: Bridging Graph Metrics and Stability of Graph
Neural Networks", NeurIPS 2022): optimal transport between the multisets of depth-L computation trees of two graphs.

Trees are compared recursively: TD(T_a, T_b) = ||x_a - x_b|| + w(l) OT_TD(rho(children_a, children_b)), where rho
pads the smaller multiset with blank trees (zero features, no children) and OT has unit mass per tree (a minimum-cost
bijection, so costs sum). The graph distance is the same OT over all nodes' depth-L trees, blank-padded too.

:func:`tmd` is the dynamic programme of the official ``tmd.py`` (one matrix of tree distances per level), with each
unit-mass transport solved as the assignment problem it is (``scipy.optimize.linear_sum_assignment`` on the padded
square matrix: with unit masses the OT optimum is a permutation, Birkhoff). :func:`tmd_pot` is the same programme
with every transport an ``ot.emd2`` call on the padded masses, as the official code does; the tests check the two
agree. :class:`TreeCache` memoises tree distances by canonical tree, so the all-pairs distances of a data set whose
graphs share subtrees (discrete labels) solve each distinct pair of subtrees once.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ot
import torch
from scipy.optimize import linear_sum_assignment


@dataclass
class FeatureGraph:
    """A graph for TMD: node features and each node's neighbour indices."""

    x: np.ndarray  # [n, d] float64
    neighbours: list[np.ndarray]  # neighbours[i]: int array

    @property
    def num_nodes(self) -> int:
        return len(self.x)


def feature_graph(x: np.ndarray | torch.Tensor, edge_index: np.ndarray | torch.Tensor) -> FeatureGraph:
    """From features and a PyG-style edge_index (both directions for undirected graphs). Isolated nodes keep an empty
    neighbour list (the official code's ``get_neighbors`` drops them from its dict and relies on a try/except)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    ei = np.asarray(edge_index, dtype=np.int64)
    order = np.argsort(ei[0], kind="stable")
    src, dst = ei[0][order], ei[1][order]
    bounds = np.searchsorted(src, np.arange(len(x) + 1))
    return FeatureGraph(x, [dst[bounds[i]:bounds[i + 1]] for i in range(len(x))])


def depth_weights(w: float | Sequence[float], depth: int) -> list[float]:
    """w(l) for l = 2..depth (``weights[l - 2]``): a float repeats; a list must have depth - 1 entries."""
    if isinstance(w, (int, float)):
        return [float(w)] * (depth - 1)
    weights = [float(v) for v in w]
    if len(weights) != depth - 1:
        raise ValueError(f"depth weights: need {depth - 1} values for depth {depth}, got {len(weights)}")
    return weights


def padded_assignment(cost: np.ndarray, blank_a: np.ndarray, blank_b: np.ndarray) -> float:
    """Unit-mass OT between multisets A (rows) and B (columns), the smaller padded with blank trees: the costs to a
    blank are ``blank_a`` / ``blank_b``, blank to blank is 0. Solved as an assignment on the square padded matrix."""
    a, b = cost.shape
    if a == 0 and b == 0:
        return 0.0
    size = max(a, b)
    square = np.zeros((size, size))
    square[:a, :b] = cost
    square[:a, b:] = blank_a[:, None]
    square[a:, :b] = blank_b[None, :]
    rows, cols = linear_sum_assignment(square)
    return float(square[rows, cols].sum())


def padded_emd(cost: np.ndarray, blank_a: np.ndarray, blank_b: np.ndarray) -> float:
    """The same transport as the official code writes it: ``ot.emd2`` with one blank row/column of mass |a - b|."""
    a, b = cost.shape
    if a == 0 and b == 0:
        return 0.0
    full = np.zeros((a + 1, b + 1))
    full[:a, :b] = cost
    full[:a, b] = blank_a
    full[a, :b] = blank_b
    mass_a = np.append(np.ones(a), max(b - a, 0)).astype(np.float64)
    mass_b = np.append(np.ones(b), max(a - b, 0)).astype(np.float64)
    return float(ot.emd2(mass_a, mass_b, full))


def _pairwise_norms(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    return np.linalg.norm(xa[:, None, :] - xb[None, :, :], axis=-1)


def _tmd_programme(ga: FeatureGraph, gb: FeatureGraph, depth: int, w: float | Sequence[float], transport) -> float:
    weights = depth_weights(w, depth)
    feature_cost = _pairwise_norms(ga.x, gb.x)
    norm_a, norm_b = np.linalg.norm(ga.x, axis=1), np.linalg.norm(gb.x, axis=1)
    cost, blank_a, blank_b = feature_cost, norm_a, norm_b  # depth-1 trees
    for weight in weights:  # depth 2 .. depth
        new = np.empty_like(cost)
        for i, ni in enumerate(ga.neighbours):
            for j, nj in enumerate(gb.neighbours):
                new[i, j] = transport(cost[np.ix_(ni, nj)], blank_a[ni], blank_b[nj])
        blank_a = norm_a + weight * np.array([blank_a[n].sum() for n in ga.neighbours])
        blank_b = norm_b + weight * np.array([blank_b[n].sum() for n in gb.neighbours])
        cost = feature_cost + weight * new
    return transport(cost, blank_a, blank_b)


def tmd(ga: FeatureGraph, gb: FeatureGraph, depth: int = 4, w: float | Sequence[float] = 0.5) -> float:
    """TMD_w^depth(G_a, G_b) (the official code's ``L`` is ``depth``; ``w`` as in ``tmd.py``)."""
    return _tmd_programme(ga, gb, depth, w, padded_assignment)


def tmd_pot(ga: FeatureGraph, gb: FeatureGraph, depth: int = 4, w: float | Sequence[float] = 0.5) -> float:
    """The same distance with every transport an ``ot.emd2`` call, as the official ``tmd.py`` solves it."""
    return _tmd_programme(ga, gb, depth, w, padded_emd)


class TreeCache:
    """Tree distances memoised by canonical computation tree, for all-pairs TMD over one data set.

    A depth-l tree's canonical id is (root feature, sorted multiset of its children's depth-(l-1) ids); two nodes
    with the same id have the same tree, so each distinct pair of trees is transported once, whichever graphs they
    come from. Exact when features repeat (discrete labels); with continuous features every tree is distinct and
    the cache only saves the repeated within-pair work."""

    def __init__(self, graphs: Sequence[FeatureGraph], depth: int, w: float | Sequence[float]) -> None:
        self.depth, self.weights = depth, depth_weights(w, depth)
        self.ids: list[list[np.ndarray]] = [[] for _ in graphs]  # ids[g][l - 1][node]
        self.features: list[np.ndarray] = []  # per distinct feature vector
        self.trees: list[dict[tuple, int]] = [{} for _ in range(depth)]
        self.tree_list: list[list[tuple[int, tuple[int, ...]]]] = [[] for _ in range(depth)]
        feature_ids: dict[bytes, int] = {}
        for g, graph in enumerate(graphs):
            fids = []
            for row in graph.x:
                key = row.tobytes()
                if key not in feature_ids:
                    feature_ids[key] = len(self.features)
                    self.features.append(row)
                fids.append(feature_ids[key])
            previous = np.asarray(fids)
            for level in range(depth):
                if level == 0:
                    keys = [(f, ()) for f in fids]
                else:
                    keys = [(f, tuple(sorted(previous[n].tolist()))) for f, n in zip(fids, graph.neighbours,
                                                                                        strict=True)]
                current = np.array([self._intern(level, key) for key in keys], dtype=np.int64)
                self.ids[g].append(current)
                previous = current
        self.feature_matrix = np.array(self.features)
        self.distance: list[dict[tuple[int, int], float]] = [{} for _ in range(depth)]
        self.blank: list[dict[int, float]] = [{} for _ in range(depth)]

    def _intern(self, level: int, key: tuple) -> int:
        table = self.trees[level]
        if key not in table:
            table[key] = len(self.tree_list[level])
            self.tree_list[level].append(key)
        return table[key]

    def blank_distance(self, level: int, tree: int) -> float:
        cached = self.blank[level].get(tree)
        if cached is None:
            feature, children = self.tree_list[level][tree]
            cached = float(np.linalg.norm(self.feature_matrix[feature]))
            if level > 0:
                cached += self.weights[level - 1] * sum(self.blank_distance(level - 1, c) for c in children)
            self.blank[level][tree] = cached
        return cached

    def tree_distance(self, level: int, ta: int, tb: int) -> float:
        key = (ta, tb) if ta <= tb else (tb, ta)
        cached = self.distance[level].get(key)
        if cached is None:
            if ta == tb:
                cached = 0.0
            else:
                fa, ca = self.tree_list[level][ta]
                fb, cb = self.tree_list[level][tb]
                cached = float(np.linalg.norm(self.feature_matrix[fa] - self.feature_matrix[fb]))
                if level > 0:
                    cached += self.weights[level - 1] * self._children_transport(level - 1, ca, cb)
            self.distance[level][key] = cached
        return cached

    def _children_transport(self, level: int, ca: Sequence[int], cb: Sequence[int]) -> float:
        cost = np.array([[self.tree_distance(level, a, b) for b in cb] for a in ca]).reshape(len(ca), len(cb))
        blank_a = np.array([self.blank_distance(level, a) for a in ca])
        blank_b = np.array([self.blank_distance(level, b) for b in cb])
        return padded_assignment(cost, blank_a, blank_b)

    def graph_distance(self, ga: int, gb: int) -> float:
        """TMD between graphs number ``ga`` and ``gb`` of the data set."""
        top = self.depth - 1
        return self._children_transport(top, self.ids[ga][top].tolist(), self.ids[gb][top].tolist())


def all_pairs_tmd(graphs: Sequence[FeatureGraph], depth: int, w: float | Sequence[float],
                  pairs: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
    """TMD for ``pairs`` (default: every i < j), memoised over the data set; returns one value per pair."""
    if pairs is None:
        pairs = [(i, j) for i in range(len(graphs)) for j in range(i + 1, len(graphs))]
    cache = TreeCache(graphs, depth, w)
    return np.array([cache.graph_distance(i, j) for i, j in pairs])


def distance_matrix(graphs: Sequence[FeatureGraph], depth: int, w: float | Sequence[float]) -> np.ndarray:
    n = len(graphs)
    iu = np.triu_indices(n, k=1)
    values = all_pairs_tmd(graphs, depth, w, list(zip(iu[0].tolist(), iu[1].tolist(), strict=True)))
    matrix = np.zeros((n, n))
    matrix[iu] = values
    return matrix + matrix.T
