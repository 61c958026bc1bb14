"""Graph data sets for the spectral family: one config (`GraphDataConfig`, the `data:` section of every graph
method, torch-free in ``dataconfig.py`` with the sets' checks), one table of sets, and one container (`GraphTask`)
with train / val / test lists of PyG ``Data``.

| name        | level | target                              | source                                      |
|-------------|-------|-------------------------------------|---------------------------------------------|
| zinc_like   | graph | penalized logP (1)                  | MOSES SMILES in `molsets`, RDKit features   |
| zinc        | graph | penalized logP (1)                  | real ZINC-12k from a local root             |
| cycles      | graph | counts of 3, 4, 5, 6-cycles (4)     | ER graphs, networkx labels                  |
| grid_filter | node  | V h(lambda) V^T x (1 per node)      | grid graph, scikit-learn digit images       |
| tu          | graph | the set's graph labels / attributes | your TU-format files under a local root     |
| pyg_file    | either| the file's y                        | your PyG InMemoryDataset file               |

The names, loaders and availability checks are entries of the data-set registry (``shared/data/registry.py``); a
graph loader returns a ``GraphTask`` without eigen-features, which ``load_graph_task`` adds.

Built sets are cached on disk (``$RAYSTUDY_CACHE``, written whole then renamed); Laplacian eigenpairs are added by
``shared.graphs.spectral.add_eigen_features`` (also cached). Nothing here downloads or imports Ray.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch_geometric.data import Data

from shared.cache import cache_root, save_whole
from shared.data.registry import check_entry, dataset_names, resolve
from shared.graphs import generated, molecules
from shared.graphs.dataconfig import GraphDataConfig  # torch-free, so a driver checks it without torch
from shared.graphs.spectral import add_eigen_features

# the graph sets of the data-set registry (shared/data/registry.py), which is where a new one is registered
GRAPH_DATASETS = tuple(dataset_names("graph"))


@dataclass
class GraphTask:
    """A graph learning task. Graphs carry x (n,) long node types or (n, f) float features, edge_index,
    optional edge_attr (E,) long types, y ((1, T) per graph, or (n, T) per node), and the eigen-features."""

    name: str
    level: str  # "graph" or "node"
    train: list[Data]
    val: list[Data]
    test: list[Data]
    target_dim: int
    node_types: int = 0  # > 0: x holds type indices; 0: x holds float features of size node_features
    node_features: int = 0
    edge_types: int = 1
    counts: bool = False  # integer targets (counting): report counting accuracy

    @property
    def loss(self) -> str:
        return "l1" if self.level == "graph" else "mse"


def _cached(name: str, key: str, build) -> list[Data]:
    """Build a list of graphs once per key; later runs read the cache (loaded with weights_only=True)."""
    path = cache_root() / "graphs" / name / f"{key}.pt"
    if path.exists():
        return [Data(**d) for d in torch.load(path, weights_only=True)]
    graphs = build()
    save_whole([{k: g[k] for k in g.keys()} | {"num_nodes": int(g.num_nodes)} for g in graphs], path)
    return graphs


def _split(graphs: list[Data], cfg: GraphDataConfig) -> tuple[list[Data], list[Data], list[Data]]:
    a, b = cfg.n_train, cfg.n_train + cfg.n_val
    return graphs[:a], graphs[a:b], graphs[b : b + cfg.n_test]


def load_zinc_like(cfg: GraphDataConfig) -> GraphTask:
    total = cfg.n_train + cfg.n_val + cfg.n_test
    graphs = _cached("zinc_like", f"n{total}-s{cfg.seed}", lambda: molecules.zinc_like_graphs(total, cfg.seed))
    return GraphTask("zinc_like", "graph", *_split(graphs, cfg), target_dim=1,
                     node_types=molecules.NUM_ATOM_TYPES, edge_types=molecules.NUM_BOND_TYPES)


def load_zinc(cfg: GraphDataConfig) -> GraphTask:
    parts = [molecules.zinc_graphs(cfg.root, s)[:n] for s, n in
             (("train", cfg.n_train), ("val", cfg.n_val), ("test", cfg.n_test))]
    return GraphTask("zinc", "graph", *parts, target_dim=1,
                     node_types=molecules.NUM_ATOM_TYPES, edge_types=molecules.NUM_BOND_TYPES)


def load_cycles(cfg: GraphDataConfig) -> GraphTask:
    total = cfg.n_train + cfg.n_val + cfg.n_test
    key = f"n{total}-s{cfg.seed}-{cfg.n_min}-{cfg.n_max}-d{cfg.avg_degree:g}"
    graphs = _cached("cycles", key, lambda: generated.cycle_count_graphs(
        total, cfg.seed, cfg.n_min, cfg.n_max, cfg.avg_degree))
    return GraphTask("cycles", "graph", *_split(graphs, cfg), target_dim=4, node_types=1, counts=True)


def load_grid_filter(cfg: GraphDataConfig) -> GraphTask:
    graphs = generated.grid_filter_signals(cfg.grid_side, cfg.n_train + cfg.n_val + cfg.n_test, cfg.filter, cfg.seed)
    return GraphTask("grid_filter", "node", *_split(graphs, cfg), target_dim=1, node_features=1)


def load_graph_task(cfg: GraphDataConfig) -> GraphTask:
    """Check, build (or read from cache) the registered data set, split it, and attach the Laplacian
    eigen-features."""
    task = resolve(check_entry(cfg.name, "graph", cfg), "loader")(cfg)
    for part in (task.train, task.val, task.test):
        add_eigen_features(part, cfg.pe_k, cfg.keep_trivial)
    return task
