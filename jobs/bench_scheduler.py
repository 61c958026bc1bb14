"""Benchmark: the study scheduler's scaling and latency (ratios printed, nothing asserted).

    python jobs/bench_scheduler.py [--trials 16] [--hold 60] [--cpus-per-node 2] [--nodes 1 2 4]

1. Scaling: the same study of many short trials on simulated clusters (``ray.cluster_utils.Cluster``)
   of 1, 2 and 4 nodes, each node offering the same logical CPUs; each trial holds one CPU for a fixed
   time without computing (the `hold` tool), since this machine's 2 cores cannot show scaling with
   compute-bound trials. Prints wall times, each one's excess over the ideal (trials x hold / slots),
   speedups and the fraction of linear speedup at 4 nodes (target >= 0.9).

   The simulated nodes share this machine's cores, so what cannot run in parallel here is the start of
   the trial processes: each costs about 1.5 CPU-seconds, printed with its parts (the Ray worker's start
   about 0.6-0.75, the trainable's imports about 0.5-0.7, nearly all of it Ray Tune's package, which imports
   pandas, ray.data and rich; Tune's trial actor about 0.1; the `hold` method's build about 0.01), and the
   8 that start together at 4 nodes take seconds more on 2 cores than the 2 of one node (on a real
   cluster each node starts its own). Minute-long holds (the default) keep that constant small beside
   the trials; ``--hold 15`` shows it. A method with tensors adds torch's import (about 1 CPU-s) and
   torch._dynamo's (about 1.1 CPU-s: every torch.optim optimizer imports it when it is built). Tune reuses a
   trial's process for the sweep's next trial (``reuse_actors``), so each trial pays that start once per process:
   the per-trial figure printed beside it is the processes' CPU-s shared by the trials they train. Beside each
   speedup, an estimate (printed as one) of the fraction of linear on nodes with their own cores: the larger run's
   extra trial-process starts, in CPU-seconds over this machine's cores, taken off its wall time.
2. Latency: on the warm 1-node cluster, from ``submit`` to the study's first node RUNNING in Ray
   (median over several studies; target < 3 s).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")


def hold_study(folder: Path, name: str, trials: int, hold_s: float) -> Path:
    study = {"name": name, "seeds": list(range(trials)), "measures": ["held_s"],
             "arms": {"hold": {"method": "hold", "sweep": False, "overrides": {"hold_s": hold_s}}}}
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(study))
    return path


def simulated_cluster(nodes: int, cpus: int):
    from ray.cluster_utils import Cluster

    from cluster.connect import _free_port

    # The head's job agent on a free port: at Ray's fixed default (52365) another Ray on this machine (a user's
    # session, a test run) holds it, and every submission then fails with "No available agent"
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": 0,
        "dashboard_agent_listen_port": _free_port()})
    for _ in range(nodes):
        cluster.add_node(num_cpus=cpus)
    cluster.wait_for_nodes()
    return cluster, f"http://{cluster.head_node.address_info['webui_url']}"


def time_study(url: str, path: Path, storage: str) -> tuple[float, float]:
    """(seconds from submit to the trials' node succeeding, seconds to the whole study succeeding)."""
    from jobs.scheduler import StudyScheduler

    sched = StudyScheduler(url, storage=storage, poll_s=0.2, working_dir=None)  # simulated nodes: see scheduler
    start = time.perf_counter()
    sid = sched.submit(path)
    seeds_done = None
    while True:
        sched._advance(sched._load(sid))
        state = sched.status(sid)
        if seeds_done is None and state["nodes"]["seeds:hold"]["status"] == "SUCCEEDED":
            seeds_done = time.perf_counter() - start
        if state["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.2)
    if state["status"] != "SUCCEEDED":
        raise RuntimeError(f"study {sid} ended {state['status']}: {state['nodes']}")
    return seeds_done or float("nan"), time.perf_counter() - start


BREAKDOWN = ("worker_cpu_s", "imports_cpu_s", "actor_cpu_s", "build_cpu_s")


def trial_fixed_cost(storage: str) -> tuple[float, int, dict[str, float]]:
    """(median CPU-seconds a new trial process spent before its trial's first step, processes started, the
    medians of its parts), from the `hold` rows of a study's storage root: Tune reuses a process for the next
    trial, so only the first trial in each process pays the Ray worker's start and the imports. The parts
    (shared/methods/bench/hold.py): the Ray worker's start, the trainable's imports (Ray Tune's package), Tune's
    trial actor until the trial's setup, the method's build."""
    from shared.results import ResultsStore

    rows = [r for r in ResultsStore(storage).read().to_pylist() if r["method"] == "hold" and r["epoch"] == 1]
    by_trial: dict[str, dict[str, float]] = {}
    for r in rows:  # long format: one row per (trial, epoch, metric)
        by_trial.setdefault(r["trial"], {})[r["metric"]] = r["value"]
    new = [m for m in by_trial.values() if m.get("new_process") == 1.0]
    costs = [m["process_cpu_s"] for m in new]
    parts = {key: statistics.median(m[key] for m in new) for key in BREAKDOWN if new and all(key in m for m in new)}
    # what each trial pays on average, the processes' start shared by the trials each trains (reuse_actors)
    parts["per_trial_cpu_s"] = sum(costs) / len(by_trial) if by_trial else float("nan")
    parts["process_cpu_total_s"] = sum(costs)
    return (statistics.median(costs) if costs else float("nan")), len(costs), parts


def print_shared_core_starts(n: int, base: int, walls: dict[int, tuple[float, float]],
                             starts: dict[int, float]) -> None:
    """How much of the larger cluster's excess is its extra trial processes' start run one after another on this
    machine's cores (the simulated nodes share them; a real cluster's nodes start theirs on their own cores), and
    the fraction of linear speedup without it: an estimate from the measured CPU-seconds, printed as such."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    serial = (starts[n] - starts[base]) / cores
    if math.isnan(serial):  # no process rows
        return
    estimate = walls[base][0] / (walls[n][0] - serial) / (n / base)
    print(f"  of the {n}-node run: its trial processes' starts took {starts[n]:.1f} CPU-s against {starts[base]:.1f} "
          f"at {base} node(s), {serial:.1f} s more on this machine's {cores} cores; with each node starting its own "
          f"on its own cores (a real cluster), the fraction of linear would be about {estimate:.2f} (an estimate, "
          "not a measurement)")


def latency(url: str, folder: Path, storage: str, repeats: int) -> list[float]:
    from ray.job_submission import JobStatus

    from jobs.scheduler import StudyScheduler

    sched = StudyScheduler(url, storage=storage, poll_s=0.05, working_dir=None)
    out = []
    for i in range(repeats):
        path = hold_study(folder, f"latency{i}", 1, 0.1)
        start = time.perf_counter()
        sid = sched.submit(path)
        job = sched.status(sid)["nodes"]["seeds:hold"]["job"]
        while sched.client.get_job_status(job) not in (JobStatus.RUNNING, JobStatus.SUCCEEDED):
            time.sleep(0.02)
        out.append(time.perf_counter() - start)
        sched.wait(sid, timeout=120, progress=None)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--hold", type=float, default=60.0, help="seconds each trial holds its CPU")
    parser.add_argument("--cpus-per-node", type=int, default=2)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency-repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from cluster import ensure_token_auth

    ensure_token_auth()
    folder = Path(tempfile.mkdtemp(prefix="raystudy-bench-sched-"))
    walls: dict[int, tuple[float, float]] = {}
    starts: dict[int, float] = {}  # CPU-seconds of all the trial processes' starts, per cluster size
    lat: list[float] = []
    for n in args.nodes:
        cluster, url = simulated_cluster(n, args.cpus_per_node)
        try:
            path = hold_study(folder, f"scale{n}", args.trials, args.hold)
            walls[n] = time_study(url, path, str(folder / f"store{n}"))
            ideal = args.trials * args.hold / (args.cpus_per_node * n)
            cost, processes, parts = trial_fixed_cost(str(folder / f"store{n}"))
            starts[n] = parts.get("process_cpu_total_s", float("nan"))
            parts.pop("process_cpu_total_s", None)
            print(f"{n} node(s) x {args.cpus_per_node} CPUs: {args.trials} trials of {args.hold:g} s: trials node "
                  f"{walls[n][0]:.1f} s (ideal {ideal:.1f} s, excess {walls[n][0] - ideal:.1f} s), whole study "
                  f"{walls[n][1]:.1f} s; {processes} trial processes, each {cost:.2f} CPU-s (median) from its start "
                  "to its first step", flush=True)
            per_trial = parts.pop("per_trial_cpu_s", float("nan"))
            if parts:
                print("  of it (medians): " + ", ".join(f"{key.removesuffix('_cpu_s').replace('_', ' ')} {value:.2f}"
                                                        for key, value in parts.items()) + " CPU-s", flush=True)
            print(f"  per trial, the {processes} processes' start shared by the {args.trials} trials they train "
                  f"(Tune reuses a trial's process): {per_trial:.2f} CPU-s", flush=True)
            if n == args.nodes[0] and args.latency_repeats:
                lat = latency(url, folder, str(folder / "latency"), args.latency_repeats)
        finally:
            cluster.shutdown()
    base = args.nodes[0]
    for n in args.nodes[1:]:
        speedup = walls[base][0] / walls[n][0]
        print(f"speedup {n} vs {base} node(s): {speedup:.2f} (linear {n / base:.0f}); "
              f"fraction of linear {speedup / (n / base):.2f} (target >= 0.9 at 4 nodes)")
        print_shared_core_starts(n, base, walls, starts)
    if lat:
        print(f"submit -> first node RUNNING: median {statistics.median(lat):.2f} s over {len(lat)} "
              f"(min {min(lat):.2f}, max {max(lat):.2f}; target < 3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
