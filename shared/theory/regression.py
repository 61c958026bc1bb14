"""Synthetic regression problems with exact risks (group DRO's linear regression by groups)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize


@dataclass
class GroupRegression:
    """m groups; x ~ Rademacher / sqrt(d) (so E xx^T = I / d); group i: y = w_i.x + U[-a_i, a_i]. Exact risk of
    theta on group i under the squared loss: R_i(theta) = |theta - w_i|^2 / d + a_i^2 / 3."""

    weights: np.ndarray  # (m, d) unit vectors w_i
    noise: np.ndarray  # (m,) half-widths a_i

    @classmethod
    def draw(cls, groups: int, dim: int, rng: np.random.Generator, noisy: float = 0.5, quiet: float = 0.1
             ) -> GroupRegression:
        w = rng.standard_normal((groups, dim))
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        a = np.full(groups, quiet)
        a[0] = noisy  # one noisier group: the one ERM under-weights
        return cls(w, a)

    @property
    def dim(self) -> int:
        return self.weights.shape[1]

    def risks(self, theta: np.ndarray) -> np.ndarray:
        return np.sum((theta - self.weights) ** 2, axis=1) / self.dim + self.noise**2 / 3

    def minimax(self) -> tuple[float, np.ndarray]:
        """OPT = min_theta max_i R_i(theta), by SLSQP on (theta, t) with t >= R_i(theta); returns (OPT, theta*)."""
        start = np.append(self.weights.mean(0), self.risks(self.weights.mean(0)).max())
        cons = {"type": "ineq", "fun": lambda v: v[-1] - self.risks(v[:-1]),
                "jac": lambda v: np.hstack([-2 * (v[:-1] - self.weights) / self.dim, np.ones((len(self.noise), 1))])}
        res = minimize(lambda v: v[-1], start, jac=lambda v: np.eye(len(v))[-1], constraints=[cons],
                       method="SLSQP", options={"ftol": 1e-12, "maxiter": 500})
        return float(self.risks(res.x[:-1]).max()), res.x[:-1]

    def capped_minimax(self, caps: np.ndarray) -> tuple[float, np.ndarray]:
        """OPT_Q = min_theta max_{q in Q} q . R(theta) over the capped simplex Q = {q in simplex: q_i <= caps_i}
        (subpopulation fairness, CVaR), by its dual max_{q in Q} q . R = min_t t + sum_i caps_i (R_i - t)_+ (convex in
        (theta, t); solved exactly by cvxpy). Returns (OPT_Q, theta*)."""
        import cvxpy as cp

        theta, t = cp.Variable(self.dim), cp.Variable()
        risks = cp.hstack([cp.sum_squares(theta - w) / self.dim + a**2 / 3 for w, a in zip(self.weights, self.noise,
                                                                                           strict=True)])
        problem = cp.Problem(cp.Minimize(t + caps @ cp.pos(risks - t)))
        problem.solve(solver=cp.CLARABEL)
        return float(capped_max(self.risks(theta.value), caps)), np.asarray(theta.value)


def capped_max(values: np.ndarray, caps: np.ndarray) -> float:
    """max_{q in simplex, q <= caps} q . values: fill the largest values up to their caps (sort and fill)."""
    total, left = 0.0, 1.0
    for i in np.argsort(-values, kind="stable"):
        take = min(caps[i], left)
        total, left = total + take * values[i], left - take
        if left <= 0:
            break
    return float(total)


def kl_project_capped(weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """The KL (Bregman) projection of positive ``weights`` onto {q in simplex: q_i <= caps_i} (sum caps >= 1): q_i =
    min(caps_i, lam w_i) with lam fixing the sum to 1, found by capping the largest ratios in turn (sort and
    threshold)."""
    capped = np.zeros(len(weights), dtype=bool)
    while True:
        free = weights[~capped].sum()
        lam = (1.0 - caps[capped].sum()) / free if free > 0 else 0.0
        over = ~capped & (lam * weights > caps)
        if not over.any():
            return np.where(capped, caps, lam * weights)
        capped |= over
