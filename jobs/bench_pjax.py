"""Benchmark: one PJAX projection sweep (the divide step of every node of a minibatch) on 1 and on 2 Ray workers.

    python jobs/bench_pjax.py [--batch 512] [--hidden 64] [--repeats 3]

The digits MLP (64-hidden-10) at its forward state, perturbed off the graphs; the divide step in one process
(vectorised), then cut into chunks of examples run as Ray tasks on 1 and 2 workers. Prints median seconds, the
speed-up and the largest |difference| from the vectorised result (0: the chunks are the same projections).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ray  # noqa: E402
import torch  # noqa: E402

from cluster.connect import connect  # noqa: E402
from shared.pjax.data import load_split  # noqa: E402
from shared.pjax.partition import merge_states, split_state  # noqa: E402
from shared.pjax.solver import Network, State, initial_state, project_divide  # noqa: E402


@ray.remote(num_cpus=1)
def divide_chunk(net: Network, chunk: State, x: torch.Tensor, labels: torch.Tensor, margin: float) -> State:
    torch.set_num_threads(1)
    return project_divide(chunk, net, x, labels, margin)


def divide_on_workers(net: Network, state: State, x: torch.Tensor, labels: torch.Tensor, workers: int,
                      margin: float = 1.0) -> State:
    net_ref = ray.put(net)
    chunks = split_state(state, x, labels, workers)
    return merge_states(ray.get([divide_chunk.remote(net_ref, c, cx, cy, margin) for c, cx, cy in chunks]))


def problem(batch: int, hidden: int) -> tuple[Network, State, torch.Tensor, torch.Tensor]:
    data = load_split("digits", batch, 0)
    gen = torch.Generator().manual_seed(0)
    net = Network.init([64, hidden, 10], "relu", gen)
    state = initial_state(net, data.train_x)
    state = {k: v + 0.1 * torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in state.items()}
    return net, state, data.train_x, data.train_y


def median_time(fn, repeats: int) -> tuple[float, State]:
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not (1 <= args.batch <= 1500 and 1 <= args.hidden <= 1024 and args.repeats >= 1):
        print("error: --batch in [1, 1500], --hidden in [1, 1024], --repeats >= 1", file=sys.stderr)
        return 2
    net, state, x, labels = problem(args.batch, args.hidden)
    torch.set_num_threads(1)
    local, reference = median_time(lambda: project_divide(state, net, x, labels, 1.0), args.repeats)
    connect(num_cpus=2, dashboard=False)
    print(f"divide step, batch {args.batch}, hidden {args.hidden}: one process {local:.3f} s")
    times = {}
    for workers in (1, 2):
        times[workers], out = median_time(lambda w=workers: divide_on_workers(net, state, x, labels, w), args.repeats)
        diff = max(float((out[k] - reference[k]).abs().max()) for k in reference)
        print(f"  {workers} Ray worker(s): {times[workers]:.3f} s, max |diff| from one process {diff:.1e}")
    print(f"  speed-up 1 -> 2 workers: {times[1] / times[2]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
