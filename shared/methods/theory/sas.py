"""sas: "On the generalization of learning algorithms that do not converge" (Chandramoorthy, Loukas, Gatmiry,
Jegelka; NeurIPS 2022, arXiv 2208.07951), as the spec card's small-scale experiment (no public code).

Training is a random dynamical system theta_{t+1} = phi_S(theta_t, xi_t) that need not converge; with a stationary
law mu_S of the iterates, the generalisation gap is gap(S) = E_{theta ~ mu_S}[R(theta) - R_S(theta)], the
time-averaged test minus training loss after burn-in. Statistical algorithmic stability (SAS): the algorithm is
beta-SAS if for S, S^(i) differing in one example and every test point z the law of l(theta; z) under mu_S is
within beta of its law under mu_{S^(i)}; then E[gap] <= beta (Bousquet-Elisseeff style).

Estimator (the card's beta-hat, [derived]): replace training point i by a fresh draw, train again with the *same*
SGD randomness (same initialisation and minibatch indices, so the two runs differ only by the example), record
l(theta_t; z_j) every ``record_every`` steps after ``burn_in`` on both runs, and average over test points z_j and
replaced indices i the 1-D Wasserstein-1 distance between the two time series' empirical laws (equal sample
counts: the mean absolute difference of the sorted series, what ``scipy.stats.wasserstein_distance`` computes).

Set-up (card): binary Gaussian mixture in R^d with means +-e_1, labels flipped with probability ``noise`` (train and
test: the population is noisy), a 2-layer tanh MLP, plain constant-step SGD without weight decay: deliberately
non-convergent. The run on S and its ``replaced`` perturbed copies train together as one batched model (the copies
share every random draw by construction). ``data.seed`` draws the data, flips and replacement points; ``seed`` the
initialisation and minibatch order. Departure: the loss is binary cross-entropy on logits (the card's choice; the
paper's losses and data are MNIST/CIFAR-scale and unverified).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from shared.methods.theory.config import SASConfig  # torch-free (the sweep driver validates with it)
from shared.methods.theory.specs import SAS as SPEC  # noqa: F401  (torch-free; the registry's entry)
from shared.theory.experiment import ExperimentTrainer, ReportedNumbers


def draw_mixture(count: int, dim: int, noise: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x = y' e_1 + N(0, I) with y' = +-1 equally likely; the label is y' flipped with probability ``noise``, in
    {0, 1}."""
    clean = torch.randint(0, 2, (count,), generator=gen).float()
    x = torch.randn(count, dim, generator=gen)
    x[:, 0] += 2 * clean - 1
    flipped = torch.rand(count, generator=gen) < noise
    return x, torch.where(flipped, 1 - clean, clean)


