"""Pairs per second of our TMD against a direct transcription of the paper's recursive algorithm, side by side.

    python jobs/bench_graph_distance.py [--graphs 12] [--depth 4] [--w 0.5] [--seed 0] [--scaling 40]
                                        [--attributed 80]

The direct transcription computes TD(T_a, T_b) recursively from the definition, one ``ot.emd2`` per pair of trees it
meets, no caching (the published reference's approach, ``recursive_tmd``); ours is the memoised data-set cache
(``shared.graphs.tmd.TreeCache``: each distinct pair of subtrees once, transports as assignments). Both run on the
same planted-motif graphs; the distances must agree to 1e-6. Prints the two rates and their ratio.

``--scaling N``: the Ray all-pairs job (``jobs/graph_distances.py``) over N planted-motif graphs on a local Ray of 2
CPUs, once with 1 worker (each shard task holds both CPUs, so one runs at a time) and once with 2 (one CPU each),
the same shards both times, after an untimed warm-up that starts the workers; prints both wall times and their ratio
(2.0 is linear scaling).

``--attributed N``: the RJL-style attributed distance on N graphs of the study's SBM set (``sbm_homophily``, data seed
``--seed``) at ``depth - 1`` rounds, as the attributed SVM computes it: all pairs through the memoised cache
(``shared.graphs.attributed.all_pairs_attributed``) in CPU-seconds, against the direct transcription (one
``ot.emd2`` per node pair and round, ``attributed_distance_direct``) on 30 of those pairs; prints CPU-seconds per pair
of each, their ratio and the largest difference on the 30 pairs (must be <= 1e-6).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

import numpy as np  # noqa: E402

from shared.graphs.motifs import planted_motif_set  # noqa: E402
from shared.graphs.tmd import FeatureGraph, all_pairs_tmd, depth_weights, padded_emd  # noqa: E402


def _blank(g: FeatureGraph, node: int, level: int, weights: list[float]) -> float:
    value = float(np.linalg.norm(g.x[node]))
    if level > 1:
        value += weights[level - 2] * sum(_blank(g, c, level - 1, weights) for c in g.neighbours[node])
    return value


def _tree(ga: FeatureGraph, a: int, gb: FeatureGraph, b: int, level: int, weights: list[float]) -> float:
    value = float(np.linalg.norm(ga.x[a] - gb.x[b]))
    if level > 1:
        ca, cb = ga.neighbours[a], gb.neighbours[b]
        cost = np.array([[_tree(ga, i, gb, j, level - 1, weights) for j in cb] for i in ca]).reshape(len(ca), len(cb))
        blank_a = np.array([_blank(ga, i, level - 1, weights) for i in ca])
        blank_b = np.array([_blank(gb, j, level - 1, weights) for j in cb])
        value += weights[level - 2] * padded_emd(cost, blank_a, blank_b)
    return value


def recursive_tmd(ga: FeatureGraph, gb: FeatureGraph, depth: int, w: float) -> float:
    """TMD straight from the recursive definition: no memoisation, one ot.emd2 per transport."""
    weights = depth_weights(w, depth)
    cost = np.array([[_tree(ga, i, gb, j, depth, weights) for j in range(gb.num_nodes)]
                     for i in range(ga.num_nodes)])
    blank_a = np.array([_blank(ga, i, depth, weights) for i in range(ga.num_nodes)])
    blank_b = np.array([_blank(gb, j, depth, weights) for j in range(gb.num_nodes)])
    return padded_emd(cost, blank_a, blank_b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=12)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--w", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scaling", type=int, default=0, metavar="N",
                        help="also time the Ray all-pairs job on N graphs with 1 and 2 workers (0: skip)")
    parser.add_argument("--attributed", type=int, default=0, metavar="N",
                        help="also time the attributed distance on N SBM graphs, memoised vs direct (0: skip)")
    args = parser.parse_args(argv)
    if args.graphs < 2 or args.depth < 1 or args.w <= 0 or args.scaling and args.scaling < 4 or 0 < args.attributed < 2:
        print("error: need --graphs >= 2, --depth >= 1, --w > 0, --scaling 0 or >= 4, --attributed 0 or >= 2",
              file=sys.stderr)
        return 2
    graphs, _ = planted_motif_set(args.graphs, 10, 20, 3, args.seed)
    pairs = [(i, j) for i in range(len(graphs)) for j in range(i + 1, len(graphs))]
    start = time.perf_counter()
    ours = all_pairs_tmd(graphs, args.depth, args.w, pairs)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    direct = np.array([recursive_tmd(graphs[i], graphs[j], args.depth, args.w) for i, j in pairs])
    direct_s = time.perf_counter() - start
    gap = float(np.abs(ours - direct).max())
    print(f"planted-motif set, {args.graphs} graphs, {len(pairs)} pairs, depth {args.depth}, w {args.w}")
    print("| implementation | pairs / s |\n|---|---|")
    print(f"| direct recursive transcription (ot.emd2, no caching) | {len(pairs) / direct_s:.2f} |")
    print(f"| ours (memoised tree cache, assignments) | {len(pairs) / ours_s:.2f} |")
    print(f"speed-up {direct_s / ours_s:.1f}x; largest distance difference {gap:.2e}")
    if args.scaling:
        worker_scaling(args.scaling, args.depth, args.w, args.seed)
    if args.attributed:
        gap = max(gap, attributed_speed(args.attributed, args.depth - 1, args.seed))
    return 0 if gap <= 1e-6 else 1


def attributed_speed(count: int, rounds: int, seed: int, sample: int = 30) -> float:
    """CPU-seconds per pair of the memoised attributed distance (all pairs of ``count`` SBM graphs) and of the direct
    transcription (``sample`` random pairs of them); returns the largest difference on the sample."""
    from shared.graphs.attributed import all_pairs_attributed, attributed_distance_direct
    from shared.graphs.tmd_data import sbm_homophily_set

    graphs, _ = sbm_homophily_set(count, seed)
    pairs = [(i, j) for i in range(count) for j in range(i + 1, count)]
    start = time.process_time()
    ours = all_pairs_attributed(graphs, rounds, pairs)
    ours_s = (time.process_time() - start) / len(pairs)
    picked = np.random.default_rng(seed).choice(len(pairs), min(sample, len(pairs)), replace=False)
    start = time.process_time()
    direct = np.array([attributed_distance_direct(graphs[pairs[k][0]], graphs[pairs[k][1]], rounds) for k in picked])
    direct_s = (time.process_time() - start) / len(picked)
    gap = float(np.abs(ours[picked] - direct).max())
    print(f"attributed distance, SBM set, {count} graphs, {len(pairs)} pairs, {rounds} rounds")
    print("| implementation | CPU-s / pair |\n|---|---|")
    print(f"| direct transcription (one ot.emd2 per node pair and round; {len(picked)} pairs) | {direct_s:.4f} |")
    print(f"| ours (memoised canonical objects, batched transports; all pairs) | {ours_s:.5f} |")
    print(f"speed-up {direct_s / ours_s:.1f}x; largest distance difference {gap:.2e}")
    return gap


def worker_scaling(count: int, depth: int, w: float, seed: int) -> None:
    """Wall time of the all-pairs job with 1 worker and with 2 on a local 2-CPU Ray (4 shards, same both times)."""
    import tempfile

    import ray

    from cluster import connect
    from jobs.graph_distances import all_pairs, run

    graphs, _ = planted_motif_set(count, 10, 20, 3, seed)
    shard_size = -(-len(all_pairs(count)) // 4)
    connect(num_cpus=2, dashboard=False)  # a local Ray of 2 CPUs (token auth, as every entry point)
    try:
        with tempfile.TemporaryDirectory() as out:  # warm-up: both workers started and the code imported, untimed
            run(Path(out), graphs[:4], "tmd", depth, w, 2)
        times, matrices = {}, {}
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                matrices[workers] = run(Path(out), graphs, "tmd", depth, w, shard_size, task_cpus=2 / workers)["matrix"]
                times[workers] = time.perf_counter() - start
    finally:
        ray.shutdown()
    print(f"Ray all-pairs job, {count} graphs, {len(all_pairs(count))} pairs in 4 shards, depth {depth}")
    print("| workers | wall s |\n|---|---|")
    for workers, seconds in times.items():
        print(f"| {workers} | {seconds:.2f} |")
    print(f"1 -> 2 workers: {times[1] / times[2]:.2f}x (2.0 linear); matrices equal: "
          f"{np.allclose(matrices[1], matrices[2], atol=1e-12)}")


if __name__ == "__main__":
    sys.exit(main())
