"""neural_sfe: "Neural Set Function Extensions: Learning with Discrete Functions in High Dimensions" (Karalias,
Robinson, Loukas, Jegelka; NeurIPS 2022) on maximum clique.

A GNN maps a graph to x in [0, 1]^n; the loss is an extension F(x) of the official max-clique set function
``clique_v4``, f(S) = -density(S)^2 |E(S)| (``shared.graphs.set_extensions``), averaged over graphs, so no labels and no
solver enter training. ``extension``:

- ``lovasz``: F(x) = sum_k p_k f(S_k) over the level sets S_k of x (p_k = x_(k) - x_(k+1)), the paper's scalar SFE;
- ``neural``: the high-dimensional SFE with ``columns`` rank-one terms: the network outputs X in [0, 1]^{n x d} and
  mixture weights lambda (softmax of a pooled read-out), and F(X) = sum_c lambda_c sum_k w_k(x_c) f(S_k(x_c)) with
  the pairwise-intersection weights w_k = p_k^2 + 2 p_k sum_{j>k} p_j;
- ``straight_through``: the baseline: S = {x > 1/2} in the forward pass, the identity's gradient in the backward
  pass, through f written as a polynomial of the indicator (|E(S)| = x^T A x / 2, |S| = sum x).

Decoding (every arm, and the untrained network as the random-init baseline): the largest level set of x (of any
column) that is a clique, i.e. the official evaluation value f_eval(S) = -|S| if S is a clique else 0, minimised over
level sets; a single node is a clique, so the decoded set always is one. The approximation ratio is its size over the
maximum clique (networkx exact, in place of the official Gurobi).

Data: planted-clique graphs: G(n, p) with n uniform in [n_min, n_max] and a clique on a random k in [k_min, k_max]
nodes; training graphs from one stream of ``data.seed``, held-out test graphs from another.

Deliberate departures: a dense GIN in place of the official GAT + GatedGraphConv stack, input features degree / n
and a constant; in the neural SFE, the rank-one terms are the network's columns rather than power-iteration
eigenvectors of X X^T (the official v3/v4 eigenvector route stops at a leftover ``breakpoint()``), and w_k is derived
from the pairwise form (see ``shared.graphs.set_extensions``), not the official v4 reverse cumulative sum.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch import nn

from shared.graphs.set_extensions import clique_objective, edges_of_level_sets, level_set_weights, neural_weights
from shared.graphs.solver_cache import max_clique
from shared.graphs.solvers import is_clique
from shared.method import Evaluator, Trainer
from shared.methods.graph.config import NeuralSFEConfig, PlantedCliques
from shared.methods.graph.specs import NEURAL_SFE as SPEC  # noqa: F401  (the registry reads specs.py)


def planted_clique_graphs(rng: np.random.Generator, count: int, d: PlantedCliques) -> list[nx.Graph]:
    graphs = []
    for _ in range(count):
        n = int(rng.integers(d.n_min, d.n_max + 1))
        graph = nx.gnp_random_graph(n, d.p, seed=int(rng.integers(2**31)))
        members = rng.choice(n, size=min(n, int(rng.integers(d.k_min, d.k_max + 1))), replace=False)
        graph.add_edges_from((int(a), int(b)) for i, a in enumerate(members) for b in members[i + 1:])
        graphs.append(graph)
    return graphs


def dense_graphs(graphs: list[nx.Graph]) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded adjacency (B, N, N) and mask (B, N)."""
    size = max(g.number_of_nodes() for g in graphs)
    adjacency, mask = torch.zeros(len(graphs), size, size), torch.zeros(len(graphs), size)
    for b, g in enumerate(graphs):
        n = g.number_of_nodes()
        adjacency[b, :n, :n] = torch.from_numpy(nx.to_numpy_array(g, nodelist=range(n), dtype=np.float32))
        mask[b, :n] = 1.0
    return adjacency, mask


