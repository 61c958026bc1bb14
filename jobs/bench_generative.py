"""Benchmark: the generative and gradient-free methods' training step on the platform against the plain PyTorch loop.

    python jobs/bench_generative.py [--steps 100] [--repeats 3] [--methods ram reed pjax]

For `ram` (one fine-tuning step: sample the endpoints, query the reward, regress), `reed` (one DiT step with both
alignment targets) and `pjax` (one minibatch update: ``steps_per_update`` Douglas-Rachford iterations; at most 15
minibatches of 100 digits; and the same network's Adam step, `pjax arm=adam`), the same trainer's epochs are timed
(i) in this process, a plain loop on one thread, and (ii) as a Ray task on one CPU (``jobs/reproduce.py``'s way of
running a trial), alternately, ``--repeats`` times. Prints the median milliseconds per step on each side and their
ratio (nothing asserted: timings move with load). PJAX's parallel sweep on 1 and 2 workers: ``jobs/bench_pjax.py``.
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
    if method == "reed":
        return ["threads=1", "epochs=1", f"steps_per_epoch={steps}", "encoder_steps=50"]
    arm = method.split(":")[1] if ":" in method else "pjax"  # pjax:adam, the same network trained by Adam
    return ["threads=1", "epochs=2", f"arm={arm}", "batch_size=100", f"n_train={100 * min(steps, 15)}"]


def steps_of(method: str, steps: int) -> int:
    return min(steps, 15) if method.startswith("pjax") else steps


def timed_step_ms(method: str, overrides: list[str], steps: int) -> float:
    """Build the trainer, run its untimed epochs, then time the last epoch: milliseconds per step."""
    spec = get_method(method.split(":")[0])
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
    parser.add_argument("--methods", nargs="+", default=["ram", "reed", "pjax", "pjax:adam"],
                        choices=["ram", "reed", "pjax", "pjax:adam"])
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        print("error: --steps and --repeats must be >= 1", file=sys.stderr)
        return 2
    from cluster import connect

    print(f"[raystudy] {connect().describe()}", flush=True)
    for method in args.methods:
        overrides, steps = settings(method, args.steps), steps_of(method, args.steps)
        plain, remote = [], []
        for _ in range(args.repeats):
            plain.append(timed_step_ms(method, overrides, steps))
            remote.append(ray.get(on_ray.remote(method, overrides, steps)))
        p, r = statistics.median(plain), statistics.median(remote)
        print(f"{method}: plain loop {p:.1f} ms/step, Ray task {r:.1f} ms/step, ratio {r / p:.2f} "
              f"({args.repeats} repeats of {steps} steps)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
