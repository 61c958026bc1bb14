"""symmetry_hardness: "On the hardness of learning under symmetries" (Kiani, Le, Lawrence, Jegelka, Weber; ICLR 2024,
arXiv 2401.01869): the correlational-statistical-query (CSQ) argument, checked exactly on the spec card's hard class.

The class: cyclic-shift-invariant orbit parities f_S(x) = n^-1/2 sum_i prod_{j in S} x_{i+j}, |S| = k, one per
Z_n-orbit of supports; periodic supports (norm^2 = n / orbit size > 1) are dropped, the rest are orthonormal in
L2(uniform on {+-1}^n). A shift-invariant CNN (circular full-width kernel, ReLU, sum pooling) represents them.
For any query g (here: each coordinate of the CNN's parameter gradient at a random initialisation), Bessel gives
sum_S <g, f_S>^2 <= |g|^2, so the variance over the class of <g, f_S> is at most |g|^2 / |F|: a gradient step
carries at most 1/|F| of its norm in information about which f_S is the target (the "informative fraction").
Everything is exact enumeration over the 2^n inputs (keep n <= 14).

``measure = train``: the card's learning curve, the failure of a gradient-trained invariant network as the class grows.
A random target f_S of the class (drawn by ``data.seed``), the same shift-invariant CNN trained by Adam on
``samples`` fresh inputs in minibatches of ``batch`` (a fixed sample budget: small batches expose the CSQ tolerance,
large ones hide it, as the card notes), then the test correlation and MSE with the target on 4,096 fresh inputs
(chance: correlation 0, MSE 1). n may then exceed the enumerable sizes: only the class is enumerated (by orbits).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shared.methods.theory.config import SymmetryHardnessConfig  # torch-free (the sweep driver validates with it)
from shared.methods.theory.specs import SYMMETRY_HARDNESS as SPEC  # noqa: F401  (torch-free; the registry's entry)
from shared.theory.experiment import ExperimentTrainer, ReportedNumbers
from shared.theory.parities import cube_inputs, orbit_parity, shifted, support_orbits

TEST_INPUTS = 4096


def invariant_cnn_gradients(x: np.ndarray, channels: int, seed: int) -> np.ndarray:
    """Per-input gradient of a random circular CNN with respect to all its parameters, (2^n, parameters), in closed
    form: model(x) = sum_c r_c sum_i relu(w_c . shift_i(x) + b_c) (full-width kernel w_c, sum pooling over the n
    shifts, linear readout r), so d/dr_c = sum_i relu(.), d/db_c = r_c sum_i 1[. > 0], d/dw_c = r_c sum_i 1[. > 0]
    shift_i(x)."""
    n = x.shape[1]
    rng = np.random.default_rng(seed)
    kernel = rng.standard_normal((channels, n)) / np.sqrt(n)
    bias = rng.standard_normal(channels) * 0.1
    readout = rng.standard_normal(channels) / np.sqrt(channels)
    windows = np.stack([np.roll(x, -i, axis=1) for i in range(n)], axis=1)  # (2^n, shift, n)
    pre = windows @ kernel.T + bias  # (2^n, shift, channel)
    active = (pre > 0).astype(float)
    d_kernel = np.einsum("bsc,bsn->bcn", active, windows) * readout[:, None]
    d_bias = active.sum(1) * readout
    d_readout = np.maximum(pre, 0.0).sum(1)
    return np.concatenate([d_kernel.reshape(len(x), -1), d_bias, d_readout], axis=1)


def parities(x: Any, support: tuple[int, ...]) -> Any:
    """f_S on a batch of +-1 inputs (torch, (batch, n))."""
    n = x.shape[1]
    return sum(x[:, list(shifted(support, t, n))].prod(1) for t in range(n)) / n**0.5


def train_invariant_cnn(cfg: SymmetryHardnessConfig, support: tuple[int, ...]) -> tuple[float, float]:
    """The shift-invariant CNN of ``invariant_cnn_gradients`` (same initialisation scales), trained by Adam on fresh
    inputs against f_S: (test correlation, test MSE) on fresh inputs."""
    import torch

    n, gen = cfg.n, torch.Generator().manual_seed(cfg.seed)
    kernel = (torch.randn(cfg.channels, n, generator=gen) / n**0.5).requires_grad_()
    bias = (torch.randn(cfg.channels, generator=gen) * 0.1).requires_grad_()
    readout = (torch.randn(cfg.channels, generator=gen) / cfg.channels**0.5).requires_grad_()

    def model(x: torch.Tensor) -> torch.Tensor:
        windows = torch.stack([torch.roll(x, -i, 1) for i in range(n)], 1)  # (batch, shift, n)
        return torch.relu(windows @ kernel.T + bias).sum(1) @ readout

    def draw(size: int) -> torch.Tensor:
        return torch.randint(0, 2, (size, n), generator=gen).float() * 2 - 1

    opt = torch.optim.Adam([kernel, bias, readout], lr=cfg.lr)
    for _ in range(max(cfg.samples // cfg.batch, 1)):
        x = draw(cfg.batch)
        loss = torch.mean((model(x) - parities(x, support)) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x = draw(TEST_INPUTS)
        target, pred = parities(x, support), model(x)
        corr = torch.corrcoef(torch.stack([pred, target]))[0, 1]
        return float(corr) if torch.isfinite(corr) else 0.0, float(torch.mean((pred - target) ** 2))


class SymmetryHardnessTrainer(ExperimentTrainer):
    config: SymmetryHardnessConfig

    def run(self) -> dict[str, Any]:
        cfg = self.config
        if cfg.measure == "train":
            return self.train_curve()
        orbits = support_orbits(cfg.n, cfg.k)
        aperiodic = [support for support, size in orbits if size == cfg.n]
        funcs = np.stack([orbit_parity(s, cfg.n) for s in aperiodic])  # (|F|, 2^n)
        gram = funcs @ funcs.T / funcs.shape[1]
        grads = invariant_cnn_gradients(cube_inputs(cfg.n), cfg.channels, cfg.seed)
        corr = funcs @ grads / funcs.shape[1]  # <g, f_S> per (function, coordinate)
        norms = np.mean(grads**2, axis=0)
        live = norms > 1e-12
        return {"class_size": len(aperiodic), "periodic_dropped": len(orbits) - len(aperiodic),
                "gram_error": float(np.abs(gram - np.eye(len(aperiodic))).max()),
                "bessel_ratio": float(np.max(np.sum(corr[:, live] ** 2, axis=0) / norms[live])),
                "informative_fraction": float(np.max(np.var(corr[:, live], axis=0) / norms[live])),
                "informative_bound": 1.0 / len(aperiodic), "test_corr": float("nan"), "test_mse": float("nan")}

    def train_curve(self) -> dict[str, Any]:
        cfg = self.config
        orbits = support_orbits(cfg.n, cfg.k)
        aperiodic = [support for support, size in orbits if size == cfg.n]
        target = aperiodic[int(np.random.default_rng([cfg.data.seed, 9]).integers(len(aperiodic)))]
        corr, mse = train_invariant_cnn(cfg, target)
        nan = float("nan")
        return {"class_size": len(aperiodic), "periodic_dropped": len(orbits) - len(aperiodic), "gram_error": nan,
                "bessel_ratio": nan, "informative_fraction": nan, "informative_bound": 1.0 / len(aperiodic),
                "test_corr": corr, "test_mse": mse}


class CSQMeasures(ReportedNumbers):
    """|F|; periodic orbits dropped; max |Gram - I|; the largest Bessel ratio sum_S <g, f_S>^2 / |g|^2 (<= 1); the
    informative fraction max_coord Var_S <g, f_S> / |g|^2 and its bound 1 / |F|; with ``measure = train`` the trained
    CNN's test correlation and MSE with the target (the CSQ numbers are then NaN, and the training ones with csq)."""

    metrics = ("class_size", "periodic_dropped", "gram_error", "bessel_ratio", "informative_fraction",
               "informative_bound", "test_corr", "test_mse")
