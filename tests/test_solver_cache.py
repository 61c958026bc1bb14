"""shared/graphs/solver_cache.py: the classical solvers' answers cached as Parquet, keyed by the instance's content."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from shared.graphs import solver_cache
from shared.graphs.solver_cache import SOLVES, SolverCacheWarning, graph_arrays, instance_key
from shared.graphs.solvers import undirected_edges


def er(n: int, p: float, seed: int) -> tuple[int, np.ndarray]:
    return n, undirected_edges(nx.gnp_random_graph(n, p, seed=seed))


def test_the_key_follows_the_instance_and_the_parameters_not_the_listing_order():
    n, edges = er(12, 0.4, 0)
    key = instance_key("gw_sdp", graph_arrays(n, edges), {"solver": "SCS"})
    shuffled = np.random.default_rng(0).permutation(edges)[:, ::-1]  # other order, other orientation
    assert instance_key("gw_sdp", graph_arrays(n, shuffled), {"solver": "SCS"}) == key
    assert instance_key("gw_sdp", graph_arrays(n, edges[1:]), {"solver": "SCS"}) != key  # one edge fewer
    assert instance_key("gw_sdp", graph_arrays(n + 1, edges), {"solver": "SCS"}) != key  # an isolated node more
    assert instance_key("gw_sdp", graph_arrays(n, edges), {"solver": "CLARABEL"}) != key
    assert instance_key("max_clique", graph_arrays(n, edges)) != instance_key("gw_sdp", graph_arrays(n, edges))
    points = np.random.default_rng(1).uniform(size=(10, 2))
    facility = instance_key("facility", (points,), {"time_limit": 10.0})
    assert instance_key("facility", (points + 1e-9,), {"time_limit": 10.0}) != facility  # fractions count
    assert instance_key("facility", (points,), {"time_limit": 20.0}) != facility


def test_a_second_solve_reads_the_cache_and_gives_identical_values(tmp_path):
    n, edges = er(10, 0.5, 1)
    before = SOLVES["gw_sdp"]
    value, vectors, seconds = solver_cache.gw_sdp(n, edges, root=tmp_path)
    again = solver_cache.gw_sdp(n, np.random.default_rng(2).permutation(edges), root=tmp_path)
    assert SOLVES["gw_sdp"] == before + 1  # solved once
    assert again[0] == value and np.array_equal(again[1], vectors) and again[2] == seconds > 0
    graph = nx.gnp_random_graph(14, 0.5, seed=3)
    before = SOLVES["max_clique"]
    size, _ = solver_cache.max_clique(graph, root=tmp_path / "clique")
    assert solver_cache.max_clique(graph, root=tmp_path / "clique")[0] == size == max(map(len, nx.find_cliques(graph)))
    assert SOLVES["max_clique"] == before + 1
    n, edges = er(14, 0.3, 4)  # the vertex-cover MILP: the cover itself is cached, and is a cover
    before = SOLVES["vertex_cover"]
    cover, optimal, _ = solver_cache.min_cover(n, edges, root=tmp_path / "cover")
    again, optimal_again, _ = solver_cache.min_cover(n, edges[::-1], root=tmp_path / "cover")
    assert SOLVES["vertex_cover"] == before + 1 and np.array_equal(cover, again) and optimal and optimal_again
    assert all(cover[a] or cover[b] for a, b in edges)
    graph = nx.empty_graph(n)
    graph.add_edges_from(map(tuple, edges.tolist()))
    assert cover.sum() == n - max(map(len, nx.find_cliques(nx.complement(graph))))  # = n - max independent set


def test_a_damaged_entry_warns_and_is_solved_again(tmp_path):
    graph = nx.gnp_random_graph(12, 0.5, seed=4)
    size, _ = solver_cache.max_clique(graph, root=tmp_path)
    (entry,) = tmp_path.glob("*.parquet")
    before = SOLVES["max_clique"]
    for damage in (b"PAR1 truncated", entry.read_bytes()[: len(entry.read_bytes()) // 2]):
        entry.write_bytes(damage)
        with pytest.warns(SolverCacheWarning, match=f"{entry.name} is damaged"):
            assert solver_cache.max_clique(graph, root=tmp_path)[0] == size
    assert SOLVES["max_clique"] == before + 2
    assert solver_cache.max_clique(graph, root=tmp_path)[0] == size and SOLVES["max_clique"] == before + 2  # replaced
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]  # no temporary file left behind


WRITER = """
import sys
from pathlib import Path
from shared.graphs.solver_cache import write_entry
for i in range(100):
    write_entry(Path(sys.argv[1]), {"value": int(sys.argv[2]) * 1000 + i, "seconds": 0.0, "pad": list(range(2000))})
"""


def test_concurrent_writers_leave_a_readable_file(tmp_path):
    """Three processes (as trials would) rewrite one entry while this one reads it: never half a file (writing in
    place instead of temporary name + rename fails here at once). The reader takes the file's bytes in one read:
    pq.read_table(path) opens the file twice, and forked writers once caught it between a footer and the pages."""
    path = tmp_path / "entry.parquet"
    solver_cache.write_entry(path, {"value": -1, "seconds": 0.0, "pad": []})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w)], env=env) for w in range(3)]
    reads = 0
    while any(w.poll() is None for w in writers) or reads == 0:
        assert solver_cache.read_entry(path, ("value", "seconds")) is not None  # never half a file
        reads += 1
    assert [w.wait() for w in writers] == [0, 0, 0]
    assert solver_cache.read_entry(path, ("value", "seconds"))["value"] % 1000 == 99  # a writer's last row, whole
    assert [p.name for p in tmp_path.iterdir()] == ["entry.parquet"]


def test_evaluators_solve_each_graph_once_over_seeds_with_the_same_figures(tmp_path, monkeypatch):
    from shared.methods.graph import neural_sfe, optgnn

    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path))
    cfg = optgnn.OptGNNConfig(seed=0, rank=4, layers=1, hyperplanes=50)
    cfg.data.test_graphs, cfg.data.n_min, cfg.data.n_max = 3, 10, 14
    graphs = optgnn.held_out_graphs(cfg.data)
    cuts = np.array([n / 2 for n, _ in graphs])
    before = SOLVES["gw_sdp"]
    first = optgnn.gw_reference(graphs, cuts, cfg)
    assert SOLVES["gw_sdp"] == before + 3
    assert optgnn.gw_reference(graphs, cuts, cfg) == pytest.approx(first, rel=0, abs=1e-3)  # seconds: + rounding
    assert {k: v for k, v in optgnn.gw_reference(graphs, cuts, cfg).items() if k != "gw_seconds_per_graph"} == {
        k: v for k, v in first.items() if k != "gw_seconds_per_graph"}
    cfg.seed = 1  # another seed on the same test graphs: other roundings of the same cached SDPs
    optgnn.gw_reference(graphs, cuts, cfg)
    assert SOLVES["gw_sdp"] == before + 3
    assert len(list((tmp_path / "gw_sdp").glob("*.parquet"))) == 3

    sfe = neural_sfe.NeuralSFEConfig(seed=0, hidden=8, layers=1)
    sfe.data.test_graphs = 4
    before = SOLVES["max_clique"]
    first = neural_sfe.CliqueEvaluator(sfe).evaluate(neural_sfe.build_network(sfe))
    sfe.seed = 1
    second = neural_sfe.CliqueEvaluator(sfe).evaluate(neural_sfe.build_network(sfe))
    assert SOLVES["max_clique"] == before + 4
    assert second["max_clique"] == first["max_clique"]
    assert second["exact_seconds_per_graph"] == first["exact_seconds_per_graph"]  # the original solves' time
