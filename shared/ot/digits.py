"""Domain adaptation without downloads: sklearn's digits (8x8, scaled to [0, 1]) as the source, and the same kind
of digits under a fixed warp of pixel space (a random rotation of the 64-d space near the identity, then a shift)
as the target. The warp is known, so a map's error against it can be measured, not only the accuracy after it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm
from sklearn.datasets import load_digits


@dataclass
class DigitsWarp:
    source: np.ndarray
    source_labels: np.ndarray
    unseen: np.ndarray  # source-domain points the solver never sees (out-of-sample projection)
    unseen_labels: np.ndarray
    target: np.ndarray  # the unlabelled target the coupling is solved on
    test: np.ndarray  # held-out target points with their labels (1-NN accuracy)
    test_labels: np.ndarray
    rotation: np.ndarray
    shift: np.ndarray

    def warp(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.shift


def fixed_warp(rotation_scale: float, shift_norm: float, warp_seed: int, dim: int = 64
               ) -> tuple[np.ndarray, np.ndarray]:
    """expm of a random skew-symmetric matrix times ``rotation_scale`` (an orthogonal map near I), and a random
    shift of norm ``shift_norm`` (digits/16 lie ~3-4 apart)."""
    rng = np.random.default_rng([warp_seed, 19])
    skew = rng.normal(size=(dim, dim))
    shift = rng.normal(size=dim)
    return expm(rotation_scale * (skew - skew.T)), shift * shift_norm / np.linalg.norm(shift)


def digits_warp(sources: int, targets: int, unseen: int, rotation_scale: float, shift_norm: float, seed: int,
                warp_seed: int = 0) -> DigitsWarp:
    """Disjoint random draws (by ``seed``) of source, unseen-source and target digits; every remaining digit, warped,
    is the test set. The warp is fixed by ``warp_seed`` whatever the data seed."""
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    order = np.random.default_rng([seed, 19]).permutation(len(x))
    s, u = order[:sources], order[sources:sources + unseen]
    t, rest = order[sources + unseen:sources + unseen + targets], order[sources + unseen + targets:]
    rotation, shift = fixed_warp(rotation_scale, shift_norm, warp_seed)
    warp = DigitsWarp(x[s], y[s], x[u], y[u], np.empty(0), np.empty(0), y[rest], rotation, shift)
    warp.target, warp.test = warp.warp(x[t]), warp.warp(x[rest])
    return warp
