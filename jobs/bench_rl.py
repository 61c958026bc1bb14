"""Benchmark: GRPO throughput of ``g1`` with rollouts in the learner's process vs from Ray generation actors
(ratios printed, nothing asserted).

    python jobs/bench_rl.py [--steps 10] [--actors 1 2] [key=value ...]   (g1 config overrides)

The shape real RL fine-tuning systems have: a generation pool separate from the learner (``actors/generation.py``,
the pool ``grpo.generation_actors=N`` gives G1's trials). Each GRPO step the learner publishes its weights once
(``ray.put``), every generation actor loads them and samples its share of the step's prompts
(``G1Trainer.sample_rollouts``), and the learner updates on the gathered rollouts (``G1Trainer.learn``).
Synchronous, as verl's default: the learner waits while the pool generates. The first row samples in the learner's
process without the KV cache (``kv_cache=false``: the whole right-padded batch recomputed every token, G1's sampler
before 2026-12-03); every other row decodes left-padded prompts with the KV cache. Printed side by side, per mode:
rollout tokens/s (response tokens sampled per second of rollout wall time), learner steps/s, and the fraction of
each step the learner waits on rollouts (the rest is its update). On a machine with few cores the actors compete
with the learner and with each other for them: read the ratios on a machine with a core per actor.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

import ray  # noqa: E402
import torch  # noqa: E402

from actors.generation import GenerationPool  # noqa: E402
from shared.registry import get_method  # noqa: E402


def run_mode(trainer, steps: int) -> dict[str, float]:
    g = trainer.config.grpo
    waited = tokens = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        picks = torch.randint(len(trainer.data.train), (g.prompts,), generator=trainer.generator).tolist()
        t0 = time.perf_counter()
        batch = trainer.sample_rollouts(picks)
        waited += time.perf_counter() - t0
        tokens += float(batch.mask.sum())
        trainer.learn(batch)
    total = time.perf_counter() - start
    return {"rollout_tokens_per_s": tokens / waited, "learner_steps_per_s": steps / total,
            "wait_fraction": waited / total}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="GRPO steps timed per mode")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="generation pool sizes")
    parser.add_argument("overrides", nargs="*", help="g1 config overrides, e.g. grpo.prompts=32")
    args = parser.parse_args(argv)
    from shared.config import ConfigError

    spec = get_method("g1")
    try:
        cfg = spec.load_config(["epochs=2", "sft_epochs=1", *args.overrides])
    except ConfigError as err:
        print(f"bench_rl: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.steps < 1 or min(args.actors) < 1:
        print("bench_rl: --steps and --actors must be >= 1", file=sys.stderr)
        raise SystemExit(2)
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()  # SFT first, so responses end as a trained policy's do
    trainer.start_grpo()
    from cluster.connect import connect

    connect()
    trainer.config.kv_cache = False
    rows = {"learner, no KV cache": run_mode(trainer, args.steps)}
    trainer.config.kv_cache = True
    rows["learner process"] = run_mode(trainer, args.steps)
    for n in args.actors:
        trainer.config.grpo.generation_actors = n  # the step's prompts in n shares, one per actor
        pool = GenerationPool(n, trainer.generation_factory())
        ray.get([a.__ray_ready__.remote() for a in pool.actors])
        trainer.shard_map = pool
        rows[f"{n} generation actor{'s' if n > 1 else ''}"] = run_mode(trainer, args.steps)
        pool.close()
    print(f"{'rollouts from':<22}{'rollout tok/s':>15}{'learner steps/s':>17}{'learner waits':>15}")
    for name, r in rows.items():
        print(f"{name:<22}{r['rollout_tokens_per_s']:>15.0f}{r['learner_steps_per_s']:>17.2f}"
              f"{r['wait_fraction']:>15.0%}")


if __name__ == "__main__":
    main()
