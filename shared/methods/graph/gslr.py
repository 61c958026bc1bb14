"""gslr: "Graph-Sparse Logistic Regression" (LeNail, Schmidt, Li, Ehrenberger, Sachs, Jegelka, Fraenkel; arXiv
1712.05510), after the official code (fraenkel-lab/GSLR, gslr/gslr.py and experiments/algorithms/gslr/run_GSLR.py).

Softmax regression on W (classes x features) where each class row is supported on one connected subgraph of a known
feature graph with between ``sparsity_low`` and ``sparsity_high`` nodes:

    W <- Proj(W - eta grad L(W)),  L = average softmax cross-entropy,  W_0 = 0,

eta chosen each step from ``steps`` as the one whose projected iterate has the lowest loss (0 when none lowers it),
Proj the PCST projection of each row (:mod:`shared.graphs.pcst`: prizes W^2, lambda bisected to the sparsity range,
signs restored). One epoch is one projected-gradient step (``run_GSLR.py``: 35 steps; here 30, the card's check).

Data (the card's small-scale check; the paper's semi-synthetic proteomics and interactome are not available
offline): a Barabasi-Albert graph (m = 2) or a 2-D grid of ``nodes`` features; the true support is a connected
ball of ``support`` nodes (the first in BFS order from a random node); X ~ N(0, I) and the positive class shifted
by ``shift`` on the support. The baseline is L1-logistic regression (sklearn, liblinear) at matched sparsity: C
bisected until its number of non-zero coefficients equals GSLR's support size (or is the closest seen).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch

from shared.graphs.pcst import is_connected_support, project_rows
from shared.method import Evaluator, Trainer
from shared.methods.graph.config import GSLRConfig, PathwayData
from shared.methods.graph.specs import GSLR as SPEC  # noqa: F401  (the registry reads specs.py)


@dataclass
class Pathway:
    edges: np.ndarray  # (m, 2) int64 feature-graph edges
    support: np.ndarray  # sorted true support
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def feature_graph(d: PathwayData, rng: np.random.Generator) -> nx.Graph:
    if d.graph == "grid":
        side = int(np.ceil(np.sqrt(d.nodes)))
        grid = nx.convert_node_labels_to_integers(nx.grid_2d_graph(side, side))
        return grid.subgraph(range(d.nodes)).copy()
    return nx.barabasi_albert_graph(d.nodes, 2, seed=int(rng.integers(2**31)))


def pathway_data(d: PathwayData) -> Pathway:
    """The feature graph, a connected true support (BFS ball) and labelled samples (module docstring)."""
    rng = np.random.default_rng([d.seed, 0])
    graph = feature_graph(d, rng)
    start = int(rng.integers(d.nodes))
    component = nx.node_connected_component(graph, start)
    if len(component) < d.support:
        raise ValueError(f"data.support={d.support} exceeds the {len(component)} nodes connected to node {start}")
    ball = [start] + [v for _, v in nx.bfs_edges(graph, start)]
    support = np.sort(np.array(ball[:d.support]))

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.permutation(np.arange(count) % 2)
        x = rng.normal(size=(count, d.nodes))
        x[np.ix_(y == 1, support)] += d.shift
        return x, y

    x_train, y_train = draw(d.train)
    x_test, y_test = draw(d.test)
    return Pathway(np.array(graph.edges, dtype=np.int64).reshape(-1, 2), support, x_train, y_train, x_test, y_test)


def softmax_loss_and_gradient(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Average softmax cross-entropy of W (classes x features) and its gradient."""
    logits = x @ w.T
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    probs = np.exp(log_probs)
    probs[np.arange(len(y)), y] -= 1.0
    return float(-log_probs[np.arange(len(y)), y].mean()), probs.T @ x / len(y)


