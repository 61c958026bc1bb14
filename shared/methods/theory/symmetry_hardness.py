"""symmetry_hardness: "On the hardness of learning under symmetries" (Kiani, Le, Lawrence, Jegelka, Weber; ICLR 2024,
arXiv 2401.01869): the correlational-statistical-query (CSQ) argument, checked exactly on the spec card's hard class.

The class: cyclic-shift-invariant orbit parities f_S(x) = n^-1/2 sum_i prod_{j in S} x_{i+j}, |S| = k, one per
Z_n-orbit of supports; periodic supports (norm^2 = n / orbit size > 1) are dropped, the rest are orthonormal in
L2(uniform on {+-1}^n). A shift-invariant CNN (circular full-width kernel, ReLU, sum pooling) represents them.
For any query g (here: each coordinate of the CNN's parameter gradient at a random initialisation), Bessel gives
sum_S <g, f_S>^2 <= |g|^2, so the variance over the class of <g, f_S> is at most |g|^2 / |F|: a gradient step
carries at most 1/|F| of its norm in information about which f_S is the target (the "informative fraction").
Everything is exact enumeration over the 2^n inputs (keep n <= 14). The card's fixed-sample learning curve is
fragile (large batches hide the hardness) and not implemented here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.config import ConfigError, bounded
from shared.method import Measure, MethodSpec, Resources
from shared.theory.experiment import ExperimentConfig, ExperimentTrainer, ReportedNumbers
from shared.theory.parities import cube_inputs, orbit_parity, support_orbits


@dataclass
class SymmetryHardnessConfig(ExperimentConfig):
    n: int = bounded(10, ge=2, le=16, help="input dimension (2^n inputs enumerated)")
    k: int = bounded(4, ge=1, le=16, help="support size of the parities")
    channels: int = bounded(16, ge=1, le=1024, help="channels of the shift-invariant CNN")

    def check(self) -> None:
        if self.k > self.n:
            raise ConfigError(f"k: the support size must be <= n={self.n}, got {self.k}")


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


class SymmetryHardnessTrainer(ExperimentTrainer):
    config: SymmetryHardnessConfig

    def run(self) -> dict[str, Any]:
        cfg = self.config
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
                "informative_bound": 1.0 / len(aperiodic)}


class CSQMeasures(ReportedNumbers):
    """|F|; periodic orbits dropped; max |Gram - I|; the largest Bessel ratio sum_S <g, f_S>^2 / |g|^2 (<= 1); the
    informative fraction max_coord Var_S <g, f_S> / |g|^2 and its bound 1 / |F|."""

    metrics = ("class_size", "periodic_dropped", "gram_error", "bessel_ratio", "informative_fraction",
               "informative_bound")


SPEC = MethodSpec(
    name="symmetry_hardness",
    paper="On the hardness of learning under symmetries (ICLR 2024)",
    family="theory",
    config=SymmetryHardnessConfig,
    trainer=SymmetryHardnessTrainer,
    evaluators=(CSQMeasures,),
    resources=Resources(cpu=1),
    headline=(Measure("informative_fraction", "min"), Measure("gram_error", "min")),
    compare=("n",),
    description="orbit parities: exact orthonormality, Bessel bound and CSQ informative fraction <= 1/|F| vs n",
)
