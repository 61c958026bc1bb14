"""Shared test helpers: small configurations (seconds per epoch on one core) and a throwaway
`ray start --head` cluster on loopback."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")


TINY = [
    "epochs=2",
    "batch_size=32",
    "model.width=4",
    "model.proj_hidden=32",
    "model.proj_dim=16",
    "data.n_train=128",
    "data.n_test=64",
    "equiv_splits=4",
    "eval.knn_k=20",
    "eval.equiv_pairs=1",
]


def tiny(*extra: str, method: str = "care") -> list[str]:
    items = [t for t in TINY if method == "care" or not t.startswith("equiv_splits")]
    return items + list(extra)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_processes_under(temp_dir: str) -> None:
    """Stop only the Ray processes of one test cluster (``ray stop`` would stop every Ray here), its Ray client
    server included (found by the head's address: it names no temp dir)."""
    from cluster.stop import stop_head

    stop_head(temp_dir, grace_s=0)


def ray_cli(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([RAY, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          check=False)


@contextmanager
def head_cluster(num_cpus: int = 2) -> Iterator[dict]:
    """`ray start --head` on loopback with the dashboard (jobs API), token auth on, in its own temp dir."""
    temp_dir = tempfile.mkdtemp(prefix="rs-head-")  # short: Ray's socket paths live under it
    port, dash = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    subprocess.run(
        [RAY, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
         "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash), "--num-cpus", str(num_cpus),
         "--temp-dir", temp_dir, "--disable-usage-stats",
         # the agent's HTTP port is fixed (52365) by default: a second Ray on this machine would leave the
         # cluster without a job agent ("No available agent to submit job")
         "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
         "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port())],
        env=env, check=True, capture_output=True, timeout=120,
    )
    url = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.time() + 90
        while ray_cli(["job", "list", "--address", url], env, timeout=30).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError(f"the Ray cluster at {url} did not answer")
            time.sleep(1)
        yield {"url": url, "env": env, "temp_dir": temp_dir}
    finally:
        kill_processes_under(temp_dir)
        import shutil

        shutil.rmtree(temp_dir, ignore_errors=True)


def trial_processes() -> list:
    """The Tune trial workers of this test's own Ray (descendants of this process), never another user's."""
    import psutil

    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if cmd.startswith("ray::") and "Trainable" in cmd:
            found.append(proc)
    return found


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
