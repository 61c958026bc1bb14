"""flat_mf: "The Inductive Bias of Flatness Regularization for Deep Matrix Factorization" (Gatmiry, Li, Chuang,
Reddi, Ma, Jegelka; NeurIPS 2023, arXiv 2306.13239), as the spec card's experiment (no public code).

Deep linear network E(W) = W_L ... W_1 (d x d factors) fitted to Gaussian measurements b_i = <A_i, M*> of a rank-r
M*, loss L(W) = (1/n) sum_i (<A_i, E(W)> - b_i)^2. The paper: under RIP, minimising the trace of the Hessian over
the zero-loss set is approximately minimising the nuclear norm |E|_*, which recovers low-rank M*. At zero loss
the residual term of the Hessian vanishes and

    tr_GN(W) = (2/n) sum_i sum_l |P_l^T A_i Q_l^T|_F^2,  P_l = W_L ... W_{l+1},  Q_l = W_{l-1} ... W_1,

the Gauss-Newton trace, differentiable in closed form. ``arm``: ``trace`` trains L + lam tr_GN (the method),
``gd`` the plain loss from the same initialisation, ``min_frobenius`` is the interpolant pinv(A) b. Adam,
full batch, float64, W_l ~ N(0, 1/d) as on the card (the paper's own optimiser is unverified).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from shared.method import Evaluator
from shared.methods.theory.config import FlatMFConfig  # torch-free (the sweep driver validates with it)
from shared.methods.theory.specs import FLAT_MF as SPEC  # noqa: F401  (torch-free; the registry's entry)
from shared.theory.experiment import ExperimentTrainer


@dataclass
class Measurements:
    truth: torch.Tensor  # (d, d) rank r, nuclear norm sqrt(d)
    sensing: torch.Tensor  # (n, d, d) iid N(0, 1)
    values: torch.Tensor  # (n,)


def draw_measurements(cfg: FlatMFConfig) -> Measurements:
    gen = torch.Generator().manual_seed(cfg.data.seed * 1009 + 41)
    u = torch.randn(cfg.dim, cfg.rank, generator=gen, dtype=torch.float64)
    v = torch.randn(cfg.dim, cfg.rank, generator=gen, dtype=torch.float64)
    truth = u @ v.T
    truth *= np.sqrt(cfg.dim) / torch.linalg.matrix_norm(truth, ord="nuc")
    sensing = torch.randn(cfg.measurements, cfg.dim, cfg.dim, generator=gen, dtype=torch.float64)
    return Measurements(truth, sensing, torch.einsum("nij,ij->n", sensing, truth))


def chain(factors: list[torch.Tensor], dim: int) -> torch.Tensor:
    """W_k ... W_1 of the given list (the identity when it is empty)."""
    out = torch.eye(dim, dtype=torch.float64)
    for w in factors:
        out = w @ out
    return out


def trace_gn(factors: list[torch.Tensor], sensing: torch.Tensor) -> torch.Tensor:
    """(2/n) sum_i sum_l |P_l^T A_i Q_l^T|_F^2 (factors listed W_1 first)."""
    dim = sensing.shape[-1]
    total = sensing.new_zeros(())
    for layer in range(len(factors)):
        after, before = chain(factors[layer + 1:], dim), chain(factors[:layer], dim)
        total = total + (after.T @ sensing @ before.T).pow(2).sum()
    return 2 * total / sensing.shape[0]


def fit_loss(end_to_end: torch.Tensor, data: Measurements) -> torch.Tensor:
    return (torch.einsum("nij,ij->n", data.sensing, end_to_end) - data.values).pow(2).mean()


class FlatMFTrainer(ExperimentTrainer):
    config: FlatMFConfig

    def __init__(self, config: FlatMFConfig) -> None:
        super().__init__(config)
        self.data = draw_measurements(config)

    def run(self) -> dict[str, Any]:
        cfg, data = self.config, self.data
        if cfg.arm == "min_frobenius":
            flat = torch.linalg.pinv(data.sensing.reshape(cfg.measurements, -1)) @ data.values
            return {"end_to_end": flat.reshape(cfg.dim, cfg.dim).tolist(), "loss": 0.0, "trace_gn": float("nan")}
        gen = torch.Generator().manual_seed(cfg.seed)
        factors = [(torch.randn(cfg.dim, cfg.dim, generator=gen, dtype=torch.float64) / np.sqrt(cfg.dim))
                   .requires_grad_() for _ in range(cfg.depth)]
        optimizer = torch.optim.Adam(factors, lr=cfg.lr)
        for _ in range(cfg.steps):
            optimizer.zero_grad()
            loss = fit_loss(chain(factors, cfg.dim), data)
            if cfg.arm == "trace":
                loss = loss + cfg.lam * trace_gn(factors, data.sensing)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            end = chain(factors, cfg.dim)
            return {"end_to_end": end.tolist(), "loss": float(fit_loss(end, data)),
                    "trace_gn": float(trace_gn(factors, data.sensing))}


class Recovery(Evaluator):
    """Relative recovery error |E - M*|_F / |M*|_F, nuclear norm of E over M*'s, the final fit loss and tr_GN."""

    metrics = ("rel_error", "nuclear_ratio", "train_loss", "trace_gn")

    def load_data(self) -> Measurements:
        return draw_measurements(self.config)

    def evaluate(self, artifact: dict[str, Any]) -> dict[str, float]:
        end, truth = torch.tensor(artifact["end_to_end"], dtype=torch.float64), self.data.truth
        return {"rel_error": float(torch.linalg.matrix_norm(end - truth) / torch.linalg.matrix_norm(truth)),
                "nuclear_ratio": float(torch.linalg.matrix_norm(end, ord="nuc")
                                       / torch.linalg.matrix_norm(truth, ord="nuc")),
                "train_loss": float(fit_loss(end, self.data)), "trace_gn": float(artifact["trace_gn"])}
