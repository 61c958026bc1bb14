"""invariant_divergence: "Sample Complexity Bounds for Estimating Probability Divergences under Invariances"
(Tahmasebi, Jegelka; ICML 2024, arXiv 2311.02868), as the spec card's derived experiment (a theory paper).

For G-invariant mu, nu the plug-in estimate from the orbit-averaged empirical measures
mu_G = (1/(n|G|)) sum_i sum_g delta_{g x_i} has the error of the plain estimate at n |G| samples (finite G).
Here: [0, 1]^3, G = S_3 (coordinate permutations, |G| = 6); mu a clipped anisotropic Gaussian with a random
coordinate permutation per sample (so mu is S_3-invariant, as it must be: otherwise orbit averaging adds bias).
Error proxy: W_1 between two independent n-samples of the same mu (true distance 0), Euclidean cost, exact LP
(POT ``ot.emd2``; Sinkhorn's entropic bias would swamp the differences). One trial averages ``repeats`` draws,
each seeded by (data.seed, draw), so both estimators see the same samples.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import ot

from shared.methods.theory.config import InvariantDivergenceConfig  # torch-free (the sweep driver validates with it)
from shared.methods.theory.specs import INVARIANT_DIVERGENCE as SPEC  # noqa: F401  (torch-free; the registry's entry)
from shared.theory.experiment import ExperimentTrainer, ReportedNumbers
from shared.theory.groups import coordinate_permutations, orbit_points

MEAN = np.array([0.3, 0.5, 0.7])
SCALE = np.array([0.1, 0.2, 0.3])


def invariant_sample(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points of mu: a clipped anisotropic Gaussian on [0, 1]^3, coordinates permuted at random per point."""
    points = np.clip(MEAN + SCALE * rng.standard_normal((n, 3)), 0.0, 1.0)
    return np.take_along_axis(points, rng.permuted(np.tile(np.arange(3), (n, 1)), axis=1), axis=1)


def wasserstein1(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W_1 between the uniform empirical measures on the rows of a and b (Euclidean cost)."""
    return float(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), ot.dist(a, b, metric="euclidean")))


class InvariantDivergenceTrainer(ExperimentTrainer):
    config: InvariantDivergenceConfig

    def run(self) -> dict[str, Any]:
        cfg = self.config
        act = coordinate_permutations(3)
        estimates = []
        for draw in range(cfg.repeats):
            rng = np.random.default_rng([cfg.data.seed, draw, 37])
            first, second = invariant_sample(cfg.n, rng), invariant_sample(cfg.n, rng)
            if cfg.estimator == "orbit":
                first, second = orbit_points(first, act), orbit_points(second, act)
            estimates.append(wasserstein1(first, second))
        return {"w1_error": float(np.mean(estimates)), "w1_error_sd": float(np.std(estimates))}


class W1Error(ReportedNumbers):
    """The estimate of W_1(mu, mu) = 0, i.e. the estimation error, averaged over the draws, and its spread."""

    metrics = ("w1_error", "w1_error_sd")
