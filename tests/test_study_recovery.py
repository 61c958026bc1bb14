"""A study driver that adopts its jobs, and node retries that retry (issue 16 items 5 and 8, issue 15 item 6's job
names), on a `ray start --head` cluster through the jobs API. The nodes run the `hold` tool method (no
computation), so each study takes seconds of work beside Ray's job start-up."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.scheduler import StudyScheduler
from jobs.studyconfig import load_study, study_id
from tests.helpers import REPO, head_cluster


@pytest.fixture(scope="module")
def head():
    with head_cluster(num_cpus=2) as info:
        yield info


def hold_study(tmp_path: Path, name: str, retries: int, **overrides) -> tuple[Path, str]:
    """One arm of `hold` over one seed (no sweep), then the report."""
    study = {"name": name, "seeds": [0], "measures": ["held_s"], "retries": retries,
             "arms": {"hold": {"method": "hold", "overrides": overrides, "sweep": False}}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(study))  # JSON is YAML
    return path, study_id(load_study(path), False)


def run_driver(study: Path, head: dict, storage: Path) -> subprocess.Popen:
    env = {**head["env"], "RAYSTUDY_STORAGE": str(storage)}
    return subprocess.Popen([sys.executable, str(REPO / "jobs" / "study.py"), str(study), "--address", head["url"]],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)


def node_jobs(sched: StudyScheduler, sid: str, node: str) -> list:
    return [j for j in sched.client.list_jobs() if (j.metadata or {}).get("raystudy_study") == sid
            and j.metadata.get("raystudy_node") == node]


def node_state(storage: Path, sid: str, node: str) -> dict:
    path = storage / "studies" / sid / "state.json"
    return json.loads(path.read_text())["nodes"].get(node, {}) if path.exists() else {}


def test_a_killed_study_driver_is_restarted_and_adopts_its_running_job(head, tmp_path: Path):
    """kill -9 of the study's driver while a node's job runs: the restarted driver follows that job (no second
    submission of the node, no attempt spent) and the study finishes with every row once."""
    study, sid = hold_study(tmp_path, "adopt", retries=0, hold_s=1.0, epochs=20)
    storage = tmp_path / "store"
    sched = StudyScheduler(head["url"], storage=str(storage))
    first = run_driver(study, head, storage)
    deadline = time.time() + 240
    while time.time() < deadline:
        jobs = node_jobs(sched, sid, "seeds:hold")
        if jobs and jobs[0].status.value == "RUNNING" and node_state(storage, sid, "seeds:hold"):
            break
        time.sleep(0.5)
    assert jobs and jobs[0].status.value == "RUNNING", jobs
    first.send_signal(signal.SIGKILL)  # the job goes on in the cluster
    first.wait(timeout=30)
    stale = f"{sid}--seeds-hold--a0"  # a job of the node that is not its current attempt: not adoptable
    sched.client.submit_job(entrypoint="sleep 600", submission_id=stale)

    second = run_driver(study, head, storage)
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    assert f"adopted {sid}--seeds-hold--a1" in out, out
    assert sched.client.get_job_status(stale).value == "STOPPED"
    jobs = node_jobs(sched, sid, "seeds:hold")
    assert [j.submission_id for j in jobs] == [f"{sid}--seeds-hold--a1"]  # submitted once
    assert jobs[0].metadata["raystudy_attempt"] == "1"
    assert jobs[0].metadata["job_name"] == f"{sid} seeds:hold (attempt 1)"  # the dashboard's Name column
    final = sched.status(sid)
    assert final["status"] == "SUCCEEDED", final
    assert (final["nodes"]["seeds:hold"]["attempts"], final["nodes"]["seeds:hold"]["lost"]) == (1, 0)
    rows = sched.results(sid).to_pandas()
    assert sorted(rows.loc[rows["metric"] == "loss", "epoch"]) == list(range(1, 21))
    assert not rows.duplicated(["trial", "epoch", "metric"]).any()


def test_a_failed_node_is_retried_by_running_the_study_again(head, tmp_path: Path):
    """The node's first attempt loses its trial (three failures: Tune's own two retries of the trial fail too) and
    exits 1; with no retries left the study fails. Running the study again submits a new attempt (a new job id,
    not a reattachment to the failed job), which retries the trial from its checkpoint and succeeds."""
    storage = tmp_path / "store"
    sched = StudyScheduler(head["url"], storage=str(storage), poll_s=0.5)
    study, sid = hold_study(tmp_path, "failing", retries=0, hold_s=0.0, epochs=3,
                            fail_marker=str(tmp_path / "failed"), fail_epoch=2, fail_times=3)
    sched.submit(study)
    failed = sched.wait(sid, timeout=300, progress=None)
    assert failed["status"] == "FAILED", failed
    assert "job FAILED" in failed["nodes"]["seeds:hold"]["message"], failed
    sched.submit(study)  # what running the study again does
    final = sched.wait(sid, timeout=300, progress=None)
    assert final["status"] == "SUCCEEDED", final
    assert final["nodes"]["seeds:hold"]["attempts"] == 2
    states = {j.submission_id: j.status.value for j in node_jobs(sched, sid, "seeds:hold")}
    assert states == {f"{sid}--seeds-hold--a1": "FAILED", f"{sid}--seeds-hold--a2": "SUCCEEDED"}
    rows = sched.results(sid).to_pandas()
    assert sorted(rows.loc[rows["metric"] == "loss", "epoch"]) == [1, 2, 3]  # epoch 1 restored, not rerun


def test_a_job_the_cluster_lost_is_resubmitted_without_spending_a_retry(head, tmp_path: Path):
    """The study's driver dies and the study is started again on a new cluster (as after a cluster restart, or
    with an embedded Ray that died with its driver): the new cluster does not know the node's job. Its driver,
    still running on this machine for the old cluster, is stopped, and the node is submitted again without
    counting against retries (0 here), so the study succeeds."""
    study, sid = hold_study(tmp_path, "lost", retries=0, hold_s=1.0, epochs=30)
    storage = tmp_path / "store"
    old = StudyScheduler(head["url"], storage=str(storage))
    with head_cluster(num_cpus=2) as other:  # the new cluster, started first: the old job still runs below
        first = run_driver(study, head, storage)
        deadline = time.time() + 240
        while time.time() < deadline:
            rows = old.results(sid)
            if rows.num_rows:  # the node's job trains
                break
            time.sleep(0.5)
        assert rows.num_rows
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)

        second = run_driver(study, other, storage)
        out, _ = second.communicate(timeout=300)
        assert second.returncode == 0, out
        assert "lost by the cluster (1 driver(s) left here stopped)" in out, out
    state = json.loads((storage / "studies" / sid / "state.json").read_text())
    node = state["nodes"]["seeds:hold"]
    assert state["status"] == "SUCCEEDED"
    assert (node["attempts"], node["lost"], node["counted"]) == (2, 1, 0), node
    assert old.client.get_job_status(f"{sid}--seeds-hold--a1").value == "FAILED"  # its driver was stopped
    rows = old.results(sid).to_pandas()
    assert sorted(rows.loc[rows["metric"] == "loss", "epoch"]) == list(range(1, 31))
