"""Damaged files and a full disk (issue 16, items 9-12): each break as it was found, on real files.

- a truncated Parquet result file: named (exit 2), quarantined on request or by a resumed sweep, and listed in the
  report as missing rows (or as recomputed once the trial wrote the epoch again);
- truncated checkpoints: the trial falls back to its previous checkpoint, then to a restart from scratch, and says
  so in its rows and the report;
- a full disk (a real 2 MiB tmpfs): a clear DiskFullError naming the path and the bytes needed, no temporary
  file left, the previous file intact;
- a truncated study state.json: named, exit 2, before any Ray starts.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from jobs.damage_notes import CHECKPOINT_FALLBACK
from jobs.report import main as report_main
from shared.atomic import DiskFullError
from shared.checkpoint import (
    META_FILE,
    STATE_FILE,
    DamagedCheckpointError,
    load_trainer,
    restore_with_fallback,
    save_checkpoint,
)
from shared.registry import get_method
from shared.results import DamagedResultsError, ResultsStore, RunInfo
from tests.helpers import tiny, trial_processes, wait_for

REPO = Path(__file__).resolve().parents[1]


def truncate(path: Path | str, keep: float = 0.5) -> None:
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(int(size * keep))


def write_trial(store: ResultsStore, experiment: str, trial: str, epochs: int) -> list[str]:
    info = RunInfo(experiment, "hold", "-", "-", 0, trial, json.dumps({"hold_s": 0.1}))
    return [store.write_epoch(info, e, {"held_s": 0.1 * e}, "final" if e == epochs else "running", 0.1 * e)
            for e in range(1, epochs + 1)]


# -- 9: a truncated Parquet result file -----------------------------------------------------------------------------
def test_truncated_result_file_is_named_and_the_report_exits_2(tmp_path: Path, capsys):
    store = ResultsStore(tmp_path)
    files = write_trial(store, "exp", "t1", 3)
    truncate(files[1])
    with pytest.raises(DamagedResultsError) as caught:
        store.read("exp")
    assert files[1] in str(caught.value)
    assert report_main(["exp", "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert files[1] in err and "--quarantine" in err and "Traceback" not in err
    assert os.path.exists(files[1]), "nothing is moved without --quarantine"


def test_report_quarantine_moves_the_file_and_lists_the_missing_rows(tmp_path: Path):
    store = ResultsStore(tmp_path)
    files = write_trial(store, "exp", "t1", 3) + write_trial(store, "exp", "t2", 3)
    truncate(files[2])  # t1's final epoch
    assert report_main(["exp", "--storage", str(tmp_path), "--quarantine"]) == 0
    moved = tmp_path / "quarantine" / "results" / "exp" / "t1" / "epoch=000003.parquet"
    assert moved.exists() and not os.path.exists(files[2])
    report = (tmp_path / "reports" / "exp" / "report.md").read_text()
    assert "## Damaged files" in report and "trial `t1` epoch 3" in report and "its rows are missing" in report
    assert len(store.read("exp")) == 5  # the rest is readable again
    # The trial computes the epoch again: the report says it was recomputed, not missing.
    info = RunInfo("exp", "hold", "-", "-", 0, "t1", json.dumps({"hold_s": 0.1}))
    store.write_epoch(info, 3, {"held_s": 0.3}, "final", 0.3)
    assert report_main(["exp", "--storage", str(tmp_path)]) == 0
    report = (tmp_path / "reports" / "exp" / "report.md").read_text()
    assert "recomputed since" in report and "its rows are missing" not in report


def hold_plan(tmp_path: Path, *items: str):
    from jobs.sweep import plan_sweep

    return plan_sweep("hold", ["hold_s=0.05", "epochs=3", *items], storage=str(tmp_path / "store"))


def test_resumed_sweep_quarantines_a_damaged_result_file(local_ray, tmp_path: Path, capsys):
    from jobs.sweep import run_sweep

    plan = hold_plan(tmp_path)
    first = run_sweep(plan)
    assert first["errors"] == []
    store = ResultsStore(plan.storage)
    files = store.files(plan.experiment)
    assert len(files) == 3
    truncate(files[1])
    Path(files[0]).with_name(".tmp-leftover.parquet").write_bytes(b"")  # what a killed writer leaves
    again = run_sweep(hold_plan(tmp_path))  # resumes: the trial is finished, epoch 2 stays missing
    out = capsys.readouterr().out
    assert "WARNING damaged result file" in out and files[1] in out
    assert "removed a leftover temporary file" in out
    assert again["errors"] == []
    report = Path(again["report"]).read_text()
    assert "epoch 2" in report and "its rows are missing" in report
    assert sorted(store.read(plan.experiment).to_pandas()["epoch"].unique()) == [1, 3]


# -- 10: truncated checkpoints --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def care_checkpoints(tmp_path_factory) -> Path:
    """A trial directory as Tune leaves it: checkpoint_000001 and checkpoint_000002 (num_to_keep=2) of a torch
    trainer, after epochs 1 and 2."""
    spec = get_method("care")
    cfg = spec.load_config(tiny("epochs=4", "data.n_train=64"))
    trainer = spec.make_trainer(cfg)
    trial = tmp_path_factory.mktemp("trial")
    for index in (1, 2):
        trainer.fit_epoch()
        save_checkpoint(trial / f"checkpoint_{index:06d}", spec, cfg, trainer)
    return trial


def test_a_truncated_checkpoint_falls_back_to_the_previous_one(care_checkpoints: Path, tmp_path: Path):
    import shutil

    trial = tmp_path / "trial"
    shutil.copytree(care_checkpoints, trial)
    newest = trial / "checkpoint_000002"
    truncate(newest / STATE_FILE, keep=0.66)  # as the full disk left it: 1,024,000 of 1,530,512 bytes
    restored = restore_with_fallback(newest)
    assert restored.state is not None and restored.epoch == 1 and restored.directory == trial / "checkpoint_000001"
    assert str(newest / STATE_FILE) in restored.skipped[0] and "truncated" in restored.skipped[0]
    with pytest.raises(DamagedCheckpointError, match="truncated"):
        load_trainer(newest)
    # Every checkpoint damaged (one truncated, one with an empty meta.json): a restart from scratch, said so.
    (trial / "checkpoint_000001" / META_FILE).write_text("")
    restored = restore_with_fallback(newest)
    assert restored.state is None and len(restored.skipped) == 2
    assert "scratch" in restored.describe()


def test_tune_restore_of_a_damaged_checkpoint_resumes_from_the_previous_one(local_ray, care_checkpoints: Path,
                                                                            tmp_path: Path):
    """Through Tune's own ``Trainable.restore`` (what a retried trial runs): no error, the older state, Tune's
    iteration count matched to it, and a row that says so."""
    import shutil

    from ray import tune

    from actors.trainable import CHECKPOINT_FALLBACK as WRITTEN
    from actors.trainable import MethodTrainable

    assert WRITTEN == CHECKPOINT_FALLBACK
    trial = tmp_path / "trial"
    shutil.copytree(care_checkpoints, trial)
    truncate(trial / "checkpoint_000002" / STATE_FILE)
    run = {"method": "care", "overrides": dict(item.split("=", 1) for item in tiny("epochs=4", "data.n_train=64")),
           "storage": str(tmp_path / "store"), "experiment": "exp"}
    trainable = tune.with_parameters(MethodTrainable, run=run)(config={})
    try:
        trainable.restore(str(trial / "checkpoint_000002"))
        assert trainable.iteration == 1 and trainable.trainer.epoch == 1
        result = trainable.train()
    finally:
        trainable.stop()
    assert result["epoch"] == 2 and result[CHECKPOINT_FALLBACK] == 1.0
    rows = ResultsStore(tmp_path / "store").read("exp").to_pandas()
    assert rows.loc[rows["metric"] == CHECKPOINT_FALLBACK, "value"].tolist() == [1.0]


@pytest.mark.slow
def test_a_trial_whose_checkpoints_are_all_truncated_restarts_from_scratch(local_ray, tmp_path: Path):
    """The break as found: the worker dies, every checkpoint of the unfinished trial is truncated; before, Tune
    retried from the same corrupt checkpoint until the trial errored."""
    from jobs.sweep import run_sweep

    plan = hold_plan(tmp_path, "hold_s=1.5", "epochs=5", "sweep.max_failures=2")
    store = ResultsStore(plan.storage)
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(run_sweep(plan)))
    runner.start()
    try:
        wait_for(lambda: any("epoch=000002" in f for f in store.files(plan.experiment)), 240, "epoch 2")
        victims = trial_processes()
        assert victims, "no trial process of this test's Ray"
        for proc in victims:
            proc.send_signal(signal.SIGKILL)
        # Nothing writes checkpoints once the worker is dead: damage every one Tune kept.
        states = list(Path(plan.storage, "tune", plan.experiment).glob("*/checkpoint_*/trainer.json"))
        assert states
        for state in states:
            truncate(state)
    finally:
        runner.join(timeout=300)
    assert not runner.is_alive()
    assert outcome["errors"] == []
    rows = store.read(plan.experiment).to_pandas()
    assert sorted(rows["epoch"].unique()) == [1, 2, 3, 4, 5]
    assert rows.loc[rows["metric"] == CHECKPOINT_FALLBACK, "value"].tolist() == [0.0]
    report = Path(outcome["report"]).read_text()
    assert "resumed from scratch" in report


# -- 11: a full disk ------------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 2 MiB filesystem (tmpfs, private to its owner: a world-writable root is refused as untrusted), filled
    to the last byte by ``fill()``; unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)], check=True,
                       capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {err}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # unbuffered: nothing left to flush when it is full
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return filler


def no_leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.name.startswith(".tmp-") or p.name.endswith(".tmp")]


def test_full_disk_result_rows_name_the_path_and_leave_nothing_behind(small_disk: Path):
    store = ResultsStore(small_disk)
    info = RunInfo("exp", "hold", "-", "-", 0, "t1", "{}")
    kept = store.write_epoch(info, 1, {"held_s": 0.1}, "running", 0.1)
    state = store.write_text(json.dumps({"status": "RUNNING"}), "studies", "s", "state.json")
    fill(small_disk)
    with pytest.raises(DiskFullError) as caught:
        store.write_epoch(info, 1, {"held_s": 0.2, "more": 1.0}, "running", 0.2)
    message = str(caught.value)
    assert kept in message and "bytes" in message and "needs" in message
    with pytest.raises(DiskFullError, match="state.json"):
        store.write_text(json.dumps({"status": "SUCCEEDED", "padding": "x" * 8192}), "studies", "s", "state.json")
    assert no_leftovers(small_disk) == []
    assert store.read("exp").to_pandas()["value"].tolist() == [0.1]  # the earlier file is whole
    assert json.loads(Path(state).read_text()) == {"status": "RUNNING"}


def test_full_disk_checkpoint_keeps_the_previous_meta_and_state(small_disk: Path):
    spec = get_method("hold")
    cfg = spec.load_config({"epochs": 3})
    trainer = spec.make_trainer(cfg)
    directory = small_disk / "checkpoint_000001"
    save_checkpoint(directory, spec, cfg, trainer)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    filler = fill(small_disk)
    trainer.epoch = 1
    with pytest.raises(DiskFullError) as caught:
        save_checkpoint(directory, spec, cfg, _Big(trainer))
    assert str(directory) in str(caught.value)
    assert no_leftovers(small_disk) == []
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert json.loads((directory / META_FILE).read_text())["epoch"] == 0
    filler.unlink()  # space again: the same save goes through
    save_checkpoint(directory, spec, cfg, trainer)
    assert restore_with_fallback(directory).epoch == 1


def test_a_sweep_that_fills_its_disk_ends_with_a_message_and_no_truncated_copies(local_ray, small_disk: Path,
                                                                                 capsys):
    """The break as found, end to end on a real 2 MiB disk: the trial fails with the path and the bytes needed (not
    pyarrow's "Error writing bytes") while Tune can still record the failure, Tune copies no truncated checkpoint,
    no temporary file is left, and the sweep's last line says so."""
    from jobs.sweep import main as sweep_main

    code = sweep_main(["hold", "hold_s=0.01", "epochs=2000", "sweep.max_failures=1", "--storage", str(small_disk)])
    captured = capsys.readouterr()
    assert code == 1
    last = captured.err.strip().splitlines()[-1]  # the sweep's own last word names the disk and the bytes
    assert f"no space left on device: writing {small_disk}" in last and "bytes free there" in last, last
    assert no_leftovers(small_disk) == []
    copies = [p for p in small_disk.glob("tune/*/*/checkpoint_*/*") if p.stat().st_size == 0]
    assert copies == [], "Tune copied a checkpoint onto the full disk"


class _Big:
    """A trainer whose state does not fit on the full disk."""

    def __init__(self, trainer) -> None:
        self.epoch = trainer.epoch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "padding": "x" * 65536}


# -- 12: a truncated study state.json --------------------------------------------------------------------------------
def test_truncated_study_state_is_named_and_exits_2_before_ray(tmp_path: Path, capsys):
    import ray

    from jobs.study import main as study_main
    from jobs.studyconfig import load_study, study_id

    study_file = REPO / "configs" / "studies" / "care_vs_simclr.yaml"
    sid = study_id(load_study(study_file, smoke=True), True)
    state = tmp_path / "studies" / sid / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"study_id": "' + sid + '", "nodes": {"sweep-care": {"na')  # cut mid-write
    was_running = ray.is_initialized()
    assert study_main([str(study_file), "--smoke", "--storage", str(tmp_path), "--status"]) == 2
    err = capsys.readouterr().err
    assert str(state) in err and "damaged" in err and "Move it aside" in err
    assert ray.is_initialized() == was_running, "Ray was started before the state was checked"
