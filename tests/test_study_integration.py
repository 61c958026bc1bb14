"""Studies end to end on a `ray start --head` cluster through the jobs API: the smoke study submitted with
`ray job submit` and its report, the family studies, a scheduler killed mid-study and started again, and cancel."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.scheduler import StudyScheduler
from jobs.studyconfig import load_study, study_id
from shared.results import ResultsStore
from tests.helpers import REPO, head_cluster

TINY = {"epochs": 2, "batch_size": 32, "model.width": 4, "model.proj_hidden": 32, "model.proj_dim": 16,
        "eval.knn_k": 20, "eval.equiv_pairs": 1}


def tiny_study(tmp_path: Path, epochs: int = 2, name: str = "tiny") -> Path:
    study = {
        "name": name, "data": {"name": "shapes", "n_train": 128, "n_test": 64}, "seeds": [0, 1],
        "measures": ["colour_probe_acc", "equiv_orth_residual"], "minimize": ["equiv_orth_residual"], "retries": 1,
        "arms": {
            "simclr": {"method": "simclr", "overrides": {**TINY, "epochs": epochs},
                       "search_space": {"optim.lr": {"choice": [0.001]}},
                       "sweep_options": {"scheduler.name": "fifo", "num_samples": 1}},
            "care": {"method": "care", "overrides": {**TINY, "epochs": epochs, "equiv_splits": 4, "lam": 0.1},
                     "sweep": False},
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(study))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def head():
    with head_cluster(num_cpus=2) as info:
        yield info


@pytest.mark.slow
def test_smoke_study_under_ray_job_submit_reports_what_its_rows_hold(head, tmp_path: Path):
    """`ray job submit -- python jobs/study.py care_vs_simclr.yaml --smoke`: the study's driver is itself a Ray
    job and submits its nodes as further jobs of the same cluster, each named for the study and its node; the
    study succeeds with every node on its first attempt, and its report's table shows the means of its rows.
    ``--tensorboard`` reaches every node's sweep."""
    from tests.helpers import ray_cli

    path = REPO / "configs" / "studies" / "care_vs_simclr.yaml"
    storage = tmp_path / "store"
    runtime_env = json.dumps({"env_vars": {"RAYSTUDY_STORAGE": str(storage)}})
    for _ in range(30):
        command = ["python", "jobs/study.py", str(path), "--smoke", "--tensorboard"]
        out = ray_cli(["job", "submit", "--address", head["url"], "--working-dir", ".", "--runtime-env-json",
                       runtime_env, "--", *command], head["env"], timeout=600)
        if "No available agent" not in out.stderr:
            break
        time.sleep(2)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "SUCCEEDED" in out.stdout
    study = load_study(path, smoke=True)
    sid = study_id(study, True)
    sched = StudyScheduler(head["url"], storage=str(storage), poll_s=0.5)
    final = sched.status(sid)
    assert final["status"] == "SUCCEEDED", final
    assert all(n["attempts"] == 1 for n in final["nodes"].values()), final  # no retry hides a failure
    jobs = {j.submission_id: j for j in sched.client.list_jobs() if j.submission_id and sid in j.submission_id}
    assert {j.metadata.get("raystudy_study") for j in jobs.values()} == {sid}
    assert {j.metadata.get("raystudy_node") for j in jobs.values()} == set(final["nodes"])
    logged = {events.parent.parent.name for events in storage.glob("tune/*/*/events.out.tfevents*")}
    assert len(logged) == sum(1 for name in final["nodes"] if name != "report"), logged  # every sweep, seeds node

    rows = sched.results(sid).to_pandas()
    final_rows = rows[(rows["status"] == "final") & rows["job"].str.startswith("seeds:")]
    report = Path(sched.store.path("reports", sid, "report.md")).read_text()
    header = next(ln for ln in report.splitlines() if ln.startswith("| arm |")).strip("|").split("|")
    columns = [c.strip() for c in header]  # the arms' headline measures come first
    for arm in study.arms:
        line = next(ln for ln in report.splitlines() if ln.startswith(f"| {arm} |"))
        for measure in study.measures:
            values = final_rows[(final_rows["job"] == f"seeds:{arm}") & (final_rows["metric"] == measure)]["value"]
            assert len(values) == len(study.seeds)
            cell = line.strip("|").split("|")[columns.index(measure)]
            shown = float(re.search(r"[\d.]+", cell).group())
            assert shown == pytest.approx(values.mean(), abs=1e-4), (arm, measure)
    assert Path(sched.store.path("reports", sid, "measures.png")).stat().st_size > 1000


