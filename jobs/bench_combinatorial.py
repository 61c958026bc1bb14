"""Learnt combinatorial solvers against the classical solvers, side by side on the same instances (Max-Cut and
facility-location rows, one run).

    python jobs/bench_combinatorial.py [--problems maxcut facility] [--sizes 50 100 200 400] [--graphs 8] [--p 0.15]
                                       [--steps 300] [--time-limit 120] [--cache DIR] [--seed 0]
                                       [--fl-sizes 200 600 1200] [--fl-instances 2] [--fl-samples 1000]
                                       [--fl-time-limit 120] [--fl-epochs 40] [--fl-train-instances 50]

Max-Cut: one OptGNN (LiftMP, rank 16, 8 layers) is trained for ``--steps`` Adam steps on fresh ER(n in [50, 100],
p) graphs, then solves ``--graphs`` held-out ER(n, p) graphs per size by batched inference and the best of 1000
random hyperplanes. Goemans-Williamson (cvxpy/SCS, the same rounding) solves the same graphs as Ray tasks, one per
instance, each under ``--time-limit`` seconds, cached as Parquet under ``--cache`` (``jobs/solver_tasks.py``), so a
second run re-solves nothing. Printed per size: mean cut of each, their ratio over the graphs GW solved, seconds per
instance of each (OptGNN: inference and rounding of the whole batch / graphs; GW: the task's own solve time; a cached
GW row keeps the time it was solved in), and GW's timeouts, i.e. where the SDP stops scaling.

Facility location (``--fl-*``, ``jobs/bench_facility.py``): UniFL trained once at n = 200 against the exact MILP
(scipy/HiGHS as Ray tasks, ``--fl-time-limit`` seconds each, the same cache) and SimpleUniformFL at its best c, on
the same Gaussian-mixture instances per size: cost ratios to the optimum, seconds per instance of each, the MILP's
timeouts (where it stops scaling).
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
    parser.add_argument("--problems", nargs="+", choices=PROBLEMS, default=list(PROBLEMS))
    parser.add_argument("--fl-sizes", type=int, nargs="+", default=[200, 600, 1200], help="facility-location n")
    parser.add_argument("--fl-instances", type=int, default=2, help="facility-location test instances per size")
    parser.add_argument("--fl-samples", type=int, default=1000, help="sample-and-repair draws averaged")
    parser.add_argument("--fl-time-limit", type=float, default=120.0, help="seconds per MILP instance")
    parser.add_argument("--fl-epochs", type=int, default=40, help="UniFL training epochs")
    parser.add_argument("--fl-train-instances", type=int, default=50, help="UniFL training instances")
    return parser.parse_args(argv)


PROBLEMS = ("maxcut", "facility")


def facility_bench(args: argparse.Namespace):
    from jobs.bench_facility import FacilityBench

    return FacilityBench(args.fl_sizes, args.fl_instances, args.fl_samples, args.fl_time_limit, args.fl_epochs,
                         args.fl_train_instances, 1, args.seed)


def check(args: argparse.Namespace) -> str | None:
    if min(args.sizes) < 2 or args.graphs < 1 or not 0 < args.p <= 1 or args.steps < 1 or args.time_limit <= 0:
        return "need --sizes >= 2, --graphs >= 1, 0 < --p <= 1, --steps >= 1, --time-limit > 0"
    return facility_bench(args).problem() if "facility" in args.problems else None


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
        if "maxcut" in args.problems:
            lines = maxcut_rows(args, args.cache or scratch)
            print(f"Max-Cut on ER(n, {args.p}), OptGNN trained {args.steps} steps on n in [50, 100]; "
                  f"GW-SDP via cvxpy/SCS as Ray tasks, {args.time_limit:g} s limit each")
            print("\n".join(lines), flush=True)
        if "facility" in args.problems:
            from jobs.bench_facility import facility_rows

            for line in facility_rows(facility_bench(args), args.cache or scratch):
                print(line, flush=True)
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
