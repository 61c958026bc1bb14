"""What the positional-encoding methods share: the training loop on a base GNN and the evaluators (the config,
``GraphPEConfig``, is torch-free in ``pe_config.py``; the specs, in ``pe_specs.py``, name these classes).

Every encoding (none, LapPE, SignNet, BasisNet, SPE) plugs into the same ``GraphNet`` with the same width, depth,
data and budget, so that a study compares encodings and nothing else. A method module writes its config fields
(``pe_config.py``) and ``make_encoding``; everything else is here.

Evaluators (every encoding reports all of them):
- :class:`GraphRegression`: ``val_mae`` / ``test_mae`` (ZINC's measure), ``val_mse`` / ``test_mse`` and, on node
  tasks, ``train_mse`` (the filter experiment fits each image's filtered signal: its measure is the fit), and
  ``count_acc`` on counting tasks (share of test counts, over graphs and cycle lengths, that the rounded
  prediction gets exactly right).
- :class:`PEStability`: ``pe_stability`` = median ||PE(L') - PE(L)||_F / ||L' - L||_F over graphs with repeated
  eigenvalues (cycle, grid, hypercube, two triangles) under a small symmetric edge-weight perturbation, the quantity
  SPE's stability theorem bounds. Raw eigenvectors rotate inside degenerate eigenspaces, so theirs is large.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch, Data

from shared.graphs.data import GraphTask, load_graph_task
from shared.graphs.generated import repeated_eigenvalue_graphs
from shared.graphs.models import GraphNet
from shared.graphs.spectral import dense_adjacency, eigen_features, normalized_laplacian, perturb_edge_weights
from shared.method import Evaluator, GradientTrainer
from shared.methods.graph.pe_config import GraphPEConfig


class GraphPETrainer(GradientTrainer):
    """Supervised training of GraphNet + the method's encoding: L1 loss on graph targets (ZINC), MSE on node
    targets (filters). Batches are PyG Batches in an order drawn from the trainer's generator."""

    config: GraphPEConfig
    task: GraphTask

    def make_encoding(self) -> nn.Module:
        raise NotImplementedError

    def setup(self) -> None:
        self.task = load_graph_task(self.config.data)
        self.data = self.task  # evaluators reuse it

    def build_model(self) -> nn.Module:
        cfg, task = self.config, self.task
        return GraphNet(self.make_encoding(), cfg.pe_dim, task.target_dim, task.level, cfg.hidden, cfg.layers,
                        cfg.base, cfg.pool, task.node_types, task.node_features, task.edge_types)

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.task.train) / self.config.batch_size)

    def batches(self) -> Iterator[Batch]:
        order = torch.randperm(len(self.task.train), generator=self.generator).tolist()
        size = self.config.batch_size
        for start in range(0, len(order), size):
            yield Batch.from_data_list([self.task.train[i] for i in order[start : start + size]])

    def loss(self, batch: Batch) -> torch.Tensor:
        pred = self.model(batch)
        return F.l1_loss(pred, batch.y) if self.task.loss == "l1" else F.mse_loss(pred, batch.y)

    def artifact(self) -> nn.Module:
        return self.model


@torch.no_grad()
def predict(model: nn.Module, graphs: list[Data], batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    preds, targets = [], []
    for start in range(0, len(graphs), batch_size):
        batch = Batch.from_data_list(graphs[start : start + batch_size])
        preds.append(model(batch))
        targets.append(batch.y)
    model.train()
    return torch.cat(preds), torch.cat(targets)


class GraphRegression(Evaluator):
    metrics = ("val_mae", "test_mae", "val_mse", "test_mse", "train_mse", "count_acc")

    def load_data(self) -> GraphTask:
        return load_graph_task(self.config.data)

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        out: dict[str, float] = {}
        for split in ("val", "test"):
            pred, y = predict(artifact, getattr(self.data, split))
            out[f"{split}_mae"] = (pred - y).abs().mean().item()
            out[f"{split}_mse"] = ((pred - y) ** 2).mean().item()
            if split == "test" and self.data.counts:
                out["count_acc"] = (pred.round() == y).float().mean().item()
        if self.data.level == "node":  # the filter experiment's measure: how well the targets are fitted
            pred, y = predict(artifact, self.data.train)
            out["train_mse"] = ((pred - y) ** 2).mean().item()
        return out


def pe_change_ratio(pe: nn.Module, graph: Data, k: int, keep_trivial: bool, eps: float,
                    generator: torch.Generator, dtype: torch.dtype = torch.float32) -> float:
    """||PE(L') - PE(L)||_F / ||L' - L||_F for one random symmetric edge-weight perturbation of size eps.
    ``dtype``: float64 (with a float64 module) takes float32 rounding out of the measurement at tiny eps."""
    weights = perturb_edge_weights(graph.edge_index, eps, generator)
    n = graph.num_nodes

    def encode(edge_weight: torch.Tensor | None) -> torch.Tensor:
        feats = eigen_features(graph, k, keep_trivial, edge_weight)
        feats = {key: t.to(dtype) if t.is_floating_point() else t for key, t in feats.items()}
        return pe(Batch.from_data_list([Data(edge_index=graph.edge_index, num_nodes=n, **feats)]))

    lap = normalized_laplacian(dense_adjacency(graph.edge_index, n))
    lap_after = normalized_laplacian(dense_adjacency(graph.edge_index, n, weights))
    with torch.no_grad():
        change = encode(weights) - encode(None)
    return change.norm().item() / (lap_after - lap).norm().item()


class PEStability(Evaluator):
    metrics = ("pe_stability",)
    draws = 3

    def evaluate(self, artifact: GraphNet) -> dict[str, float]:
        cfg = self.config
        pe = artifact.pe
        was_training = pe.training
        pe.eval()
        generator = torch.Generator().manual_seed(0)
        ratios = [pe_change_ratio(pe, g, cfg.data.pe_k, cfg.data.keep_trivial, cfg.stability_eps, generator)
                  for g in repeated_eigenvalue_graphs().values() for _ in range(self.draws)]
        pe.train(was_training)
        return {"pe_stability": float(torch.tensor(ratios).median())}


def encoding_kwargs(cfg: Any) -> dict[str, int]:
    return {"k": cfg.data.pe_k, "dim": cfg.pe_dim}
