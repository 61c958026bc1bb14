"""Uniform facility location (UniFL): instances, radii, SimpleUniformFL, the expected cost of sample-and-repair,
its Monte-Carlo check, and the exact optimum by MILP (scipy.optimize.milp, HiGHS), cached as Parquet per instance.

Problem: points X with metric d, every facility costs 1; choose F subset of X minimising |F| + sum_x d(x, F).
A point never connects to a facility at distance >= 1 in an optimum (opening itself costs 1 instead), so only
pairs with d < 1 matter: an instance keeps, for every point, its neighbours within distance < 1 (itself first),
sorted by distance and padded to one width (``order``, ``dist``, ``mask``).

Sample-and-repair (the cost the expected-cost loss is the expectation of): open F_1 by independent coins p_x;
F_2 = the points with no F_1 facility at distance < 1; each point connects to its nearest F_1 facility when one is
within distance < 1, else it is itself in F_2 (connection 0). :func:`repair_cost` is that cost and
:func:`expected_cost` its exact expectation. The true cost of F = F_1 + F_2 (:func:`facility_cost`, nearest open
facility of all) is at most the repair cost: a point may lie nearer to an F_2 facility than to its F_1 one.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import optimize, sparse
from scipy.spatial.distance import cdist


@dataclass
class FacilityInstance:
    points: np.ndarray  # (n, dim)
    order: np.ndarray  # (n, width) neighbour indices within distance < 1, nearest first (the point itself first)
    dist: np.ndarray  # (n, width) their distances (padding: 1.0)
    mask: np.ndarray  # (n, width) True where a real neighbour

    @property
    def n(self) -> int:
        return len(self.points)


def make_instance(points: np.ndarray) -> FacilityInstance:
    """Neighbour lists of all pairs at distance < 1, each row sorted by distance with the point itself first."""
    distances = cdist(points, points)
    np.fill_diagonal(distances, -1.0)  # the point itself sorts first even when another point coincides with it
    width = int((distances < 1.0).sum(axis=1).max())
    order = np.argsort(distances, axis=1, kind="stable")[:, :width]
    dist = np.take_along_axis(distances, order, axis=1)
    dist[:, 0] = 0.0
    mask = dist < 1.0
    return FacilityInstance(points, order, np.where(mask, dist, 1.0), mask)


def gmm_points(rng: np.random.Generator, n: int, dim: int = 2, components: int = 6, side: float = 10.0,
               spread: float = 1.0) -> np.ndarray:
    """n points from a Gaussian mixture: ``components`` centres uniform in [0, side]^dim, isotropic standard
    deviation ``spread`` times a per-component factor in [0.5, 1.5] (dense and sparse clusters in one instance)."""
    centres = rng.uniform(0.0, side, size=(components, dim))
    scales = spread * rng.uniform(0.5, 1.5, size=components)
    which = rng.integers(components, size=n)
    return centres[which] + scales[which, None] * rng.normal(size=(n, dim))


def radii(instance: FacilityInstance) -> np.ndarray:
    """The Mettu-Plaxton radius r_x solving sum_{y in B(x, r)} (r - d(x, y)) = 1 (the point itself included, so
    r_x <= 1). With the k nearest points inside the ball, r = (1 + sum of their distances) / k; the solution is the
    first k whose r does not reach the (k+1)-th distance."""
    dist = np.where(instance.mask, instance.dist, np.inf)
    k = np.arange(1, dist.shape[1] + 1)
    candidate = (1.0 + np.cumsum(np.where(instance.mask, dist, 0.0), axis=1)) / k
    following = np.concatenate([dist[:, 1:], np.full((len(dist), 1), np.inf)], axis=1)
    first = np.argmax(candidate <= following, axis=1)
    return candidate[np.arange(len(dist)), first]


def simple_probabilities(r: np.ndarray, c: float) -> np.ndarray:
    """SimpleUniformFL's opening probabilities p_x = min(1, c log n r_x)."""
    return np.minimum(1.0, c * math.log(len(r)) * r)


def expected_cost(p: torch.Tensor, instance: FacilityInstance) -> torch.Tensor:
    """E[repair cost] = sum_f p_f + sum_f prod_{x: d(x,f)<1} (1 - p_x)
    + sum_x sum_{f: d(x,f)<1} d(x,f) p_f prod_{z nearer to x than f} (1 - p_z), with the products as exponentials
    of sums of log(1 - p) (they underflow in linear space at a few hundred neighbours). Ties in distance are broken
    by the neighbour order, as :func:`repair_cost` breaks them."""
    order = torch.as_tensor(instance.order)
    mask = torch.as_tensor(instance.mask, dtype=p.dtype)
    dist = torch.as_tensor(instance.dist, dtype=p.dtype)
    log_closed = torch.log1p(-p.clamp(max=1.0 - 1e-12))[order] * mask  # (n, width)
    opened_by_repair = torch.exp(log_closed.sum(dim=1)).sum()
    before = torch.cumsum(log_closed, dim=1) - log_closed  # exclusive: the strictly nearer neighbours
    connection = (dist * mask * p[order] * torch.exp(before)).sum()
    return p.sum() + opened_by_repair + connection


