"""invariant_krr: "The Exact Sample Complexity Gain from Invariances for Kernel Regression" (Tahmasebi, Jegelka;
NeurIPS 2023, arXiv 2303.14269), as the spec card's derived experiment (the paper has no experiments).

For a finite group G acting by isometries and a G-invariant target in a Sobolev ball, KRR with the group-averaged
kernel K_G(x, y) = (1/|G|) sum_g K(x, g y) has the excess risk of plain KRR with n |G| samples:
risk ~ (sigma^2 vol(M/G) / n)^{s / (s + d/2)}, vol(M/G) = vol(M) / |G|.

Here M is the circle, G = C_q (rotations by 2 pi / q), K the Sobolev kernel 1 + sum_k 2 (1 + k^2)^-s cos(k(x - y)),
whose orbit average keeps the modes k = 0 mod q (``shared.theory.kernels``; tested against the explicit average).
The target sums modes k = 0 mod q with amplitudes scale N(0, 1) k^-decay; noise sigma.

``domain = sphere`` is the permutation case: the unit sphere S^{dim-1} with G = S_dim permuting coordinates (|G| =
dim!), the base kernel exp(kappa (x . y - 1)) (a dot-product kernel, so permutation invariant), its orbit average
K_G (``shared.theory.groups``), the target an invariant sum of ``centres`` sections a_j K_G(., c_j) with a_j ~ scale
N(0, 1) / sqrt(centres), and the L2 error a Monte-Carlo mean over ``grid`` uniform points of the sphere [derived: the
card specifies only the circle and a torus; the sphere with S_3 is this module's choice]. Both estimators get the same
ridge grid and the oracle rule (the ridge with the smallest error), the card's choice. One trial averages the L2
error over ``repeats`` independent draws, each seeded by (data.seed, draw), so estimators are compared on the same
data.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shared.methods.theory.config import InvariantKRRConfig  # torch-free (the sweep driver validates with it)
from shared.methods.theory.specs import INVARIANT_KRR as SPEC  # noqa: F401  (torch-free; the registry's entry)
from shared.theory.experiment import ExperimentTrainer, ReportedNumbers
from shared.theory.groups import coordinate_permutations, orbit_average_kernel
from shared.theory.kernels import oracle_krr_error, sobolev_circle_kernel


def invariant_target(cfg: InvariantKRRConfig, rng: np.random.Generator):
    k = np.arange(cfg.group_order, cfg.modes + 1, cfg.group_order)
    amp = cfg.scale * rng.standard_normal(len(k)) * k.astype(float) ** -cfg.decay
    phase = rng.uniform(0, 2 * np.pi, len(k))
    return lambda x: np.cos(np.outer(x, k) + phase) @ amp


def sphere_points(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    points = rng.standard_normal((count, dim))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def sphere_kernels(cfg: InvariantKRRConfig):
    """(the estimator's kernel, the invariant kernel the target is built from) on the sphere."""
    def base(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.exp(cfg.bandwidth * (x @ y.T - 1.0))

    invariant = orbit_average_kernel(base, coordinate_permutations(cfg.dim))
    return (invariant if cfg.estimator == "invariant" else base), invariant


class InvariantKRRTrainer(ExperimentTrainer):
    config: InvariantKRRConfig

    def run(self) -> dict[str, Any]:
        if self.config.domain == "sphere":
            return self.run_sphere()
        cfg = self.config
        keep = cfg.group_order if cfg.estimator == "invariant" else 1
        kernel = sobolev_circle_kernel(cfg.modes, cfg.smoothness, keep_every=keep)
        grid = np.linspace(0, 2 * np.pi, cfg.grid, endpoint=False)
        ridges = np.logspace(-7, 0, cfg.ridges)
        errors, chosen = [], []
        for draw in range(cfg.repeats):
            rng = np.random.default_rng([cfg.data.seed, draw, 31])
            target = invariant_target(cfg, rng)
            x = rng.uniform(0, 2 * np.pi, cfg.n)
            y = target(x) + cfg.noise * rng.standard_normal(cfg.n)
            err, lam = oracle_krr_error(kernel(x, x), kernel(grid, x), y, target(grid), ridges)
            errors.append(err)
            chosen.append(lam)
        return {"l2_error": float(np.mean(errors)), "l2_error_sd": float(np.std(errors)),
                "ridge": float(np.exp(np.mean(np.log(chosen))))}

    def run_sphere(self) -> dict[str, Any]:
        cfg = self.config
        kernel, invariant = sphere_kernels(cfg)
        ridges = np.logspace(-7, 0, cfg.ridges)
        errors, chosen = [], []
        for draw in range(cfg.repeats):
            rng = np.random.default_rng([cfg.data.seed, draw, 37])
            centres = sphere_points(cfg.centres, cfg.dim, rng)
            amp = cfg.scale * rng.standard_normal(cfg.centres) / np.sqrt(cfg.centres)
            x, grid = sphere_points(cfg.n, cfg.dim, rng), sphere_points(cfg.grid, cfg.dim, rng)
            y = invariant(x, centres) @ amp + cfg.noise * rng.standard_normal(cfg.n)
            err, lam = oracle_krr_error(kernel(x, x), kernel(grid, x), y, invariant(grid, centres) @ amp, ridges)
            errors.append(err)
            chosen.append(lam)
        return {"l2_error": float(np.mean(errors)), "l2_error_sd": float(np.std(errors)),
                "ridge": float(np.exp(np.mean(np.log(chosen))))}


class L2Error(ReportedNumbers):
    """Mean squared error of the fitted function on the grid against the noiseless target (the L2 excess risk),
    its spread over the draws, and the geometric mean of the oracle ridges."""

    metrics = ("l2_error", "l2_error_sd", "ridge")
