"""`ray start --head` + `ray job submit --working-dir .`: the CARE sweep runs unchanged as a Ray job, its
trials are visible to the dashboard's state API, and its results land under the storage root, not in the
job's temporary working directory. The cluster is started by the test on loopback, in its own temporary
directory, and stopped after."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from shared.results import ResultsStore
from tests.helpers import head_cluster, ray_cli, tiny


@pytest.fixture(scope="module")
def head():
    with head_cluster() as info:
        yield info


def submit_job(args: list[str], env: dict, attempts: int = 30) -> subprocess.CompletedProcess:
    """The job agent starts a few seconds after the dashboard: until then submission fails with
    "No available agent to submit job, please try again later"."""
    for _ in range(attempts):
        out = ray_cli(["job", "submit", *args], env)
        if "No available agent" not in out.stderr:
            return out
        time.sleep(2)
    return out


def test_submitted_care_sweep_succeeds_with_results_under_storage(head, tmp_path: Path):
    storage = tmp_path / "store"
    env, url = head["env"], head["url"]
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


def test_submission_without_token_is_refused(head):
    env = {**head["env"], "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token"}
    out = ray_cli(["job", "list", "--address", head["url"]], env, timeout=60)
    assert out.returncode != 0
    assert "auth" in (out.stdout + out.stderr).lower()
