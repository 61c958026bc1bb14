"""Pre-solve a graph method's test instances as Ray tasks, filling the solver cache its evaluator reads.

    python jobs/solve_instances.py optgnn|neural_sfe|unifl [key=value ...] [--data-seeds 0 1 2] [--time-limit 300]

Builds the held-out instances the method's evaluator will solve (for each ``data.seed`` given, default the config's)
and solves them through ``jobs/solver_tasks.py``: one Ray task per instance, each killed after ``--time-limit``
seconds. The tasks write ``shared.graphs.solver_cache`` entries under this machine's cache root (``$RAYSTUDY_CACHE``),
so every later trial, seed and study arm on those instances reads the answer instead of solving it inline:
``optgnn``: the GW-SDP of each test graph (``problem=max_cut``; cvxpy, ``gw_solver``) or its minimum vertex cover
(``problem=vertex_cover``; MILP, HiGHS); ``neural_sfe``: the exact
maximum clique of each test graph; ``unifl``: the facility MILP of each test instance at ``data.n`` and
``data.large_n`` (HiGHS, ``milp_time_limit``). An instance past the time limit is left to the evaluator (which then
solves it without a limit). Prints one line per data seed: instances, solved now, already cached, timed out.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

METHODS = ("optgnn", "neural_sfe", "unifl")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("overrides", nargs="*", help="config overrides (key=value), as for a sweep")
    parser.add_argument("--data-seeds", type=int, nargs="+", default=None, help="data.seed values (default: config's)")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per instance")
    return parser.parse_args(argv)


def load(method: str, overrides: list[str]) -> Any:
    from shared.methods.graph import neural_sfe, optgnn, unifl

    spec = {"optgnn": optgnn.SPEC, "neural_sfe": neural_sfe.SPEC, "unifl": unifl.SPEC}[method]
    return spec.load_config(overrides)


def jobs_for(method: str, cfg: Any) -> list[tuple[str, list, dict[str, Any]]]:
    """(solver_tasks solver, instances, params) whose tasks fill the entries ``method``'s evaluator reads."""
    import numpy as np

    from shared.graphs.solvers import undirected_edges

    if method == "optgnn":
        from shared.methods.graph.optgnn import held_out_graphs

        if cfg.problem == "vertex_cover":
            return [("vertex_cover_milp", held_out_graphs(cfg.data), {})]
        if not cfg.reference:
            return []  # its evaluator solves nothing
        return [("gw_maxcut", held_out_graphs(cfg.data), {"solver": cfg.gw_solver})]
    if method == "neural_sfe":
        from shared.methods.graph.neural_sfe import planted_clique_graphs

        graphs = planted_clique_graphs(np.random.default_rng([cfg.data.seed, 2**20]), cfg.data.test_graphs, cfg.data)
        return [("max_clique", [(g.number_of_nodes(), undirected_edges(g)) for g in graphs], {})]
    from shared.methods.graph.unifl import instances

    insts = instances(cfg, 1, cfg.data.n, cfg.data.test_instances) + \
        instances(cfg, 2, cfg.data.large_n, cfg.data.test_instances)
    return [("facility_milp", [(inst.n, inst.points) for inst in insts],
             {"highs_time_limit": float(cfg.milp_time_limit)})]


def main(argv: list[str] | None = None) -> int:
    from shared.config import ConfigError

    args = parse(argv)
    try:
        if args.time_limit <= 0:
            raise ConfigError("--time-limit: must be > 0")
        seeds = args.data_seeds
        configs = [load(args.method, args.overrides + ([f"data.seed={s}"] if s is not None else []))
                   for s in (seeds or [None])]
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from cluster import connect
    from jobs.solver_tasks import solve_all
    from shared.cache import cache_root

    print(f"[raystudy] {connect().describe()}", flush=True)
    rows_dir = cache_root() / "solver_tasks"
    for cfg in configs:
        for solver, insts, params in jobs_for(args.method, cfg):
            start = time.perf_counter()
            rows = solve_all(solver, insts, args.time_limit, rows_dir, params)
            count = {s: sum(r["status"] == s for r in rows) for s in ("solved", "cached", "timeout")}
            print(f"{args.method} data.seed={cfg.data.seed}: {len(rows)} instances ({solver}): {count['solved']} "
                  f"solved, {count['cached']} cached, {count['timeout']} past {args.time_limit:g} s; "
                  f"{time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
