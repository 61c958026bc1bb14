"""Multi-node behaviour on one machine (`ray.cluster_utils.Cluster`): a study's trials spread over the
nodes, GPU trials land only on (simulated) GPU nodes, and a node removed mid-study does not lose it."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster

from cluster import ensure_token_auth
from jobs.scheduler import StudyScheduler
from shared.results import ResultsStore
from tests.helpers import free_port


def study_file(tmp_path: Path, name: str, seeds: list[int], epochs: int, resources: dict) -> Path:
    """A study of `hold` trials: these tests are about where trials run, and a trial that only holds its CPU
    for a second an epoch (checkpointed, resumed, retried like any other) spares the simulated nodes, which
    share two real cores, the start-up of torch in every trial process and job driver."""
    study = {"name": name, "seeds": seeds, "measures": ["held_s"], "resources": resources, "retries": 2,
             "arms": {"hold": {"method": "hold", "sweep": False, "overrides": {"hold_s": 1.0, "epochs": epochs}}}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(study))
    return path


@pytest.fixture(scope="module")
def sim_cluster():
    """A head with no CPUs (it runs the jobs' drivers only), two 1-CPU nodes and one 1-CPU, 1-GPU node;
    the GPU is a logical resource, as on any machine without one. One cluster for the module (a start
    costs about 10 CPU-seconds): the node-removal test, which changes it, comes last."""
    ensure_token_auth()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": 0,
        "dashboard_agent_listen_port": free_port()})
    nodes = {"cpu1": cluster.add_node(num_cpus=1), "cpu2": cluster.add_node(num_cpus=1),
             "gpu": cluster.add_node(num_cpus=1, num_gpus=1)}
    cluster.wait_for_nodes()
    try:
        yield cluster, nodes, f"http://{cluster.head_node.address_info['webui_url']}"
    finally:
        cluster.shutdown()


def run(url: str, path: Path, storage: Path, timeout: float = 420) -> tuple[StudyScheduler, str, dict]:
    sched = StudyScheduler(url, storage=str(storage), poll_s=0.5, working_dir=None)
    sid = sched.submit(path)
    return sched, sid, sched.wait(sid, timeout=timeout, progress=None)


@pytest.mark.slow
def test_trials_spread_over_nodes_and_gpu_trials_use_gpu_nodes_only(sim_cluster, tmp_path: Path):
    cluster, nodes, url = sim_cluster
    ids = {k: n.node_id for k, n in nodes.items()}
    sched, sid, final = run(url, study_file(tmp_path, "spread", [0, 1, 2], 3, {"cpu": 1}), tmp_path / "s")
    assert final["status"] == "SUCCEEDED", final
    assert all(n["attempts"] == 1 for n in final["nodes"].values()), final  # no retry hides a failure
    used = set(sched.results(sid).to_pandas()["node"])
    assert len(used) >= 2 and used <= set(ids.values())

    sched, sid, final = run(url, study_file(tmp_path, "gpu", [0, 1], 2, {"cpu": 1, "gpu": 1}), tmp_path / "g")
    assert final["status"] == "SUCCEEDED", final
    assert set(sched.results(sid).to_pandas()["node"]) == {ids["gpu"]}


def test_study_asking_for_more_gpus_than_any_node_is_refused(sim_cluster, tmp_path: Path):
    _, _, url = sim_cluster
    with pytest.raises(ValueError, match="GPU"):
        big = study_file(tmp_path, "big", [0], 1, {"cpu": 1, "gpu": 2})
        StudyScheduler(url, storage=str(tmp_path), working_dir=None).submit(big)
    assert not (tmp_path / "studies").exists()


@pytest.mark.slow
def test_node_removed_mid_study_does_not_lose_it(sim_cluster, tmp_path: Path):
    cluster, nodes, url = sim_cluster
    path = study_file(tmp_path, "loss", [0, 1], 10, {"cpu": 1})
    storage = tmp_path / "store"
    sched = StudyScheduler(url, storage=str(storage), poll_s=0.5, working_dir=None)
    sid = sched.submit(path)
    store = ResultsStore(storage)
    victim = None
    deadline = time.time() + 300
    while victim is None and time.time() < deadline:
        sched._advance(sched._load(sid))
        rows = sched.results(sid).to_pandas()
        if not rows.empty and rows["epoch"].max() >= 2:
            busy = set(rows["node"])
            victim = next((k for k, n in nodes.items() if n.node_id in busy), None)
        time.sleep(0.5)
    assert victim, "no trial got going"
    cluster.remove_node(nodes[victim])
    final = sched.wait(sid, timeout=420, progress=None)
    assert final["status"] == "SUCCEEDED", final
    rows = sched.results(sid).to_pandas()
    finals = rows[rows["status"] == "final"]
    assert set(finals["seed"]) == {0, 1}
    assert nodes[victim].node_id not in set(finals["node"]), "a trial finished on the removed node"
    assert not rows.duplicated(["trial", "epoch", "metric"]).any()
    assert store.files()
