"""Security: names stay inside the storage root, checkpoints never unpickle code, a shared storage root is
refused, a local Ray listens on loopback only, and local Ray workers run the driver's code (docs/security.md)."""
from __future__ import annotations

import os
import pickle
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
