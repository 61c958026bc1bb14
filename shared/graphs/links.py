"""Link prediction on nearly symmetric graphs: the setting of "Expressive Sign Equivariant Networks" (Lim, Robinson,
Jegelka, Maron; NeurIPS 2023), whose official ``link_pred/main_link_pred.py`` builds it from networkx generators.

``copies`` copies of one base graph (ER or BA), so that node i of copy 0 and node i of copy c are automorphic
("twins"), plus ``extra_edges`` random edges across the whole graph. Edges split 80/10/10 into message-passing
(train), validation and test positives; eigenvectors come from the normalised Laplacian of the train graph,
with the trivial eigenvector dropped (the method's convention).
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch

from shared.graphs.dataconfig import LinkDataConfig  # torch-free, so a driver checks it without torch
from shared.graphs.spectral import eigen_features


@dataclass
class LinkTask:
    num_nodes: int
    nodes_per_copy: int
    train_edges: torch.Tensor  # (2, E) both directions: message passing and training positives
    val_pos: torch.Tensor  # (2, E_val), one direction
    test_pos: torch.Tensor
    val_neg: torch.Tensor
    test_neg: torch.Tensor
    eigvecs: torch.Tensor  # (n, k)
    eigvals: torch.Tensor  # (1, k)

    def twin(self, nodes: torch.Tensor) -> torch.Tensor:
        """The automorphic twin of each node in the next copy (copy c -> c + 1, last -> first)."""
        copies = self.num_nodes // self.nodes_per_copy
        copy, index = nodes // self.nodes_per_copy, nodes % self.nodes_per_copy
        return ((copy + 1) % copies) * self.nodes_per_copy + index


def symmetric_graph(cfg: LinkDataConfig) -> nx.Graph:
    rng = np.random.default_rng(cfg.seed)
    if cfg.base == "er":
        base = nx.gnp_random_graph(cfg.nodes, cfg.p, seed=int(rng.integers(2**31)))
    else:
        base = nx.barabasi_albert_graph(cfg.nodes, cfg.m, seed=int(rng.integers(2**31)))
    graph = nx.disjoint_union_all([base] * cfg.copies)
    n = graph.number_of_nodes()
    added = 0
    while added < cfg.extra_edges:
        u, v = (int(x) for x in rng.integers(0, n, size=2))
        if u != v and not graph.has_edge(u, v):
            graph.add_edge(u, v)
            added += 1
    return graph


def sample_non_edges(edges: set[tuple[int, int]], n: int, count: int, rng: np.random.Generator) -> torch.Tensor:
    out: list[tuple[int, int]] = []
    while len(out) < count:
        u, v = (int(x) for x in rng.integers(0, n, size=2))
        if u != v and (min(u, v), max(u, v)) not in edges:
            out.append((u, v))
    return torch.tensor(out, dtype=torch.long).T


def load_link_task(cfg: LinkDataConfig) -> LinkTask:
    graph = symmetric_graph(cfg)
    n = graph.number_of_nodes()
    rng = np.random.default_rng(cfg.seed + 1)
    edges = np.array([(min(u, v), max(u, v)) for u, v in graph.edges()])
    edges = edges[rng.permutation(len(edges))]
    n_val, n_test = int(cfg.val_share * len(edges)), int(cfg.test_share * len(edges))
    val, test, train = edges[:n_val], edges[n_val : n_val + n_test], edges[n_val + n_test :]
    train_t = torch.tensor(train, dtype=torch.long).T
    train_edges = torch.cat([train_t, train_t.flip(0)], dim=1)
    all_edges = {tuple(e) for e in edges.tolist()}
    from torch_geometric.data import Data

    feats = eigen_features(Data(edge_index=train_edges, num_nodes=n), cfg.pe_k, keep_trivial=False)
    return LinkTask(
        num_nodes=n, nodes_per_copy=cfg.nodes, train_edges=train_edges,
        val_pos=torch.tensor(val, dtype=torch.long).T, test_pos=torch.tensor(test, dtype=torch.long).T,
        val_neg=sample_non_edges(all_edges, n, n_val, rng), test_neg=sample_non_edges(all_edges, n, n_test, rng),
        eigvecs=feats["eigvecs"], eigvals=feats["eigvals"],
    )
