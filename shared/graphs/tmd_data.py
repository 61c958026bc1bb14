"""The graph sets of TMD and its all-pairs job: the generated planted-motif set, or a real TU data set (MUTAG,
PROTEINS, ...) read from a local folder in the TU file format and never downloaded.

``tu`` reuses ``shared.graphs.local``'s folder rules (<root>/<NAME>/raw/, <root>/<NAME>/ or <root> holding
<NAME>_A.txt) and PyG's ``read_tu_data``. Node features are what PyG makes of the files (node attributes, then node
labels one-hot); a set without either gets one constant feature, so TMD compares structure alone. The classes are
the graph labels (renumbered 0..k-1 as PyG does); a set with only graph attributes (regression) is refused, since
TMD-SVM classifies. ``subset`` keeps a seeded random subset: all-pairs TMD grows with the square of the count.

``planted_motif_task`` is the same planted-motif set as a ``GraphTask`` (node types = the one-hot labels, target =
the class) for the GNN methods (registered as the graph data set ``planted_motifs``): a trained GIN beside TMD-SVM.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch_geometric.data import Data

from shared.config import ConfigError
from shared.data import DatasetNotFoundError
from shared.graphs.local import TU_REQUIRED, read_tu, tu_folder
from shared.graphs.motifs import planted_motif_set
from shared.graphs.tmd import FeatureGraph, feature_graph

if TYPE_CHECKING:
    from shared.graphs.data import GraphDataConfig, GraphTask

TU_ARCHIVES = "https://www.chrsmrrs.com/graphkerneldatasets/<NAME>.zip"


def check_tu_classes(root: str | None, tu_name: str | None) -> None:
    """The TU files are there and carry graph labels; a ConfigError says what to download and where otherwise."""
    try:
        folder = tu_folder(root, tu_name)
    except DatasetNotFoundError as err:
        raise ConfigError(f"{err}; the archive is {TU_ARCHIVES.replace('<NAME>', str(tu_name))}") from None
    missing = [f"{tu_name}_{part}.txt" for part in (*TU_REQUIRED, "graph_labels")
               if not (folder / f"{tu_name}_{part}.txt").is_file()]
    if missing:
        raise ConfigError(f"data.tu_name: {folder} lacks {', '.join(missing)} (TMD-SVM needs the graph classes); "
                          f"unpack {TU_ARCHIVES.replace('<NAME>', str(tu_name))} there")


def as_feature_graph(graph: Data) -> FeatureGraph:
    x = graph.x if graph.x is not None and graph.x.shape[-1] > 0 else torch.ones(graph.num_nodes, 1)
    return feature_graph(x.view(graph.num_nodes, -1), graph.edge_index)


def tu_feature_graphs(root: str, tu_name: str, subset: int = 0, seed: int = 0) -> tuple[list[FeatureGraph], np.ndarray]:
    """The TU set's graphs and classes; ``subset`` > 0 keeps that many, drawn by ``seed``."""
    check_tu_classes(root, tu_name)
    graphs = read_tu(SimpleNamespace(root=root, tu_name=tu_name))
    if any(g.y is None for g in graphs):  # graph attributes (regression) take precedence in PyG's reader
        raise ConfigError(f"data.tu_name: {tu_name} has graph attributes (a regression target); TMD-SVM needs "
                          "classes (<NAME>_graph_labels.txt alone)")
    keep = np.arange(len(graphs))
    if subset:
        if subset > len(graphs):
            raise ConfigError(f"data.subset: {subset} graphs asked, {tu_name} has {len(graphs)}")
        keep = np.sort(np.random.default_rng(seed).permutation(len(graphs))[:subset])
    labels = np.unique([int(graphs[i].y.view(-1)[0]) for i in keep], return_inverse=True)[1]
    return [as_feature_graph(graphs[i]) for i in keep], labels.astype(np.int64)


def load_tmd_graphs(data) -> tuple[list[FeatureGraph], np.ndarray]:
    """TMD's ``data:`` section (``shared.methods.graph.tmd.MotifDataConfig``) -> graphs and classes."""
    if data.name == "tu":
        return tu_feature_graphs(data.root, data.tu_name, data.subset, data.seed)
    return planted_motif_set(data.graphs, data.min_nodes, data.max_nodes, data.label_types, data.seed)


def planted_motif_task(cfg: GraphDataConfig) -> GraphTask:
    """The planted-motif set (10-20 nodes, 3 label types, the TMD card's) as a graph-level task: target = class,
    so the counting accuracy of the rounded prediction is the classification accuracy."""
    from shared.graphs.data import GraphTask, _split

    total = cfg.n_train + cfg.n_val + cfg.n_test
    graphs, classes = planted_motif_set(total, 10, 20, 3, cfg.seed)
    data = []
    for g, label in zip(graphs, classes, strict=True):
        src = np.repeat(np.arange(g.num_nodes), [len(n) for n in g.neighbours])
        edge_index = torch.from_numpy(np.stack([src, np.concatenate(g.neighbours)]).astype(np.int64))
        data.append(Data(x=torch.from_numpy(g.x.argmax(axis=1)), edge_index=edge_index,
                         y=torch.tensor([[float(label)]]), num_nodes=g.num_nodes))
    return GraphTask("planted_motifs", "graph", *_split(data, cfg), target_dim=1, node_types=3, counts=True)
