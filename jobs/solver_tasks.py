"""Classical solvers as Ray tasks over instances, each with a time limit, their results cached as Parquet.

    from jobs.solver_tasks import solve_all
    rows = solve_all("gw_maxcut", graphs, time_limit_s=30, cache_dir=...)   # graphs: [(n, edges (m, 2)), ...]

One task per instance (``num_cpus=1``), at most ``parallel`` in flight (default: the cluster's CPUs), so a task's
clock starts when it is submitted. A task still running ``time_limit_s`` after it started is cancelled (its worker is
killed) and its row says ``status="timeout"``, ``value`` NaN. Results are cached in ``<cache_dir>/<solver>.parquet``
keyed by a hash of the solver, its parameters and the instance: a repeated evaluation reads them instead of solving
again. A cached timeout counts only for a limit no larger than the one it ran under. The file is rewritten whole
(temporary name, then rename) after each call. Underneath, the tasks solve through the solver cache the methods'
evaluators read (``shared.graphs.solver_cache``, under the driver's ``cache_root()`` unless ``solver_cache_root`` says
otherwise): a GW-SDP, exact clique, vertex-cover or facility MILP solved once, by a benchmark, an evaluation or
``jobs/solve_instances.py``, is not solved again by any of them (a row's ``seconds`` are then the original solve's).

Solvers (``SOLVERS``): ``gw_maxcut`` (Goemans-Williamson SDP via cvxpy, best of ``hyperplanes`` roundings: value =
rounded cut, bound = SDP value), ``greedy_vertex_cover`` (networkx 2-approximation: value = cover size),
``max_clique`` (networkx exact: value = clique size), ``vertex_cover_milp`` (minimum vertex cover by
``scipy.optimize.milp`` / HiGHS: value = cover size, bound = the same when HiGHS proved it optimal within its own
``highs_time_limit``, NaN otherwise), ``facility_milp`` (uniform facility location by
``scipy.optimize.milp`` / HiGHS; the instance is ``(n, points (n, dim))``: value = the optimum's cost, bound = the
same cost when HiGHS proved it, NaN when its own ``highs_time_limit`` parameter stopped it first).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

import numpy as np  # noqa: E402
import ray  # noqa: E402

from shared import atomic  # noqa: E402

Instance = tuple[int, np.ndarray]
COLUMNS = ("key", "solver", "nodes", "edges", "value", "bound", "seconds", "status", "time_limit_s")


def _gw_maxcut(n: int, edges: np.ndarray, params: dict[str, Any], root: str) -> tuple[float, float, float]:
    from shared.graphs.solver_cache import gw_sdp
    from shared.graphs.solvers import hyperplane_round

    sdp, vectors, seconds = gw_sdp(n, edges, params.get("solver", "SCS"), Path(root) / "gw_sdp")
    start = time.perf_counter()
    _, cut = hyperplane_round(vectors, edges, int(params.get("hyperplanes", 1000)),
                              np.random.default_rng(int(params.get("seed", 0))))
    return float(cut), sdp, seconds + time.perf_counter() - start


def _as_networkx(n: int, edges: np.ndarray):
    import networkx as nx

    graph = nx.empty_graph(n)
    graph.add_edges_from(map(tuple, edges.tolist()))
    return graph


def _greedy_vertex_cover(n: int, edges: np.ndarray, params: dict[str, Any], root: str) -> tuple[float, float, float]:
    from shared.graphs.solvers import greedy_vertex_cover

    start = time.perf_counter()
    size = float(len(greedy_vertex_cover(_as_networkx(n, edges))))
    return size, float("nan"), time.perf_counter() - start


def _max_clique(n: int, edges: np.ndarray, params: dict[str, Any], root: str) -> tuple[float, float, float]:
    from shared.graphs.solver_cache import max_clique

    size, seconds = max_clique(_as_networkx(n, edges), Path(root) / "max_clique")
    return float(size), float("nan"), seconds


def _vertex_cover_milp(n: int, edges: np.ndarray, params: dict[str, Any], root: str) -> tuple[float, float, float]:
    from shared.graphs.solver_cache import min_cover

    limit = float(params.get("highs_time_limit", 10.0))
    mask, optimal, seconds = min_cover(n, edges, limit, Path(root) / "vertex_cover")
    return float(mask.sum()), float(mask.sum()) if optimal else float("nan"), seconds


def _facility_milp(n: int, instance: Any, params: dict[str, Any], root: str) -> tuple[float, float, float]:
    from shared.graphs.facility import cached_milp_optimum

    solution = cached_milp_optimum(instance, float(params.get("highs_time_limit", 3600.0)), Path(root) / "facility")
    return solution.cost, solution.cost if solution.optimal else float("nan"), solution.seconds


def _facility_instance(n: int, points: np.ndarray, params: dict[str, Any]) -> Any:
    from shared.graphs.facility import make_instance

    return make_instance(points)


# Each returns (value, bound, seconds of the solve). The exact and SDP solves go through the solver cache of
# ``shared.graphs.solver_cache`` under the driver's cache root, the entries the methods' evaluators read: a solve
# cached there (by an evaluation, a benchmark, ``jobs/solve_instances.py``) is not run again, its seconds are the
# original solve's.
SOLVERS: dict[str, Callable[[int, Any, dict[str, Any], str], tuple[float, float, float]]] = {
    "gw_maxcut": _gw_maxcut,
    "greedy_vertex_cover": _greedy_vertex_cover,
    "max_clique": _max_clique,
    "vertex_cover_milp": _vertex_cover_milp,
    "facility_milp": _facility_milp,
}

# What a solver's input needs before the solve, done before its clock starts (facility location: the neighbour
# lists, which every solver of an instance shares, so the benchmark does not count them against the MILP).
_PREPARE: dict[str, Callable[[int, np.ndarray, dict[str, Any]], Any]] = {"facility_milp": _facility_instance}


def instance_key(solver: str, n: int, edges: np.ndarray, params: dict[str, Any]) -> str:
    """A stable hash of what determines a solver's answer: its name and parameters, and the instance."""
    digest = hashlib.sha256(f"{solver}|{json.dumps(params, sort_keys=True)}|{n}|".encode())
    # edge lists hash as int64 (as before: existing caches stay valid); coordinates must keep their fractions
    dtype = np.float64 if np.asarray(edges).dtype.kind == "f" else np.int64
    digest.update(np.ascontiguousarray(edges, dtype=dtype).tobytes())
    return digest.hexdigest()


