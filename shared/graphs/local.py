"""Your own graph data sets for the graph methods, read from local files with PyG and never downloaded.

``tu``: a data set in the TU format (https://chrsmrrs.github.io/datasets/docs/format/), data.root + data.tu_name:
    <root>/<NAME>/raw/<NAME>_A.txt          as PyG's TUDataset keeps it, or
    <root>/<NAME>/<NAME>_A.txt              as the TU archive <NAME>.zip unpacks, or
    <root>/<NAME>_A.txt
  with <NAME>_graph_indicator.txt and a target: <NAME>_graph_attributes.txt (regression) or
  <NAME>_graph_labels.txt (classes); node and edge labels / attributes are used when present.
``pyg_file``: a file written by ``torch_geometric.data.InMemoryDataset.save(data_list, path)``, or a PyG data set's
  ``processed/data.pt`` (TUDataset's too), data.path; read with ``torch.load(weights_only=True)``: tensors only.

Both become a :class:`GraphTask` the same way (``as_task``):
- level: "graph" when every ``y`` has one row, "node" when it has one row per node; the target is ``y`` as floats;
  integer targets (class labels, counts) also get ``count_acc``, the share of rounded predictions that are exact;
- nodes: ``x`` of integers with one column are node types (an embedding), other ``x`` float features; no ``x``: one
  node type;
- edges: integer ``edge_attr`` with one column are edge types, one-hot rows (TU edge labels) become their index + 1;
  other edge attributes are not used;
- split: one permutation drawn from data.seed gives train, val and test (data.n_train, n_val, n_test graphs).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset

from shared.config import ConfigError

# the checks (file system only) are torch-free, so that the registry checks a tu or pyg_file config without torch
from shared.graphs.dataconfig import check_split_sizes
from shared.graphs.tu_files import tu_folder

if TYPE_CHECKING:  # shared.graphs.data imports the registry, which names this module: no import cycle at run time
    from shared.graphs.data import GraphTask
    from shared.graphs.dataconfig import GraphDataConfig

# ----------------------------------------------------------------------------------------------------
# reading


def _separate(data: Data, slices: dict) -> list[Data]:
    dataset = InMemoryDataset()
    dataset.data, dataset.slices = data, slices
    return [dataset.get(i) for i in range(dataset.len())]


def read_tu(cfg: GraphDataConfig) -> list[Data]:
    from torch_geometric.io import read_tu_data

    data, slices, _ = read_tu_data(str(tu_folder(cfg.root, cfg.tu_name)), cfg.tu_name)
    return _separate(data, slices)


def read_pyg_file(path: str) -> list[Data]:
    try:
        out = torch.load(Path(path).expanduser(), weights_only=True)
    except Exception as err:  # noqa: BLE001 (any failure to unpickle is the same user error)
        raise ConfigError(f"data.path: {path} cannot be read as a PyG InMemoryDataset file "
                          f"(InMemoryDataset.save): {type(err).__name__}: {str(err).splitlines()[0]}") from None
    # InMemoryDataset.save writes (data, slices, class); TUDataset's processed file (data, slices, sizes, class)
    if not (isinstance(out, tuple) and 2 <= len(out) <= 4 and isinstance(out[1], dict)):
        raise ConfigError(f"data.path: {path} is not an InMemoryDataset.save file (expected (data, slices, class))")
    data, slices = out[0], out[1]
    data_cls = out[-1] if isinstance(out[-1], type) else Data
    return _separate(data_cls.from_dict(data) if isinstance(data, dict) else data, slices)


def _node_input(graphs: list[Data]) -> tuple[int, int]:
    """(node_types, node_features), rewriting each x to what GraphNet reads."""
    xs = [g.x for g in graphs]
    if all(x is None for x in xs):
        for g in graphs:
            g.x = torch.zeros(g.num_nodes, dtype=torch.long)
        return 1, 0
    if any(x is None for x in xs):
        raise ConfigError("data: some graphs have node features x and some do not")
    if all(not x.is_floating_point() and (x.dim() == 1 or x.shape[1] == 1) for x in xs):
        for g in graphs:
            g.x = g.x.view(-1).long()
        return int(max(int(g.x.max()) for g in graphs if g.x.numel())) + 1, 0
    widths = {1 if x.dim() == 1 else x.shape[1] for x in xs}
    if len(widths) > 1:
        raise ConfigError(f"data: graphs have node features of different widths {sorted(widths)}")
    for g in graphs:
        g.x = g.x.float().view(g.num_nodes, -1)
    return 0, widths.pop()


def _edge_types(graphs: list[Data]) -> int:
    """Edge types from integer or one-hot edge_attr (the rest is dropped); returns how many types there are."""
    attrs = [g.edge_attr for g in graphs if g.edge_attr is not None]
    if len(attrs) != len(graphs):
        for g in graphs:
            g.edge_attr = None
        return 1
    if all(not a.is_floating_point() and (a.dim() == 1 or a.shape[1] == 1) for a in attrs):
        for g in graphs:
            g.edge_attr = g.edge_attr.view(-1).long()
    elif all(a.dim() == 2 and a.shape[1] > 1 and bool(((a == 0) | (a == 1)).all()) and bool((a.sum(1) == 1).all())
             for a in attrs):
        for g in graphs:
            g.edge_attr = g.edge_attr.argmax(1) + 1  # 0 stays "no type", as in ZINC
    else:
        for g in graphs:
            g.edge_attr = None
        return 1
    return int(max((int(g.edge_attr.max()) for g in graphs if g.edge_attr.numel()), default=0)) + 1


def _targets(graphs: list[Data]) -> tuple[str, int, bool]:
    """(level, target_dim, integer targets), rewriting each y to float (1, T) or (n, T)."""
    if any(g.y is None for g in graphs):
        raise ConfigError("data: every graph needs a target y (graph labels or attributes)")
    node_level = all(g.y.dim() >= 1 and g.y.shape[0] == g.num_nodes and g.num_nodes > 1 for g in graphs)
    integer = all(not g.y.is_floating_point() or bool((g.y == g.y.round()).all()) for g in graphs)
    for g in graphs:
        g.y = g.y.float().view(g.num_nodes if node_level else 1, -1)
    widths = {g.y.shape[1] for g in graphs}
    if len(widths) > 1:
        raise ConfigError(f"data: graph targets have different widths {sorted(widths)}")
    return ("node" if node_level else "graph"), widths.pop(), integer


def as_task(name: str, graphs: list[Data], cfg: GraphDataConfig) -> GraphTask:
    """Graphs in any PyG layout -> the GraphTask the graph methods train on (rules in the module docstring)."""
    from shared.graphs.data import GraphTask

    check_split_sizes(cfg, len(graphs), f"data set {name}")
    graphs = [Data(x=g.x, edge_index=g.edge_index, edge_attr=g.edge_attr, y=g.y, num_nodes=g.num_nodes)
              for g in graphs]
    node_types, node_features = _node_input(graphs)
    edge_types = _edge_types(graphs)
    level, target_dim, integer = _targets(graphs)
    order = np.random.default_rng(cfg.seed).permutation(len(graphs))
    a, b, c = cfg.n_train, cfg.n_train + cfg.n_val, cfg.n_train + cfg.n_val + cfg.n_test
    pick = [[graphs[int(i)] for i in order[lo:hi]] for lo, hi in ((0, a), (a, b), (b, c))]
    return GraphTask(name, level, *pick, target_dim=target_dim, node_types=node_types, node_features=node_features,
                     edge_types=edge_types, counts=integer)


def load_tu(cfg: GraphDataConfig) -> GraphTask:
    return as_task(cfg.tu_name, read_tu(cfg), cfg)


def load_pyg_file(cfg: GraphDataConfig) -> GraphTask:
    return as_task(Path(cfg.path).stem, read_pyg_file(cfg.path), cfg)
