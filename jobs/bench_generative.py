"""Benchmark: the generative methods' training step on the platform against the plain PyTorch loop, same cores.

    python jobs/bench_generative.py [--steps 100] [--repeats 3]

For `ram` (one fine-tuning step: sample the endpoints, query the reward, regress) and `reed` (one DiT step with both
alignment targets), the same trainer's epochs are timed (i) in this process, a plain loop on one thread, and
(ii) as a Ray task on one CPU (``jobs/reproduce.py``'s way of running a trial), alternately, ``--repeats`` times.
Prints the median milliseconds per step on each side and their ratio (nothing asserted: timings move with load).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

import ray  # noqa: E402

from shared.registry import get_method  # noqa: E402


def settings(method: str, steps: int) -> list[str]:
    """One timed epoch of ``steps`` steps, after the setup (RAM: after a short pretraining epoch)."""
    if method == "ram":
        return ["threads=1", "epochs=2", "pretrain_epochs=1", "pretrain_steps=50", f"finetune_steps={steps}"]
    return ["threads=1", "epochs=1", f"steps_per_epoch={steps}", "encoder_steps=50"]


def timed_step_ms(method: str, overrides: list[str], steps: int) -> float:
    """Build the trainer, run its untimed epochs, then time the last epoch: milliseconds per step."""
    spec = get_method(method)
    trainer = spec.make_trainer(spec.load_config(overrides))
    while trainer.epoch < trainer.config.epochs - 1:
        trainer.fit_epoch()
    start = time.perf_counter()
    trainer.fit_epoch()
    return (time.perf_counter() - start) / steps * 1000


@ray.remote(num_cpus=1)
def on_ray(method: str, overrides: list[str], steps: int) -> float:
    return timed_step_ms(method, overrides, steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        print("error: --steps and --repeats must be >= 1", file=sys.stderr)
        return 2
    from cluster import connect

    print(f"[raystudy] {connect().describe()}", flush=True)
    for method in ("ram", "reed"):
        overrides = settings(method, args.steps)
        plain, remote = [], []
        for _ in range(args.repeats):
            plain.append(timed_step_ms(method, overrides, args.steps))
            remote.append(ray.get(on_ray.remote(method, overrides, args.steps)))
        p, r = statistics.median(plain), statistics.median(remote)
        print(f"{method}: plain loop {p:.1f} ms/step, Ray task {r:.1f} ms/step, ratio {r / p:.2f} "
              f"({args.repeats} repeats of {args.steps} steps)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
