"""jobs/solver_tasks.py: classical solvers as Ray tasks with a per-instance time limit and a Parquet cache."""
from __future__ import annotations

import networkx as nx
import numpy as np

from shared.graphs.solvers import undirected_edges


def graphs(seed: int, count: int, n: int, p: float) -> list[tuple[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(n, undirected_edges(nx.gnp_random_graph(n, p, seed=int(rng.integers(2**31))))) for _ in range(count)]


def test_solved_instances_are_cached_and_an_overdue_one_is_killed(local_ray, tmp_path):
    from jobs.solver_tasks import read_cache, solve_all

    instances = graphs(0, 3, 12, 0.5)
    first = solve_all("max_clique", instances, time_limit_s=120, cache_dir=tmp_path)
    expected = [max(len(c) for c in nx.find_cliques(nx.Graph(list(map(tuple, e))))) for _, e in instances]
    assert [r["value"] for r in first] == expected and {r["status"] for r in first} == {"solved"}
    again = solve_all("max_clique", instances, time_limit_s=120, cache_dir=tmp_path)
    assert [r["status"] for r in again] == ["cached"] * 3 and [r["value"] for r in again] == expected
    assert len(read_cache(tmp_path / "max_clique.parquet")) == 3
    # a 250-node dense SDP cannot finish in 0.2 s (the clock starts at submission): killed, recorded, not retried
    big = graphs(1, 1, 250, 0.5)
    late = solve_all("gw_maxcut", big, time_limit_s=0.2, cache_dir=tmp_path)
    assert late[0]["status"] == "timeout" and np.isnan(late[0]["value"])
    assert solve_all("gw_maxcut", big, time_limit_s=0.2, cache_dir=tmp_path)[0]["status"] == "cached"
    assert not list(tmp_path.glob(".tmp-*"))  # written whole
