"""CPU-seconds of a training step of the SSL encoder (``shared.models.vision.ConvNet``) in channels-last memory
format, as it computes, against the same network in the default (NCHW) format, side by side.

    python jobs/bench_encoder.py [--width 16] [--batch 256] [--size 32] [--steps 6] [--rounds 4] [--threads 1]

Each step is a forward and backward pass of the backbone on one batch of random images (no optimizer: the two
formats share its cost). The two formats take turns ``--rounds`` times after one untimed warm-up step each, so
that a load that changes during the run falls on both; prints each round's CPU-seconds per step, the median of
each and their ratio, and the largest difference between the two formats' features (float32 rounding: another
summation order, not another network).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from shared.models.vision import ConvNet  # noqa: E402


def nchw_copy(model: ConvNet) -> torch.nn.Module:
    """The same weights in the default format, run without the forward's conversion to channels-last."""
    plain = ConvNet(model.out_dim // 8)
    plain.load_state_dict(model.state_dict())
    return plain.to(memory_format=torch.contiguous_format).features


def cpu_seconds_per_step(net: torch.nn.Module, images: torch.Tensor, steps: int) -> float:
    start = time.process_time()
    for _ in range(steps):
        net.zero_grad(set_to_none=True)
        net(images).sum().backward()
    return (time.process_time() - start) / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size)
    channels_last = ConvNet(args.width)
    nets = {"channels-last": channels_last, "NCHW": nchw_copy(channels_last)}
    with torch.no_grad():
        difference = (nets["channels-last"](images) - nets["NCHW"](images.contiguous())).abs().max().item()
    times: dict[str, list[float]] = {name: [] for name in nets}
    for net in nets.values():
        cpu_seconds_per_step(net, images, 1)  # warm-up: first-call allocations and kernel selection
    for round_ in range(args.rounds):
        for name, net in nets.items():
            times[name].append(cpu_seconds_per_step(net, images, args.steps))
        print(f"round {round_ + 1}: " + ", ".join(f"{n} {t[-1]:.3f}" for n, t in times.items()) + " CPU-s/step",
              flush=True)
    last, nchw = statistics.median(times["channels-last"]), statistics.median(times["NCHW"])
    print(f"ConvNet width {args.width}, {args.batch} images of {args.size}x{args.size}, {args.threads} thread(s): "
          f"channels-last {last:.3f} vs NCHW {nchw:.3f} CPU-s per forward+backward (median of {args.rounds}), "
          f"ratio {last / nchw:.2f}; largest feature difference {difference:.1e}")


if __name__ == "__main__":
    main()
