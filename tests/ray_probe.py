"""Run by tests/test_security.py in a subprocess of its own: start a Ray through ``cluster.connect`` and print, as
JSON on the last line, the addresses its processes listen on and where its workers import the project from.

    python tests/ray_probe.py local | private-head
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as jobs/*.py do: the checkout this file is in
os.environ.setdefault("RAY_AUTH_MODE", "token")  # as every job entrypoint sets it, before Ray is imported

import psutil  # noqa: E402
import ray  # noqa: E402

from cluster import connect  # noqa: E402, F401  (cluster.connect the module, which the package shadows)

connect_module = sys.modules["cluster.connect"]


@ray.remote(num_cpus=0)
def worker_imports() -> dict:
    """Where a worker finds the project's packages (this function travels by value, so imports nothing first)."""
    import importlib.util

    import shared

    return {"shared": shared.__file__, "marker": importlib.util.find_spec("shared._probe_marker") is not None}


def ray_processes(markers: list[str]) -> list[psutil.Process]:
    """This process, its descendants (a Ray started by ray.init) and every process whose command line names this
    Ray's session or temp directory (a head started by `ray start` is not a descendant)."""
    me = psutil.Process()
    found = {p.pid: p for p in [me, *me.children(recursive=True)]}
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if any(marker in cmdline for marker in markers):
            try:  # with its children: the agents and workers rename themselves (ray::DashboardAgent, ray::IDLE)
                found.update({p.pid: p for p in [proc, *proc.children(recursive=True)]})
            except psutil.Error:
                continue
    return list(found.values())


def listeners(procs: list[psutil.Process]) -> list[tuple[str, str, int]]:
    out = set()
    for proc in procs:
        try:
            name = proc.name()
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    out.add((name, conn.laddr.ip, conn.laddr.port))
        except psutil.Error:  # a worker that exited meanwhile
            continue
    return sorted(out)


def main(mode: str) -> None:
    if mode == "private-head":  # as when another Ray on this machine holds the job agent's port
        connect_module._port_in_use = lambda port: True
    connect_module.connect(num_cpus=1, jobs=mode == "private-head")
    imports = ray.get(worker_imports.remote())
    node = ray._private.worker.global_worker.node
    markers = [Path(node.get_session_dir_path()).name]
    if connect_module._PRIVATE_HEAD:
        markers.append(connect_module._PRIVATE_HEAD)
    metrics_port = int(node.metrics_export_port)
    found: list[tuple[str, str, int]] = []
    for _ in range(60):  # the agents start beside the first worker: wait for the metrics endpoint to be up
        found = listeners(ray_processes(markers))
        if any(port == metrics_port for _, _, port in found):
            break
        time.sleep(0.5)
    print(json.dumps({"listen": found, "metrics_port": metrics_port, "imports": imports,
                      "node_ip": node.node_ip_address}))
    ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
