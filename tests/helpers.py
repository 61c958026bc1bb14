"""Shared test helpers: small configurations (seconds per epoch on one core) and a throwaway
`ray start --head` cluster on loopback."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from cluster.connect import loopback_head

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


def ray_cli(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([RAY, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          check=False)


head_cluster = loopback_head  # `ray start --head` on loopback with the jobs API, token auth on, in its own temp dir


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
