"""Finite group actions as arrays of transformed points, and orbit averaging.

A group is given by ``act(points) -> (|G|, *points.shape)``: every element applied to every point. Orbit
averaging an empirical measure puts mass 1/(n|G|) on each g.x_i; orbit averaging a kernel gives
K_G(x, y) = (1/|G|) sum_g K(x, g.y), which is G-invariant when K itself is (K(gx, gy) = K(x, y))."""
from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

GroupAction = Callable[[np.ndarray], np.ndarray]


def circle_rotations(order: int) -> GroupAction:
    """C_order acting on angles in [0, 2 pi) by rotations of 2 pi / order."""

    def act(theta: np.ndarray) -> np.ndarray:
        shifts = 2 * np.pi * np.arange(order) / order
        return np.mod(theta[None] + shifts.reshape((order,) + (1,) * theta.ndim), 2 * np.pi)

    return act


def coordinate_permutations(dim: int) -> GroupAction:
    """S_dim acting on points of R^dim (rows of an (n, dim) array) by permuting coordinates."""
    perms = [list(p) for p in itertools.permutations(range(dim))]

    def act(points: np.ndarray) -> np.ndarray:
        return np.stack([points[..., p] for p in perms])

    return act


def orbit_points(points: np.ndarray, act: GroupAction) -> np.ndarray:
    """The support of the orbit-averaged empirical measure: all g.x_i, flattened to (n |G|, ...)."""
    orbit = act(points)
    return orbit.reshape((-1,) + points.shape[1:])


def orbit_average_kernel(kernel: Callable[[np.ndarray, np.ndarray], np.ndarray], act: GroupAction
                         ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """K_G(x, y) = mean over g of K(x, g.y)."""

    def averaged(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.mean([kernel(x, gy) for gy in act(y)], axis=0)

    return averaged
