"""What the solver cache saves: one evaluation of a graph method with an empty cache, then a second seed's evaluation
of the same test graphs (same ``data.seed``), each in a fresh process, side by side.

    python jobs/bench_solver_cache.py [--methods optgnn neural_sfe] [--scale smoke default]

The network is the untrained one (an evaluation's solver cost does not depend on training). Printed per method and
scale: CPU-seconds and wall seconds of ``evaluate`` (the first includes importing cvxpy, which a cache hit never
needs), the solves it ran (``shared.graphs.solver_cache.SOLVES``), and whether every figure but the seconds is the
same as an evaluation of the same seed with the cache filled (the cache changes no value).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
SMOKE = {"optgnn": ["data.test_graphs=4", "hyperplanes=50"], "neural_sfe": ["data.test_graphs=8"]}

CHILD = """
import json, sys, time
from shared.graphs.solver_cache import SOLVES
from shared.methods.graph import neural_sfe, optgnn
module = {"optgnn": optgnn, "neural_sfe": neural_sfe}[sys.argv[1]]
cfg = module.SPEC.load_config(json.loads(sys.argv[2]))
evaluator = module.SPEC.evaluators[0](cfg)
network = module.build_network(cfg)
cpu, wall = time.process_time(), time.perf_counter()
figures = evaluator.evaluate(network)
print(json.dumps({"graphs": cfg.data.test_graphs, "cpu": time.process_time() - cpu,
                  "wall": time.perf_counter() - wall, "solves": sum(SOLVES.values()), "figures": figures}))
"""


def evaluate(method: str, overrides: list[str], cache: str) -> dict:
    env = {**os.environ, "RAYSTUDY_CACHE": cache, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, method, json.dumps(overrides)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def same_values(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] for k in a if "seconds" not in k)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", choices=sorted(SMOKE), default=sorted(SMOKE, reverse=True))
    parser.add_argument("--scale", nargs="+", choices=["smoke", "default"], default=["smoke"])
    args = parser.parse_args(argv)
    print("| method | scale | test graphs | 1st eval CPU-s | 2nd seed CPU-s | saved CPU-s | 1st wall s | 2nd wall s "
          "| solves 1st / 2nd | same values |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for method in args.methods:
        for scale in args.scale:
            overrides = SMOKE[method] if scale == "smoke" else []
            with tempfile.TemporaryDirectory() as cache:
                first = evaluate(method, [*overrides, "seed=0"], cache)
                second = evaluate(method, [*overrides, "seed=1"], cache)
                again = evaluate(method, [*overrides, "seed=0"], cache)  # seed 0 read from the cache
            print(f"| {method} | {scale} | {first['graphs']} | {first['cpu']:.2f} | {second['cpu']:.2f} | "
                  f"{first['cpu'] - second['cpu']:.2f} | {first['wall']:.2f} | {second['wall']:.2f} | "
                  f"{first['solves']} / {second['solves']} | {same_values(first['figures'], again['figures'])} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