# What a solver imports on first use, imported before its clock starts (cvxpy's import takes seconds).
_IMPORTS = {"gw_maxcut": ("cvxpy", "shared.graphs.solvers", "shared.graphs.solver_cache"),
            "greedy_vertex_cover": ("shared.graphs.solvers",),
            "max_clique": ("shared.graphs.solvers", "shared.graphs.solver_cache"),
            "vertex_cover_milp": ("scipy.optimize", "shared.graphs.solvers", "shared.graphs.solver_cache"),
            "facility_milp": ("scipy.optimize", "shared.graphs.facility", "shared.graphs.solver_cache")}


@ray.remote(num_cpus=1)
def solve_instance(solver: str, n: int, edges: np.ndarray, params: dict[str, Any], root: str) -> dict[str, Any]:
    """One instance; ``seconds``: the solve only (the time limit, driver side, counts the task's start-up too)."""
    import importlib

    for module in _IMPORTS[solver]:
        importlib.import_module(module)
    prepared = _PREPARE[solver](n, edges, params) if solver in _PREPARE else edges
    value, bound, seconds = SOLVERS[solver](n, prepared, params, root)
    return {"value": value, "bound": bound, "seconds": seconds, "status": "solved"}


def read_cache(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    import pyarrow as pa
    import pyarrow.parquet as pq

    # the bytes in one read: read_table(path) opens the file twice, and another run's rename may come in between
    return {row["key"]: row for row in pq.read_table(pa.BufferReader(path.read_bytes())).to_pylist()}


def write_cache(path: Path, rows: dict[str, dict[str, Any]]) -> None:
    """The whole cache, written atomically (a killed run leaves the previous file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{c: row[c] for c in COLUMNS} for row in rows.values()])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(path, buffer.getvalue())


def _usable(row: dict[str, Any] | None, time_limit_s: float) -> bool:
    return row is not None and (row["status"] == "solved" or row["time_limit_s"] >= time_limit_s)


def solve_all(solver: str, instances: list[Instance], time_limit_s: float, cache_dir: str | os.PathLike,
              params: dict[str, Any] | None = None, parallel: int | None = None,
              solver_cache_root: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per instance, in order: value, bound, seconds, status ("solved", "timeout" or "cached"), key.
    ``solver_cache_root``: where the tasks keep the shared solver cache (default: this driver's ``cache_root()``)."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; known: {', '.join(sorted(SOLVERS))}")
    params = dict(params or {})
    from shared.cache import cache_root

    root = str(solver_cache_root or cache_root())
    path = Path(cache_dir) / f"{solver}.parquet"
    cache = read_cache(path)
    keys = [instance_key(solver, n, edges, params) for n, edges in instances]
    todo = [i for i, key in enumerate(keys) if not _usable(cache.get(key), time_limit_s)]
    fresh = _run_windowed(solver, [instances[i] for i in todo], params, time_limit_s,
                          parallel or max(1, int(ray.cluster_resources().get("CPU", 1))), root)
    for i, result in zip(todo, fresh, strict=True):
        n, edges = instances[i]
        cache[keys[i]] = {"key": keys[i], "solver": solver, "nodes": n, "edges": len(edges),
                          "time_limit_s": float(time_limit_s), **result}
    if todo:
        write_cache(path, cache)
    fresh_keys = {keys[i] for i in todo}
    return [{**cache[key], "status": cache[key]["status"] if key in fresh_keys else "cached"} for key in keys]


def _run_windowed(solver: str, instances: list[Instance], params: dict[str, Any], time_limit_s: float,
                  parallel: int, root: str) -> list[dict[str, Any]]:
    """At most ``parallel`` tasks in flight, so each one's clock starts at its submission; overdue ones are killed."""
    results: list[dict[str, Any] | None] = [None] * len(instances)
    running: dict[Any, tuple[int, float]] = {}
    queue = list(range(len(instances)))
    while queue or running:
        while queue and len(running) < parallel:
            i = queue.pop(0)
            n, edges = instances[i]
            running[solve_instance.remote(solver, n, edges, params, root)] = (i, time.monotonic())
        next_deadline = min(start for _, start in running.values()) + time_limit_s
        done, _ = ray.wait(list(running), num_returns=1, timeout=max(0.0, next_deadline - time.monotonic()))
        for ref in done:
            i, _ = running.pop(ref)
            results[i] = ray.get(ref)
        now = time.monotonic()
        for ref, (i, start) in list(running.items()):
            if now - start >= time_limit_s:
                ray.cancel(ref, force=True)
                running.pop(ref)
                results[i] = {"value": float("nan"), "bound": float("nan"), "seconds": now - start,
                              "status": "timeout"}
    return results  # type: ignore[return-value]
