"""Cyclic-shift-invariant orbit parities on {+-1}^n, enumerated exactly (the hard class of the symmetry-hardness
paper): f_S(x) = n^-1/2 sum_{i in Z_n} prod_{j in S} x_{i+j}. Inputs are the integers 0 .. 2^n - 1, bit b set
meaning x_b = -1, so a parity over a support mask is (-1)^popcount(index & mask)."""
from __future__ import annotations

import itertools

import numpy as np


def shifted(support: tuple[int, ...], shift: int, n: int) -> tuple[int, ...]:
    return tuple(sorted((j + shift) % n for j in support))


def support_orbits(n: int, k: int) -> list[tuple[tuple[int, ...], int]]:
    """One representative per Z_n-orbit of k-subsets of Z_n (the lexicographically smallest shift) and the orbit's
    size (n when aperiodic, a proper divisor of n when the support is periodic)."""
    seen: dict[tuple[int, ...], int] = {}
    for rest in itertools.combinations(range(1, n), k - 1):
        orbit = {shifted((0, *rest), t, n) for t in range(n)}
        seen.setdefault(min(orbit), len(orbit))
    return sorted(seen.items())


def cube_inputs(n: int) -> np.ndarray:
    """All of {+-1}^n as an (2^n, n) float array, row r having x_b = -1 where bit b of r is set."""
    rows = np.arange(2**n)[:, None]
    return 1.0 - 2.0 * ((rows >> np.arange(n)) & 1)


def orbit_parity(support: tuple[int, ...], n: int) -> np.ndarray:
    """f_S on every point of the cube (length 2^n)."""
    index = np.arange(2**n, dtype=np.int64)
    total = np.zeros(2**n)
    for shift in range(n):
        mask = sum(1 << j for j in shifted(support, shift, n))
        total += 1.0 - 2.0 * (np.bitwise_count(index & mask) % 2)
    return total / np.sqrt(n)