class GSLRTrainer(Trainer):
    config: GSLRConfig

    def __init__(self, config: GSLRConfig) -> None:
        super().__init__(config)
        self.data = pathway_data(config.data)
        self.weights = np.zeros((2, config.data.nodes))

    def project(self, w: np.ndarray) -> np.ndarray:
        c = self.config
        return project_rows(w, self.data.edges, c.sparsity_low, c.sparsity_high, c.proj_max_iter)

    def fit_epoch(self) -> dict[str, float]:
        data = self.data
        loss, grad = softmax_loss_and_gradient(data.x_train, data.y_train, self.weights)
        best, best_loss, best_step = None, loss, 0.0
        for step in self.config.steps:
            candidate = self.project(self.weights - step * grad)
            candidate_loss, _ = softmax_loss_and_gradient(data.x_train, data.y_train, candidate)
            if candidate_loss < best_loss:
                best, best_loss, best_step = candidate, candidate_loss, step
        self.weights = best if best is not None else self.project(self.weights)  # the same projection: reused
        self.epoch += 1
        loss, _ = softmax_loss_and_gradient(data.x_train, data.y_train, self.weights)
        return {"loss": loss, "step_size": best_step, "support_size": float(len(support_of(self.weights)))}

    def state_dict(self) -> dict:
        return {"weights": torch.from_numpy(self.weights.copy()), "epoch": self.epoch}

    def load_state_dict(self, state) -> None:
        self.weights = state["weights"].numpy().astype(np.float64)
        self.epoch = int(state["epoch"])

    def artifact(self) -> np.ndarray:
        return self.weights


def support_of(weights: np.ndarray) -> np.ndarray:
    """Features with a non-zero weight in any class row."""
    return np.flatnonzero(np.abs(weights).sum(axis=0) > 0)


def support_f1(chosen: np.ndarray, truth: np.ndarray) -> float:
    hits = len(np.intersect1d(chosen, truth))
    return 0.0 if hits == 0 else 2 * hits / (len(chosen) + len(truth))


def l1_at_matched_sparsity(data: Pathway, target: int, rounds: int):
    """L1-logistic regression (liblinear) whose number of non-zero coefficients is closest to ``target``: C bisected
    on a log scale between sklearn's smallest non-trivial C and 1,000 times it (the closest over all rounds)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import l1_min_c

    low = math.log(l1_min_c(data.x_train, data.y_train, loss="log"))
    high = low + math.log(1000.0)
    best, best_gap = None, None
    for _ in range(rounds):
        middle = (low + high) / 2.0
        model = LogisticRegression(C=math.exp(middle), l1_ratio=1.0, solver="liblinear", max_iter=1000)
        model.fit(data.x_train, data.y_train)
        size = int(np.count_nonzero(model.coef_))
        if best_gap is None or abs(size - target) < best_gap:
            best, best_gap = model, abs(size - target)
        if size == target:
            break
        low, high = (middle, high) if size < target else (low, middle)
    return best


class SupportRecovery(Evaluator):
    """Support F1 / precision against the true support, held-out accuracy, whether every class row's support is
    connected in the feature graph; the same for L1-logistic regression at matched sparsity."""

    metrics = ("support_f1", "support_precision", "support_size", "connected", "test_acc",
               "l1_support_f1", "l1_support_size", "l1_connected", "l1_test_acc")

    def evaluate(self, weights: np.ndarray) -> dict[str, float]:
        data = self.data
        chosen = support_of(weights)
        predicted = np.argmax(data.x_test @ weights.T, axis=1)
        l1 = l1_at_matched_sparsity(data, len(chosen), self.config.l1_rounds)
        l1_chosen = np.flatnonzero(l1.coef_[0])
        hits = len(np.intersect1d(chosen, data.support))
        return {"support_f1": support_f1(chosen, data.support),
                "support_precision": hits / max(len(chosen), 1), "support_size": float(len(chosen)),
                "connected": float(all(is_connected_support(np.flatnonzero(row), data.edges) for row in weights)),
                "test_acc": float((predicted == data.y_test).mean()),
                "l1_support_f1": support_f1(l1_chosen, data.support), "l1_support_size": float(len(l1_chosen)),
                "l1_connected": float(is_connected_support(l1_chosen, data.edges)),
                "l1_test_acc": float(l1.score(data.x_test, data.y_test))}

    def load_data(self) -> Pathway:
        return pathway_data(self.config.data)