def sample_open(rng: np.random.Generator, p: np.ndarray, samples: int) -> np.ndarray:
    """(samples, n) booleans: F_1 drawn by independent coins."""
    return rng.random((samples, len(p))) < p[None, :]


def repair_cost(instance: FacilityInstance, first: np.ndarray) -> np.ndarray:
    """The sample-and-repair cost of each row of ``first`` (F_1 indicators), as :func:`expected_cost` counts it."""
    costs = np.empty(len(first))
    for i, opened in enumerate(first):
        hit = opened[instance.order] & instance.mask  # (n, width)
        covered = hit.any(axis=1)
        nearest = np.argmax(hit, axis=1)
        connection = instance.dist[np.arange(instance.n), nearest][covered].sum()
        costs[i] = opened.sum() + (~covered).sum() + connection
    return costs


def completed(instance: FacilityInstance, first: np.ndarray) -> np.ndarray:
    """F = F_1 + F_2 (F_2: points with no F_1 facility within distance < 1), rows of indicators."""
    covered = (first[:, instance.order] & instance.mask[None]).any(axis=2)
    return first | ~covered


def facility_cost(instance: FacilityInstance, opened: np.ndarray) -> np.ndarray:
    """|F| + sum_x d(x, F) of each row of ``opened``; every point of a completed solution has an open facility
    within distance < 1 (itself at worst), so the neighbour lists suffice."""
    hit = opened[:, instance.order] & instance.mask[None]
    nearest = np.argmax(hit, axis=2)
    connection = instance.dist[np.arange(instance.n)[None, :], nearest]
    return opened.sum(axis=1) + connection.sum(axis=1)


def sampled_cost(rng: np.random.Generator, instance: FacilityInstance, p: np.ndarray, samples: int,
                 chunk: int = 100) -> float:
    """The mean true cost of F_1 + F_2 over ``samples`` draws (the paper's inference: sample, repair, average)."""
    total = 0.0
    for start in range(0, samples, chunk):
        opened = completed(instance, sample_open(rng, p, min(chunk, samples - start)))
        total += facility_cost(instance, opened).sum()
    return total / samples


@dataclass
class MilpSolution:
    cost: float
    opened: np.ndarray
    seconds: float
    optimal: bool  # False when the time limit stopped HiGHS first (cost is then its best feasible solution)


def milp_optimum(instance: FacilityInstance, time_limit: float = 60.0) -> MilpSolution:
    """The exact optimum: min sum_j y_j + sum_{ij} d_ij x_ij, sum_j x_ij = 1, x_ij <= y_j, binary, over the pairs at
    distance < 1 (the strong formulation: one x_ij <= y_j row per pair)."""
    n = instance.n
    rows, cols = np.nonzero(instance.mask)
    facility = instance.order[rows, cols]
    pairs = len(rows)
    objective = np.concatenate([np.ones(n), instance.dist[rows, cols]])
    pair_ids = np.arange(pairs)
    assign = sparse.csr_matrix((np.ones(pairs), (rows, n + pair_ids)), shape=(n, n + pairs))
    link = sparse.csr_matrix((np.concatenate([np.ones(pairs), -np.ones(pairs)]),
                              (np.concatenate([pair_ids, pair_ids]), np.concatenate([n + pair_ids, facility]))),
                             shape=(pairs, n + pairs))
    constraints = [optimize.LinearConstraint(assign, 1.0, 1.0), optimize.LinearConstraint(link, -np.inf, 0.0)]
    start = time.perf_counter()
    result = optimize.milp(objective, constraints=constraints, integrality=np.ones(n + pairs),
                           bounds=optimize.Bounds(0.0, 1.0), options={"time_limit": time_limit})
    seconds = time.perf_counter() - start
    if result.x is None:
        raise RuntimeError(f"HiGHS found no solution within {time_limit} s: {result.message}")
    return MilpSolution(float(result.fun), result.x[:n] > 0.5, seconds, result.status == 0)


def cached_milp_optimum(instance: FacilityInstance, time_limit: float = 60.0,
                        root: Path | None = None) -> MilpSolution:
    """:func:`milp_optimum` through the solver cache (``shared.graphs.solver_cache``, solver ``facility``: one Parquet
    row per instance under ``cache_root()/facility``, keyed by the points' bytes and the time limit, which can change
    a stopped solve's answer), so that evaluating the same instances again (every trial of a sweep, a rerun) does not
    solve them again. ``seconds`` is the original solve's time."""
    from shared.graphs.solver_cache import cached_solve, instance_key

    def solve() -> dict:
        solution = milp_optimum(instance, time_limit)
        return {"cost": solution.cost, "seconds": solution.seconds, "optimal": solution.optimal, "n": instance.n,
                "opened": solution.opened.tolist()}

    key = instance_key("facility", (instance.points,), {"time_limit": float(time_limit)})
    row = cached_solve("facility", key, solve, ("cost", "seconds", "optimal", "n", "opened"), root)
    opened = np.array(row["opened"], dtype=bool)
    if len(opened) != instance.n:
        raise ValueError(f"solver cache entry {key} of facility holds {len(opened)} points, not {instance.n}")
    return MilpSolution(float(row["cost"]), opened, float(row["seconds"]), bool(row["optimal"]))
