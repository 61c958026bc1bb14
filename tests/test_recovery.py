"""Retries that retry and names that are not silently reused (issue 16 items 5 and 7), on a real local Ray with
the `hold` tool method (no computation: each trial takes about a second)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from jobs.sweep import main
from shared.results import ResultsStore


def hold_items(marker: Path, *extra: str) -> list[str]:
    """Two `hold` trials of two epochs; the first to reach epoch 2 fails once (its marker file)."""
    return ["epochs=2", f"fail_marker={marker}", "fail_epoch=2", "sweep.max_failures=0",
            "sweep.search_space.hold_s={grid: [0.0, 0.01]}", *extra]


def test_a_sweep_that_lost_a_trial_exits_1_and_a_rerun_retries_it_from_its_checkpoint(local_ray, tmp_path, capsys):
    marker, storage = tmp_path / "failed-once", tmp_path / "store"
    args = ["hold", *hold_items(marker), "--storage", str(storage), "--name", "retry"]
    assert main(args) == 1  # one trial of two failed: the search's answer is incomplete
    err = capsys.readouterr().err
    assert "trial failed:" in err and "epoch 2 fails (1 of 1)" in err and "1 of 2 trial(s)" in err, err
    assert marker.exists()
    store = ResultsStore(storage)
    rows = store.read("retry").to_pandas()
    failed = set(rows["trial"]) - set(rows.loc[rows["status"] == "final", "trial"])
    assert len(failed) == 1, rows  # the failed trial wrote epoch 1 (and its checkpoint) only
    (trial,) = failed
    assert failed and trial in err
    epoch1 = Path(store.path("results", "retry", trial, "epoch=000001.parquet"))
    written = epoch1.stat().st_mtime_ns

    assert main(args) == 0, capsys.readouterr().err  # the rerun retries the errored trial, from its checkpoint
    rows = store.read("retry").to_pandas()
    final = rows[rows["status"] == "final"]
    assert final["trial"].nunique() == 2 and set(final["epoch"]) == {2}
    assert set(rows.loc[rows["trial"] == trial, "epoch"]) == {1, 2}
    assert not rows.duplicated(["trial", "epoch", "metric"]).any()
    assert epoch1.stat().st_mtime_ns == written  # epoch 1 was restored, not trained again


def test_a_name_reused_for_another_run_is_refused_naming_the_difference(local_ray, tmp_path, capsys):
    storage = tmp_path / "store"
    first = ["hold", "hold_s=0", "epochs=1", "--seeds", "0", "--storage", str(storage), "--name", "taken"]
    assert main(first) == 0
    capsys.readouterr()
    store = ResultsStore(storage)
    record = json.loads(Path(store.path("tune", "taken", "raystudy-run.json")).read_text())
    assert record["method"] == "hold" and record["config.epochs"] == 1
    report = Path(store.path("reports", "taken", "report.md"))
    written = report.stat().st_mtime_ns

    other_method = ["simclr", "epochs=1", "--smoke", "--storage", str(storage), "--name", "taken"]
    assert main(other_method) == 2
    err = capsys.readouterr().err
    assert 'method: "hold" -> "simclr"' in err and "--fresh" in err, err
    other_config = ["hold", "hold_s=0", "epochs=3", "--seeds", "0", "--storage", str(storage), "--name", "taken"]
    assert main(other_config) == 2
    err = capsys.readouterr().err
    assert "config.epochs: 1 -> 3" in err, err
    assert "Traceback" not in err
    assert report.stat().st_mtime_ns == written  # nothing of the other run was touched

    assert main(first) == 0  # the same run again resumes (nothing left to run)
    assert main([*other_config, "--fresh"]) == 0  # a new experiment beside it
    assert len([d for d in os.listdir(store.path("tune")) if d.startswith("taken")]) == 2
