"""The planted-motif graph set of the TMD card: class 0 random labelled trees, class 1 the same kind of trees with
one edge added between two nodes at distance 2 (a planted triangle). Node counts and label histograms have the same
distribution in both classes, so a node-label-histogram classifier is at chance by construction."""
from __future__ import annotations

import networkx as nx
import numpy as np

from shared.graphs.tmd import FeatureGraph, feature_graph


def planted_motif_set(count: int, min_nodes: int, max_nodes: int, label_types: int,
                      seed: int) -> tuple[list[FeatureGraph], np.ndarray]:
    """``count`` graphs (half per class, shuffled), one-hot node labels of ``label_types`` types; returns the graphs
    and their classes."""
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.arange(count) % 2)
    graphs = []
    for label in classes:
        n = int(rng.integers(min_nodes, max_nodes + 1))
        tree = nx.random_labeled_tree(n, seed=int(rng.integers(2**31)))
        if label == 1:
            centres = [v for v in tree if tree.degree(v) >= 2]
            centre = centres[int(rng.integers(len(centres)))]
            a, b = rng.choice(sorted(tree.neighbors(centre)), size=2, replace=False)
            tree.add_edge(int(a), int(b))
        edges = np.array(list(tree.edges()), dtype=np.int64).T
        x = np.eye(label_types)[rng.integers(0, label_types, size=n)]
        graphs.append(feature_graph(x, np.concatenate([edges, edges[::-1]], axis=1)))
    return graphs, classes
