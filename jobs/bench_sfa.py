"""Benchmark: Sparse Feature Attention against dense attention on CPU (ratios printed, nothing asserted).

    python jobs/bench_sfa.py [--n 1024 4096 16384] [--d 64] [--k 8] [--threads 1] [--device cpu|cuda]
    ray job submit --working-dir . -- python jobs/bench_sfa.py

One causal head (batch 1) of random q, k, v at each sequence length n, head dimension d. Dense: PyTorch's SDPA
(its CPU flash kernel). SFA: q and k keep their top-k coordinates per row and the tiled overlap kernel
(``shared.lm.sparse_attention.tiled_overlap_attention``: shared-coordinate products scattered into one tile at a
time, online softmax; pure torch, never an n x n matrix) computes the same output. Side by side: the wall-time
ratio (median of ``--repeats`` runs after a warm-up) and the counted ratios: score multiply-adds
E = sum over coordinates of the (query, key) pairs active in both, against dense n (n + 1) / 2 * d, and the whole
attention's (scores plus the dense P V product, which SFA does not shrink). The untiled overlap kernel (full score
matrix) is timed too for n <= ``--overlap-max``. The largest |difference| from SDPA on the masked q, k checks that
all compute one function. ``--device cuda`` runs both on a GPU (SDPA's CUDA kernels against the same pure-torch
tiled kernel, each call timed to a ``torch.cuda.synchronize``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from shared.lm.sparse_attention import (  # noqa: E402
    dense_count,
    interaction_count,
    overlap_attention,
    sparsify,
    tiled_overlap_attention,
)


def timed(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    """Median wall seconds over ``repeats`` calls after one warm-up call, and the last output. On a GPU each call
    ends at a synchronize: kernels are launched asynchronously."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() and torch.cuda.is_initialized() else (lambda: None)
    out = fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def bench(n: int, d: int, k: int, block: int, repeats: int, overlap_max: int,
          device: str = "cpu") -> dict[str, float]:
    gen = torch.Generator().manual_seed(n)
    q, key, v = (torch.randn(1, 1, n, d, generator=gen).to(device) for _ in range(3))
    qs, ks = sparsify(q, k), sparsify(key, k)
    with torch.no_grad():
        dense_s, _ = timed(lambda: F.scaled_dot_product_attention(q, key, v, is_causal=True), repeats)
        reference = F.scaled_dot_product_attention(qs, ks, v, is_causal=True)
        sfa_s, out = timed(lambda: tiled_overlap_attention(qs, ks, v, causal=True, block=block), repeats)
        overlap_s = float("nan")
        if n <= overlap_max:
            overlap_s, _ = timed(lambda: overlap_attention(qs, ks, v, causal=True), repeats)
    pairs = n * (n + 1) // 2
    e, dense_e = interaction_count(qs != 0, ks != 0, causal=True), dense_count(n, d, causal=True)
    return {"n": n, "dense_ms": 1e3 * dense_s, "sfa_ms": 1e3 * sfa_s, "overlap_ms": 1e3 * overlap_s,
            "wall_ratio": sfa_s / dense_s, "score_ratio": e / dense_e,
            "attn_ratio": (e + pairs * d) / (dense_e + pairs * d), "err": float((out - reference).abs().max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--k", type=int, default=8, help="active coordinates per query/key row (the paper: 8 at d=64)")
    parser.add_argument("--block", type=int, default=256, help="tile size of the tiled kernel")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both kernels)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--overlap-max", type=int, default=2048, help="largest n for the untiled overlap kernel")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args(argv)
    if not 1 <= args.k <= args.d:
        print(f"error: --k must be in [1, --d={args.d}], got {args.k}", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no GPU (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    print(f"causal attention, one head, d={args.d}, SFA k={args.k} ((k/d)^2 = {(args.k / args.d) ** 2:.4f}), "
          f"tile {args.block}, {args.threads} thread(s), torch {torch.__version__}, "
          f"{torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'}", flush=True)
    print("| n | dense SDPA ms | SFA tiled ms | SFA untiled ms | wall ratio SFA/dense | counted score-FLOP ratio | "
          "counted attention FLOP ratio (with P V) | max abs err |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.n:
        r = bench(n, args.d, args.k, args.block, args.repeats, args.overlap_max, args.device)
        untiled = "-" if r["overlap_ms"] != r["overlap_ms"] else f"{r['overlap_ms']:.1f}"
        print(f"| {n} | {r['dense_ms']:.1f} | {r['sfa_ms']:.1f} | {untiled} | {r['wall_ratio']:.2f} | "
              f"{r['score_ratio']:.4f} | {r['attn_ratio']:.3f} | {r['err']:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
