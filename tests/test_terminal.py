"""What the user sees: compact sweep progress, the start line, --list and --help, trials named in the dashboard,
TensorBoard and MLflow logging. The sweep tests run the `hold` tool (no torch) at seconds scale on a real Ray."""
from __future__ import annotations

import io
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.progress import ProgressBoard, SweepProgress, describe_trials, key_parameters, trial_count
from shared.registry import REGISTRY, get_method

REPO = Path(__file__).resolve().parents[1]
WIDTH = 100
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but \t and \n


# --list: static metadata, no heavy imports
def test_listing_metadata_equals_each_spec():
    """The table that --list prints from must not drift from the specs it stands for."""
    for name, entry in REGISTRY.items():
        spec = get_method(name)
        assert (entry.family, entry.paper) == (spec.family, spec.paper), name
        assert entry.kind in ("method", "experiment", "tool"), name
        assert entry.kind == getattr(spec, "kind", entry.kind), name


def test_list_imports_no_method_torch_or_ray_and_aligns_its_columns():
    proc = subprocess.run([sys.executable, "-X", "importtime", "jobs/sweep.py", "--list"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    heavy = {m for m in imported if m.split(".")[0] in ("torch", "ray") or m.startswith("shared.methods")
             or m == "jobs.sweepconfig"}
    assert not heavy, sorted(heavy)[:10]
    lines = proc.stdout.splitlines()
    assert len(lines) == len(REGISTRY) + 1
    for column in ("kind", "family", "paper"):  # every row's cell starts where the header's does
        start = lines[0].index(column)
        assert all(line[start - 2:start] == "  " and line[start] != " " for line in lines), column
    assert any(line.startswith("care ") and "Rotationally Equivariant" in line for line in lines)


def test_sweep_care_help_is_its_own():
    proc = subprocess.run([sys.executable, "jobs/sweep_care.py", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: sweep_care.py") and "CARE" in proc.stdout.split("options:")[0]
    assert "a registered method" not in proc.stdout  # sweep.py's positional METHOD


# counting trials and the start line
def test_trial_count_is_grid_points_times_samples():
    spec = get_method("care")
    from jobs.sweepconfig import load_sweep

    assert trial_count(load_sweep(spec).search_space, 1) == 8  # configs/sweeps/care.yaml: 4 lambdas x 2 seeds
    sweep = load_sweep(spec, ["sweep.num_samples=3"])
    assert trial_count(sweep.search_space, sweep.num_samples) == 24  # 4 lambdas x 2 seeds x 3 samples
    assert describe_trials(sweep).startswith("24 trials (8 grid points x 3 samples) over ['lam', 'seed']")
    assert trial_count(load_sweep(spec, smoke=True).search_space, 1) == 2
    assert trial_count(load_sweep(spec, seeds=[0, 1, 2]).search_space, 1) == 3
    assert key_parameters(spec, sweep.search_space) == ["lam", "seed"]
    assert key_parameters(spec, load_sweep(spec, smoke=True).search_space) == ["lam"]  # the others are fixed


# the board: best trial, totals, width
def board(mode: str = "max") -> ProgressBoard:
    b = ProgressBoard(total_trials=4, epochs=10, metric="linear_probe_acc", mode=mode,
                      params=["lam", "optim.lr", "a.very_long_hyperparameter_name_indeed"])
    config = {"lam": 0.1, "optim.lr": 0.000123456, "a.very_long_hyperparameter_name_indeed": "x" * 60}
    b.result("t0", config, {"epoch": 5, "linear_probe_acc": 0.9})
    b.result("t1", config, {"epoch": 5, "linear_probe_acc": 0.5})
    b.result("t0", config, {"epoch": 6})  # no evaluation this epoch: the last value stands
    b.result("t1", config, {"epoch": 10, "linear_probe_acc": 0.95})
    b.end("t1", config, "finished")
    return b


def test_best_trial_follows_the_latest_value_in_the_metric_direction():
    assert board("max").best().trial_id == "t1"
    assert board("min").best().trial_id == "t0"
    assert board().table()[2].split()[0] == "t1"  # best first


def test_stopped_trial_takes_its_unrun_epochs_out_of_the_total():
    b = board()
    assert b.epoch_totals() == (16, 40)
    b.end("t0", {}, "stopped")
    assert b.epoch_totals() == (16, 36)  # t0 ran 6 of its 10 epochs
    assert b.counts() == {"running": 0, "finished": 1, "stopped": 1, "error": 0}


def test_progress_and_table_fit_100_columns():
    b = board()
    lines = [b.progress_line(), *b.table()]
    assert all(len(line) <= WIDTH for line in lines), [len(line) for line in lines]
    assert "16/40 trial-epochs 40%" in lines[0] and "1 running, 1 finished" in lines[0] and "ETA" in lines[0]
    assert "best linear_probe_acc 0.95" in lines[0]
    assert lines[1] == "[raystudy] 2 trials started, highest linear_probe_acc first:"
    assert lines[-1] == "  ... 2 not started yet"
    assert lines[2].split() == ["trial", "lam", "lr", "very_long_hyperparameter_name_indeed", "epoch", "status",
                                "linear_probe_acc"]
    assert lines[3].split()[-3:] == ["10/10", "finished", "0.95"]


class FakeTrial:
    """Only for feeding the callback's text output: the Tune integration is tested on a real sweep below."""

    def __init__(self, trial_id: str, last_result: dict) -> None:
        self.trial_id, self.config, self.last_result, self.status = trial_id, {"lam": 0.1}, last_result, "RUNNING"

    def get_error(self) -> str:
        return ("Traceback (most recent call last):\n  File ...\nNonFiniteLossError: trial t1 (care): loss is nan "
                "at epoch 2, step 0 (lr=0.001); this configuration diverged: lower the learning rate or check the "
                "inputs\n")


def test_plain_output_without_a_terminal_has_no_control_codes():
    stream = io.StringIO()
    progress = SweepProgress(ProgressBoard(2, 2, "acc", params=["lam"]), stream=stream, tty=False,
                             line_every=0, table_every=0)
    trial = FakeTrial("t0", {"epoch": 2, "acc": 0.5})
    progress.on_trial_result(0, [trial], trial, trial.last_result)
    progress.on_step_end(0, [trial])
    progress.on_trial_complete(0, [trial], trial)
    failed = FakeTrial("t1", {"epoch": 1})
    progress.on_trial_result(0, [trial, failed], failed, failed.last_result)
    progress.on_trial_error(0, [trial, failed], failed)
    progress.on_experiment_end([trial, failed])
    text = stream.getvalue()
    assert "trial t0 finished at epoch 2/2, acc 0.5" in text and "trial-epochs" in text
    assert "trial t1 failed in epoch 2: NonFiniteLossError: trial t1 (care): loss is nan" in text
    assert "\n    step 0 (lr=0.001); this configuration diverged" in text  # a long message wraps, indented
    assert all(len(line) <= WIDTH for line in text.splitlines())
    assert "3/3 trial-epochs 100% | ETA 0:00 (" in text  # t1's unrun epoch is not counted
    assert "| 1 finished, 1 error | best acc 0.5 (t0)\n" in text
    assert not CONTROL.search(text)
    stream = io.StringIO()
    tty = SweepProgress(ProgressBoard(2, 2, "acc"), stream=stream, tty=True, line_every=0, table_every=1e9)
    tty.on_step_end(0, [trial])
    assert stream.getvalue().startswith("\r\x1b[K")  # on a terminal the line is redrawn in place
    tty.on_experiment_end([trial])
    assert stream.getvalue().endswith("\n")


# a real sweep: progress, stopped trials, actor names, trackers
def read_tfevents(path: Path) -> list[tuple[str, int, float]]:
    """(tag, step, value) of every scalar in a TensorBoard event file (TFRecord framing)."""
    from tensorboardX.proto.event_pb2 import Event

    data, scalars, offset = path.read_bytes(), [], 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        event = Event.FromString(data[offset + 12: offset + 12 + length])
        offset += 12 + length + 4
        scalars += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return scalars


def test_sweep_shows_compact_progress_names_its_actors_and_logs_to_trackers(local_ray, tmp_path: Path, capsys):
    import ray
    from ray._private.state import state
    from ray.core.generated import gcs_pb2

    from jobs.sweep import plan_sweep, run_sweep
    from jobs.trackers import Trackers

    # held_s = epoch x hold_s: ASHA (rungs at epochs 1 and 2) stops the trials with the smaller hold_s
    plan = plan_sweep("hold", ["epochs=4", "eval_every=1", "sweep.search_space.hold_s={grid: [0.3, 0.2, 0.1, 0.05]}",
                               "sweep.scheduler.name=asha", "sweep.scheduler.grace_period=1"], storage=str(tmp_path))
    out = run_sweep(plan, trackers=Trackers(tensorboard=True, mlflow=True))
    text = capsys.readouterr().out
    assert out["trials"] == 4 and not out["errors"]

    ours = [line for line in text.splitlines() if line.startswith(("[raystudy]", "  ", "#", "."))]
    assert all(len(line) <= WIDTH for line in ours if "/tmp" not in line), [line for line in ours if len(line) > WIDTH]
    assert "Number of trials" not in text and "Current best trial" not in text  # Tune's own output is off
    table = text[text.rindex("\n  trial ") + 1:].splitlines()
    assert table[0].split() == ["trial", "hold_s", "epoch", "status", "held_s"]
    rows = {line.split()[0]: line.split() for line in table[1:5]}
    assert {row[3] for row in rows.values()} >= {"finished", "stopped"}, text
    assert rows[table[1].split()[0]][1] == "0.3" and table[1].split()[4] == "1.2"  # best first: 4 x 0.3
    assert re.search(r"\n#{10} (\d+)/\1 trial-epochs 100% \| ETA 0:00", text)

    # the dashboard's name of each trial actor (Ray's state API reads this same GCS field)
    job = ray.get_runtime_context().get_job_id()
    actors = [gcs_pb2.ActorTableData.FromString(raw)
              for raw in state._connect_and_get_accessor().get_actor_table(None, None)]
    names = [a.repr_name for a in actors if a.job_id.hex() == job and a.class_name.endswith("Trainable")]
    # this sweep's trial actors: modules that run one after the other share the local Ray, and so its job
    prefix = next(iter(rows)).split("_")[0]
    names = [n for n in names if len(n.split()) > 2 and n.split()[2].split("_")[0] == prefix]
    assert names and all(re.fullmatch(r"hold trial \w+_0000\d hold_s=0\.\d+", n) for n in names), names
    assert {n.split()[2] for n in names} <= set(rows)

    # TensorBoard: each trial's events hold its held_s per epoch
    for trial_id, row in rows.items():
        hold_s, epochs = float(row[1]), int(row[2].split("/")[0])
        (events,) = (tmp_path / "tune" / plan.experiment / trial_id).glob("events.out.tfevents.*")
        held = sorted((step, value) for tag, step, value in read_tfevents(events) if tag.endswith("/held_s"))
        assert held == [(e, pytest.approx(e * hold_s)) for e in range(1, epochs + 1)]

    # MLflow: one run per trial in the sweep's experiment, in a file store under the storage root
    from mlflow.tracking import MlflowClient

    client = MlflowClient((tmp_path / "mlflow").as_uri())
    experiment = client.get_experiment_by_name(plan.experiment)
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4
    for run in runs:
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "held_s"))
        hold_s = float(run.data.params["hold_s"])
        assert [v for _, v in history] == pytest.approx([e * hold_s for e in range(1, len(history) + 1)])


def test_progress_leads_with_the_sweeps_metric_when_trials_do_not_report_the_headline():
    """A grid cell (cot_length_train with t set) reports `acc`, not the curve's `best_per_step`: the line shows acc."""
    board = ProgressBoard(2, 1, "best_per_step", "max", fallback="acc", fallback_mode="max")
    board.result("a", {}, {"epoch": 1, "acc": 0.25})
    assert board.metric == "acc" and board.trials["a"].value == 0.25
    kept = ProgressBoard(2, 1, "best_per_step", "max", fallback="acc")
    kept.result("a", {}, {"epoch": 1, "acc": 0.25, "best_per_step": 4})
    kept.result("b", {}, {"epoch": 1, "acc": 0.5})  # the headline was seen: no switch midway
    assert kept.metric == "best_per_step" and kept.trials["a"].value == 4