class CliqueNet(nn.Module):
    """Dense GIN on (degree / n, 1) features; a sigmoid head of ``columns`` outputs per node and mixture logits."""

    def __init__(self, hidden: int, layers: int, columns: int) -> None:
        super().__init__()
        dims = [2] + [hidden] * layers
        self.eps = nn.Parameter(torch.zeros(layers))
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(dims[k], hidden), nn.ReLU(), nn.Linear(hidden, hidden))
                                  for k in range(layers))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.LeakyReLU(), nn.Linear(hidden, columns))
        self.mixture = nn.Linear(hidden, columns)

    def forward(self, adjacency: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, n, columns) in (0, 1), zero on padding; mixture weights (B, columns) summing to 1."""
        nodes = mask.sum(-1, keepdim=True)
        h = torch.stack([adjacency.sum(-1) / nodes, mask], dim=-1)
        for k, mlp in enumerate(self.mlps):
            update = torch.relu(mlp((1 + self.eps[k]) * h + adjacency @ h))
            h = (update if k == 0 else h + update) * mask[..., None]  # residual after the input layer
        x = torch.sigmoid(self.head(h)) * mask[..., None]
        pooled = h.sum(1) / nodes
        return x, torch.softmax(self.mixture(pooled), dim=-1)


def extension_loss(x: torch.Tensor, weights: torch.Tensor, adjacency: torch.Tensor, extension: str) -> torch.Tensor:
    """Per graph (B,), the extension of clique_v4 at x (B, n, columns): Lovasz and straight-through use column 0."""
    if extension == "straight_through":
        soft = x[..., 0]
        hard = (soft > 0.5).float()
        s = hard + soft - soft.detach()
        edges = torch.einsum("bi,bij,bj->b", s, adjacency, s) / 2
        return clique_objective(edges, s.sum(-1))
    columns = 1 if extension == "lovasz" else x.shape[-1]
    total = torch.zeros(x.shape[0])
    for c in range(columns):
        order, p = level_set_weights(x[..., c])
        sizes = torch.arange(1, x.shape[1] + 1, dtype=x.dtype).expand_as(p)
        f = clique_objective(edges_of_level_sets(adjacency, order), sizes)
        if extension == "lovasz":
            return (p * f).sum(-1)
        total = total + weights[:, c] * (neural_weights(p) * f).sum(-1)
    return total


class NeuralSFETrainer(Trainer):
    config: NeuralSFEConfig

    def __init__(self, config: NeuralSFEConfig) -> None:
        super().__init__(config)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.model = build_network(config)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.graphs = planted_clique_graphs(np.random.default_rng([config.data.seed, 0]), config.data.train_graphs,
                                            config.data)
        self.adjacency, self.mask = dense_graphs(self.graphs)  # once: batches are slices of these
        self.rng = np.random.default_rng([config.data.seed, config.seed, 1])

    def fit_epoch(self) -> dict[str, float]:
        c, total, steps = self.config, 0.0, 0
        self.model.train()
        order = self.rng.permutation(len(self.graphs))
        for start in range(0, len(order), c.batch_size):
            batch = torch.from_numpy(order[start:start + c.batch_size])
            adjacency, mask = self.adjacency[batch], self.mask[batch]
            x, weights = self.model(adjacency, mask)
            loss = extension_loss(x, weights, adjacency, c.extension).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total, steps = total + loss.item(), steps + 1
        self.epoch += 1
        return {"loss": total / steps}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": self.epoch,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.rng.bit_generator.state = int(state["epoch"]), state["rng"]

    def artifact(self) -> nn.Module:
        return self.model


def build_network(cfg: NeuralSFEConfig) -> CliqueNet:
    """Initial weights from ``cfg.seed`` alone, so the random-init baseline is the trained network's start."""
    torch.manual_seed(cfg.seed)
    return CliqueNet(cfg.hidden, cfg.layers, cfg.columns)


@torch.no_grad()
def decode_cliques(model: nn.Module, graphs: list[nx.Graph], columns: int) -> list[list[int]]:
    """Per graph, the largest level set of any of the first ``columns`` outputs that is a clique."""
    model.eval()
    adjacency, mask = dense_graphs(graphs)
    x, _ = model(adjacency, mask)
    out = []
    for b, g in enumerate(graphs):
        best: list[int] = []
        for c in range(columns):
            order = torch.argsort(x[b, : g.number_of_nodes(), c], descending=True, stable=True).tolist()
            size = 1
            while size < len(order) and all(g.has_edge(order[size], v) for v in order[:size]):
                size += 1  # level sets are nested: the first one that is not a clique ends the search
            if size > len(best):
                best = order[:size]
        out.append(best)
    return out


class CliqueEvaluator(Evaluator):
    """Found / maximum clique (networkx's exact search, through the solver cache) on held-out planted-clique graphs,
    the untrained network's, every decoded set a clique; seconds per graph of the network (forward and decoding) and
    of the exact search (its original solve, when cached)."""

    metrics = ("approx_ratio", "random_init_ratio", "clique_share", "found_size", "max_clique", "seconds_per_graph",
               "exact_seconds_per_graph")

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        cfg = self.config
        graphs = planted_clique_graphs(np.random.default_rng([cfg.data.seed, 2**20]), cfg.data.test_graphs,
                                       cfg.data)
        exact = [max_clique(g) for g in graphs]  # cached: each graph solved once over all trials and seeds
        optimum = np.array([size for size, _ in exact], dtype=float)
        exact_seconds = float(np.mean([seconds for _, seconds in exact]))  # the original solves' times
        columns = cfg.columns if cfg.extension == "neural" else 1
        start = time.perf_counter()
        found = decode_cliques(artifact, graphs, columns)
        seconds = (time.perf_counter() - start) / len(graphs)
        untrained = decode_cliques(build_network(cfg), graphs, columns)
        sizes = np.array([len(s) for s in found], dtype=float)
        return {
            "approx_ratio": float(np.mean(sizes / optimum)),
            "random_init_ratio": float(np.mean([len(s) for s in untrained] / optimum)),
            "clique_share": float(np.mean([is_clique(g, s) for g, s in zip(graphs, found, strict=True)])),
            "found_size": float(sizes.mean()),
            "max_clique": float(optimum.mean()),
            "seconds_per_graph": seconds,
            "exact_seconds_per_graph": exact_seconds,
        }
