"""The sweep end to end on a real local Ray: rows written, actors, faults, bad input.

Every test here starts real Ray processes; the slow ones (kill a worker, stop the driver) take about a
minute each on 2 cores.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import ray

from jobs.sweep import main, plan_sweep, run_sweep
from shared.results import ResultsStore
from tests.helpers import tiny, trial_processes, wait_for

REPO = Path(__file__).resolve().parents[1]
FIXED = ["optim.lr=0.001", "temperature=0.5", "seed=0"]  # fixed keys leave only lam in the search space


def sweep_items(*extra: str) -> list[str]:
    return tiny(*FIXED, "sweep.scheduler.name=fifo", "sweep.num_samples=1", *extra)


def test_two_trial_sweep_writes_expected_rows(local_ray, tmp_path: Path):
    plan = plan_sweep("care", sweep_items("sweep.search_space.lam={grid: [0.0, 0.3]}"), storage=str(tmp_path))
    out = run_sweep(plan)
    assert out["errors"] == []
    rows = ResultsStore(tmp_path).read(plan.experiment).to_pandas()
    assert rows["trial"].nunique() == 2
    assert set(rows["epoch"]) == {1, 2}
    assert (rows["method"] == "care").all() and (rows["dataset"] == "shapes").all()
    final = rows[rows["status"] == "final"]
    assert set(final["epoch"]) == {2}
    for metric in ("linear_probe_acc", "colour_probe_acc", "knn_acc", "equiv_error", "loss"):
        assert (final["metric"] == metric).sum() == 2, metric
    lams = sorted(final["config"].map(lambda c: __import__("json").loads(c)["lam"]).unique())
    assert lams == [0.0, 0.3]
    assert not rows.duplicated(["trial", "epoch", "metric"]).any()
    assert Path(out["report"]).exists() and Path(out["plot"]).stat().st_size > 1000
    assert "(best)" in Path(out["report"]).read_text()


def test_nonfinite_loss_fails_its_trial_and_the_others_finish(local_ray, tmp_path: Path):
    # temperature 1e-45 overflows the logits to inf: the loss is NaN at the first step.
    items = tiny("optim.lr=0.001", "lam=0.1", "seed=0", "sweep.scheduler.name=fifo", "sweep.num_samples=1",
                 "sweep.max_failures=0", "sweep.search_space.temperature={grid: [0.5, 1.0e-45]}")
    plan = plan_sweep("care", items, storage=str(tmp_path))
    out = run_sweep(plan)
    assert len(out["errors"]) == 1
    assert "diverged" in str(out["errors"][0][1])
    rows = ResultsStore(tmp_path).read(plan.experiment).to_pandas()
    assert set(rows.loc[rows["status"] == "error", "metric"]) == {"nonfinite_loss"}
    assert (rows["status"] == "final").any(), "the healthy trial must finish"


def test_a_run_over_seeds_that_loses_a_trial_exits_1(local_ray, tmp_path: Path, capsys):
    """What a study's scheduler sees: the seeds job fails with the trial's error (a search may lose a trial)."""
    items = tiny("optim.lr=0.001", "temperature=1.0e-45", "sweep.max_failures=0")  # NaN at the first step
    assert main(["care", *items, "--seeds", "0", "--storage", str(tmp_path)]) == 1
    assert "trial failed" in capsys.readouterr().err


def test_trainer_and_evaluator_actors_share_checkpoints(local_ray, tmp_path: Path):
    from actors import EvaluatorActor, TrainerActor

    trainer = TrainerActor.for_method("care", tiny())
    history = ray.get(trainer.fit.remote())
    assert [h["epoch"] for h in history] == [1, 2]
    direct = ray.get(trainer.evaluate.remote())
    ckpt = ray.get(trainer.save.remote(str(tmp_path / "ckpt")))
    evaluator = EvaluatorActor.for_method("care")
    later = ray.get(evaluator.evaluate_checkpoint.remote(ckpt))
    assert later.pop("epoch") == 2
    assert later == direct
    for actor in (trainer, evaluator):  # free their CPUs for the next actor
        ray.kill(actor)
    # A second trainer resumes from the checkpoint and trains on.
    other = TrainerActor.for_method("care", tiny("epochs=3"))
    assert ray.get(other.load.remote(ckpt)) == 2
    assert [h["epoch"] for h in ray.get(other.fit.remote())] == [3]
    ray.kill(other)


@pytest.mark.slow
def test_killed_worker_resumes_from_checkpoint(local_ray, tmp_path: Path):
    items = tiny(*FIXED, "lam=0.1", "epochs=8", "data.n_train=512", "model.width=8",
                 "sweep.scheduler.name=fifo", "sweep.num_samples=1", "sweep.max_failures=3")
    plan = plan_sweep("care", items, storage=str(tmp_path))
    store = ResultsStore(tmp_path)
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(run_sweep(plan)))
    runner.start()
    wait_for(lambda: any("epoch=000003" in f for f in store.files(plan.experiment)), 240, "epoch 3")
    before = {f: os.path.getmtime(f) for f in store.files(plan.experiment)}
    victims = trial_processes()
    assert victims, "no trial process found among " + str(
        [" ".join(p.info["cmdline"] or [])[:40] for p in psutil.process_iter(["cmdline"])])
    kill_time = time.time()
    for proc in victims:
        proc.send_signal(signal.SIGKILL)
    runner.join(timeout=300)
    assert not runner.is_alive()
    assert outcome["errors"] == []
    rows = store.read(plan.experiment).to_pandas()
    assert sorted(rows["epoch"].unique()) == list(range(1, 9))
    assert not rows.duplicated(["trial", "epoch", "metric"]).any()
    # Epochs finished before the kill were not trained again: their files were not rewritten.
    untouched = [f for f, t in before.items() if os.path.getmtime(f) == t]
    assert len(untouched) >= 2, "the trial restarted from epoch 0 instead of its checkpoint"
    assert all(t < kill_time for t in before.values())
    # A new worker process ran the rest: elapsed time restarts with each attempt.
    elapsed = rows.groupby("epoch")["elapsed_s"].max()
    assert (elapsed.diff().dropna() < 0).any(), "no sign of a restarted worker"


def run_cli(args: list[str], storage: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "RAYSTUDY_STORAGE": str(storage), "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen([sys.executable, str(REPO / "jobs" / "sweep.py"), *args, "--num-cpus", "2"],
                            cwd=tmp_cwd(storage), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kwargs)


def tmp_cwd(storage: Path) -> str:
    path = storage.parent / "cwd"
    path.mkdir(exist_ok=True)
    return str(path)


@pytest.mark.slow
def test_stopped_sweep_resumes_without_rerunning_finished_trials(tmp_path: Path):
    storage = tmp_path / "store"
    args = ["care", *tiny(*FIXED, "epochs=4", "data.n_train=256", "sweep.scheduler.name=fifo",
                          "sweep.num_samples=1", "sweep.max_concurrent=1",
                          "sweep.search_space.lam={grid: [0.0, 0.3, 1.0]}")]
    first = run_cli(args, storage)
    store = ResultsStore(storage)
    wait_for(lambda: any(f.endswith("epoch=000004.parquet") for f in store.files()), 300, "a finished trial")
    # One trial at a time: the next trial's first row means Tune has taken the finished one as TERMINATED (its last
    # row alone can land before Tune records it, and a trial stopped before that is, rightly, resumed).
    wait_for(lambda: len({Path(f).parent for f in store.files()}) >= 2, 300, "the next trial's first row")
    first.send_signal(signal.SIGINT)  # what Ctrl-C does
    try:
        first.wait(timeout=120)
    except subprocess.TimeoutExpired:
        first.kill()
        raise
    finished = {f: os.path.getmtime(f) for f in store.files()
                if Path(f).parent in {Path(g).parent for g in store.files() if g.endswith("epoch=000004.parquet")}}
    assert finished
    second = run_cli(args, storage)
    output, _ = second.communicate(timeout=420)
    assert second.returncode == 0, output
    assert "resuming experiment" in output
    assert "embedded local Ray; no dashboard (--dashboard starts one)" in output  # seconds a local run saves
    rows = store.read().to_pandas()
    assert rows["trial"].nunique() == 3
    assert not rows.duplicated(["trial", "epoch", "metric"]).any()
    assert (rows.groupby("trial")["epoch"].max() == 4).all()
    assert all(os.path.getmtime(f) == t for f, t in finished.items()), "a finished trial was run again"


@pytest.mark.parametrize(
    "args, message",
    [
        (["carre"], "unknown method 'carre'"),
        (["care", "optim.lrr=0.1"], "optim.lrr: unknown key"),
        (["care", "batch_size=big"], "batch_size:"),
        (["care", "optim.lr=-0.01"], "optim.lr: must be > 0"),
        (["care", "data.name=cifar10", "data.root=/nonexistent/cifar"], "cifar-10-python.tar.gz"),
        (["care", "sweep.resources.gpu=1"], "sweep.resources.gpu: each trial asks for 1 GPU"),
    ],
)
def test_bad_input_fails_before_compute_and_writes_nothing(local_ray, tmp_path: Path, capsys, args, message):
    storage = tmp_path / "store"
    code = main([*args, "--storage", str(storage)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not storage.exists()


def test_bad_input_exit_code_from_the_command_line(tmp_path: Path):
    proc = run_cli(["care", "lam=-1"], tmp_path / "store")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "lam: must be >= 0.0" in out
    assert not (tmp_path / "store").exists()


def test_list_names_methods_and_papers(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "care" in out and "Rotationally Equivariant" in out and "simclr" in out


# Ray's workers name themselves ray::IDLE until they run something.
IDLE_WORKERS = ("import time, psutil; time.sleep(2); print('idle workers', "
                "sum(p.cmdline()[:1] == ['ray::IDLE'] for p in psutil.Process().children(recursive=True)))")


def test_a_local_ray_is_started_even_when_a_ray_start_cluster_is_recorded(tmp_path: Path):
    """`ray start` records its cluster in <ray temp dir>/ray_current_cluster, and a plain ray.init() joins it
    (then refuses num_cpus). connect() without an address starts its own local Ray, as documented: a record
    pointing at a cluster that is not there (or at another user's) must not matter. That Ray starts no idle
    workers ahead of the trials, which would not use them (connect._skip_idle_worker_prestart)."""
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="rs-"))  # short: Ray's socket paths live under it
    try:
        (tmp / "ray").mkdir()
        (tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:9")
        code = ("from cluster import connect; c = connect(num_cpus=1, dashboard=False); "
                "import ray; print('local', c.local, ray.cluster_resources()['CPU']); " + IDLE_WORKERS)
        # Without conftest's setting of the prestart variable: connect()'s own default is what is tested.
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_prestart_worker_first_driver")}
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env | {"RAY_TMPDIR": str(tmp)},
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "local True 1.0" in out.stdout
        assert "idle workers 0" in out.stdout, out.stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_dashboard_of_a_local_sweep_is_one_flag_away():
    """A local sweep starts Ray without the dashboard (2-4 s before the first trial, issue 24) unless asked; a
    cluster's dashboard is the cluster's."""
    from cluster.connect import Connection
    from jobs.sweep import parse_args

    assert parse_args(["care"]).dashboard is False
    assert parse_args(["care", "--smoke", "--dashboard"]).dashboard is True
    assert Connection("a", None, local=True).describe().endswith("no dashboard (--dashboard starts one)")
    assert Connection("a", "127.0.0.1:8265", local=True).describe().endswith("dashboard http://127.0.0.1:8265")
    assert "dashboard" not in Connection("a", None, local=False).describe()