# Each family study runs at smoke scale with the arms below and its report; the full set was 83 Ray jobs and about
# 1,450 CPU-seconds, nine tenths of it Ray's fixed cost per job (a job supervisor, a sweep driver, a trial process
# importing torch and Tune), which put the suite over its budget. `generative` runs whole (its report's pictures and
# mode-mass figure come from five of its arms); `theory` and `graph_combinatorial` keep the arms that draw one figure
# of each kind their reports declare (a grid against its paper rate, curves per arm, two arms under a bound, a
# categorical axis; the three trade-off figures); each other study runs one arm (and that arm's
# sweep, if it has one). Every shipped study is still loaded and validated whole at smoke scale (tests/test_study.py),
# the methods' reproductions run under Ray (jobs/reproduce.py), and `python jobs/study.py
# configs/studies/<name>.yaml --smoke` runs a whole study (README, "Studies"). 31 Ray jobs (83 for every study whole).
WHOLE_STUDIES = ("generative",)
SOME_ARMS = {"theory": ("group_dro", "flat_mf", "symmetry_hardness", "symmetry_training", "tetris_detector"),
             "graph_combinatorial": ("maxcut_optgnn", "clique_neural_sfe", "facility_unifl"),
             "ssl_geometry": ("care",), "embedding_alignment": ("canonical_map",), "graph_pe": ("cycles_spe",),
             "graph_distances": ("tmd_svm",), "reasoning": ("g1_sft",), "sparse_embeddings": ("digits_csr",)}


def arms_only(name: str, arms: tuple[str, ...], tmp_path: Path) -> Path:
    """A copy of shipped study ``name`` with ``arms`` only: the figures that name only those arms (or no arm: the
    trade-off figures, drawn from every row), the minimised measures those arms report."""
    import yaml

    study = yaml.safe_load((REPO / "configs" / "studies" / f"{name}.yaml").read_text())
    study["arms"] = {arm: study["arms"][arm] for arm in arms}
    study["figures"] = {key: fig for key, fig in (study.get("figures") or {}).items()
                        if set(fig.get("arms") or ()) <= set(arms)}
    measures = {m for arm in study["arms"].values() for m in arm.get("measures") or study.get("measures") or []}
    study["minimize"] = [m for m in study.get("minimize") or [] if m in measures]
    smoke_arms = (study.get("smoke") or {}).get("arms") or {}
    if smoke_arms:
        study["smoke"]["arms"] = {k: v for k, v in smoke_arms.items() if k in arms}
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(study))  # JSON is YAML
    return path


@pytest.mark.slow
def test_shipped_family_studies_run_at_smoke_scale(head, tmp_path: Path):
    """The family studies, submitted together to the same cluster, end with a report (with the figures and
    pictures each study asks for): WHOLE_STUDIES whole, the others with the arms SOME_ARMS names."""
    from jobs.studyconfig import all_measures

    sched = StudyScheduler(head["url"], storage=str(tmp_path / "store"))
    paths = [REPO / "configs" / "studies" / f"{name}.yaml" for name in WHOLE_STUDIES]
    paths += [arms_only(name, arms, tmp_path) for name, arms in SOME_ARMS.items()]
    ids = [sched.submit(path, smoke=True) for path in paths]
    started = time.time()
    finals = sched.wait_all(ids, timeout=1800, progress=None)  # 172 s alone on 2 slow cores (232 s with 41 jobs)
    assert sched.max_jobs == 3  # no cap given: the cluster's 2 CPUs + 1
    assert peak_node_jobs(sched.client, since=started) == 3, "the studies' node jobs exceeded or never met the cap"
    for path, sid in zip(paths, ids, strict=True):
        final = finals[sid]
        assert final["status"] == "SUCCEEDED", final
        report = Path(sched.store.path("reports", sid, "report.md")).read_text()
        study = load_study(path, smoke=True)
        header = next(ln for ln in report.splitlines() if ln.startswith("| arm |"))
        assert all(m in header for m in all_measures(study))
        assert all(any(ln.startswith(f"| {arm} |") for ln in report.splitlines()) for arm in study.arms)
        if study.name == "generative":  # each arm's first seed's pictures and RAM's declared mode-mass figure
            for arm, name in (("reed", "samples"), ("no_alignment", "samples"), ("ram", "toy_samples"),
                              ("rwfm", "toy_samples"), ("ram_digits", "digit_samples")):
                assert f"(files/{arm}/{name}.png)" in report, arm
                assert Path(sched.store.path("reports", sid, "files", arm, f"{name}.png")).stat().st_size > 100
            assert "(figure_mode_mass.png)" in report
            assert Path(sched.store.path("reports", sid, "figure_mode_mass.png")).stat().st_size > 1000
        for name in study.figures:  # every figure the study declares (curves, tradeoffs), drawn from its rows
            assert f"(figure_{name}.png)" in report
            assert Path(sched.store.path("reports", sid, f"figure_{name}.png")).stat().st_size > 1000


