"""Learnt combinatorial solvers against the classical solver, side by side on the same instances (Max-Cut rows).

    python jobs/bench_combinatorial.py [--sizes 50 100 200 400] [--graphs 8] [--p 0.15] [--steps 300]
                                       [--time-limit 120] [--cache DIR] [--seed 0]

Max-Cut: one OptGNN (LiftMP, rank 16, 8 layers) is trained for ``--steps`` Adam steps on fresh ER(n in [50, 100],
p) graphs, then solves ``--graphs`` held-out ER(n, p) graphs per size by batched inference and the best of 1000
random hyperplanes. Goemans-Williamson (cvxpy/SCS, the same rounding) solves the same graphs as Ray tasks, one per
instance, each under ``--time-limit`` seconds, cached as Parquet under ``--cache`` (``jobs/solver_tasks.py``), so a
second run re-solves nothing. Printed per size: mean cut of each, their ratio over the graphs GW solved, seconds per
instance of each (OptGNN: inference and rounding of the whole batch / graphs; GW: the task's own solve time; a cached
GW row keeps the time it was solved in), and GW's timeouts, i.e. where the SDP stops scaling.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

import numpy as np  # noqa: E402


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--graphs", type=int, default=8, help="held-out graphs per size")
    parser.add_argument("--p", type=float, default=0.15)
    parser.add_argument("--steps", type=int, default=300, help="OptGNN training steps")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per GW instance")
    parser.add_argument("--cache", default=None, help="Parquet cache of solver results (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def check(args: argparse.Namespace) -> str | None:
    if min(args.sizes) < 2 or args.graphs < 1 or not 0 < args.p <= 1 or args.steps < 1 or args.time_limit <= 0:
        return "need --sizes >= 2, --graphs >= 1, 0 < --p <= 1, --steps >= 1, --time-limit > 0"
    return None


def train_optgnn(args: argparse.Namespace):
    from shared.methods.graph.optgnn import SPEC

    cfg = SPEC.load_config([f"seed={args.seed}", f"data.seed={args.seed}", "epochs=1", f"steps_per_epoch={args.steps}",
                            "data.n_min=50", "data.n_max=100", f"data.p={args.p}"])
    trainer = SPEC.make_trainer(cfg)
    trainer.fit_epoch()
    return cfg, trainer.model


def maxcut_rows(args: argparse.Namespace, cache: str) -> list[str]:
    from jobs.solver_tasks import solve_all
    from shared.methods.graph.optgnn import er_graphs, network_solutions

    cfg, model = train_optgnn(args)
    lines = ["| n | graphs | OptGNN cut | GW cut | OptGNN / GW | OptGNN s / instance | GW s / instance | speed-up | "
             "GW timeouts |", "|---|---|---|---|---|---|---|---|---|"]
    for n in args.sizes:
        graphs = er_graphs(np.random.default_rng([args.seed, n, 7]), args.graphs, n, n, args.p)
        cuts, _, seconds = network_solutions(model, graphs, cfg.rank, cfg.hyperplanes, args.seed)
        rows = solve_all("gw_maxcut", graphs, args.time_limit, cache, params={"hyperplanes": cfg.hyperplanes,
                                                                               "seed": args.seed})
        solved = np.array([r["status"] != "timeout" for r in rows])
        gw = np.array([r["value"] for r in rows])[solved]
        gw_s = np.array([r["seconds"] for r in rows])[solved]
        ratio, gw_cut, gw_time = (float(np.mean(cuts[solved] / gw)), float(gw.mean()), float(gw_s.mean())) \
            if solved.any() else (float("nan"),) * 3
        lines.append(f"| {n} | {len(graphs)} | {cuts.mean():.1f} | {gw_cut:.1f} | {ratio:.4f} | {seconds:.4f} | "
                     f"{gw_time:.3f} | {gw_time / seconds:.0f}x | {int((~solved).sum())} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    problem = check(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from cluster import connect

    print(f"[raystudy] {connect().describe()}", flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        lines = maxcut_rows(args, args.cache or scratch)
    print(f"Max-Cut on ER(n, {args.p}), OptGNN trained {args.steps} steps on n in [50, 100]; "
          f"GW-SDP via cvxpy/SCS as Ray tasks, {args.time_limit:g} s limit each")
    print("\n".join(lines))
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
