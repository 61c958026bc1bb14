"""Security: names stay inside the storage root, checkpoints never unpickle code, a shared storage root is
refused, a local Ray listens on loopback only, and local Ray workers run the driver's code (docs/security.md)."""
from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from shared.config import ConfigError
from shared.names import MAX_NAME_LENGTH, check_name

REPO = Path(__file__).resolve().parents[1]


# -- one name rule ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["care-smoke-1a2b3c4d", "a", "x" * MAX_NAME_LENGTH, "v1.2_run-3", "_private"])
def test_safe_names_pass(name: str):
    assert check_name(name, "--name") == name


@pytest.mark.parametrize("name, why", [
    ("../../escaped", "must not start with '.'"), (".", "must not start with '.'"), ("..", "must not start"),
    (".hidden", "must not start"), ("-rf", "must not start with '-'"), ("a/../../b", "must not contain '..'"),
    ("a..b", "must not contain '..'"), ("a/b", "contains '/'"), ("/abs", "contains '/'"), ("a b", "contains ' '"),
    ("x" * 300, "300 characters long"), ("", "a name is required"), ("caf\u00e9", "contains"),
    ("a\nb", "contains"), ("a\\b", "contains"),
])
def test_unsafe_names_are_refused(name: str, why: str):
    with pytest.raises(ConfigError, match="^--name: ") as err:
        check_name(name, "--name")
    assert why in str(err.value)


def _files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ["../../escaped", ".", "x" * 300, "a/b"])
def test_sweep_name_is_checked_before_anything_starts(tmp_path: Path, name: str):
    from jobs.sweep import plan_sweep

    root = tmp_path / "deep" / "root"
    with pytest.raises(ConfigError, match="--name"):
        plan_sweep("care", [], smoke=True, name=name, storage=str(root))
    assert _files_under(tmp_path) == []


def test_sweep_cli_bad_name_exits_2_without_traceback(tmp_path: Path):
    root = tmp_path / "deep" / "root"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, str(REPO / "jobs" / "sweep.py"), "care", "--smoke", "--name",
                           "../../escaped", "--storage", str(root)], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    assert "error: --name: '../../escaped' must not start with '.'" in done.stderr
    assert "Traceback" not in done.stderr
    assert _files_under(tmp_path) == []


@pytest.mark.parametrize("args", [["--study", "../../x"], ["../../x"], ["--study", "y" * 300], ["--study", "."]])
def test_report_names_are_checked(tmp_path: Path, capsys, args: list[str]):
    from jobs.report import main

    root = tmp_path / "deep" / "root"
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--storage", str(root)])
    assert exit_.value.code == 2
    assert "name: " in capsys.readouterr().err
    assert _files_under(tmp_path) == []


STUDY = """\
name: {name}
data: {{name: shapes, n_train: 256, n_test: 128}}
seeds: [0]
measures: [linear_probe_acc]
arms:
  {arm}:
    method: simclr
"""


@pytest.mark.parametrize("name, arm, message", [
    ("../../x", "simclr", "name: '../../x' must not start with '.'"),
    ("z" * 300, "simclr", "300 characters long"),
    ("ok", "../up", "arms: '../up' must not start with '.'"),
    # a node's experiment name (study, hash, node and arm) would pass 100 characters
    ("s" * 60, "a" * 40, "the study's and the arm's names together"),
])
def test_study_and_arm_names_are_checked(tmp_path: Path, name: str, arm: str, message: str):
    from jobs.studyconfig import load_study

    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(name=name, arm=arm))
    with pytest.raises(ConfigError, match="study.yaml") as err:
        load_study(path)
    assert message in str(err.value)


def test_study_cli_bad_name_exits_2_before_ray(tmp_path: Path, capsys):
    from jobs.study import main

    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(name="../../x", arm="simclr"))
    assert main([str(path), "--storage", str(tmp_path / "root")]) == 2
    assert "must not start with '.'" in capsys.readouterr().err
    assert _files_under(tmp_path) == [path]


# -- a storage root others can write is refused ------------------------------------------------------------------
def _experiment_dir(root: Path) -> tuple[str, Path]:
    """A private root holding a finished-looking experiment of the smoke CARE sweep (Tune's state files)."""
    from jobs.sweep import plan_sweep

    name = plan_sweep("care", [], smoke=True, storage=str(root)).experiment
    exp = root / "tune" / name
    (exp / "trial_0").mkdir(parents=True)
    (exp / "tuner.pkl").write_bytes(b"not read by this test")
    (exp / "trial_0" / "params.pkl").write_bytes(b"not read by this test")
    return name, exp