def perturbed_datasets(cfg: SASConfig, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """S and S^(i) for i < replaced, stacked: (1 + replaced, n_train, dim) inputs and (1 + replaced, n_train)
    labels; copy 1 + i equals S except that its example i is a fresh draw."""
    x, y = draw_mixture(cfg.n_train, cfg.dim, cfg.noise, gen)
    fresh_x, fresh_y = draw_mixture(cfg.replaced, cfg.dim, cfg.noise, gen)
    xs, ys = x.repeat(1 + cfg.replaced, 1, 1), y.repeat(1 + cfg.replaced, 1)
    for i in range(cfg.replaced):
        xs[1 + i, i], ys[1 + i, i] = fresh_x[i], fresh_y[i]
    return xs, ys


def init_params(cfg: SASConfig, copies: int, gen: torch.Generator) -> list[torch.Tensor]:
    """One initialisation (PyTorch's default uniform fan-in scale), repeated for every copy."""
    one = [(torch.rand(cfg.dim, cfg.width, generator=gen) * 2 - 1) / cfg.dim**0.5,
           (torch.rand(1, cfg.width, generator=gen) * 2 - 1) / cfg.dim**0.5,
           (torch.rand(cfg.width, 1, generator=gen) * 2 - 1) / cfg.width**0.5,
           (torch.rand(1, 1, generator=gen) * 2 - 1) / cfg.width**0.5]
    return [p.repeat(copies, 1, 1) for p in one]


def logits(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Batched MLP: x (copies, m, dim) -> (copies, m)."""
    w1, b1, w2, b2 = params
    return (torch.tanh(x @ w1 + b1) @ w2 + b2).squeeze(-1)


def sgd_step(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, lr: float) -> None:
    """One SGD step on each copy's mean BCE, in place. The backward pass is written out (the training loop is
    thousands of steps on tiny tensors, where autograd's per-op overhead would dominate); it is checked against
    autograd in tests/test_theory.py."""
    w1, b1, w2, b2 = params
    hidden = torch.tanh(x @ w1 + b1)  # (copies, m, width)
    dz = (torch.sigmoid(hidden @ w2 + b2) - y.unsqueeze(-1)) / x.shape[1]  # dBCE/dlogit of the mean loss
    da = (dz @ w2.transpose(1, 2)) * (1 - hidden**2)
    grads = (x.transpose(1, 2) @ da, da.sum(1, keepdim=True), hidden.transpose(1, 2) @ dz, dz.sum(1, keepdim=True))
    for p, g in zip(params, grads, strict=True):
        p.sub_(lr * g)


def series_wasserstein(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """W_1 between the empirical laws of two equally long time series, per column: (T, m), (T, m) -> (m,)."""
    return (first.sort(0).values - second.sort(0).values).abs().mean(0)


def bce(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits(params, x), y, reduction="none")


def train_coupled(cfg: SASConfig, xs: torch.Tensor, ys: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Constant-step SGD on every copy with shared minibatch indices. Returns the recorded per-test-point losses
    (records, copies, n_test) and the recorded mean training loss of each copy (records, copies)."""
    gen = torch.Generator().manual_seed(cfg.seed * 7907 + 11)
    params = init_params(cfg, len(xs), gen)
    batches = torch.randint(0, cfg.n_train, (cfg.steps, cfg.batch_size), generator=gen)
    x_test, y_test = x_test.expand(len(xs), -1, -1), y_test.expand(len(xs), -1)
    test_series, train_series = [], []
    for step, rows in enumerate(batches):
        sgd_step(params, xs[:, rows], ys[:, rows], cfg.lr)
        if step >= cfg.burn_in and (step - cfg.burn_in) % cfg.record_every == 0:
            test_series.append(bce(params, x_test, y_test))
            train_series.append(bce(params, xs, ys).mean(1))
    return torch.stack(test_series), torch.stack(train_series)


class SASTrainer(ExperimentTrainer):
    config: SASConfig

    def run(self) -> dict[str, Any]:
        cfg = self.config
        data_gen = torch.Generator().manual_seed(cfg.data.seed * 6151 + 3)
        xs, ys = perturbed_datasets(cfg, data_gen)
        x_test, y_test = draw_mixture(cfg.n_test, cfg.dim, cfg.noise, data_gen)
        test_series, train_series = train_coupled(cfg, xs, ys, x_test, y_test)
        beta = torch.stack([series_wasserstein(test_series[:, 0], test_series[:, 1 + i]).mean()
                            for i in range(cfg.replaced)])
        test_loss, train_loss = float(test_series[:, 0].mean()), float(train_series[:, 0].mean())
        return {"beta_hat": float(beta.mean()), "beta_hat_sd": float(beta.std()) if cfg.replaced > 1 else 0.0,
                "gap": test_loss - train_loss, "test_loss": test_loss, "train_loss": train_loss, "loss": train_loss}


class Stability(ReportedNumbers):
    """beta-hat (the SAS estimate, mean over replaced indices, and its spread), the time-averaged generalisation gap
    (test minus training BCE after burn-in) and its two terms."""

    metrics = ("beta_hat", "beta_hat_sd", "gap", "test_loss", "train_loss")
