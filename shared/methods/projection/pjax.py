"""PJAX: "A projection-based framework for gradient-free and parallel learning" (Bergmeister, Lal, Jegelka, Sra;
AISTATS 2026, arXiv 2506.05878).

Training as feasibility: find parameters and every intermediate value with y = f(x) at each primitive and the
labels' margin at the output, by Douglas-Rachford on the product space,

    x <- x + P_C(2 P_D x - x) - P_D x,

P_D the graph projections of all primitives at once (``shared/pjax/projections.py``), P_C the consensus of
each variable's copies (``shared/pjax/solver.py``; the departure from the official bipartite split is named
there). ``steps_per_update`` iterations per minibatch from a forward pass, as the official optimiser.
``arm=adam`` trains the same network with Adam on cross-entropy: the honest comparison (a quantised activation
has zero gradient, so Adam only fits the last layer there). Departures: margin loss as a box (label >= margin,
others <= 0), float64, the global bilinear projection (roots of a quintic) instead of 10 Newton steps.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch

from shared.method import Evaluator, Trainer
from shared.methods.projection.config import PJAXConfig  # torch-free; re-exported
from shared.methods.projection.specs import PJAX
from shared.pjax.data import Split, load_split
from shared.pjax.projections import quantize_levels
from shared.pjax.solver import Network, solve_batch


class PJAXTrainer(Trainer):
    config: PJAXConfig

    def __init__(self, config: PJAXConfig) -> None:
        super().__init__(config)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.data: Split = load_split(config.dataset, config.n_train, config.data.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        levels = quantize_levels(config.levels) if config.activation == "quantize" else None
        sizes = [self.data.train_x.shape[1], config.hidden, self.data.classes]
        self.net = Network.init(sizes, config.activation, self.generator, levels)
        self.train_time = 0.0
        self.optimizer_state: dict[str, Any] = {}  # the Adam arm's moments, kept across minibatches

    def fit_epoch(self) -> dict[str, float]:
        cfg, start = self.config, time.perf_counter()
        order = torch.randperm(len(self.data.train_y), generator=self.generator)
        residuals = []
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            x, y = self.data.train_x[idx], self.data.train_y[idx]
            if cfg.arm == "adam":
                residuals.append(self.adam_steps(x, y))
            else:
                res = solve_batch(self.net, x, y, cfg.steps_per_update, cfg.scheme, cfg.margin)
                residuals.append(res[-1])
        self.train_time += time.perf_counter() - start
        self.epoch += 1
        return {"loss": sum(residuals) / len(residuals), "epoch_time_s": time.perf_counter() - start}

    def adam_steps(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """``steps_per_update`` Adam steps on the minibatch (the same work per minibatch as PJAX's iterations)."""
        params = [p.clone().requires_grad_() for p in (*self.net.weights, *self.net.biases)]
        optimizer = torch.optim.Adam(params, lr=self.config.lr)
        if self.optimizer_state:
            optimizer.load_state_dict(self.optimizer_state)
        layers = len(self.net.weights)
        for _ in range(self.config.steps_per_update):
            self.net.weights, self.net.biases = params[:layers], params[layers:]
            loss = torch.nn.functional.cross_entropy(self.net.forward(x)[1][-1], y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        self.optimizer_state = optimizer.state_dict()
        self.net.weights = [p.detach() for p in params[:layers]]
        self.net.biases = [p.detach() for p in params[layers:]]
        return float(loss.detach())

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "weights": list(self.net.weights), "biases": list(self.net.biases),
                "generator": self.generator.get_state(), "train_time": self.train_time,
                "optimizer": self.optimizer_state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch, self.train_time = int(state["epoch"]), float(state["train_time"])
        self.net.weights, self.net.biases = list(state["weights"]), list(state["biases"])
        self.generator.set_state(state["generator"])
        self.optimizer_state = dict(state["optimizer"])

    def artifact(self) -> dict[str, Any]:
        return {"net": self.net, "train_time": self.train_time}


class Accuracy(Evaluator):
    metrics = ("train_acc", "test_acc", "train_time_s")

    def load_data(self) -> Split:
        return load_split(self.config.dataset, self.config.n_train, self.config.data.seed)

    def evaluate(self, artifact: dict[str, Any]) -> dict[str, float]:
        net, data = artifact["net"], self.data
        return {"train_acc": net.accuracy(data.train_x, data.train_y),
                "test_acc": net.accuracy(data.test_x, data.test_y), "train_time_s": float(artifact["train_time"])}


SPEC = PJAX  # the spec lives torch-free in shared/methods/projection/specs.py (the registry's entry)
