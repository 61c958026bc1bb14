"""Benchmark: the trained UniFL MPNN against the exact MILP (scipy.optimize.milp, HiGHS) and SimpleUniformFL on the
same facility-location instances, side by side per size (nothing asserted).

    python jobs/bench_facility.py [--sizes 200 600 1200] [--instances 2] [--samples 1000] [--time-limit 120]
                                  [--epochs 20] [--train-instances 50] [--threads 1] [--seed 0]
    ray job submit --working-dir . -- python jobs/bench_facility.py --sizes 200 600 1200 2400

The MPNN is trained once at n = 200 (the method's defaults, ``unifl``), then applied without retraining to every
size. Per size: the MILP's cost and seconds per instance (``optimal`` says whether HiGHS proved it within the time
limit), the MPNN's cost ratio (mean cost of ``--samples`` sample-and-repair draws / MILP) and seconds per instance
(probabilities + all draws: the paper's evaluation), the seconds of one solution (probabilities + one draw and its
repair: what a user of the solver pays), both speed-ups, and SimpleUniformFL's ratio at its best c. Building the
neighbour lists is shared by all three and not counted.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from shared.graphs.facility import milp_optimum, radii, sampled_cost, simple_probabilities  # noqa: E402
from shared.methods.graph.unifl import SPEC, best_simple_c, instances, probabilities  # noqa: E402


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 600, 1200])
    parser.add_argument("--instances", type=int, default=2, help="test instances per size")
    parser.add_argument("--samples", type=int, default=1000, help="sample-and-repair draws averaged")
    parser.add_argument("--time-limit", type=float, default=120.0, help="MILP seconds per instance")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-instances", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.sizes) < 10 or args.instances < 1 or args.samples < 1 or args.time_limit <= 0:
        parser.error("--sizes >= 10, --instances >= 1, --samples >= 1 and --time-limit > 0")
    return args


def row(model, cfg, n: int, args: argparse.Namespace, c: float) -> dict[str, float]:
    rng = np.random.default_rng([args.seed, n, 5])
    figures: dict[str, list[float]] = {}
    for inst in instances(cfg, 10 + n, n, args.instances):  # a stream of its own per size
        exact = milp_optimum(inst, args.time_limit)
        start = time.perf_counter()
        p = probabilities(model, inst)
        sampled_cost(rng, inst, p, 1)
        one_draw_seconds = time.perf_counter() - start  # what one solution costs: probabilities, a draw, its repair
        start = time.perf_counter()
        cost = sampled_cost(rng, inst, probabilities(model, inst), args.samples)
        mpnn_seconds = time.perf_counter() - start
        simple = sampled_cost(rng, inst, simple_probabilities(radii(inst), c), args.samples)
        for key, value in (("milp_cost", exact.cost), ("milp_s", exact.seconds), ("optimal", float(exact.optimal)),
                           ("mpnn_ratio", cost / exact.cost), ("mpnn_s", mpnn_seconds), ("one_s", one_draw_seconds),
                           ("simple_ratio", simple / exact.cost)):
            figures.setdefault(key, []).append(value)
    out = {key: float(np.mean(values)) for key, values in figures.items()}
    out["speedup"] = out["milp_s"] / out["mpnn_s"]
    out["one_speedup"] = out["milp_s"] / out["one_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    cfg = SPEC.load_config([f"epochs={args.epochs}", f"data.train_instances={args.train_instances}",
                            f"seed={args.seed}", f"data.seed={args.seed}", f"samples={args.samples}"])
    start = time.perf_counter()
    trainer = SPEC.make_trainer(cfg)
    while not trainer.done:
        trainer.fit_epoch()
    print(f"trained UniFL at n = {cfg.data.n} on {args.train_instances} instances, {args.epochs} epochs: "
          f"{time.perf_counter() - start:.1f} s")
    c = best_simple_c(cfg, trainer.train_set)
    print(f"{'n':>6} {'MILP cost':>10} {'MILP s':>8} {'proved':>6} {'MPNN/MILP':>10} {'MPNN s':>8} {'speed-up':>9} "
          f"{'1-draw s':>9} {'speed-up':>9} {'Simple/MILP':>12}")
    for n in args.sizes:
        r = row(trainer.artifact(), cfg, n, args, c)
        print(f"{n:>6} {r['milp_cost']:>10.1f} {r['milp_s']:>8.2f} {r['optimal']:>6.0%} {r['mpnn_ratio']:>10.3f} "
              f"{r['mpnn_s']:>8.2f} {r['speedup']:>8.1f}x {r['one_s']:>9.3f} {r['one_speedup']:>8.0f}x "
              f"{r['simple_ratio']:>12.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
