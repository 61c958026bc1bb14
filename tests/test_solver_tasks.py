"""jobs/solver_tasks.py: classical solvers as Ray tasks with a per-instance time limit and a Parquet cache."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from shared.graphs.solvers import undirected_edges


@pytest.fixture(autouse=True)
def own_cache_root(tmp_path, monkeypatch):
    """The shared solver cache (the tasks get the driver's root) in the test's directory, not the user's."""
    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path / "cache"))


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
    assert len(list((tmp_path / "cache" / "max_clique").glob("*.parquet"))) == 3  # the evaluators' cache, filled


def test_solve_instances_fills_the_cache_the_evaluator_reads(local_ray, tmp_path, capsys):
    from jobs.solve_instances import main
    from shared.graphs.solver_cache import SOLVES
    from shared.methods.graph import neural_sfe

    overrides = ["data.test_graphs=4", "hidden=8", "layers=1"]
    assert main(["neural_sfe", *overrides, "--data-seeds", "5", "6"]) == 0
    out = capsys.readouterr().out
    assert "data.seed=5: 4 instances (max_clique): 4 solved, 0 cached" in out and "data.seed=6: 4 instances" in out
    before = SOLVES["max_clique"]  # the tasks solved in their workers; this process has solved nothing yet
    cfg = neural_sfe.SPEC.load_config([*overrides, "data.seed=6"])
    figures = neural_sfe.CliqueEvaluator(cfg).evaluate(neural_sfe.build_network(cfg))
    assert SOLVES["max_clique"] == before and figures["max_clique"] >= 6  # read, not solved: planted 6-8
    assert main(["neural_sfe", *overrides, "--data-seeds", "5"]) == 0
    assert "4 cached" in capsys.readouterr().out
    assert main(["neural_sfe", "data.test_graphs=0"]) == 2 and "data.test_graphs" in capsys.readouterr().err


def test_facility_milp_as_ray_tasks_gives_the_direct_optimum_and_is_cached(local_ray, tmp_path):
    from jobs.solver_tasks import instance_key, solve_all
    from shared.graphs.facility import gmm_points, make_instance, milp_optimum

    rng = np.random.default_rng(3)
    points = [gmm_points(rng, n, side=3.0) for n in (20, 30)]
    instances = [(len(p), p) for p in points]
    rows = solve_all("facility_milp", instances, time_limit_s=120, cache_dir=tmp_path, parallel=1)  # one worker
    direct = [milp_optimum(make_instance(p)).cost for p in points]
    assert [r["status"] for r in rows] == ["solved"] * 2
    assert [r["value"] for r in rows] == pytest.approx(direct, rel=1e-9)
    assert [r["bound"] for r in rows] == pytest.approx(direct, rel=1e-9)  # proved optimal
    assert [r["status"] for r in solve_all("facility_milp", instances, 120, tmp_path)] == ["cached"] * 2
    # coordinates are hashed with their fractions: a shifted instance is not a cache hit
    nudged = points[0] + 1e-3
    assert instance_key("facility_milp", 20, nudged, {}) != instance_key("facility_milp", 20, points[0], {})


def test_bench_facility_rows_solve_by_ray_tasks_and_no_sampled_cost_beats_the_optimum(local_ray, tmp_path):
    from jobs.bench_facility import FacilityBench, facility_rows

    bench = FacilityBench([30], instances=1, samples=20, epochs=1, train_instances=2)
    lines = list(facility_rows(bench, str(tmp_path)))
    cells = [cell.strip() for cell in lines[-1].strip("|").split("|")]
    header = [cell.strip() for cell in lines[1].strip("|").split("|")]
    row = dict(zip(header, cells, strict=True))
    assert row["n"] == "30" and row["MILP proved"] == "1/1" and row["MILP timeouts"] == "0"
    assert float(row["UniFL / MILP"]) >= 1.0 and float(row["Simple / MILP"]) >= 1.0  # the MILP is the optimum
    # the cheapest of each 10 of the same 20 draws: never above their mean, never below the optimum
    assert 1.0 <= float(row["UniFL best-of-10 / MILP"]) <= float(row["UniFL / MILP"])
    assert 1.0 <= float(row["Simple best-of-10 / MILP"]) <= float(row["Simple / MILP"])
    assert (tmp_path / "facility_milp.parquet").exists()  # solved through jobs/solver_tasks.py
    # past its time limit (the clock counts the task's start-up) the MILP's row says so instead of a ratio
    bench.time_limit = 0.01
    late = dict(zip(header, [c.strip() for c in list(facility_rows(bench, str(tmp_path / "late")))[-1].strip("|")
                             .split("|")], strict=True))
    assert late["MILP timeouts"] == "1" and late["MILP s / instance"] == "> 0.01" and late["UniFL / MILP"] == "-"


def test_bench_combinatorial_rejects_bad_facility_sizes_before_ray(capsys):
    from jobs.bench_combinatorial import main

    assert main(["--problems", "facility", "--fl-sizes", "5"]) == 2
    assert "sizes >= 10" in capsys.readouterr().err
