"""Homophily measures of a labelled graph and a contextual SBM generator at controlled edge homophily.

The formulas follow the heterophilic-graph handbook's code (``SitaoLuan/When-Do-GNNs-Help``,
``utils/homophily_metrics.py``): edge homophily (Zhu 2020), node homophily (Pei 2020), class homophily (Lim 2021),
adjusted homophily and label informativeness (Platonov 2022). Graphs are undirected: ``edge_index`` holds both
directions of every edge (PyG's convention); self-loops are dropped before measuring.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def _directed_edges(edge_index: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source and target arrays without self-loops (each undirected edge appears once per direction)."""
    ei = np.asarray(edge_index)
    keep = ei[0] != ei[1]
    return ei[0][keep], ei[1][keep]


def edge_homophily(edge_index: torch.Tensor | np.ndarray, labels: np.ndarray) -> float:
    """Fraction of edges joining nodes of the same label."""
    src, dst = _directed_edges(edge_index)
    y = np.asarray(labels)
    return float(np.mean(y[src] == y[dst]))


def node_homophily(edge_index: torch.Tensor | np.ndarray, labels: np.ndarray) -> float:
    """Mean over nodes with neighbours of the fraction of same-label neighbours."""
    src, dst = _directed_edges(edge_index)
    y = np.asarray(labels)
    n = len(y)
    degree = np.bincount(src, minlength=n)
    same = np.bincount(src, weights=(y[src] == y[dst]).astype(float), minlength=n)
    has = degree > 0
    return float(np.mean(same[has] / degree[has]))


def class_homophily(edge_index: torch.Tensor | np.ndarray, labels: np.ndarray) -> float:
    """(1/(C-1)) sum_k max(0, h_k - |C_k|/n), h_k the share of same-label edges among the edges out of class k."""
    src, dst = _directed_edges(edge_index)
    y = np.asarray(labels)
    classes = int(y.max()) + 1
    out_of = np.bincount(y[src], minlength=classes)
    same = np.bincount(y[src], weights=(y[src] == y[dst]).astype(float), minlength=classes)
    h = np.divide(same, out_of, out=np.zeros(classes), where=out_of > 0)
    share = np.bincount(y, minlength=classes) / len(y)
    return float(np.clip(h - share, 0.0, None).sum() / (classes - 1))


def degree_weighted_class_shares(edge_index: torch.Tensor | np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p_bar_k: the share of edge endpoints in class k (the class distribution of a random edge's end)."""
    src, _ = _directed_edges(edge_index)
    y = np.asarray(labels)
    counts = np.bincount(y[src], minlength=int(y.max()) + 1)
    return counts / counts.sum()


def adjusted_homophily(edge_index: torch.Tensor | np.ndarray, labels: np.ndarray) -> float:
    """(H_edge - sum_k p_bar_k^2) / (1 - sum_k p_bar_k^2): edge homophily corrected for what chance gives."""
    chance = float(np.sum(degree_weighted_class_shares(edge_index, labels) ** 2))
    return (edge_homophily(edge_index, labels) - chance) / (1.0 - chance)


def _label_pair_distribution(edge_index: torch.Tensor | np.ndarray, labels: np.ndarray) -> np.ndarray:
    src, dst = _directed_edges(edge_index)
    y = np.asarray(labels)
    classes = int(y.max()) + 1
    joint = np.bincount(y[src] * classes + y[dst], minlength=classes * classes).reshape(classes, classes)
    return joint / joint.sum()


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def label_informativeness(edge_index: torch.Tensor | np.ndarray, labels: np.ndarray) -> float:
    """I(y_u; y_v) / H(y_u) for a random edge (u, v), written as the authors' code does:
    2 - sum p_c1c2 log p_c1c2 / sum p_bar_c log p_bar_c (the same value, since I = 2 H(y_u) - H(y_u, y_v))."""
    joint = _label_pair_distribution(edge_index, labels)
    marginal = joint.sum(axis=1)
    return 2.0 - _entropy(joint.ravel()) / _entropy(marginal)


def label_informativeness_by_definition(edge_index: torch.Tensor | np.ndarray, labels: np.ndarray) -> float:
    """I(y_u; y_v) / H(y_u) computed from the mutual-information sum directly (the check of the code's form)."""
    joint = _label_pair_distribution(edge_index, labels)
    pu, pv = joint.sum(axis=1), joint.sum(axis=0)
    nz = joint > 0
    mutual = float((joint[nz] * np.log(joint[nz] / np.outer(pu, pv)[nz])).sum())
    return mutual / _entropy(pu)


MEASURES = {
    "edge_homophily": edge_homophily,
    "node_homophily": node_homophily,
    "class_homophily": class_homophily,
    "adjusted_homophily": adjusted_homophily,
    "label_informativeness": label_informativeness,
}


def all_measures(edge_index: torch.Tensor | np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {name: fn(edge_index, labels) for name, fn in MEASURES.items()}


@dataclass
class LabelledGraph:
    edge_index: torch.Tensor  # [2, 2E], both directions
    labels: np.ndarray  # [n] int
    x: torch.Tensor  # [n, d] node features (class mean + Gaussian noise)
    class_shares: np.ndarray  # [C] the share of nodes in each class


def class_shares(classes: int, imbalance: float) -> np.ndarray:
    """Class 0 gets 1/C + imbalance (1 - 1/C) of the nodes, the others share the rest equally (0: balanced)."""
    first = 1.0 / classes + imbalance * (1.0 - 1.0 / classes)
    return np.array([first] + [(1.0 - first) / (classes - 1)] * (classes - 1))


def contextual_sbm(nodes: int, classes: int, homophily: float | None, degree: float, imbalance: float = 0.0,
                   feature_dim: int = 8, feature_noise: float = 1.0, seed: int = 0) -> LabelledGraph:
    """A contextual SBM whose expected edge homophily is ``homophily`` (None: edges independent of the labels, an
    Erdos-Renyi graph) at mean degree ``degree``; features are a class mean on the unit sphere plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    shares = class_shares(classes, imbalance)
    sizes = np.floor(shares * nodes).astype(int)
    sizes[0] += nodes - sizes.sum()
    labels = np.repeat(np.arange(classes), sizes)
    rng.shuffle(labels)
    iu, ju = np.triu_indices(nodes, k=1)
    same = labels[iu] == labels[ju]
    edges_wanted = nodes * degree / 2.0
    if homophily is None:
        p_same = p_diff = edges_wanted / len(iu)
    else:
        # expected intra-class edges = p_same * (#same pairs) = homophily * edges_wanted, likewise across classes
        p_same = homophily * edges_wanted / max(int(same.sum()), 1)
        p_diff = (1.0 - homophily) * edges_wanted / max(int((~same).sum()), 1)
    prob = np.where(same, min(p_same, 1.0), min(p_diff, 1.0))
    keep = rng.random(len(iu)) < prob
    src, dst = iu[keep], ju[keep]
    edge_index = torch.from_numpy(np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])])).long()
    means = rng.normal(size=(classes, feature_dim))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    x = means[labels] + feature_noise * rng.normal(size=(nodes, feature_dim))
    return LabelledGraph(edge_index, labels, torch.from_numpy(x).float(), shares)
