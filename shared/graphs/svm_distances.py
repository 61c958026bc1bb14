"""Distance matrices for the distance-kernel SVM of ``tmd`` (kernel exp(-gamma D)): TMD itself, the RJL-style
attributed-graph pseudometric, and the Euclidean distance between Weisfeiler-Leman subtree feature vectors.

``wl``: 1-WL refinement (``shared.graphs.wl``, refined jointly over the data set so colours are comparable) from the
node labels (rows of x, equal rows = one colour), and for each round r = 0..depth-1 the histogram of colours; the
feature vector of a graph is the concatenation (Shervashidze et al.'s WL subtree features, whose linear kernel is the
WL subtree kernel k). D = ||phi(G) - phi(H)|| = sqrt(k(G,G) + k(H,H) - 2 k(G,H)), so exp(-gamma D) is a Laplacian
kernel on the WL features rather than the linear WL kernel itself: one SVM code path for every distance.
``attributed``: ``shared.graphs.attributed.all_pairs_attributed`` (memoised over the set) at depth - 1 rounds (a
depth-L tree has L - 1 rounds of neighbours), mass penalty 1, as ``jobs/graph_distances.py`` computes it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from shared.graphs.attributed import all_pairs_attributed
from shared.graphs.tmd import FeatureGraph, distance_matrix
from shared.graphs.tmd_choices import DISTANCES
from shared.graphs.wl import wl_colours


def _as_data(graph: FeatureGraph) -> Data:
    src = np.repeat(np.arange(graph.num_nodes), [len(n) for n in graph.neighbours])
    dst = np.concatenate(graph.neighbours) if graph.num_nodes else src
    return Data(edge_index=torch.from_numpy(np.stack([src, dst]).astype(np.int64)), num_nodes=graph.num_nodes)


def wl_features(graphs: Sequence[FeatureGraph], rounds: int) -> np.ndarray:
    """[graphs, colours] counts of the WL colours of rounds 0..rounds (colours of different rounds kept apart)."""
    palette: dict[tuple, int] = {}
    initial = [torch.tensor([palette.setdefault(tuple(row), len(palette)) for row in g.x.tolist()], dtype=torch.long)
               for g in graphs]
    data = [_as_data(g) for g in graphs]
    blocks = []
    for r in range(rounds + 1):
        colours = wl_colours(data, rounds=r, initial=initial)
        width = 1 + max((c for cs in colours for c in cs), default=0)
        blocks.append(np.stack([np.bincount(np.asarray(cs, dtype=np.int64), minlength=width) for cs in colours]))
    return np.concatenate(blocks, axis=1).astype(np.float64)


def wl_distance_matrix(graphs: Sequence[FeatureGraph], rounds: int) -> np.ndarray:
    phi = wl_features(graphs, rounds)
    return np.linalg.norm(phi[:, None] - phi[None], axis=-1)


def attributed_distance_matrix(graphs: Sequence[FeatureGraph], rounds: int) -> np.ndarray:
    n = len(graphs)
    iu = np.triu_indices(n, k=1)
    out = np.zeros((n, n))
    out[iu] = all_pairs_attributed(graphs, rounds, list(zip(iu[0].tolist(), iu[1].tolist(), strict=True)))
    return out + out.T


def pairwise_distances(graphs: Sequence[FeatureGraph], distance: str, depth: int, w: float) -> np.ndarray:
    """The all-pairs matrix of ``distance`` (one of DISTANCES) at tree depth ``depth``."""
    if distance == "tmd":
        return distance_matrix(graphs, depth, w)
    if distance == "attributed":
        return attributed_distance_matrix(graphs, depth - 1)
    if distance == "wl":
        return wl_distance_matrix(graphs, depth - 1)
    raise ValueError(f"distance: {distance!r} is not one of {DISTANCES}")
