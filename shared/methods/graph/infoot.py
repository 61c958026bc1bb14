"""infoot: "InfoOT: Information Maximizing Optimal Transport" (Chuang, Jegelka, Alvarez-Melis; ICML 2023).

Fused InfoOT couples source x and target y by

    min_{P in Pi(p, q)} <P, C> - lam I(P),   I(P) = sum_ij P_ij log f_P(x_i, y_j) / (f(x_i) f(y_j)),

with kernel density estimates f_P = K_x P K_y^T and f(x_i) = mean_k K_x[i, k] (Gaussian kernels at bandwidth
h x sqrt(mean(D^2) / 2) on each side); one epoch is one mirror step P <- Sinkhorn(p, q, C - lam grad I(P), reg)
(``shared.ot.infoot``). The conditional projection T(x) = sum_j w_j(x) y_j / sum_j w_j(x), w_j(x) = f_P(x, y_j) /
(f(x) f(y_j)), maps points the solver never saw, which the barycentric projection cannot.

Data: sklearn digits as the labelled source and digits under a fixed warp (rotation near I, then a shift) as the
unlabelled target (``shared.ot.digits``); the official domain-adaptation protocol (1-NN fitted on the projected
source, tested on held-out target points) on those instead of Office-Caltech DeCAF features (a download).
Departures, named: the source bandwidth comes from the feature distances, not from the label-shifted matrix (see
``solve_infoot``); out-of-sample points keep the training bandwidth (the official new-sample path crashes on
undefined globals and would recompute it); Sinkhorn runs to marginals ~1e-6 (row/column-shifted costs).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from shared.method import Evaluator, Trainer
from shared.methods.graph.config import InfoOTConfig
from shared.methods.graph.specs import INFOOT as SPEC  # noqa: F401  (the registry reads specs.py)
from shared.ot.digits import DigitsWarp, digits_warp
from shared.ot.infoot import InfoOTPlan, exact_ot, mutual_information, solve_infoot, step


def load_data(cfg: InfoOTConfig) -> DigitsWarp:
    d = cfg.data
    return digits_warp(d.sources, d.targets, d.unseen, d.rotation_scale, d.shift_norm, d.seed, d.warp_seed)


class InfoOTTrainer(Trainer):
    config: InfoOTConfig

    def __init__(self, config: InfoOTConfig) -> None:
        super().__init__(config)
        self.data = load_data(config)
        labels = self.data.source_labels if config.labelled else None
        self.solution = solve_infoot(self.data.source, self.data.target, config.h, config.lam, config.reg,
                                     iterations=0, fused=config.fused, labels=labels,
                                     label_delta=config.label_delta)

    def fit_epoch(self) -> dict[str, float]:
        cfg = self.config
        step(self.solution, cfg.lam, cfg.reg, 1, cfg.fused)
        self.epoch += 1
        return {"loss": self.solution.objective[-1]}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "plan": self.solution.plan.tolist(), "objective": list(self.solution.objective)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.solution.plan = np.asarray(state["plan"], dtype=np.float64)
        self.solution.objective = [float(v) for v in state["objective"]]

    def artifact(self) -> InfoOTPlan:
        return self.solution


def one_nn_accuracy(train: np.ndarray, labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray) -> float:
    return float((KNeighborsClassifier(n_neighbors=1).fit(train, labels).predict(test) == test_labels).mean())


def map_error(mapped: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance of mapped points to where the warp sends them."""
    return float(np.linalg.norm(mapped - truth, axis=1).mean())


class DomainAdaptation(Evaluator):
    """1-NN (fitted on the projected labelled source) accuracy on held-out warped digits: no adaptation, the exact
    OT barycentric projection, InfoOT's barycentric and conditional projections; the conditional projection of
    unseen source points beside the same points unadapted; map errors against the known warp; I(P) of InfoOT and
    of exact OT under the same kernels; and the coupling's largest marginal error."""

    metrics = ("acc_none", "acc_ot", "acc_infoot_bary", "acc_infoot_cond", "acc_unseen_cond", "acc_unseen_none",
               "map_error_ot", "map_error_infoot_cond", "map_error_unseen_cond", "mi_infoot", "mi_ot", "marginal_error")

    def load_data(self) -> DigitsWarp:
        return load_data(self.config)

    def evaluate(self, artifact: InfoOTPlan) -> dict[str, float]:
        d = self.data
        ot_plan = exact_ot(d.source, d.target)
        ot_bary = ot_plan @ d.target / ot_plan.sum(axis=1, keepdims=True)
        cond, unseen = artifact.conditional(), artifact.conditional(d.unseen)
        plan = artifact.plan
        row_error = np.abs(plan.sum(axis=1) - 1 / plan.shape[0])
        col_error = np.abs(plan.sum(axis=0) - 1 / plan.shape[1])
        return {
            "acc_none": one_nn_accuracy(d.source, d.source_labels, d.test, d.test_labels),
            "acc_ot": one_nn_accuracy(ot_bary, d.source_labels, d.test, d.test_labels),
            "acc_infoot_bary": one_nn_accuracy(artifact.barycentric(), d.source_labels, d.test, d.test_labels),
            "acc_infoot_cond": one_nn_accuracy(cond, d.source_labels, d.test, d.test_labels),
            "acc_unseen_cond": one_nn_accuracy(unseen, d.unseen_labels, d.test, d.test_labels),
            "acc_unseen_none": one_nn_accuracy(d.unseen, d.unseen_labels, d.test, d.test_labels),
            "map_error_ot": map_error(ot_bary, d.warp(d.source)),
            "map_error_infoot_cond": map_error(cond, d.warp(d.source)),
            "map_error_unseen_cond": map_error(unseen, d.warp(d.unseen)),
            "mi_infoot": mutual_information(plan, artifact.kx, artifact.ky),
            "mi_ot": mutual_information(ot_plan, artifact.kx, artifact.ky),
            "marginal_error": float(max(row_error.max(), col_error.max())),
        }