def _plan(root: Path):
    from jobs.sweep import plan_sweep

    return plan_sweep("care", [], smoke=True, storage=str(root))


def test_private_storage_root_is_accepted(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    _experiment_dir(root)
    assert _plan(root).storage == str(root)


@pytest.mark.parametrize("loose, why", [
    ("root", "writable by every user (mode 0777)"),
    ("tune", "writable by every user (mode 0777)"),
    ("tuner.pkl", "writable by every user (mode 0666)"),
    ("trial_0/params.pkl", "writable by every user (mode 0666)"),
])
def test_world_writable_storage_is_refused(tmp_path: Path, monkeypatch, loose: str, why: str):
    monkeypatch.delenv("RAYSTUDY_ALLOW_SHARED_STORAGE", raising=False)
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    _, exp = _experiment_dir(root)
    path = {"root": root, "tune": root / "tune"}.get(loose, exp / loose)
    path.chmod(0o777 if path.is_dir() else 0o666)
    with pytest.raises(ConfigError, match="^refusing storage root") as err:
        _plan(root)
    assert f"{path} is {why}" in str(err.value)
    assert "chmod -R go-w" in str(err.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user or group needs root")
@pytest.mark.parametrize("change, why", [("owner", "owned by another user (uid 1)"), ("group", "writable by group 1")])
def test_storage_of_another_user_or_shared_group_is_refused(tmp_path: Path, monkeypatch, change: str, why: str):
    monkeypatch.delenv("RAYSTUDY_ALLOW_SHARED_STORAGE", raising=False)
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    _, exp = _experiment_dir(root)
    planted = exp / "trial_0" / "params.pkl"
    if change == "owner":
        os.chown(planted, 1, -1)
    else:
        os.chown(planted, -1, 1)
        planted.chmod(0o664)
    with pytest.raises(ConfigError, match=re.escape(why)):
        _plan(root)


def test_shared_storage_can_be_allowed_explicitly(tmp_path: Path, monkeypatch, capsys):
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o777)
    monkeypatch.setenv("RAYSTUDY_ALLOW_SHARED_STORAGE", "1")
    assert _plan(root).storage == str(root)
    assert "warning: RAYSTUDY_ALLOW_SHARED_STORAGE=1" in capsys.readouterr().err


def test_sweep_cli_refuses_loose_root_with_exit_2(tmp_path: Path, monkeypatch, capsys):
    from jobs.sweep import main

    monkeypatch.delenv("RAYSTUDY_ALLOW_SHARED_STORAGE", raising=False)
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o777)
    assert main(["care", "--smoke", "--storage", str(root)]) == 2
    assert "refusing storage root" in capsys.readouterr().err
    assert _files_under(root) == []


def test_train_distributed_checks_name_and_root(tmp_path: Path, monkeypatch, capsys):
    from jobs.train_distributed import main

    monkeypatch.delenv("RAYSTUDY_ALLOW_SHARED_STORAGE", raising=False)
    assert main(["gpt", "--name", "../../x", "--storage", str(tmp_path / "r")]) == 2
    assert "--name: '../../x'" in capsys.readouterr().err
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o777)
    assert main(["gpt", "--storage", str(root)]) == 2
    assert "refusing storage root" in capsys.readouterr().err


