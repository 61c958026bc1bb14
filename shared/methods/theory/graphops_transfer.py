"""graphops_transfer: "Limits, approximation and size transferability for GNNs on sparse graphs via graphops" (Le,
Jegelka; NeurIPS 2023, arXiv 2306.04495), as the spec card's derived experiment (a theory paper, no public code).

GNN layers are polynomial filters of an aggregation operator P: X^{l+1} = relu(sum_{k=0}^{K} P^k X^l W_{l,k}), then a
linear readout. P is normalised so that it stays bounded as n grows (A / deg_max on bounded-degree graphs, A / n on
dense ones); P-operators (graphops) are the limits, in action convergence (k-profiles compared in Levy-Prokhorov),
and the paper bounds the distance between a GNN on a finite graph and on its limit, and between two graphs of
different sizes that share structure. Outputs are compared as distributions over nodes, never node by node.

What runs ([derived]; d_M itself is not computed): weights fixed by ``seed`` and independent of n, node features
iid U[0, 1]. ``graph = regular``: random ``degree``-regular graphs, P = A / deg_max; ``graph = graphon``: dense graphs
sampled from the graphon W(x, y) = 0.9 - 0.8 |x - y| (latents iid U[0, 1]), P = A / n. Measures, averaged over
``repeats`` independent pairs drawn from ``data.seed``:
- ``w1``: 1-D W_1 (scipy) between the node-output distributions of one GNN on independent graphs of sizes n and 2n;
  the paper's transferability predicts it falls with n (as n^-1/2 for the empirical-measure part alone: ``rate``);
- ``graph_effect`` / ``graph_effect_by_size``: mean |f(X, P) - f(X, 0)|, what the graph adds to a node's output,
  with the configured normalisation and with A / n (the contrast of the card: on bounded-degree graphs A / n sends
  P to 0 and the output loses all structure; A / deg_max keeps it);
- ``transfer_mse`` (when ``n_train`` > 0): a student of the same family trained (Adam, MSE) on ``train_graphs``
  graphs of n_train nodes to match the teacher (the fixed GNN), tested node-wise on one graph of ``n_test`` nodes
  (the same graph for both, so node-wise is meaningful there).
"""
from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import torch
from scipy.stats import wasserstein_distance

from shared.methods.theory.config import GraphopsConfig  # torch-free (the sweep driver validates with it)
from shared.methods.theory.specs import GRAPHOPS_TRANSFER as SPEC  # noqa: F401  (torch-free; the registry's entry)
from shared.theory.experiment import ExperimentTrainer, ReportedNumbers


def graphon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 0.9 - 0.8 * np.abs(x - y)


def adjacency(cfg: GraphopsConfig, size: int, rng: np.random.Generator) -> np.ndarray:
    if cfg.graph == "regular":
        g = nx.random_regular_graph(cfg.degree, size, seed=int(rng.integers(2**31)))
        return nx.to_numpy_array(g, nodelist=range(size))
    latent = rng.uniform(0, 1, size)
    upper = np.triu(rng.uniform(0, 1, (size, size)) < graphon(latent[:, None], latent[None, :]), 1)
    return (upper | upper.T).astype(float)


def aggregation(adj: np.ndarray, scaling: str) -> torch.Tensor:
    """P = A / deg_max or A / n; sparse when under a tenth of the entries are edges (bounded degree), else dense."""
    scale = adj.sum(1).max() if scaling == "max_degree" else len(adj)
    p = torch.from_numpy(adj / max(scale, 1.0)).float()
    return p.to_sparse() if np.count_nonzero(adj) < 0.1 * adj.size else p


def init_gnn(cfg: GraphopsConfig, seed: int) -> list[torch.Tensor]:
    """Per layer a (K + 1, fan_in, fan_out) stack of filter weights, then a (hidden, 1) readout."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [1] + [cfg.hidden] * cfg.layers
    weights = [torch.randn(cfg.order + 1, a, b, generator=gen) / (a * (cfg.order + 1)) ** 0.5
               for a, b in zip(sizes, sizes[1:], strict=False)]
    return [*weights, torch.randn(cfg.hidden, 1, generator=gen) / cfg.hidden**0.5]


def gnn(weights: list[torch.Tensor], p: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """relu(sum_k P^k H W_k) per layer, then the readout; ``p = None`` is P = 0 (only the k = 0 term)."""
    h = x
    for w in weights[:-1]:
        power, acc = h, h @ w[0]
        for k in range(1, len(w)):
            if p is None:
                break
            power = p @ power
            acc = acc + power @ w[k]
        h = torch.relu(acc)
    return (h @ weights[-1]).squeeze(-1)


def features(size: int, rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(0, 1, (size, 1))).float()


def train_student(cfg: GraphopsConfig, teacher: list[torch.Tensor], rng: np.random.Generator) -> list[torch.Tensor]:
    graphs = []
    for _ in range(cfg.train_graphs):
        p, x = aggregation(adjacency(cfg, cfg.n_train, rng), cfg.scaling()), features(cfg.n_train, rng)
        graphs.append((p, x, gnn(teacher, p, x)))
    student = [w.requires_grad_() for w in init_gnn(cfg, cfg.seed * 7919 + 104_729)]
    opt = torch.optim.Adam(student, lr=cfg.student_lr)
    for step in range(cfg.student_steps):
        p, x, y = graphs[step % len(graphs)]
        opt.zero_grad()
        torch.mean((gnn(student, p, x) - y) ** 2).backward()
        opt.step()
    return [w.detach() for w in student]


class GraphopsTrainer(ExperimentTrainer):
    config: GraphopsConfig

    def run(self) -> dict[str, Any]:
        cfg = self.config
        rng = np.random.default_rng([cfg.data.seed, 23])
        weights = init_gnn(cfg, cfg.seed)
        w1, effect, effect_by_size = [], [], []
        with torch.no_grad():
            for _ in range(cfg.repeats):
                small, large = adjacency(cfg, cfg.n, rng), adjacency(cfg, 2 * cfg.n, rng)
                x_small, x_large = features(cfg.n, rng), features(2 * cfg.n, rng)
                out_small = gnn(weights, aggregation(small, cfg.scaling()), x_small)
                out_large = gnn(weights, aggregation(large, cfg.scaling()), x_large)
                w1.append(wasserstein_distance(out_small.numpy(), out_large.numpy()))
                alone = gnn(weights, None, x_small)
                effect.append(float((out_small - alone).abs().mean()))
                effect_by_size.append(float((gnn(weights, aggregation(small, "size"), x_small) - alone).abs().mean()))
        result = {"w1": float(np.mean(w1)), "w1_sd": float(np.std(w1)), "rate": cfg.n**-0.5,
                  "graph_effect": float(np.mean(effect)), "graph_effect_by_size": float(np.mean(effect_by_size)),
                  "transfer_mse": float("nan")}
        if cfg.n_train:
            student = train_student(cfg, weights, rng)
            with torch.no_grad():
                p, x = aggregation(adjacency(cfg, cfg.n_test, rng), cfg.scaling()), features(cfg.n_test, rng)
                result["transfer_mse"] = float(torch.mean((gnn(student, p, x) - gnn(weights, p, x)) ** 2))
        return result


class Transferability(ReportedNumbers):
    """W_1 between node-output distributions at n and 2n (mean and spread over pairs), n^-1/2 for the log-log
    figure, what the graph adds to the output (configured normalisation and A / n), the student's test MSE."""

    metrics = ("w1", "w1_sd", "rate", "graph_effect", "graph_effect_by_size", "transfer_mse")
