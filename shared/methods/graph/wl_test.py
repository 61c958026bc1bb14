"""wl_test: the 1-WL test as a tool (the GNN-theory survey's yardstick; Xu et al., "How Powerful are Graph Neural
Networks?", ICLR 2019, Lemma 2 and Theorem 3): which graph pairs a plain message-passing GNN cannot separate, and
whether a spectral positional encoding does.

One "epoch" runs 1-WL colour refinement (``shared.graphs.wl``) on every pair: the named pairs with a known verdict
(two triangles vs a hexagon, decalin vs bicyclopentyl, the 4x4 rook's graph vs the Shrikhande graph, and pairs
1-WL does separate) plus ``random_pairs`` pairs of random graphs with the same number of nodes and edges. The
evaluator then checks the theory on these pairs with randomly initialised networks, in float64:

- ``wl_agreement``: share of named pairs where 1-WL gives the known verdict (1.0 when the tool is right);
- ``wl_distinguished``: share of all pairs 1-WL separates;
- ``gnn_separated``: share a GIN (sum aggregation and readout) separates, and ``gnn_beyond_wl``: how many pairs
  the GIN separates that 1-WL does not (0 by the theorem: if this is not 0, something is wrong);
- ``spe_separated_wl_equivalent``: share of the 1-WL-equivalent pairs that the same GIN with an SPE encoding
  separates (spectral information goes beyond 1-WL, e.g. two triangles vs a hexagon have different spectra).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINConv, global_add_pool

from shared.graphs.encodings import SPE, mlp
from shared.graphs.generated import nx_to_data
from shared.graphs.spectral import eigen_features
from shared.graphs.wl import known_pairs, wl_distinguishes
from shared.method import Evaluator, Trainer
from shared.methods.graph.pe_config import WLTestConfig  # torch-free
from shared.methods.graph.pe_specs import WL_TEST as SPEC  # noqa: F401  (torch-free: the registry's entry)


@dataclass
class GraphPair:
    name: str
    first: Data
    second: Data
    known: bool | None  # the known 1-WL verdict, None for random pairs
    wl: bool = False


class WLTrainer(Trainer):
    config: WLTestConfig

    def __init__(self, config: WLTestConfig) -> None:
        super().__init__(config)
        self.pairs = [GraphPair(name, a, b, verdict) for name, (a, b, verdict) in known_pairs().items()]
        rng = np.random.default_rng(config.seed)
        for i in range(config.random_pairs):
            a, b = (nx_to_data(nx.gnm_random_graph(config.nodes, config.edges, seed=int(rng.integers(2**31))))
                    for _ in range(2))
            self.pairs.append(GraphPair(f"random{i}", a, b, None))
        self.data = self.pairs

    def fit_epoch(self) -> dict[str, float]:
        for pair in self.pairs:
            pair.wl = wl_distinguishes(pair.first, pair.second)
        self.epoch += 1
        return {"loss": 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "wl": [p.wl for p in self.pairs]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        for pair, verdict in zip(self.pairs, state["wl"], strict=True):
            pair.wl = bool(verdict)

    def artifact(self) -> list[GraphPair]:
        return self.pairs


class RandomGIN(nn.Module):
    """GIN with sum aggregation and sum readout (as expressive as 1-WL with injective MLPs), optional SPE input."""

    def __init__(self, layers: int, hidden: int, pe: nn.Module | None = None) -> None:
        super().__init__()
        self.pe = pe
        self.inp = nn.Linear(1 + (hidden if pe is not None else 0), hidden)
        self.convs = nn.ModuleList(GINConv(mlp([hidden, hidden, hidden]), train_eps=True) for _ in range(layers))
        for conv in self.convs:
            nn.init.normal_(conv.eps, std=0.5)  # a non-zero eps keeps the update injective (Xu et al., Cor. 6)

    def forward(self, batch: Batch) -> torch.Tensor:
        h = torch.ones(batch.num_nodes, 1, dtype=torch.float64)
        if self.pe is not None:
            h = torch.cat([h, self.pe(batch)], dim=-1)
        h = self.inp(h)
        for conv in self.convs:
            h = torch.tanh(conv(h, batch.edge_index))
        return global_add_pool(h, batch.batch)


def separates(model: nn.Module, pair: GraphPair, k: int, tol: float) -> bool:
    graphs = []
    for g in (pair.first, pair.second):
        feats = {key: (t.double() if t.is_floating_point() else t) for key, t in eigen_features(g, k).items()}
        graphs.append(Data(edge_index=g.edge_index, num_nodes=g.num_nodes, **feats))
    with torch.no_grad():
        out = model(Batch.from_data_list(graphs)).double()
    scale = out.abs().max().clamp(min=1e-12)
    return bool(((out[0] - out[1]).abs().max() / scale) > tol)


class WLVerdicts(Evaluator):
    metrics = ("wl_agreement", "wl_distinguished", "gnn_separated", "gnn_beyond_wl", "spe_separated_wl_equivalent")

    def evaluate(self, artifact: list[GraphPair]) -> dict[str, float]:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        gin = RandomGIN(cfg.gnn_layers, cfg.gnn_hidden).double().eval()
        spe_gin = RandomGIN(cfg.gnn_layers, cfg.gnn_hidden, SPE(cfg.pe_k, cfg.gnn_hidden)).double().eval()
        named = [p for p in artifact if p.known is not None]
        gnn = [separates(gin, p, cfg.pe_k, cfg.tol) for p in artifact]
        equivalent = [p for p in artifact if not p.wl]
        spe = [separates(spe_gin, p, cfg.pe_k, cfg.tol) for p in equivalent]
        return {
            "wl_agreement": float(np.mean([p.wl == p.known for p in named])),
            "wl_distinguished": float(np.mean([p.wl for p in artifact])),
            "gnn_separated": float(np.mean(gnn)),
            "gnn_beyond_wl": float(sum(g and not p.wl for g, p in zip(gnn, artifact, strict=True))),
            "spe_separated_wl_equivalent": float(np.mean(spe)) if spe else float("nan"),
        }
