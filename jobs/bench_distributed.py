"""Benchmark: the distributed path's training throughput at ZeRO 0-3 against the plain loop on the same cores
(ratios printed, nothing asserted).

    python jobs/bench_distributed.py                       # gpt at its configured size, 2 CPU workers
    python jobs/bench_distributed.py gpt model.n_embd=64 --epochs 3 --stages 0,2,3
    python jobs/bench_distributed.py gpt distributed.param_persistence_threshold=100000  # DeepSpeed's
    ray job submit --working-dir . -- python jobs/bench_distributed.py gpt --profile gpu-zero3

The plain loop (``GradientTrainer.fit_epoch`` in this process, with as many torch threads as the workers have
CPUs together, and with one thread) and the Ray Train + DeepSpeed path (one worker group running every stage in turn,
``actors.distributed.run_variants``) train the same global batches; the figure is the median epoch time over
epochs 2.. (the first warms up), as samples per second. Start-up costs (Ray Train's worker group, about 20 s
on 2 cores; DeepSpeed's initialisation) are printed separately, not in the ratio. ZeRO-3 partitions every
parameter (``distributed.param_persistence_threshold=0``) unless the command sets the threshold; its workers print
how many parameter tensors they partition.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")

from shared.config import ConfigError  # noqa: E402
from shared.results import ResultsStore  # noqa: E402


def _stages(text: str) -> list[int]:
    out = [int(s) for s in text.split(",") if s.strip()]
    if not out or any(s not in (0, 1, 2, 3) for s in out):
        raise argparse.ArgumentTypeError(f"expected ZeRO stages among 0,1,2,3, got {text!r}")
    return out


def stage_items(stage: int, items: list[str]) -> list[str]:
    """ZeRO-3 partitions every parameter unless the command sets a persistence threshold: at DeepSpeed's default
    (1e5 elements) every parameter of a small model stays whole on every rank, and ZeRO-3 would be measured as
    ZeRO-2 with sharded optimizer state."""
    if stage != 3 or any(item.startswith("distributed.param_persistence_threshold=") for item in items):
        return []
    return ["distributed.param_persistence_threshold=0"]


def plain_epochs(spec, items: list[str], threads: int) -> tuple[list[float], int]:
    """Epoch seconds of the plain loop and the samples of one epoch."""
    import torch

    from shared.distributed import batch_size

    cfg = spec.load_config([*items, f"threads={threads}"])
    torch.set_num_threads(threads)
    trainer = spec.make_trainer(cfg)
    samples = sum(batch_size(b) for b in trainer.batches())
    trainer = spec.make_trainer(cfg)  # the count above drew from the generator: start again
    times = [trainer.fit_epoch()["epoch_time_s"] for _ in range(cfg.epochs)]
    return times, samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("method", nargs="?", default="gpt")
    parser.add_argument("overrides", nargs="*", help="key=value (method config)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--stages", type=_stages, default=[0, 1, 2, 3])
    parser.add_argument("--profile", help="a configs/cluster/ profile with a distributed section")
    parser.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the embedded local Ray (default: all)")
    args = parser.parse_intermixed_args(argv)

    from actors.distributed import resolve_spec, run_variants
    from jobs.train_distributed import overrides_for
    from shared.distributed import distributed_config

    try:
        spec = resolve_spec(args.method)
        items = [*overrides_for(args), f"epochs={args.epochs}"]
        variants = {f"zero{s}": [*items, f"distributed.zero_stage={s}", *stage_items(s, items)] for s in args.stages}
        cfgs = {label: spec.load_config(v) for label, v in variants.items()}
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    dist = distributed_config(next(iter(cfgs.values())))
    cores = max(int(dist.workers * dist.cpus_per_worker), 1)

    # The plain loop on all the workers' cores (the comparison asked for) and on one thread: torch's intra-op
    # threads slow down badly when the cores are shared with other processes, one thread does not.
    times, samples = plain_epochs(spec, items, cores)
    plain = statistics.median(times[1:] or times)
    times1, _ = plain_epochs(spec, items, 1) if cores > 1 else (times, samples)
    plain1 = statistics.median(times1[1:] or times1)

    from cluster import connect

    connect(args.address, num_cpus=args.num_cpus)
    storage = tempfile.mkdtemp(prefix="rs-bench-ds-")
    experiment = f"bench-ds-{time.strftime('%Y%m%d-%H%M%S')}"
    start = time.perf_counter()
    errors = run_variants(spec, variants, experiment=experiment, storage=storage)
    wall = time.perf_counter() - start
    rows = ResultsStore(storage).read(experiment).to_pandas()
    rows = rows[rows["metric"] == "epoch_time_s"]

    print(f"\n{spec.name}: {samples} samples per epoch, {args.epochs} epochs; plain loop on {cores} thread(s) vs "
          f"{dist.workers} workers x {dist.cpus_per_worker:g} CPU ({dist.resolved_backend}, {dist.precision})")
    if "zero3" in cfgs:
        print(f"zero3: param_persistence_threshold {cfgs['zero3'].distributed.param_persistence_threshold} (parameter "
              "tensors of at most that many elements stay whole on every rank)")
    print(f"{'run':10s} {'s/epoch':>9s} {'samples/s':>10s} {'vs plain':>9s} {'vs 1 thread':>12s}")
    print(f"{'plain':10s} {plain:9.3f} {samples / plain:10.1f} {1.0:9.2f} {plain1 / plain:12.2f}")
    if cores > 1:
        print(f"{'plain-1t':10s} {plain1:9.3f} {samples / plain1:10.1f} {plain / plain1:9.2f} {1.0:12.2f}")
    trained = 0.0
    for label in variants:
        if errors.get(label) is not None:
            print(f"{label:10s} failed: {errors[label]}")
            continue
        mine = rows[rows["trial"] == label].sort_values("epoch")["value"].tolist()
        trained += sum(mine)
        med = statistics.median(mine[1:] or mine)
        print(f"{label:10s} {med:9.3f} {samples / med:10.1f} {plain / med:9.2f} {plain1 / med:12.2f}")
    print(f"distributed run wall time {wall:.1f} s, of which training epochs {trained:.1f} s (the rest: worker "
          "group start, DeepSpeed initialisation, evaluation, shutdown)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
