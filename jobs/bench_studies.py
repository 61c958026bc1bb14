"""Benchmark: where a set of studies' time goes on one cluster (CPU-seconds per kind of process; nothing asserted).

    python jobs/bench_studies.py ssl_geometry graph_pe [--cpus 2] [--full]
    python jobs/bench_studies.py ssl_geometry embedding_alignment graph_pe theory generative graph_distances \
        graph_combinatorial reasoning sparse_embeddings        # what the CI family-studies test runs

Starts a local `ray start --head` cluster (as the CI family-studies test does), submits the named studies of
``configs/studies/`` together and follows them, while sampling every process of that cluster every half second.
Prints the wall time, the number of jobs, and the CPU-seconds of each kind of process: the study nodes' job drivers
(``jobs/sweep.py``), Ray's job supervisors (one actor process per job), the trial processes, Ray's own daemons
(GCS, raylet, dashboard and agents) and the scheduler (this process), with the cluster's whole CPU time beside
the wall time (the scheduler's figure leaves out the sampling thread's). A process that ends between two samples
loses at most its last half second; a machine that others load stretches the wall time, not the CPU-seconds.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

KINDS = ("driver", "supervisor", "trial", "idle worker", "ray daemons", "scheduler")


def kind_of(cmdline: list[str], name: str) -> str:
    text = " ".join(cmdline) or name  # an exiting process has no command line left: its name (15 characters)
    if "jobs/sweep.py" in text or "jobs/report.py" in text or "jobs/study.py" in text:
        return "driver" if not text.startswith("/bin/sh") else "ray daemons"  # the job's shell: no CPU
    if "JobSupervisor" in text:
        return "supervisor"
    if text.startswith("ray::IDLE") or "default_worker.py" in text:
        return "idle worker"
    if text.startswith("ray::"):
        return "trial"
    return "ray daemons"


class Sampler(threading.Thread):
    """The latest CPU-seconds of every process under the cluster's daemons (found by its temp dir)."""

    def __init__(self, temp_dir: str) -> None:
        super().__init__(daemon=True)
        self.temp_dir, self.stop, self.cpu = temp_dir, threading.Event(), {}
        self.own_cpu = 0.0  # this sampling thread's CPU-seconds (left out of the scheduler's)

    def roots(self) -> list:
        import psutil

        out = []
        for proc in psutil.process_iter(["cmdline"]):
            if any(self.temp_dir in part for part in proc.info["cmdline"] or []):
                out.append(proc)
        return out

    def run(self) -> None:
        import psutil

        while not self.stop.is_set():
            seen = {}
            for root in self.roots():
                for proc in [root, *self._children(root)]:
                    seen[proc.pid] = proc
            for pid, proc in seen.items():
                try:
                    times = proc.cpu_times()
                    key = (pid, proc.create_time())
                    cmdline = proc.cmdline()
                    self.cpu[key] = (kind_of(cmdline, proc.name()), times.user + times.system,
                                     (cmdline[:1] or [proc.name()])[0][:60])
                except psutil.Error:
                    continue
            self.own_cpu = time.thread_time()
            self.stop.wait(0.5)

    @staticmethod
    def _children(proc) -> list:
        import psutil

        try:
            return proc.children(recursive=True)
        except psutil.Error:
            return []

    def totals(self) -> dict[str, tuple[float, int]]:
        out = {k: [0.0, 0] for k in KINDS}
        for kind, cpu, _ in self.cpu.values():
            out[kind][0] += cpu
            out[kind][1] += 1
        return {k: (v[0], v[1]) for k, v in out.items()}

    def daemons(self, top: int = 6) -> list[tuple[str, float, int]]:
        """Ray's own processes by their command: (command, CPU-s, processes), most CPU first."""
        out: dict[str, list[float]] = {}
        for kind, cpu, command in self.cpu.values():
            if kind == "ray daemons":
                entry = out.setdefault(command, [0.0, 0])
                entry[0] += cpu
                entry[1] += 1
        return sorted(((c, v[0], int(v[1])) for c, v in out.items()), key=lambda x: -x[1])[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("studies", nargs="+", help="names under configs/studies/")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="the full studies (default: --smoke scale)")
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    paths = [repo / "configs" / "studies" / f"{name}.yaml" for name in args.studies]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"error: no such study: {', '.join(missing)}", file=sys.stderr)
        return 2

    from cluster.connect import loopback_head
    from jobs.scheduler import StudyScheduler

    with loopback_head(num_cpus=args.cpus) as head:
        sampler = Sampler(head["temp_dir"])
        sampler.start()
        storage = tempfile.mkdtemp(prefix="raystudy-bench-studies-")
        cpu0, start = time.process_time(), time.perf_counter()
        sched = StudyScheduler(head["url"], storage=storage)
        ids = [sched.submit(p, smoke=not args.full) for p in paths]
        finals = sched.wait_all(ids, timeout=3600, progress=None)
        wall = time.perf_counter() - start
        sampler.stop.set()
        sampler.join()
        jobs = sum(len(f["nodes"]) for f in finals.values())
        totals = sampler.totals()
        totals["scheduler"] = (time.process_time() - cpu0 - sampler.own_cpu, 1)
    ends = ", ".join(f"{s}: {f['status']}" for s, f in finals.items())
    print(f"{len(ids)} studies, {jobs} jobs, {wall:.1f} s wall on {args.cpus} logical CPUs "
          f"({os.cpu_count()} cores): {ends}")
    whole = sum(cpu for cpu, _ in totals.values())
    for kind, (cpu, count) in totals.items():
        print(f"  {kind:12s} {cpu:7.1f} CPU-s in {count:3d} processes ({cpu / max(count, 1):.2f} each)")
    print(f"  {'all':12s} {whole:7.1f} CPU-s ({whole / wall:.2f} cores busy on average)")
    print("  Ray's daemons: " + "; ".join(f"{cmd} {cpu:.1f} CPU-s in {n}" for cmd, cpu, n in sampler.daemons()))
    return 0 if all(f["status"] == "SUCCEEDED" for f in finals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
