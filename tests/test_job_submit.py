"""`ray start --head` + `ray job submit --working-dir .`: the CARE sweep runs unchanged as a Ray job, its
trials are visible to the dashboard's state API, and its results land under the storage root, not in the
job's temporary working directory. The cluster is started by the test on loopback, in its own temporary
directory, and stopped after."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from shared.results import ResultsStore
from tests.helpers import tiny

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_cluster(temp_dir: str) -> None:
    """Stop only this test's Ray processes (``ray stop`` would stop every Ray on the machine)."""
    for proc in psutil.process_iter(["cmdline"]):
        if any(temp_dir in part for part in (proc.info["cmdline"] or [])):
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass


@pytest.fixture(scope="module")
def head_cluster():
    temp_dir = tempfile.mkdtemp(prefix="rs-head-")  # short: Ray's socket paths live under it
    port, dash = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    subprocess.run(
        [RAY, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
         "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash), "--num-cpus", "2",
         "--temp-dir", temp_dir, "--disable-usage-stats"],
        env=env, check=True, capture_output=True, timeout=120,
    )
    url = f"http://127.0.0.1:{dash}"
    try:
        wait_until_accepting_jobs(url, env)
        yield {"url": url, "env": env}
    finally:
        kill_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def wait_until_accepting_jobs(url: str, env: dict, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ray_cli(["job", "list", "--address", url], env, timeout=30).returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {url} did not answer in {timeout}s")


def submit_job(args: list[str], env: dict, attempts: int = 30) -> subprocess.CompletedProcess:
    """The job agent starts a few seconds after the dashboard: until then submission fails with
    "No available agent to submit job, please try again later"."""
    for _ in range(attempts):
        out = ray_cli(["job", "submit", *args], env)
        if "No available agent" not in out.stderr:
            return out
        time.sleep(2)
    return out


def ray_cli(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([RAY, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_submitted_care_sweep_succeeds_with_results_under_storage(head_cluster, tmp_path: Path):
    storage = tmp_path / "store"
    env, url = head_cluster["env"], head_cluster["url"]
    runtime_env = {"env_vars": {"RAYSTUDY_STORAGE": str(storage)}}
    job_id = f"raystudy-test-{int(time.time())}"
    submit = submit_job(
        ["--address", url, "--submission-id", job_id, "--working-dir", ".",
         "--runtime-env-json", json.dumps(runtime_env), "--",
         "python", "jobs/sweep_care.py", "--smoke", *tiny("epochs=1")],
        env,
    )
    assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
    status = ray_cli(["job", "status", "--address", url, job_id], env, timeout=60)
    assert "succeeded" in status.stdout.lower(), status.stdout + status.stderr
    assert "[raystudy] Ray cluster at" in submit.stdout  # joined the cluster, did not start its own

    store = ResultsStore(storage)
    rows = store.read().to_pandas()
    assert rows["trial"].nunique() == 2 and (rows["status"] == "final").sum() > 0
    assert list(storage.glob("reports/*/report.md")), "the report must be written under the storage root"

    # The trials were actors of this cluster: the dashboard's state API lists them.
    actors = ray_cli(["list", "actors", "--address", url, "--format", "json", "--limit", "200"], env, timeout=60)
    assert actors.returncode == 0, actors.stderr
    names = {a.get("class_name") for a in json.loads(actors.stdout)}
    assert any(n and "Trainable" in n for n in names), names


def test_submission_without_token_is_refused(head_cluster):
    env = {**head_cluster["env"], "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token"}
    out = ray_cli(["job", "list", "--address", head_cluster["url"]], env, timeout=60)
    assert out.returncode != 0
    assert "auth" in (out.stdout + out.stderr).lower()
