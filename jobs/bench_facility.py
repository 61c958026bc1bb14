"""Benchmark: the trained UniFL MPNN against the exact MILP (scipy.optimize.milp, HiGHS, as Ray tasks) and
SimpleUniformFL on the same facility-location instances, side by side per size (nothing asserted).

    python jobs/bench_facility.py [--sizes 200 600 1200] [--instances 2] [--samples 1000] [--time-limit 120]
                                  [--epochs 40] [--train-instances 50] [--threads 1] [--seed 0] [--cache DIR]
                                  [--best-of 10]
    python jobs/bench_combinatorial.py          # these rows after the Max-Cut ones, in one run

The MPNN is trained once at n = 200 (the method's defaults, ``unifl``), then applied without retraining to every
size. The MILP solves every instance as a Ray task (``jobs/solver_tasks.py``, solver ``facility_milp``), each under
``--time-limit`` seconds, cached as Parquet under ``--cache`` (a second run re-solves nothing; a cached row keeps the
time it was solved in). Per size: the MILP's cost and seconds per instance and its timeouts (where it stops
scaling); UniFL's cost ratio (mean cost of ``--samples`` sample-and-repair draws / MILP, over the instances the MILP
solved) and seconds per instance (probabilities + all draws: the paper's evaluation), the seconds of one solution
(probabilities + one draw and its repair: what a user of the solver pays), both speed-ups; SimpleUniformFL's ratio
at its best c and its seconds per instance (radii + all draws). Building the neighbour lists is shared by all three
and not counted.

Best of ``--best-of`` draws (a departure from the paper, which reports the mean over draws): a user who draws k
solutions and keeps the cheapest pays k draws; its ratio is the mean over the ``--samples`` draws split into groups
of k of each group's cheapest, for UniFL and SimpleUniformFL alike, and its seconds are the probabilities and k
draws with their repairs.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

import numpy as np  # noqa: E402


@dataclass
class FacilityBench:
    sizes: list[int]
    instances: int = 2
    samples: int = 1000
    time_limit: float = 120.0
    epochs: int = 40
    train_instances: int = 50
    threads: int = 1
    seed: int = 0
    best_of: int = 10

    def problem(self) -> str | None:
        if min(self.sizes) < 10 or self.instances < 1 or self.samples < 1 or self.time_limit <= 0 \
                or self.epochs < 1 or self.train_instances < 1 or self.threads < 1 \
                or not 1 <= self.best_of <= self.samples:
            return "facility location needs sizes >= 10, instances, samples, epochs, train instances and threads " \
                   ">= 1, a time limit > 0 and 1 <= best-of <= samples"
        return None


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 600, 1200])
    parser.add_argument("--instances", type=int, default=2, help="test instances per size")
    parser.add_argument("--samples", type=int, default=1000, help="sample-and-repair draws averaged")
    parser.add_argument("--time-limit", type=float, default=120.0, help="MILP seconds per instance")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--train-instances", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None, help="Parquet cache of MILP results (default: a temporary one)")
    parser.add_argument("--best-of", type=int, default=10, help="k of the best-of-k-draws columns")
    return parser.parse_args(argv)


def train_unifl(bench: FacilityBench):
    from shared.methods.graph.unifl import SPEC, best_simple_c

    cfg = SPEC.load_config([f"epochs={bench.epochs}", f"data.train_instances={bench.train_instances}",
                            f"seed={bench.seed}", f"data.seed={bench.seed}", f"samples={bench.samples}"])
    trainer = SPEC.make_trainer(cfg)
    while not trainer.done:
        trainer.fit_epoch()
    return cfg, trainer.artifact(), best_simple_c(cfg, trainer.train_set)


def learnt_figures(model, inst, c: float, samples: int, rng: np.random.Generator, best_of: int = 10
                   ) -> dict[str, float]:
    """UniFL's and SimpleUniformFL's mean sampled cost and seconds on one instance, and the mean best of
    ``best_of`` draws with its seconds (module docstring)."""
    from shared.graphs.facility import radii, simple_probabilities
    from shared.methods.graph.unifl import probabilities

    start = time.perf_counter()
    draw_costs(rng, inst, probabilities(model, inst), 1)
    one_s = time.perf_counter() - start  # what one solution costs: probabilities, a draw, its repair
    start = time.perf_counter()
    draw_costs(rng, inst, probabilities(model, inst), best_of)
    best_s = time.perf_counter() - start  # k solutions, the cheapest kept
    start = time.perf_counter()
    costs = draw_costs(rng, inst, probabilities(model, inst), samples)
    unifl_s = time.perf_counter() - start
    start = time.perf_counter()
    simple = draw_costs(rng, inst, simple_probabilities(radii(inst), c), samples)
    simple_s = time.perf_counter() - start
    return {"unifl": costs.mean(), "unifl_s": unifl_s, "one_s": one_s, "simple": simple.mean(),
            "simple_s": simple_s, "unifl_best": best_of_mean(costs, best_of), "best_s": best_s,
            "simple_best": best_of_mean(simple, best_of)}


def draw_costs(rng: np.random.Generator, inst, p: np.ndarray, samples: int, chunk: int = 100) -> np.ndarray:
    """The true cost of F_1 + F_2 of each of ``samples`` draws (``sampled_cost`` is their mean)."""
    from shared.graphs.facility import completed, facility_cost, sample_open

    return np.concatenate([facility_cost(inst, completed(inst, sample_open(rng, p, min(chunk, samples - start))))
                           for start in range(0, samples, chunk)])


def best_of_mean(costs: np.ndarray, k: int) -> float:
    """The mean over consecutive groups of ``k`` draws of each group's cheapest (a partial last group dropped)."""
    groups = len(costs) // k
    return float(costs[:groups * k].reshape(groups, k).min(axis=1).mean())


