"""InfoOT's solver and projections (Chuang, Jegelka, Alvarez-Melis, ICML 2023), numpy + POT, no Ray, no torch.

With Gaussian kernels K_x, K_y on each side and a coupling P, the kernel density estimates are

    f_P(x_i, y_j) = (K_x P K_y^T)_ij,   f(x_i) = mean_k K_x[i, k],   f(y_j) = mean_l K_y[j, l]

and the mutual information of P is I(P) = sum_ij P_ij log f_P(x_i, y_j) / (f(x_i) f(y_j)). Fused InfoOT solves
min_{P in Pi(p, q)} <P, C> - lam I(P) by mirror steps: P <- Sinkhorn(p, q, C - lam grad I(P), reg), from P = p q^T,
with grad I(P) = log ratio + K_x (P / f_P) K_y^T. Plain InfoOT (``cost=None``) maximises I(P) alone, so source and
target may live in different spaces.

The conditional projection maps any x, seen or not, to sum_j w_j(x) y_j / sum_j w_j(x) with w_j(x) =
f_P(x, y_j) / (f(x) f(y_j)). Out-of-sample points use the *training* bandwidths: the official ``project`` /
``conditional_score`` for new samples refer to undefined globals (``Xs``, ``Xt``, ``P``) and crash, and recompute
the bandwidth from the new-vs-train distances; neither is inherited here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ot
from scipy.spatial.distance import cdist

TINY = 1e-300  # keeps log and division finite where a density underflows


def relative_bandwidth(distances: np.ndarray, h: float) -> float:
    """h * sqrt(mean(D^2) / 2): the official ``compute_kernel``'s bandwidth, relative to the data's spread."""
    return float(h * np.sqrt(np.mean(distances**2) / 2))


def gaussian_kernel(distances: np.ndarray, bandwidth: float) -> np.ndarray:
    return np.exp(-((distances / bandwidth) ** 2) / 2)


def label_shifted(distances: np.ndarray, labels: np.ndarray | None, delta: float) -> np.ndarray:
    """Source distances plus ``delta`` between points of different labels (the official ``dist(..., delta=5000)``):
    the source kernel then links only points of one class."""
    if labels is None:
        return distances
    return distances + delta * (labels[:, None] != labels[None, :])


def joint_density(plan: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    return kx @ plan @ ky.T


def density_ratio(plan: np.ndarray, kx: np.ndarray, ky: np.ndarray, kx_train: np.ndarray | None = None,
                  ky_train: np.ndarray | None = None) -> np.ndarray:
    """f_P(x_i, y_j) / (f(x_i) f(y_j)). ``kx`` may be new points x train points; the marginal density of a point is
    its mean kernel value against the training points, so rows of ``kx`` need nothing but the training set."""
    f_x = kx.mean(axis=1)
    f_y = ky.mean(axis=1)
    return np.maximum(joint_density(plan, kx, ky), TINY) / np.maximum(np.outer(f_x, f_y), TINY)


def mutual_information(plan: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> float:
    """I(P) = sum_ij P_ij log f_P(x_i, y_j) / (f(x_i) f(y_j)) with the same kernels for every coupling compared."""
    return float(np.sum(plan * np.log(density_ratio(plan, kx, ky))))


def mutual_information_gradient(plan: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """dI/dP_ij = log ratio_ij + (K_x (P / f_P) K_y^T)_ij (the official ``migrad`` returns its negative)."""
    joint = np.maximum(joint_density(plan, kx, ky), TINY)
    log_ratio = np.log(joint) - np.log(np.maximum(np.outer(kx.mean(axis=1), ky.mean(axis=1)), TINY))
    return log_ratio + kx @ (plan / joint) @ ky.T


def round_to_marginals(plan: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The rounding of Altschuler, Weed and Rigollet (2017, Alg. 2): scale down rows, then columns, that carry too
    much mass, and put the missing mass back as a rank-one term, so the marginals are p and q to rounding error.
    Moves at most twice the marginal error in L1; Sinkhorn at these sharp costs gets there only slowly."""
    plan = plan * np.minimum(p / np.maximum(plan.sum(axis=1), TINY), 1.0)[:, None]
    plan = plan * np.minimum(q / np.maximum(plan.sum(axis=0), TINY), 1.0)[None, :]
    row_gap, col_gap = p - plan.sum(axis=1), q - plan.sum(axis=0)
    missing = row_gap.sum()
    return plan if missing <= 0 else plan + np.outer(row_gap, col_gap) / missing


