"""The all-pairs distance job (jobs/graph_distances.py): shards as Ray tasks give the same matrix as the in-process
computation, a rerun computes only the missing shards, bad input exits 2 before Ray starts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.graph_distances import run, shard_path
from shared.graphs.attributed import attributed_distance
from shared.graphs.motifs import planted_motif_set
from shared.graphs.tmd import distance_matrix

ROOT = Path(__file__).resolve().parents[1]


def test_sharded_tmd_equals_the_in_process_matrix_and_a_rerun_fills_only_missing_shards(local_ray, tmp_path):
    graphs, _ = planted_motif_set(8, 5, 8, 3, seed=0)
    first = run(tmp_path, graphs, "tmd", depth=3, w=0.5, shard_size=5)
    assert (first["shards"], first["computed"]) == (6, 6)  # 28 pairs
    expected = distance_matrix(graphs, 3, 0.5)
    assert np.allclose(first["matrix"], expected, atol=1e-9)
    assert np.allclose(pd.read_parquet(tmp_path / "matrix.parquet").to_numpy(), expected, atol=1e-9)
    shard_path(tmp_path, 2).unlink()
    kept = shard_path(tmp_path, 0).stat().st_mtime_ns
    again = run(tmp_path, graphs, "tmd", depth=3, w=0.5, shard_size=5)
    assert again["computed"] == 1 and shard_path(tmp_path, 0).stat().st_mtime_ns == kept
    assert np.allclose(again["matrix"], expected, atol=1e-9)


def test_sharded_attributed_distance(local_ray, tmp_path):
    graphs, _ = planted_motif_set(4, 4, 6, 2, seed=1)
    out = run(tmp_path, graphs, "attributed", depth=2, w=1.0, shard_size=4)
    assert out["matrix"][0, 3] == pytest.approx(attributed_distance(graphs[0], graphs[3], 1), abs=1e-12)


def test_bad_input_exits_2_without_a_traceback(tmp_path, capsys):
    from jobs.graph_distances import main

    for args in (["--shard-size", "0"], ["depth=0"], ["no_such_key=1"]):
        assert main(["--out", str(tmp_path), *args]) == 2, args
        assert "error:" in capsys.readouterr().err
    proc = subprocess.run([sys.executable, str(ROOT / "jobs" / "graph_distances.py"), "--out", str(tmp_path),
                           "depth=0"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