def size_row(bench: FacilityBench, cfg, model, c: float, n: int, cache: str) -> str:
    from jobs.solver_tasks import solve_all
    from shared.methods.graph.unifl import instances

    rng = np.random.default_rng([bench.seed, n, 5])
    insts = instances(cfg, 10 + n, n, bench.instances)  # a stream of its own per size
    milp = solve_all("facility_milp", [(inst.n, inst.points) for inst in insts], bench.time_limit, cache)
    learnt = [learnt_figures(model, inst, c, bench.samples, rng, bench.best_of) for inst in insts]
    solved = [i for i, r in enumerate(milp) if r["status"] != "timeout"]
    mean = {key: float(np.mean([f[key] for f in learnt])) for key in learnt[0]}
    timeouts = len(insts) - len(solved)
    if not solved:  # the MILP stopped scaling: its time is only known to exceed the limit, so are the speed-ups
        return (f"| {n} | {len(insts)} | - | > {bench.time_limit:g} | 0/0 | - | {mean['unifl_s']:.4f} "
                f"| > {bench.time_limit / mean['unifl_s']:.1f}x | {mean['one_s']:.4f} "
                f"| > {bench.time_limit / mean['one_s']:.0f}x | - | {mean['simple_s']:.4f} | - "
                f"| {mean['best_s']:.4f} | > {bench.time_limit / mean['best_s']:.0f}x | - | {timeouts} |")
    milp_s = float(np.mean([milp[i]["seconds"] for i in solved]))
    ratio = {key: float(np.mean([learnt[i][key] / milp[i]["value"] for i in solved]))
             for key in ("unifl", "simple", "unifl_best", "simple_best")}
    proved = sum(not np.isnan(milp[i]["bound"]) for i in solved)
    optimum = float(np.mean([milp[i]["value"] for i in solved]))
    return (f"| {n} | {len(insts)} | {optimum:.1f} | {milp_s:.3f} | {proved}/{len(solved)} "
            f"| {ratio['unifl']:.3f} | {mean['unifl_s']:.4f} | {milp_s / mean['unifl_s']:.1f}x | {mean['one_s']:.4f} "
            f"| {milp_s / mean['one_s']:.0f}x | {ratio['simple']:.3f} | {mean['simple_s']:.4f} "
            f"| {ratio['unifl_best']:.3f} | {mean['best_s']:.4f} | {milp_s / mean['best_s']:.0f}x "
            f"| {ratio['simple_best']:.3f} | {timeouts} |")


def facility_rows(bench: FacilityBench, cache: str) -> Iterator[str]:
    """A title line and a Markdown table, one row per size as it is measured (module docstring)."""
    import torch

    torch.set_num_threads(bench.threads)
    start = time.perf_counter()
    cfg, model, c = train_unifl(bench)
    yield (f"Facility location on 2-D Gaussian mixtures: UniFL trained at n = {cfg.data.n} on "
           f"{bench.train_instances} instances, {bench.epochs} epochs ({time.perf_counter() - start:.1f} s), "
           f"mean of {bench.samples} draws; "
           f"MILP via scipy/HiGHS as Ray tasks, {bench.time_limit:g} s limit each; SimpleUniformFL at c = {c:g}")
    k = bench.best_of
    yield ("| n | instances | MILP cost | MILP s / instance | MILP proved | UniFL / MILP | UniFL s / instance | "
           "speed-up | UniFL 1-draw s | speed-up | Simple / MILP | Simple s / instance | "
           f"UniFL best-of-{k} / MILP | best-of-{k} s | speed-up | Simple best-of-{k} / MILP | MILP timeouts |")
    yield "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for n in bench.sizes:
        yield size_row(bench, cfg, model, c, n, cache)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    bench = FacilityBench(args.sizes, args.instances, args.samples, args.time_limit, args.epochs,
                          args.train_instances, args.threads, args.seed, args.best_of)
    problem = bench.problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from cluster import connect

    print(f"[raystudy] {connect().describe()}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for line in facility_rows(bench, args.cache or scratch):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