def peak_node_jobs(client, since: float) -> int:
    """The most study-node jobs submitted since ``since`` that were alive (submitted, not yet ended) at once, from
    the jobs' own start and end times as Ray recorded them."""
    spans = [(j.start_time, j.end_time or float("inf")) for j in client.list_jobs()
             if (j.metadata or {}).get("raystudy_node") and j.start_time and j.start_time >= since * 1000]
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])  # an end before a start
    alive = peak = 0
    for _, step in events:
        alive += step
        peak = max(peak, alive)
    return peak


def state_of(storage: Path, sid: str) -> dict:
    path = storage / "studies" / sid / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def run_scheduler(study: Path, head: dict, storage: Path) -> subprocess.Popen:
    env = {**head["env"], "RAYSTUDY_STORAGE": str(storage)}
    return subprocess.Popen([sys.executable, str(REPO / "jobs" / "study.py"), str(study), "--address", head["url"]],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)


@pytest.mark.slow
def test_killed_scheduler_resumes_without_rerunning_finished_nodes(head, tmp_path: Path):
    study = tiny_study(tmp_path, epochs=3, name="resume")
    storage = tmp_path / "store"
    sid = study_id(load_study(study), False)
    first = run_scheduler(study, head, storage)
    deadline = time.time() + 300
    while time.time() < deadline:
        nodes = state_of(storage, sid).get("nodes", {})
        if any(n["status"] == "SUCCEEDED" for n in nodes.values()):
            break
        time.sleep(0.5)
    first.send_signal(signal.SIGKILL)  # the scheduler dies; its running jobs go on in the cluster
    first.wait(timeout=30)
    before = state_of(storage, sid)["nodes"]
    done = {k: v for k, v in before.items() if v["status"] == "SUCCEEDED"}
    assert done, before
    store = ResultsStore(storage)
    done_files = {f: os.path.getmtime(f)
                  for n in done.values() if n["experiment"] for f in store.files(n["experiment"])}

    second = run_scheduler(study, head, storage)
    out, _ = second.communicate(timeout=420)
    assert second.returncode == 0, out
    after = state_of(storage, sid)
    assert after["status"] == "SUCCEEDED"
    for name, node in done.items():
        assert after["nodes"][name]["submission_id"] == node["submission_id"], f"{name} was run again"
        assert after["nodes"][name]["attempts"] == node["attempts"]
    assert all(os.path.getmtime(f) == t for f, t in done_files.items())
    sched = StudyScheduler(head["url"], storage=str(storage))
    rows = sched.results(sid).to_pandas()
    assert not rows.duplicated(["job", "trial", "epoch", "metric"]).any()
    assert set(rows.loc[rows["job"] == "seeds:care", "seed"]) == {0, 1}
    state_file = storage / "studies" / sid / "state.json"
    written = state_file.stat().st_mtime_ns
    sched._advance(sched._load(sid))  # a poll that changes nothing writes nothing
    assert state_file.stat().st_mtime_ns == written

    # a figure added to the finished study: same id, only its report is drawn again
    spec = json.loads(study.read_text())
    spec["figures"] = {"probe": {"kind": "bars", "y": ["colour_probe_acc"]}}
    study.write_text(json.dumps(spec))
    assert study_id(load_study(study), False) == sid
    third = run_scheduler(study, head, storage)
    out, _ = third.communicate(timeout=300)
    assert third.returncode == 0, out
    redrawn = state_of(storage, sid)["nodes"]
    assert redrawn["report"]["attempts"] == after["nodes"]["report"]["attempts"] + 1
    assert all(redrawn[n]["attempts"] == after["nodes"][n]["attempts"] for n in redrawn if n != "report")
    assert "(figure_probe.png)" in Path(store.path("reports", sid, "report.md")).read_text()


def test_cancel_stops_every_running_job(head, tmp_path: Path):
    study = tiny_study(tmp_path, epochs=200, name="cancel")
    sched = StudyScheduler(head["url"], storage=str(tmp_path / "store"), poll_s=0.5)
    sid = sched.submit(study)
    deadline = time.time() + 120
    while time.time() < deadline:
        state = sched.status(sid)
        running = [n["job"] for n in state["nodes"].values() if n["status"] == "RUNNING"]
        if len(running) >= 2:
            break
        sched._advance(sched._load(sid))
        time.sleep(0.5)
    assert running, state
    out = sched.cancel(sid)
    assert out["status"] == "CANCELLED"
    assert all(n["status"] in ("CANCELLED", "SUCCEEDED") for n in out["nodes"].values())
    for job in running:
        assert sched.client.get_job_status(job).value == "STOPPED"
