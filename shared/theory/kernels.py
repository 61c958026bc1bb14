"""Kernels of the theory experiments, and kernel ridge regression with the ridge chosen by oracle."""
from __future__ import annotations

import numpy as np


def sobolev_circle_kernel(modes: int, smoothness: float = 1.0, keep_every: int = 1):
    """K(x, y) = 1 + sum_{k=1}^{modes} 2 (1 + k^2)^-s cos(k (x - y)) on the circle (rotation invariant, so its
    orbit average under any rotation group is a valid invariant kernel). ``keep_every = q`` keeps only the modes
    k = 0 mod q: the closed form of the orbit average under C_q (the mean of cos(k(t - 2 pi j / q)) over j is
    cos(k t) when q divides k, else 0)."""
    k = np.arange(1, modes + 1)
    weight = np.where(k % keep_every == 0, 2.0 * (1.0 + k.astype(float) ** 2) ** -smoothness, 0.0)

    def kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # cos(k(x - y)) = cos kx cos ky + sin kx sin ky: two matrix products instead of an (n, n, modes) tensor
        cx, sx, cy, sy = np.cos(np.outer(x, k)), np.sin(np.outer(x, k)), np.cos(np.outer(y, k)), np.sin(np.outer(y, k))
        return 1.0 + (cx * weight) @ cy.T + (sx * weight) @ sy.T

    return kernel


def oracle_krr_error(gram: np.ndarray, cross: np.ndarray, y: np.ndarray, truth: np.ndarray,
                     ridges: np.ndarray) -> tuple[float, float]:
    """Kernel ridge regression f = cross (K + n lam I)^-1 y for every ridge lam; returns the smallest mean squared
    error against ``truth`` on the evaluation points and its ridge (the same rule for every estimator)."""
    n = len(y)
    vals, vecs = np.linalg.eigh(gram)
    alphas = vecs @ ((vecs.T @ y)[:, None] / (np.clip(vals, 0.0, None)[:, None] + n * ridges[None, :]))
    errors = np.mean((cross @ alphas - truth[:, None]) ** 2, axis=0)  # one column per ridge
    best = int(np.argmin(errors))
    return float(errors[best]), float(ridges[best])
