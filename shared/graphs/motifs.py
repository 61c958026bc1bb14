"""The planted-motif graph set of the TMD card: "class 0 random trees; class 1 the same trees plus a labelled motif
(triangle / 6-cycle); one-hot node labels, 3 types", about 150 graphs of 10-20 nodes.

A class-0 graph is a uniform random labelled tree on n nodes with uniform random node labels. A class-1 graph is a
random tree on n - k nodes (labels as in class 0) plus a k-node motif, a cycle (triangle k = 3, 6-cycle k = 6) whose
nodes carry the fixed labels 0, 1, ..., k - 1 (mod the number of types), joined to a random tree node by one edge.
n is drawn from the same range in both classes, so node counts have the same law; the motif adds exactly one node of
each type per k / types, so the label histograms have the same mean in both classes and a node-label-histogram
classifier is at chance by construction (the card's "~0.5").

Until issue 19's rework the motif was one edge closing a triangle among existing tree nodes with random labels: an
unlabelled motif, which departed from the card and left TMD-SVM (80 graphs) at 0.58-0.79 on held-out data seeds.
"""
from __future__ import annotations

import networkx as nx
import numpy as np

from shared.graphs.tmd import FeatureGraph, feature_graph
from shared.graphs.tmd_choices import MOTIF_SIZES


def planted_motif_set(count: int, min_nodes: int, max_nodes: int, label_types: int, seed: int,
                      motif: str = "triangle") -> tuple[list[FeatureGraph], np.ndarray]:
    """``count`` graphs (half per class, shuffled) of ``min_nodes``-``max_nodes`` nodes, one-hot node labels of
    ``label_types`` types; class 1 carries the labelled ``motif`` (a key of ``MOTIF_SIZES``). Returns the graphs and
    their classes."""
    k = MOTIF_SIZES[motif]
    if min_nodes <= k:
        raise ValueError(f"planted motif: min_nodes {min_nodes} must exceed the {motif}'s {k} nodes")
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.arange(count) % 2)
    graphs = []
    for label in classes:
        n = int(rng.integers(min_nodes, max_nodes + 1))
        body = n - k if label == 1 else n
        graph = nx.random_labeled_tree(body, seed=int(rng.integers(2**31)))
        types = rng.integers(0, label_types, size=n)
        if label == 1:
            graph.add_edges_from((body + i, body + (i + 1) % k) for i in range(k))
            graph.add_edge(int(rng.integers(body)), body + int(rng.integers(k)))
            types[body:] = np.arange(k) % label_types
        edges = np.array(list(graph.edges()), dtype=np.int64).T
        graphs.append(feature_graph(np.eye(label_types)[types], np.concatenate([edges, edges[::-1]], axis=1)))
    return graphs, classes
