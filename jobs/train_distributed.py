"""Train one configuration of a ``distributed: deepspeed`` method under Ray Train + DeepSpeed.

    python jobs/train_distributed.py gpt                                   # 2 CPU workers, ZeRO-2, gloo
    python jobs/train_distributed.py gpt distributed.workers=2 distributed.zero_stage=3 epochs=3
    python jobs/train_distributed.py gpt --profile gpu-zero3                # 4 GPU workers, NCCL, bf16, ZeRO-3
    ray job submit --working-dir . -- python jobs/train_distributed.py gpt --profile gpu-zero3

``key=value`` overrides the method config (the ``distributed.*`` keys are
``shared.distributed.DistributedConfig``); ``--profile`` names a ``configs/cluster/`` profile whose
``distributed`` section sets them (overrides given here win). Everything is validated before Ray starts.
Per-epoch rows go to the results store (``RAYSTUDY_STORAGE``), DeepSpeed checkpoints of every rank under
``<storage>/train/<name>``. Running the same command again resumes the run from its last checkpoint.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

from shared.config import ConfigError  # noqa: E402
from shared.names import check_name  # noqa: E402
from shared.results import storage_root  # noqa: E402
from shared.trust import check_storage_trusted  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("method", help="a registered method marked distributed: deepspeed")
    parser.add_argument("overrides", nargs="*", help="key=value (method config, distributed.* included)")
    parser.add_argument("--profile", help="a configs/cluster/ profile with a distributed section")
    parser.add_argument("--name", help="run name (default: method and a hash of the config; same name resumes)")
    parser.add_argument("--storage", help="storage root (default: $RAYSTUDY_STORAGE or ~/raystudy)")
    parser.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the embedded local Ray (default: all)")
    return parser.parse_intermixed_args(argv)


def overrides_for(args: argparse.Namespace) -> list[str]:
    items: list[str] = []
    if args.profile:
        from cluster.profiles import load_profile

        profile = load_profile(args.profile)
        if profile.distributed is None:
            raise ConfigError(f"--profile {args.profile}: the profile has no distributed section")
        items = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in profile.method_overrides().items()]
    return items + list(args.overrides)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from actors.distributed import resolve_spec, run_name

        spec = resolve_spec(args.method)
        items = overrides_for(args)
        cfg = spec.load_config(items)  # validated before Ray starts
        name = check_name(args.name, "--name") if args.name else run_name(spec, cfg)
        check_storage_trusted(storage_root(args.storage), f"train/{name}")  # Ray Train resumes from there
        from cluster import connect

        conn = connect(args.address, num_cpus=args.num_cpus)
        from actors.distributed import check_cluster, pool_layout
        from shared.distributed import distributed_config

        pool = pool_layout(cfg)  # generation actors (e.g. g1's grpo.generation_actors) reserving CPUs of their own
        check_cluster(distributed_config(cfg), pool["extra_cpus"] if pool else 0.0)
    except (ConfigError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from actors.distributed import run_distributed

    dist = distributed_config(cfg)
    print(f"[raystudy] {conn.describe()}", flush=True)
    print(f"[raystudy] {spec.name}: {dist.workers} workers, ZeRO-{dist.zero_stage}, {dist.precision}, "
          f"{dist.resolved_backend}; run {name} under {storage_root(args.storage)}", flush=True)
    out = run_distributed(spec, items, name=name, storage=args.storage)
    metrics = {k: v for k, v in (out["metrics"] or {}).items() if isinstance(v, int | float)}
    print(f"[raystudy] final metrics: {metrics}")
    print(f"[raystudy] checkpoint:    {out['checkpoint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
