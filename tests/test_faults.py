"""Faults: every bad input is a clear message and exit 2 before Ray starts, and kill -9 of a trial worker, of a
sweep's driver and of a study's driver loses and duplicates nothing.

The bad-input table runs each entrypoint's ``main()`` in this process (no Ray may be initialised, before or
after) and asserts: exit code 2, a message naming the problem on stderr, no traceback, and nothing under the
storage root. A few rows run again as real processes (``RAY_TMPDIR`` points at an empty directory, which must
stay empty: no Ray session was created). The kill tests compare against an uninterrupted run of the same
configuration: same rows, values bit-identical.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import REPO, tiny

# A valid study small enough to validate in milliseconds; the table's study rows change one thing in it.
STUDY = """\
name: faults
data: {name: shapes, n_train: 128, n_test: 64}
seeds: [0, 1]
measures: [colour_probe_acc, equiv_error]
minimize: [equiv_error]
arms:
  simclr:
    method: simclr
    overrides: {epochs: 2, batch_size: 32}
    search_space:
      optim.lr: {choice: [0.001]}
  care:
    method: care
    overrides: {lam: 0.1, epochs: 2, batch_size: 32}
    sweep: false
"""
TAG = "!!python/object/apply:os.system ['touch /tmp/raystudy-tag-ran']"


def study_text(old: str, new: str) -> str:
    assert old in STUDY, old
    return STUDY.replace(old, new, 1)


# (id, entrypoint, arguments, study file content or None, message expected on stderr). "{study}" in the
# arguments is the study file written from the content; "{tmp}" the test's temporary directory.
S = "sweep"
CASES: list[tuple[str, str, list[str], str | bytes | None, str]] = [
    # -- sweep.py: method and method-config overrides
    ("unknown-method", S, ["carre"], None, "unknown method 'carre'"),
    ("no-method", S, [], None, "name a method"),
    ("unknown-key", S, ["care", "optim.lrr=0.1"], None, "optim.lrr: unknown key"),
    ("wrong-type", S, ["care", "batch_size=big"], None, "batch_size:"),
    ("float-for-int", S, ["care", "epochs=1.5"], None, "epochs:"),
    ("negative-lr", S, ["care", "optim.lr=-0.01"], None, "optim.lr: must be > 0"),
    ("zero-lr", S, ["care", "optim.lr=0"], None, "optim.lr: must be > 0"),
    ("inf-lr", S, ["care", "optim.lr=inf"], None, "optim.lr: must be a finite number"),
    ("nan-lr", S, ["care", "optim.lr=nan"], None, "optim.lr: must be a finite number"),
    ("overflow-lr", S, ["care", "optim.lr=1e400"], None, "optim.lr: must be a finite number"),
    ("minus-inf-lam", S, ["care", "lam=-inf"], None, "lam: must be a finite number"),
    ("negative-lam", S, ["care", "lam=-1"], None, "lam: must be >= 0.0"),
    ("huge-epochs", S, ["care", "epochs=99999999999999999999"], None, "epochs: must be at most"),
    ("too-many-epochs", S, ["care", "epochs=200000"], None, "epochs: must be <= 100000"),
    ("zero-epochs", S, ["care", "epochs=0"], None, "epochs: must be >= 1"),
    ("huge-seed", S, ["care", "seed=99999999999"], None, "seed: must be at most"),
    ("no-equals", S, ["care", "novalue"], None, "expected key=value"),
    ("bad-value-syntax", S, ["care", "optim.lr=[1,2"], None, "optim.lr"),
    ("unknown-data-set", S, ["care", "data.name=nope"], None, "data.name"),
    ("missing-data-root", S, ["care", "data.name=cifar10", "data.root=/nonexistent/cifar"], None,
     "cifar-10-python.tar.gz"),
    # -- sweep.py: sweep keys
    ("zero-samples", S, ["care", "sweep.num_samples=0"], None, "num_samples: must be >= 1"),
    ("too-many-samples", S, ["care", "sweep.num_samples=1000000"], None, "num_samples: must be <= 100000"),
    ("bad-mode", S, ["care", "sweep.mode=best"], None, "mode: must be one of"),
    ("unreported-metric", S, ["care", "sweep.metric=bleu"], None, "does not report 'bleu'"),
    ("unknown-scheduler", S, ["care", "sweep.scheduler.name=pbt"], None, "scheduler.name: must be one of"),
    ("zero-grace", S, ["care", "sweep.scheduler.grace_period=0"], None, "grace_period: must be >= 1"),
    ("reduction-one", S, ["care", "sweep.scheduler.reduction_factor=1"], None, "reduction_factor: must be > 1"),
    ("inf-time-budget", S, ["care", "sweep.time_budget_s=inf"], None, "time_budget_s: must be a finite number"),
    ("negative-time-budget", S, ["care", "sweep.time_budget_s=-1"], None, "time_budget_s: must be >= 0"),
    ("negative-concurrency", S, ["care", "sweep.max_concurrent=-1"], None, "max_concurrent: must be >= 0"),
    ("negative-failures", S, ["care", "sweep.max_failures=-1"], None, "max_failures: must be >= 0"),
    ("zero-cpu", S, ["care", "sweep.resources.cpu=0"], None, "resources.cpu: must be > 0"),
    ("nan-gpu", S, ["care", "sweep.resources.gpu=nan"], None, "resources.gpu: must be a finite number"),
    ("more-gpus-than-here", S, ["care", "sweep.resources.gpu=64"], None, "sweep.resources.gpu: each trial asks for 64"),
    ("more-cpus-than-here", S, ["care", "sweep.resources.cpu=4", "--num-cpus", "2"], None,
     "sweep.resources.cpu: each trial asks for 4"),
    ("unknown-sweep-key", S, ["care", "sweep.bogus=1"], None, "bogus"),
    ("loguniform-zero", S, ["care", "sweep.search_space.lam={loguniform: [0, 1]}"], None, "bounds must be > 0"),
    ("uniform-inf", S, ["care", "sweep.search_space.lam={uniform: [0, inf]}"], None, "two finite numbers"),
    ("uniform-yaml-inf", S, ["care", "sweep.search_space.lam={uniform: [0, .inf]}"], None, "must be a finite number"),
    ("uniform-text-bound", S, ["care", "sweep.search_space.lam={uniform: [0, high]}"], None, "two finite numbers"),
    ("uniform-nan", S, ["care", "sweep.search_space.lam={uniform: [.nan, 1]}"], None, "must be a finite number"),
    ("uniform-reversed", S, ["care", "sweep.search_space.lam={uniform: [1, 0]}"], None, "low < high"),
    ("unknown-domain", S, ["care", "sweep.search_space.lam={gaussian: [0, 1]}"], None, "expected one of"),
    ("empty-choice", S, ["care", "sweep.search_space.lam={choice: []}"], None, "non-empty list"),
    ("choice-out-of-range", S, ["care", "sweep.search_space.lam={choice: [-1]}"], None, "lam: must be >= 0"),
    ("searched-unknown-key", S, ["care", "sweep.search_space.optim.lrr={choice: [0.1]}"], None, "optim.lrr"),
    # -- sweep.py: options
    ("seeds-not-integers", S, ["care", "--seeds", "a,b"], None, "expected comma-separated integers"),
    ("negative-seed", S, ["care", "--seeds=-1"], None, "seeds must lie in"),
    ("zero-num-cpus", S, ["care", "--num-cpus", "0"], None, "expected a number >= 1"),
    ("text-num-cpus", S, ["care", "--num-cpus", "many"], None, "expected a whole number"),
    ("unknown-profile", S, ["care", "--profile", "nope"], None, "unknown resource profile 'nope'"),
    ("unknown-option", S, ["care", "--bogus"], None, "unrecognized arguments: --bogus"),
    ("storage-under-a-file", S, ["care", "--storage", "/etc/passwd/x"], None, "/etc/passwd is not a directory"),
    ("storage-is-a-file", S, ["care", "--storage", "/etc/passwd"], None, "storage root /etc/passwd is not a directory"),
    ("storage-not-creatable", S, ["care", "--storage", "/proc/raystudy"], None, "cannot be created in /proc"),
    ("override-after-option", S, ["care", "--smoke", "epochs=0"], None, "epochs: must be >= 1"),
    ("nothing-listens", S, ["care", "--address", "127.0.0.1:1"], None, "cannot reach a Ray cluster at 127.0.0.1:1"),
    # -- study.py: the file itself
    ("no-such-study", "study", ["{tmp}/nope.yaml"], None, "no such study file"),
    ("study-is-a-directory", "study", ["{tmp}"], None, "is a directory, not a study file"),
    ("yaml-syntax-error", "study", ["{study}"], "arms: [\nname: x\n", "not valid YAML"),
    ("yaml-bad-indent", "study", ["{study}"], "name: x\n  seeds: [0]\n arms: {}\n", "not valid YAML"),
    ("top-level-list", "study", ["{study}"], "- name: x\n- arms: {}\n", "must be a mapping of keys"),
    ("top-level-scalar", "study", ["{study}"], "just words\n", "must be a mapping of keys"),
    ("empty-file", "study", ["{study}"], "", "this file is empty"),
    ("binary-content", "study", ["{study}"], bytes(range(256)), "not a text file"),
    ("python-tag", "study", ["{study}"], f"name: {TAG}\n", "YAML tags are not allowed"),
    ("python-tag-in-arm", "study", ["{study}"], study_text("lam: 0.1", f"lam: {TAG}"), "YAML tags are not allowed"),
    ("arms-as-list", "study", ["{study}"], "name: x\narms: [care, simclr]\n", "arms: must be a mapping"),
    ("arm-as-string", "study", ["{study}"], "name: x\narms: {care: care}\n", "arms.care: must be a mapping"),
    ("seeds-as-mapping", "study", ["{study}"], study_text("seeds: [0, 1]", "seeds: {a: 1}"), "seeds: must be a list"),
    ("smoke-as-list", "study", ["{study}", "--smoke"], STUDY + "smoke: [1]\n", "smoke: must be a mapping"),
    ("no-arms", "study", ["{study}"], "name: x\nmeasures: [knn_acc]\narms: {}\n", "at least one arm"),
    ("no-seeds", "study", ["{study}"], study_text("seeds: [0, 1]", "seeds: []"), "at least one seed"),
    ("seed-not-integer", "study", ["{study}"], study_text("seeds: [0, 1]", "seeds: [zero]"), "seeds"),
    ("unknown-study-key", "study", ["{study}"], STUDY + "colour: red\n", "colour"),
    ("arm-unknown-method", "study", ["{study}"], study_text("method: care", "method: carre"),
     "unknown method 'carre'"),
    ("unreported-measure", "study", ["{study}"], study_text("equiv_error]\nminimize", "bleu]\nminimize"),
     "'bleu' is not reported"),
    ("arm-bad-override", "study", ["{study}"], study_text("lam: 0.1", "lam: -0.1"), "lam: must be >= 0.0"),
    ("arm-inf-override", "study", ["{study}"], study_text("lam: 0.1", "lam: .inf"), "lam: must be a finite number"),
    ("arm-huge-epochs", "study", ["{study}"],
     study_text("epochs: 2, batch_size: 32}\n    sweep", "epochs: 99999999999}\n    sweep"), "epochs: must be at most"),
    ("negative-retries", "study", ["{study}"], STUDY + "retries: -1\n", "retries: must be >= 0"),
    ("huge-retries", "study", ["{study}"], STUDY + "retries: 99999999999999999999\n", "retries: must be at most"),
    ("negative-budget", "study", ["{study}"], STUDY + "budget: {trials: -1}\n", "budget.trials: must be >= 0"),
    ("nan-budget-time", "study", ["{study}"], STUDY + "budget: {time_s: .nan}\n", "time_s: must be a finite number"),
    ("after-unknown-arm", "study", ["{study}"], STUDY + "    after: [nobody]\n", "unknown arm 'nobody'"),
    ("after-cycle", "study", ["{study}"],
     study_text("    method: simclr\n", "    method: simclr\n    after: [care]\n") + "    after: [simclr]\n",
     "form a cycle"),
    ("loguniform-zero-in-arm", "study", ["{study}"],
     study_text("optim.lr: {choice: [0.001]}", "optim.lr: {loguniform: [0, 1]}"), "bounds must be > 0"),
    ("unknown-key-in-arm-space", "study", ["{study}"],
     study_text("optim.lr: {choice: [0.001]}", "optim.lrr: {choice: [0.001]}"), "optim.lrr"),
    ("bad-sweep-option", "study", ["{study}"],
     study_text("      optim.lr: {choice: [0.001]}\n",
                "      optim.lr: {choice: [0.001]}\n    sweep_options: {scheduler.name: pbt}\n"),
     "scheduler.name: must be one of"),
    ("unknown-sweep-option", "study", ["{study}"],
     study_text("      optim.lr: {choice: [0.001]}\n",
                "      optim.lr: {choice: [0.001]}\n    sweep_options: {bogus: 1}\n"),
     "bogus"),
    ("gpus-beyond-this-machine", "study", ["{study}"], STUDY + "resources: {gpu: 8}\n", "asks for 8 GPU"),
    ("unknown-study-profile", "study", ["{study}"], STUDY + "resources: {profile: nope}\n",
     "unknown resource profile 'nope'"),
    ("negative-study-cpu", "study", ["{study}"], STUDY + "resources: {cpu: -1}\n", "resources.cpu: must be > 0"),
    ("status-never-run", "study", ["{study}", "--status"], STUDY, "was never run"),
    ("cancel-never-run", "study", ["{study}", "--cancel"], STUDY, "was never run"),
    ("negative-timeout", "study", ["{study}", "--timeout", "-5"], STUDY, "must be a finite number of seconds > 0"),
    ("nan-timeout", "study", ["{study}", "--timeout", "nan"], STUDY, "must be a finite number of seconds > 0"),
    ("study-storage-under-a-file", "study", ["{study}", "--storage", "/etc/passwd/x"], STUDY,
     "/etc/passwd is not a directory"),
    ("study-nothing-listens", "study", ["{study}", "--address", "127.0.0.1:1"], STUDY, "cannot reach a Ray cluster"),
    ("study-no-dashboard-there", "study", ["{study}", "--address", "http://127.0.0.1:1"], STUDY,
     "Failed to connect to Ray at address: http://127.0.0.1:1"),
    # -- report.py
    ("report-nothing-named", "report", [], None, "name a sweep experiment or --study"),
    ("report-no-such-experiment", "report", ["nothing-here"], None, "no results for nothing-here"),
    ("report-bad-mode", "report", ["x", "--mode", "best"], None, "invalid choice: 'best'"),
    ("report-unknown-option", "report", ["x", "--bogus"], None, "unrecognized arguments: --bogus"),
]

# Unreachable on purpose: a row whose input were accepted ends at its connect instead of running a sweep or a study.
NOWHERE = ["--address", "127.0.0.1:1"]
# Fixed on branches security and reports (merged): names are safe slugs, checked before anything starts; a report
# of a study that has nothing is an error.
CASES += [
    ("name-escapes", S, ["care", "--name", "../../x", *NOWHERE], None, "--name: '../../x' must not start with '.'"),
    ("name-dot", S, ["care", "--name", ".", *NOWHERE], None, "--name: '.' must not start with '.'"),
    ("name-too-long", S, ["care", "--name", "x" * 300, *NOWHERE], None, "is 300 characters long"),
    ("study-name-escapes", "study", ["{study}", *NOWHERE], study_text("name: faults", "name: ../../x"),
     "name: '../../x' must not start with '.'"),
    ("report-study-escapes", "report", ["--study", "../../x"], None, "--study: name: '../../x' must not start"),
    ("report-study-unknown", "report", ["--study", "nonexistent"], None, "no study 'nonexistent'"),
]


def entrypoint_main(name: str):
    if name == "sweep":
        from jobs.sweep import main
    elif name == "study":
        from jobs.study import main
    else:
        from jobs.report import main
    return main


@pytest.fixture
def no_ray(monkeypatch):
    """No Ray in this process and none reachable through the environment; a quick connect timeout."""
    import ray

    if ray.is_initialized():  # left by an earlier test module
        ray.shutdown()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAYSTUDY_CONNECT_TIMEOUT_S", "1")
    yield ray
    assert not ray.is_initialized(), "a bad input started Ray"


def run_case(tmp_path: Path, entry: str, args: list[str], content: str | bytes | None, capsys) -> tuple[int, str]:
    storage = tmp_path / "store"
    study = tmp_path / "study.yaml"
    if content is not None:
        study.write_bytes(content if isinstance(content, bytes) else content.encode())
    argv = [a.replace("{study}", str(study)).replace("{tmp}", str(tmp_path)) for a in args]
    if "--storage" not in argv:
        argv += ["--storage", str(storage)]
    try:
        code = entrypoint_main(entry)(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert not storage.exists() or not any(storage.iterdir()), "a bad input wrote under the storage root"
    return code, err


def check_case(tmp_path, entry, args, content, message, capsys) -> None:
    code, err = run_case(tmp_path, entry, args, content, capsys)
    assert code == 2, f"exit {code}: {err[-2000:]}"
    assert message in err, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert not Path("/tmp/raystudy-tag-ran").exists(), "a YAML tag ran a command"


def test_the_table_has_at_least_70_inputs():
    assert len(CASES) >= 70
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case_id, entry, args, content, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_a_message_before_ray(no_ray, tmp_path, capsys, case_id, entry, args, content,
                                                      message):
    check_case(tmp_path, entry, args, content, message, capsys)


def test_overrides_may_follow_every_kind_of_option():
    """`sweep.py care --smoke epochs=8` and its kin: overrides before, between and after options of each kind
    (flag, value, typed value, list value)."""
    from jobs.sweep import parse_args

    args = parse_args(["care", "--smoke", "epochs=8", "--name", "n", "lam=0.1", "--seeds", "0,1", "optim.lr=0.01",
                       "--num-cpus", "2", "sweep.num_samples=2", "--fresh", "--storage", "/s", "model.width=4",
                       "--address", "a:1", "--profile", "local", "--study", "st", "--job", "j", "eval_every=1"])
    assert args.method == "care" and args.smoke and args.fresh
    assert args.overrides == ["epochs=8", "lam=0.1", "optim.lr=0.01", "sweep.num_samples=2", "model.width=4",
                              "eval_every=1"]
    assert (args.name, args.seeds, args.num_cpus, args.storage, args.address, args.profile, args.study,
            args.job) == ("n", [0, 1], 2, "/s", "a:1", "local", "st", "j")
    assert parse_args(["--smoke", "epochs=8"], method="care").overrides == ["epochs=8"]  # sweep_care.py's form


# Real processes: the exit status and output a user sees, and no Ray session created (RAY_TMPDIR stays empty).
PROCESS_CASES = [
    ("sweep", ["care", "optim.lr=inf"], None, "optim.lr: must be a finite number"),
    ("sweep", ["care", "--smoke", "epochs=0"], None, "epochs: must be >= 1"),
    ("study", ["{study}"], f"name: {TAG}\n", "YAML tags are not allowed"),
    ("study", ["{study}", "--timeout", "-5"], STUDY, "must be a finite number of seconds > 0"),
    ("report", ["nothing-here"], None, "no results for nothing-here"),
]


@pytest.mark.parametrize("entry, args, content, message", PROCESS_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1])[:30]}" for c in PROCESS_CASES])
def test_bad_input_from_the_command_line(tmp_path, entry, args, content, message):
    storage, study = tmp_path / "store", tmp_path / "study.yaml"
    if content is not None:
        study.write_text(content)
    ray_tmp = Path(tempfile.mkdtemp(prefix="rs-"))  # short: Ray's socket paths would live under it
    try:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env |= {"RAYSTUDY_STORAGE": str(storage), "RAY_TMPDIR": str(ray_tmp), "PYTHONPATH": str(REPO)}
        argv = [a.replace("{study}", str(study)) for a in args]
        out = subprocess.run([sys.executable, str(REPO / "jobs" / f"{entry}.py"), *argv], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stderr[-2000:]
        assert message in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
        assert not storage.exists()
        assert not any(ray_tmp.iterdir()), "a Ray session was created"
    finally:
        import shutil

        shutil.rmtree(ray_tmp, ignore_errors=True)


# -- kill -9 ---------------------------------------------------------------------------------------------------
# One trial of CARE at a few seconds per epoch, checkpointed every epoch, evaluated every other one.
KILL_SWEEP = ["care", *tiny("optim.lr=0.001", "temperature=0.5", "lam=0.1", "epochs=8", "eval_every=2",
                            "sweep.scheduler.name=fifo", "sweep.num_samples=1", "sweep.max_failures=3"),
              "--num-cpus", "2"]
TIMING = ("epoch_time_s", "lr")  # a row's wall time differs between runs; the rest must not


def start_sweep(storage: Path, args: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env |= {"RAYSTUDY_STORAGE": str(storage), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(REPO / "jobs" / "sweep.py"), *args], cwd=storage.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for_epoch(storage: Path, epoch: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    from shared.results import ResultsStore

    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(f"epoch={epoch:06d}" in f for f in ResultsStore(storage).files()):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended (exit {proc.returncode}) before epoch {epoch}: "
                                 f"{proc.stdout.read()[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"no epoch {epoch} after {timeout}s")


def kill_tree(proc: subprocess.Popen) -> None:
    """kill -9 the driver, then what it started (its embedded Ray), which nothing else would stop."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    for child in family:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def is_job_driver(proc: psutil.Process, submission_id: str) -> bool:
    """Whether ``proc`` is the driver of the Ray job ``submission_id``: its sweep.py, whose job config (set in its
    environment by Ray's job supervisor) carries the submission id."""
    try:
        cmd = " ".join(proc.info["cmdline"] or [])
        job = json.loads(proc.environ().get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")
        return "jobs/sweep.py" in cmd and job.get("metadata", {}).get("job_submission_id") == submission_id
    except psutil.Error:
        return False


def oldest_checkpoint_epoch(storage: Path) -> dict[str, int]:
    """Each trial's oldest checkpoint on disk, by trial id: how far back a resume of that trial may go."""
    oldest: dict[str, int] = {}
    for meta in storage.glob("tune/*/*/checkpoint_*/meta.json"):
        trial, epoch = meta.parent.parent.name, json.loads(meta.read_text())["epoch"]
        oldest[trial] = min(epoch, oldest.get(trial, epoch))
    return oldest


def epoch_files(storage: Path) -> dict[str, tuple[int, int]]:
    """Each epoch file's modification time and epoch."""
    return {str(f): (f.stat().st_mtime_ns, int(f.stem.split("=")[1])) for f in storage.rglob("epoch=*.parquet")}


def values(storage: Path, experiment: str = ""):
    """Every measured value of an experiment (default: all under the root), by (trial seed, epoch, metric)."""
    from shared.results import ResultsStore

    rows = ResultsStore(storage).read(experiment).to_pandas()
    assert not rows.duplicated(["trial", "epoch", "metric"]).any(), "duplicate rows"
    rows = rows[~rows["metric"].isin(TIMING)]
    return rows.set_index(["seed", "epoch", "metric"])["value"].sort_index()


@pytest.mark.slow
def test_kill_9_of_trial_worker_and_sweep_driver_loses_nothing_and_changes_no_value(tmp_path):
    """A trial worker killed at epoch 2 resumes from its checkpoint; the driver killed at epoch 5 and started
    again resumes the experiment: every (epoch, metric) row exists once and every value is bit-identical to an
    uninterrupted run of the same sweep (run beside it)."""
    reference_root, faulted_root = tmp_path / "reference", tmp_path / "faulted"
    reference_root.mkdir()
    faulted_root.mkdir()
    reference = start_sweep(reference_root, KILL_SWEEP)
    faulted = start_sweep(faulted_root, KILL_SWEEP)
    try:
        wait_for_epoch(faulted_root, 2, faulted)
        before_worker_kill, kept_at_worker_kill = epoch_files(faulted_root), oldest_checkpoint_epoch(faulted_root)
        workers = [p for p in psutil.Process(faulted.pid).children(recursive=True)
                   if "Trainable" in " ".join(p.cmdline())]
        assert workers, "no trial worker found"
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
        wait_for_epoch(faulted_root, 5, faulted)
        kill_tree(faulted)
        before_driver_kill, kept_at_driver_kill = epoch_files(faulted_root), oldest_checkpoint_epoch(faulted_root)
        assert not any("epoch=000008" in f for f in map(str, faulted_root.rglob("*.parquet"))), \
            "the trial finished before the driver was killed"
        resumed = start_sweep(faulted_root, KILL_SWEEP)
        out, _ = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, out[-3000:]
        assert "resuming experiment" in out, out[-3000:]
        ref_out, _ = reference.communicate(timeout=300)
        assert reference.returncode == 0, ref_out[-3000:]
    finally:
        for proc in (reference, faulted):
            if proc.poll() is None:
                kill_tree(proc)
    # Resumed from checkpoints, not from scratch: no epoch that a checkpoint on disk at the kill already held
    # was trained again. (Tune's experiment state lags its checkpoints by a few seconds, so a restarted driver
    # may resume from an older checkpoint than the newest, or, when Tune has deleted the one its state names,
    # from the oldest one left: the epochs after it are trained again, rewriting the same values.)
    after = epoch_files(faulted_root)
    assert kept_at_driver_kill, "no checkpoint on disk when the driver was killed"
    for before, kept in ((before_worker_kill, kept_at_worker_kill), (before_driver_kill, kept_at_driver_kill)):
        rewritten = [f for f, (t, e) in before.items() if e <= kept.get(Path(f).parent.name, 0) and after[f][0] != t]
        assert not rewritten, f"trained again after a kill, though a checkpoint held that epoch ({kept}): {rewritten}"
    assert len(before_driver_kill) >= 4
    expected, got = values(reference_root), values(faulted_root)
    assert len(expected) >= 8 * 2  # every epoch's loss and its evaluations
    assert sorted(set(got.index.get_level_values("epoch"))) == list(range(1, 9))
    assert list(got.index) == list(expected.index), "missing or extra rows"
    assert (got.to_numpy() == expected.to_numpy()).all(), (got[got != expected], expected[got != expected])


@pytest.mark.slow
def test_kill_9_of_the_study_driver_and_its_running_job_loses_nothing_and_changes_no_value(tmp_path):
    """The study driver and the sweep job it was following are both killed with kill -9 mid-training; the study
    started again retries the node, whose sweep resumes from its checkpoint: the rows are complete, without
    duplicates, and bit-identical to an uninterrupted run of the node's own command (run beside it)."""
    from tests.helpers import head_cluster

    care = {"epochs": 8, "eval_every": 2, "batch_size": 32, "model.width": 4, "model.proj_hidden": 32,
            "model.proj_dim": 16, "eval.knn_k": 20, "eval.equiv_pairs": 1, "equiv_splits": 4, "lam": 0.1}
    study = {"name": "killed", "data": {"name": "shapes", "n_train": 128, "n_test": 64}, "seeds": [0],
             "measures": ["colour_probe_acc", "equiv_error"], "minimize": ["equiv_error"], "retries": 2,
             "arms": {"care": {"method": "care", "overrides": care, "sweep": False}}}
    path, storage, reference_root = tmp_path / "killed.yaml", tmp_path / "store", tmp_path / "reference"
    path.write_text(json.dumps(study))
    reference_root.mkdir()
    with head_cluster(num_cpus=2) as head:
        env = {**head["env"], "RAYSTUDY_STORAGE": str(storage), "PYTHONPATH": str(REPO)}
        command = [sys.executable, str(REPO / "jobs" / "study.py"), str(path), "--address", head["url"]]
        first = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, start_new_session=True)
        wait_for_epoch(storage, 2, first)
        state = json.loads(next(storage.glob("studies/*/state.json")).read_text())
        node = state["nodes"]["seeds:care"]
        # The uninterrupted run: the node's own command as a job of the same cluster, with its own storage root.
        from ray.job_submission import JobStatus, JobSubmissionClient

        from cluster import ensure_token_auth
        from jobs.scheduler import EXCLUDES

        ensure_token_auth()
        client = JobSubmissionClient(head["url"])
        reference = client.submit_job(
            entrypoint=node["entrypoint"], runtime_env={
                "working_dir": str(REPO), "excludes": EXCLUDES,
                "env_vars": {"RAYSTUDY_STORAGE": str(reference_root), "RAY_AUTH_MODE": "token"}})
        try:
            kill_tree(first)
            job_drivers = [p for p in psutil.process_iter(["cmdline"]) if is_job_driver(p, node["submission_id"])]
            assert job_drivers, "the node's job driver was not found"
            for proc in job_drivers:
                proc.send_signal(signal.SIGKILL)
            second = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=420)
            assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
            deadline = time.time() + 300
            while client.get_job_status(reference) not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
                assert time.time() < deadline, "the uninterrupted run did not finish"
                time.sleep(1)
            assert client.get_job_status(reference) == JobStatus.SUCCEEDED, client.get_job_logs(reference)[-3000:]
        finally:
            if first.poll() is None:
                kill_tree(first)
    final = json.loads(next(storage.glob("studies/*/state.json")).read_text())
    assert final["status"] == "SUCCEEDED", final
    assert final["nodes"]["seeds:care"]["attempts"] >= 2, "the killed job was not run again"
    experiment = final["nodes"]["seeds:care"]["experiment"]
    expected, got = values(reference_root, experiment), values(storage, experiment)
    assert sorted(set(got.index.get_level_values("epoch"))) == list(range(1, 9))
    assert list(got.index) == list(expected.index), "missing or extra rows"
    assert (got.to_numpy() == expected.to_numpy()).all(), (got[got != expected], expected[got != expected])
