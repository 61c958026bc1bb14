"""Generated graph sets, deterministic per seed (nothing downloads).

- ``cycle_count_graphs``: Erdos-Renyi graphs labelled with their number of cycles of each length 3..6
  (labels from ``networkx.simple_cycles(G, length_bound=k)``), the substructure-counting task of the SPE paper.
- ``grid_filter_signals``: the spectral-filter learning task of SignNet/BasisNet (from BernNet): a side x side grid,
  image signals x and targets V diag(h(lambda)) V^T x for the paper's filters (low, high, band, rejection, comb).
- ``repeated_eigenvalue_graphs``: cycles, grids and hypercubes, whose Laplacians have repeated eigenvalues,
  for invariance and stability tests.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data

from shared.graphs.spectral import dense_adjacency, laplacian_eigh

# The five filters of the LearningFilters experiment, as functions of the normalised-Laplacian eigenvalue.
FILTERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "low": lambda lam: torch.exp(-10 * lam**2),
    "high": lambda lam: 1 - torch.exp(-10 * lam**2),
    "band": lambda lam: torch.exp(-10 * (lam - 1) ** 2),
    "rejection": lambda lam: 1 - torch.exp(-10 * (lam - 1) ** 2),
    "comb": lambda lam: torch.abs(torch.sin(math.pi * lam)),
}


def nx_to_data(graph: nx.Graph) -> Data:
    """An undirected networkx graph as a PyG Data with both edge directions and one node type (x = 0)."""
    graph = nx.convert_node_labels_to_integers(graph)
    edges = torch.tensor(list(graph.edges()), dtype=torch.long).reshape(-1, 2).T
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)
    data = Data(edge_index=edge_index, num_nodes=graph.number_of_nodes())
    data.x = torch.zeros(graph.number_of_nodes(), dtype=torch.long)
    return data


def cycle_counts(graph: nx.Graph, lengths: tuple[int, ...] = (3, 4, 5, 6)) -> list[int]:
    """Number of simple cycles of each length in an undirected graph."""
    counts = dict.fromkeys(lengths, 0)
    for cycle in nx.simple_cycles(graph, length_bound=max(lengths)):
        if len(cycle) in counts:
            counts[len(cycle)] += 1
    return [counts[k] for k in lengths]


def cycle_count_graphs(n_graphs: int, seed: int, n_min: int = 15, n_max: int = 25, avg_degree: float = 3.0,
                       lengths: tuple[int, ...] = (3, 4, 5, 6)) -> list[Data]:
    """ER graphs with n ~ U[n_min, n_max] and edge probability avg_degree / (n - 1); y = cycle counts (1, L)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_graphs):
        n = int(rng.integers(n_min, n_max + 1))
        graph = nx.gnp_random_graph(n, avg_degree / (n - 1), seed=int(rng.integers(2**31)))
        data = nx_to_data(graph)
        data.y = torch.tensor([cycle_counts(graph, lengths)], dtype=torch.float32)
        out.append(data)
    return out


def grid_graph(side: int) -> Data:
    return nx_to_data(nx.grid_2d_graph(side, side))


def digit_images(n: int, side: int, seed: int) -> torch.Tensor:
    """n of scikit-learn's shipped 8x8 digits, resized to side x side (bilinear) and scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    images = torch.tensor(load_digits().images, dtype=torch.float32) / 16.0
    idx = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    resized = torch.nn.functional.interpolate(images[idx, None], size=(side, side), mode="bilinear", align_corners=True)
    return resized[:, 0].clamp(0, 1)


def grid_filter_signals(side: int, n_signals: int, filter_name: str, seed: int) -> list[Data]:
    """One Data per image on the same side x side grid: x (n, 1) the image's pixels, y (n, 1) the filtered
    signal V diag(h(lambda)) V^T x with the normalised Laplacian's full eigendecomposition."""
    grid = grid_graph(side)
    evals, evecs = laplacian_eigh(dense_adjacency(grid.edge_index, grid.num_nodes))
    response = FILTERS[filter_name](evals)
    operator = (evecs * response) @ evecs.T
    images = digit_images(n_signals, side, seed).reshape(n_signals, -1).double()
    out = []
    for image in images:
        data = Data(edge_index=grid.edge_index, num_nodes=grid.num_nodes)
        data.x = image[:, None].float()
        data.y = (operator @ image)[:, None].float()
        out.append(data)
    return out


def repeated_eigenvalue_graphs() -> dict[str, Data]:
    """Small graphs whose normalised Laplacians have repeated eigenvalues (named for messages)."""
    graphs = {
        "cycle12": nx.cycle_graph(12),
        "grid4x4": nx.grid_2d_graph(4, 4),
        "hypercube4": nx.hypercube_graph(4),
        "two_triangles": nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3)),
    }
    return {name: nx_to_data(g) for name, g in graphs.items()}
