"""All-pairs graph distances of a data set as Ray tasks, written as a Parquet distance matrix; resumable.

    python jobs/graph_distances.py --out DIR [--distance tmd|attributed] [--shard-size 200] [key=value ...]

The graphs are the planted-motif set of ``configs/methods/tmd.yaml`` (overrides as for the ``tmd`` method, e.g.
``data.graphs=150 depth=4 w=0.5``). The pairs i < j are cut into shards of ``--shard-size``; each shard is one Ray
task (TMD through the memoised tree cache; ``attributed``: the RJL-style distance at ``depth - 1`` rounds through
its memoised cache) and is written as ``DIR/shards/shard-NNNNN.parquet`` (columns i, j, distance) the moment it
finishes, under a temporary name then renamed. A rerun computes only the shards that are missing, then writes
``DIR/matrix.parquet`` (n x n, columns g0..g{n-1}).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import ray  # noqa: E402

from shared.atomic import write_bytes  # noqa: E402
from shared.config import ConfigError  # noqa: E402
from shared.graphs.attributed import all_pairs_attributed  # noqa: E402
from shared.graphs.tmd import FeatureGraph, all_pairs_tmd  # noqa: E402
from shared.graphs.tmd_data import load_tmd_graphs  # noqa: E402
from shared.registry import get_method  # noqa: E402


@ray.remote(num_cpus=1)
def shard_distances(graphs: list[FeatureGraph], pairs: list[tuple[int, int]], distance: str, depth: int,
                    w: float) -> np.ndarray:
    if distance == "tmd":
        return all_pairs_tmd(graphs, depth, w, pairs)
    return all_pairs_attributed(graphs, depth - 1, pairs)


def all_pairs(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def shard_path(out: Path, index: int) -> Path:
    return out / "shards" / f"shard-{index:05d}.parquet"


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_bytes(path, buffer.getvalue())


def run(out: Path, graphs: list[FeatureGraph], distance: str, depth: int, w: float, shard_size: int,
        task_cpus: float = 1.0) -> dict:
    """Compute the missing shards as Ray tasks (``task_cpus`` each), then the matrix; returns how many shards were
    computed."""
    pairs = all_pairs(len(graphs))
    shards = [pairs[k:k + shard_size] for k in range(0, len(pairs), shard_size)]
    missing = [k for k in range(len(shards)) if not shard_path(out, k).exists()]
    (out / "shards").mkdir(parents=True, exist_ok=True)
    graphs_ref = ray.put(graphs)
    task = shard_distances.options(num_cpus=task_cpus)
    refs = {task.remote(graphs_ref, shards[k], distance, depth, w): k for k in missing}
    while refs:
        done, _ = ray.wait(list(refs), num_returns=1)
        k = refs.pop(done[0])
        values = ray.get(done[0])
        i, j = zip(*shards[k], strict=True)
        write_parquet(pd.DataFrame({"i": i, "j": j, "distance": values}), shard_path(out, k))
    matrix = np.zeros((len(graphs), len(graphs)))
    for k in range(len(shards)):
        frame = pd.read_parquet(shard_path(out, k))
        matrix[frame["i"], frame["j"]] = frame["distance"]
    matrix = matrix + matrix.T
    write_parquet(pd.DataFrame(matrix, columns=[f"g{i}" for i in range(len(graphs))]), out / "matrix.parquet")
    return {"shards": len(shards), "computed": len(missing), "matrix": matrix}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder of the shards and the matrix")
    parser.add_argument("--distance", default="tmd", choices=["tmd", "attributed"])
    parser.add_argument("--shard-size", type=int, default=200)
    parser.add_argument("overrides", nargs="*", help="overrides of configs/methods/tmd.yaml")
    args = parser.parse_args(argv)
    try:
        if args.shard_size < 1:
            raise ConfigError(f"--shard-size must be >= 1, got {args.shard_size}")
        cfg = get_method("tmd").load_config(args.overrides)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    graphs, _ = load_tmd_graphs(cfg.data)  # the planted-motif set, or a local TU set (data.name=tu)
    from cluster.connect import connect

    connect()
    result = run(Path(args.out), graphs, args.distance, cfg.depth, cfg.w, args.shard_size)
    print(f"{result['computed']} of {result['shards']} shards computed; matrix {Path(args.out) / 'matrix.parquet'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
