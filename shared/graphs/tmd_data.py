"""The graph sets of TMD and its all-pairs job: the generated planted-motif set, or a real TU data set (MUTAG,
PROTEINS, ...) read from a local folder in the TU file format and never downloaded.

``tu`` reuses the folder rules of ``shared.graphs.tu_files`` (<root>/<NAME>/raw/, <root>/<NAME>/ or <root> holding
<NAME>_A.txt; its torch-free ``check_tu_classes`` is the config's check) and PyG's ``read_tu_data``. Node features
are what PyG makes of the files (node attributes, then node labels one-hot); a set without either gets one constant
feature, so TMD compares structure alone. The classes are the graph labels (renumbered 0..k-1 as PyG does); a set
with only graph attributes (regression) is refused, since TMD-SVM classifies. ``subset`` keeps a seeded random
subset: all-pairs TMD grows with the square of the count.

``planted_motif_task`` is the same planted-motif set as a ``GraphTask`` (node types = the one-hot labels, target =
the class) for the GNN methods (registered as the graph data set ``planted_motifs``): a trained GIN beside TMD-SVM.

``sbm_homophily_set`` is the generated SBM set of the ``graph_distances`` study: two classes of contextual SBM graphs
(``shared.graphs.homophily.contextual_sbm``, two balanced blocks, node label = block one-hot) at the same node counts
and mean degree, class 0 at edge homophily 0.5 (edges blind to the blocks), class 1 at 0.7. Label histograms match
across classes (a histogram SVM is at chance); what differs is how often an edge joins two same-block nodes, which a
1-round WL colour counts directly and a GNN must learn to aggregate. ``SBM_HOMOPHILY`` fixes the set for every
reader (TMD's ``data.name=sbm_homophily`` and the GNN data set of the same name), so both see the same graphs for a
seed. The homophily pair (0.5, 0.7) at degree 3 was chosen on seeds 0, 1 so that no arm is at 1.0 or chance (TMD-SVM
0.63 / 0.67, WL-SVM 0.79 / 0.83 at depth 4).
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch_geometric.data import Data

from shared.config import ConfigError
from shared.graphs.homophily import contextual_sbm
from shared.graphs.local import read_tu
from shared.graphs.motifs import planted_motif_set
from shared.graphs.tmd import FeatureGraph, feature_graph
from shared.graphs.tu_files import check_tu_classes

if TYPE_CHECKING:
    from shared.graphs.data import GraphDataConfig, GraphTask

# the SBM set's fixed shape: node counts, blocks, mean degree and the two classes' edge homophily
SBM_HOMOPHILY = {"min_nodes": 10, "max_nodes": 20, "blocks": 2, "degree": 3.0, "homophily": (0.5, 0.7)}


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


def sbm_homophily_set(count: int, seed: int) -> tuple[list[FeatureGraph], np.ndarray]:
    """``count`` contextual SBM graphs (half per class, shuffled) of ``SBM_HOMOPHILY``'s shape; x = one-hot block."""
    shape = SBM_HOMOPHILY
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.arange(count) % 2)
    graphs = []
    for label in classes:
        n = int(rng.integers(shape["min_nodes"], shape["max_nodes"] + 1))
        sbm = contextual_sbm(n, shape["blocks"], shape["homophily"][label], shape["degree"],
                             seed=int(rng.integers(2**31)))
        graphs.append(feature_graph(np.eye(shape["blocks"])[sbm.labels], sbm.edge_index.numpy()))
    return graphs, classes


def load_tmd_graphs(data) -> tuple[list[FeatureGraph], np.ndarray]:
    """TMD's ``data:`` section (``shared.methods.graph.config.MotifDataConfig``) -> graphs and classes."""
    if data.name == "tu":
        return tu_feature_graphs(data.root, data.tu_name, data.subset, data.seed)
    if data.name == "sbm_homophily":
        return sbm_homophily_set(data.graphs, data.seed)
    return planted_motif_set(data.graphs, data.min_nodes, data.max_nodes, data.label_types, data.seed, data.motif)


def planted_motif_task(cfg: GraphDataConfig) -> GraphTask:
    """The planted-motif set (10-20 nodes, 3 label types, the TMD card's) as a graph-level task: target = class,
    so the counting accuracy of the rounded prediction is the classification accuracy."""
    total = cfg.n_train + cfg.n_val + cfg.n_test
    return _class_task("planted_motifs", *planted_motif_set(total, 10, 20, 3, cfg.seed), cfg)


def sbm_homophily_task(cfg: GraphDataConfig) -> GraphTask:
    """The SBM set (``SBM_HOMOPHILY``) as a graph-level task: node type = block, target = class."""
    return _class_task("sbm_homophily", *sbm_homophily_set(cfg.n_train + cfg.n_val + cfg.n_test, cfg.seed), cfg)


def _class_task(name: str, graphs: list[FeatureGraph], classes: np.ndarray, cfg: GraphDataConfig) -> GraphTask:
    """Feature graphs with one-hot node labels -> a GraphTask (node types, target = class, counting accuracy)."""
    from shared.graphs.data import GraphTask, _split

    data = []
    for g, label in zip(graphs, classes, strict=True):
        src = np.repeat(np.arange(g.num_nodes), [len(n) for n in g.neighbours])
        dst = np.concatenate(g.neighbours) if g.num_nodes else src
        edge_index = torch.from_numpy(np.stack([src, dst]).astype(np.int64))
        data.append(Data(x=torch.from_numpy(g.x.argmax(axis=1)), edge_index=edge_index,
                         y=torch.tensor([[float(label)]]), num_nodes=g.num_nodes))
    return GraphTask(name, "graph", *_split(data, cfg), target_dim=1, node_types=graphs[0].x.shape[1], counts=True)
