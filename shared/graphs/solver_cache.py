"""One cache for the classical solvers' answers (GW-SDP, exact clique, vertex-cover and facility MILPs), so that
repeated evaluations of the same instances (every trial of a sweep, every model seed on the same test graphs, a rerun,
the benchmark) do not solve them again.

An entry is one Parquet file of one row, ``<cache_root()>/<solver>/<key>.parquet``, where ``key`` is
:func:`instance_key`: a SHA-256 of the solver's name, the parameters that change its answer (SDP backend, time limit)
and the instance's bytes (the sorted edge list and node count of a graph, the coordinates of points). Files are written
whole (temporary name, fsync, rename: ``shared.atomic``), so two trials solving the same instance at once both write a
complete file and the later rename wins; a reader never sees half a file. A file that cannot be read back (truncated,
not Parquet, columns missing) is reported by a ``SolverCacheWarning`` naming it, solved again and replaced.

A cached row holds what the solve returned, including ``seconds`` (the original solve's time), so every value a
caller derives from it is the same cached or not. :data:`SOLVES` counts the solves this process actually ran, per
solver (what the tests and the report's savings figures read).

No Ray here: ``jobs/solve_instances.py`` fills the same entries as Ray tasks with a per-instance time limit.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import networkx as nx

SOLVES: Counter[str] = Counter()  # solves run in this process, per solver name (cache misses)


class SolverCacheWarning(UserWarning):
    """A cache entry could not be read and is being solved again."""


def solver_root(solver: str, root: str | Path | None = None) -> Path:
    """The directory holding ``solver``'s entries: ``root`` if given, else ``cache_root()/<solver>``."""
    if root is not None:
        return Path(root)
    from shared.cache import cache_root

    return cache_root() / solver


def instance_key(solver: str, arrays: tuple[np.ndarray, ...], params: Mapping[str, Any] | None = None) -> str:
    """A digest of what determines the solver's answer: its name, its parameters and the instance's arrays (dtype,
    shape and bytes of each; integer arrays as int64, floating ones as float64 so fractions count)."""
    digest = hashlib.sha256(f"{solver}|{json.dumps(dict(params or {}), sort_keys=True)}".encode())
    for array in arrays:
        array = np.asarray(array)
        dtype = np.float64 if array.dtype.kind in "fc" else np.int64
        digest.update(f"|{dtype.__name__}{array.shape}|".encode())
        digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return digest.hexdigest()[:32]


def graph_arrays(n: int, edges: np.ndarray) -> tuple[np.ndarray, ...]:
    """A graph as hashed: its node count and its undirected edges, each as (min, max), sorted (any listing order,
    either orientation: the same key)."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    canonical = np.sort(edges, axis=1)
    canonical = canonical[np.lexsort((canonical[:, 1], canonical[:, 0]))]
    return np.array([n], dtype=np.int64), canonical


def read_entry(path: Path, columns: tuple[str, ...]) -> dict[str, Any] | None:
    """The row stored at ``path``, or None when there is none; a damaged file warns and counts as none."""
    if not path.exists():
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # the bytes are read once, through one descriptor: pq.read_table(path) opens the file again for the data after
        # reading its footer, and a writer's rename in between pairs one version's footer with another's pages
        rows = pq.read_table(pa.BufferReader(path.read_bytes())).to_pylist()
        if len(rows) != 1 or any(c not in rows[0] for c in columns):
            raise ValueError(f"expected one row with columns {', '.join(columns)}")
        return rows[0]
    except (OSError, pa.ArrowException, ValueError) as err:
        reason = re.sub(r"^Could not open Parquet input source '[^']*': ", "", " ".join(str(err).split()))[:200]
        warnings.warn(f"solver cache entry {path} is damaged ({reason}); solving the instance again and replacing it",
                      SolverCacheWarning, stacklevel=3)
        return None


def write_entry(path: Path, row: Mapping[str, Any]) -> None:
    """One row as a Parquet file, written whole (temporary name, fsync, rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shared import atomic

    buffer = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist([dict(row)]), buffer)
    atomic.write_bytes(path, buffer.getvalue().to_pybytes())