# -- checkpoints never unpickle code -----------------------------------------------------------------------------
class Payload:
    """What an attacker writes: unpickling it opens (creates) the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("fmt", ["torch-zip", "torch-legacy", "bare-pickle"])
def test_crafted_checkpoint_file_is_refused_unread(tmp_path: Path, fmt: str):
    from shared.checkpoint import UnsafeCheckpointError, check_checkpoint_files

    marker = tmp_path / "marker"
    ckpt = tmp_path / "ckpt" / "epoch_000001"
    ckpt.mkdir(parents=True)
    torch.save({"module": {"w": torch.zeros(2)}}, ckpt / "mp_rank_00_model_states.pt")
    crafted = ckpt / "zero_pp_rank_1_mp_rank_00_optim_states.pt"
    state = {"optimizer_state_dict": {"x": torch.ones(1)}, "p": Payload(marker)}
    if fmt == "bare-pickle":
        crafted.write_bytes(pickle.dumps(state))
    else:
        torch.save(state, crafted, _use_new_zipfile_serialization=fmt == "torch-zip")
    with pytest.raises(UnsafeCheckpointError, match="refusing to load checkpoint file .*zero_pp_rank_1"):
        check_checkpoint_files(tmp_path / "ckpt")
    assert not marker.exists()


def test_platform_checkpoint_state_is_loaded_weights_only(tmp_path: Path):
    from shared.checkpoint import STATE_FILE, UnsafeCheckpointError, load_state

    marker = tmp_path / "marker"
    torch.save({"model": {"w": torch.zeros(2)}, "p": Payload(marker)}, tmp_path / STATE_FILE)
    with pytest.raises((pickle.UnpicklingError, UnsafeCheckpointError)):
        load_state(tmp_path)
    assert not marker.exists()


def test_crafted_deepspeed_checkpoint_is_refused_on_resume(local_ray, tmp_path: Path):
    """A DeepSpeed run (2 ranks, ZeRO-2) leaves its checkpoint in the storage root; an attacker adds a payload to
    rank 1's optimizer shard. Resuming the run refuses it on every rank (a clear error, no hang, no retry) and
    never unpickles it. A normal resume through the same loader: test_distributed's killed-worker test."""
    from actors.distributed import run_distributed
    from tests.test_distributed import SPEC

    marker = tmp_path / "marker"
    out = run_distributed(SPEC, ["epochs=1"], storage=str(tmp_path), name="crafted")
    shard = next(Path(out["checkpoint"]).rglob("zero_pp_rank_1_mp_rank_00_optim_states.pt"))
    state = torch.load(shard, weights_only=False)  # the file this test's own run just wrote
    state["payload"] = Payload(marker)
    torch.save(state, shard)
    with pytest.raises(ConfigError, match="refusing to load checkpoint file .*zero_pp_rank_1.*io.open"):
        run_distributed(SPEC, ["epochs=2"], storage=str(tmp_path), name="crafted")
    assert not marker.exists()



def test_crafted_cifar_batch_is_refused_unread(tmp_path: Path):
    """The CIFAR-10 loader reads the official archive's pickles with only numpy arrays allowed."""
    import numpy as np

    from shared.data import real

    good = tmp_path / "good"
    with open(good, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [1, 2]}, f, protocol=5)
    assert real._unpickle(str(good))[b"labels"] == [1, 2]
    marker = tmp_path / "marker"
    crafted = tmp_path / "data_batch_1"
    crafted.write_bytes(pickle.dumps({b"data": Payload(marker)}))
    with pytest.raises(pickle.UnpicklingError, match="refusing .*data_batch_1.*io.open is not allowed"):
        real._unpickle(str(crafted))
    assert not marker.exists()

# -- a Ray started here: loopback only, and its workers run the driver's code --------------------------------------
LOOPBACK_ADDRESSES = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _checkout_copy(dest: Path) -> Path:
    """The repository's files (tracked and new, not ignored) copied to ``dest``, plus a module no other
    checkout has: a second checkout of the project beside the one the environment's editable install points at."""
    import shutil

    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    for rel in listed:
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / "shared" / "_probe_marker.py").write_text("# only in this copy\n")
    return dest


@pytest.mark.parametrize("mode", ["local", "private-head"])
def test_started_ray_listens_on_loopback_and_runs_the_driver_code(tmp_path: Path, mode: str):
    """A Ray that connect() starts (``ray.init``, or ``ray start`` for a private head when another Ray holds the job
    agent's port), from a copy of the checkout run with PYTHONPATH unset and from another directory: no process of
    that Ray listens on a non-loopback address (GCS, raylet, workers, dashboard, agents, metrics), and its workers
    import the copy's packages, not the installed checkout's."""
    import json

    copy = _checkout_copy(tmp_path / "checkout")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RAY_ADDRESS")}
    done = subprocess.run([sys.executable, str(copy / "tests" / "ray_probe.py"), mode], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    names = {name for name, _, _ in report["listen"]}
    assert {"gcs_server", "raylet"} <= names, report  # the probe found this Ray's processes
    assert any(port == report["metrics_port"] for _, _, port in report["listen"]), report
    exposed = [entry for entry in report["listen"] if entry[1] not in LOOPBACK_ADDRESSES]
    assert exposed == [], f"listening beyond loopback: {exposed}"
    assert report["node_ip"] == "127.0.0.1"
    assert report["imports"]["shared"].startswith(str(copy)), report["imports"]
    assert report["imports"]["marker"]