def sinkhorn(p: np.ndarray, q: np.ndarray, cost: np.ndarray, reg: float) -> np.ndarray:
    """Entropic OT (``ot.sinkhorn``), rounded onto Pi(p, q). The mirror step's costs reach lam x |grad I| ~
    hundreds, where exp(-cost / reg) underflows to 0 on whole rows; subtracting each row's minimum, then each
    column's, leaves the plan unchanged (the shifts are absorbed by the scaling vectors) and keeps one entry of
    every row and column at exp(0) = 1."""
    shifted = cost - cost.min(axis=1, keepdims=True)
    shifted = shifted - shifted.min(axis=0, keepdims=True)
    return round_to_marginals(ot.sinkhorn(p, q, shifted, reg, numItermax=2_000, stopThr=1e-9, warn=False), p, q)


@dataclass
class InfoOTPlan:
    """A solved coupling with what the projections need: the training points and the absolute bandwidths."""

    plan: np.ndarray
    source: np.ndarray
    target: np.ndarray
    bandwidth_x: float
    bandwidth_y: float
    kx: np.ndarray  # source kernel (label-shifted when the source was labelled)
    ky: np.ndarray
    objective: list[float]

    def barycentric(self) -> np.ndarray:
        """T(x_i) = sum_j P_ij y_j / sum_j P_ij: defined only on the training source."""
        return self.plan @ self.target / self.plan.sum(axis=1, keepdims=True)

    def conditional_weights(self, points: np.ndarray | None = None) -> np.ndarray:
        """w_j(x) = f_P(x, y_j) / (f(x) f(y_j)) for the training source (``None``, with its label-aware kernel) or
        for any points (plain feature kernel at the training bandwidth: new points have no labels)."""
        kx = self.kx if points is None else gaussian_kernel(cdist(points, self.source), self.bandwidth_x)
        return density_ratio(self.plan, kx, self.ky)

    def conditional(self, points: np.ndarray | None = None) -> np.ndarray:
        """T(x) = sum_j w_j(x) y_j / sum_j w_j(x): InfoOT's conditional projection, also for unseen x."""
        weights = self.conditional_weights(points)
        return weights @ self.target / weights.sum(axis=1, keepdims=True)


def solve_infoot(source: np.ndarray, target: np.ndarray, h: float = 0.5, lam: float = 100.0, reg: float = 1.0,
                 iterations: int = 50, fused: bool = True, labels: np.ndarray | None = None,
                 label_delta: float = 5000.0, plan: np.ndarray | None = None) -> InfoOTPlan:
    """(Fused) InfoOT by mirror steps from p q^T (or from ``plan``, to resume). ``fused=False``: maximise I(P) only
    (the cost is -grad I, ``lam`` unused). Bandwidths come from the feature distances on each side (a departure:
    the official code takes the source's from the label-shifted matrix, whose +5000 entries make it ~1700 times
    the data's spread and the within-class kernel flat); labels then only cut the source kernel between classes."""
    cx, cy = cdist(source, source), cdist(target, target)
    bandwidth_x, bandwidth_y = relative_bandwidth(cx, h), relative_bandwidth(cy, h)
    kx = gaussian_kernel(label_shifted(cx, labels, label_delta), bandwidth_x)
    ky = gaussian_kernel(cy, bandwidth_y)
    result = InfoOTPlan(np.outer(np.full(len(source), 1 / len(source)), np.full(len(target), 1 / len(target)))
                        if plan is None else plan, source, target, bandwidth_x, bandwidth_y, kx, ky, [])
    step(result, lam, reg, iterations, fused)
    return result


def step(result: InfoOTPlan, lam: float, reg: float, iterations: int, fused: bool = True) -> None:
    """``iterations`` mirror steps in place, recording the objective <P, C> - lam I(P) (or -I(P)) after each."""
    p = np.full(len(result.source), 1 / len(result.source))
    q = np.full(len(result.target), 1 / len(result.target))
    cost = cdist(result.source, result.target) if fused else np.zeros((len(p), len(q)))
    weight = lam if fused else 1.0
    for _ in range(iterations):
        grad = mutual_information_gradient(result.plan, result.kx, result.ky)
        result.plan = sinkhorn(p, q, cost - weight * grad, reg)
        info = mutual_information(result.plan, result.kx, result.ky)
        result.objective.append(float(np.sum(result.plan * cost) - weight * info))


def exact_ot(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The plain OT baseline: the exact coupling for Euclidean costs, uniform weights (``ot.emd``)."""
    p = np.full(len(source), 1 / len(source))
    q = np.full(len(target), 1 / len(target))
    return ot.emd(p, q, cdist(source, target))