def cached_solve(solver: str, key: str, solve: Callable[[], dict[str, Any]], columns: tuple[str, ...],
                 root: str | Path | None = None) -> dict[str, Any]:
    """The row cached under ``key``, else ``solve()``'s row (stored, then returned). ``columns``: what a usable row
    must hold (a row missing any of them, from an older layout, is solved again)."""
    path = solver_root(solver, root) / f"{key}.parquet"
    row = read_entry(path, columns)
    if row is not None:
        return row
    row = solve()
    SOLVES[solver] += 1
    write_entry(path, row)
    return row


def gw_sdp(n: int, edges: np.ndarray, solver: str = "SCS", root: str | Path | None = None
           ) -> tuple[float, np.ndarray, float]:
    """:func:`shared.graphs.solvers.goemans_williamson`, cached: (SDP value, unit vectors (n, n), seconds of the
    original solve). The vectors, not a rounded cut, are cached, so each caller's rounding (its own generator) gives
    the same cut cached or not."""
    def solve() -> dict[str, Any]:
        from shared.graphs.solvers import goemans_williamson

        start = time.perf_counter()
        value, vectors = goemans_williamson(n, edges, solver)
        return {"value": value, "seconds": time.perf_counter() - start, "n": n,
                "vectors": np.asarray(vectors, dtype=np.float64).ravel().tolist()}

    key = instance_key("gw_sdp", graph_arrays(n, edges), {"solver": solver})
    row = cached_solve("gw_sdp", key, solve, ("value", "seconds", "n", "vectors"), root)
    vectors = np.asarray(row["vectors"], dtype=np.float64)
    if row["n"] != n or vectors.size != n * n:  # a key collision is astronomically unlikely; a foreign file is not
        raise ValueError(f"solver cache entry {key} of gw_sdp holds a {row['n']}-node graph, not {n} nodes")
    return float(row["value"]), vectors.reshape(n, n), float(row["seconds"])


def max_clique(graph: nx.Graph, root: str | Path | None = None) -> tuple[int, float]:
    """:func:`shared.graphs.solvers.max_clique_size` of a graph on nodes 0..n-1, cached: (size, seconds of the
    original solve)."""
    from shared.graphs.solvers import undirected_edges

    def solve() -> dict[str, Any]:
        from shared.graphs.solvers import max_clique_size

        start = time.perf_counter()
        size = max_clique_size(graph)
        return {"value": size, "seconds": time.perf_counter() - start}

    key = instance_key("max_clique", graph_arrays(graph.number_of_nodes(), undirected_edges(graph)))
    row = cached_solve("max_clique", key, solve, ("value", "seconds"), root)
    return int(row["value"]), float(row["seconds"])


def min_cover(n: int, edges: np.ndarray, time_limit: float = 10.0, root: str | Path | None = None
              ) -> tuple[np.ndarray, bool, float]:
    """:func:`shared.graphs.solvers.min_vertex_cover` (MILP, HiGHS), cached: (cover mask, proved optimal, seconds of
    the original solve). The time limit is part of the key: a cover found under a shorter limit may be larger."""
    def solve() -> dict[str, Any]:
        from shared.graphs.solvers import min_vertex_cover

        start = time.perf_counter()
        mask, optimal = min_vertex_cover(n, np.asarray(edges, dtype=np.int64).reshape(-1, 2), time_limit)
        return {"cover": np.flatnonzero(mask).tolist(), "optimal": bool(optimal), "n": n,
                "seconds": time.perf_counter() - start}

    key = instance_key("vertex_cover", graph_arrays(n, edges), {"highs_time_limit": float(time_limit)})
    row = cached_solve("vertex_cover", key, solve, ("cover", "optimal", "n", "seconds"), root)
    if row["n"] != n:
        raise ValueError(f"solver cache entry {key} of vertex_cover holds a {row['n']}-node graph, not {n} nodes")
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(row["cover"], dtype=np.int64)] = True
    return mask, bool(row["optimal"]), float(row["seconds"])
