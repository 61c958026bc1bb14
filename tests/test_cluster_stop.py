"""`python -m cluster.stop --temp-dir DIR` stops the Ray head started with that temp dir, all of it (the Ray
client server, which names only the head's address, included), and leaves another Ray of the machine running.
The heads are real `ray start --head` clusters on loopback and free ports, in their own temp dirs."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from cluster.stop import head_address, head_processes, stop_head
from tests.helpers import RAY, REPO, free_port


def start_head(temp_dir: str) -> subprocess.Popen:
    """`ray start` of a 1-CPU head without a dashboard, every port free (the client server's too, so that it
    runs)."""
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen(
        [RAY, "start", "--head", "--port", str(free_port()), "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
         "--include-dashboard", "false", "--ray-client-server-port", str(free_port()),
         "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
         "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port()),
         "--temp-dir", temp_dir, "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def started_head(temp_dir: str, attempts: int = 2) -> None:
    """Start a head, once more if a loaded machine timed the first start out ("The current node timed out
    during startup"), after stopping what that start left."""
    for _ in range(attempts):
        start = start_head(temp_dir)
        _, err = start.communicate(timeout=180)
        if start.returncode == 0:
            return
        stop_head(temp_dir, grace_s=0)
    raise AssertionError(f"ray start failed {attempts} times: {err[-2000:]}")


def ray_processes_of(address: str) -> list[psutil.Process]:
    """Every process whose command line names this GCS address (found independently of cluster.stop)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(address in arg for arg in proc.info["cmdline"] or []):
            found.append(proc)
    return found


@pytest.fixture
def two_heads():
    dirs = [tempfile.mkdtemp(prefix="rs-stop-") for _ in range(2)]  # short: Ray's socket paths live under them
    try:
        for d in dirs:  # one after the other: two heads starting at once on 2 loaded cores can time out
            started_head(d)
        yield [(d, head_address(d)) for d in dirs]
    finally:
        for d in dirs:
            stop_head(d, grace_s=1, remove=True)


def test_stops_one_head_entirely_and_leaves_the_other_running(two_heads):
    (mine, my_address), (other, _) = two_heads
    assert my_address and my_address.count(":") == 1  # "<node ip>:<GCS port>", as the head recorded it
    client_servers = [p for p in ray_processes_of(my_address) if "ray.util.client.server" in p.cmdline()]
    assert client_servers, "the head should run a Ray client server (it names no temp dir, only the address)"
    others = head_processes(other)
    assert len(others) >= 3  # GCS, raylet, monitors at least

    done = subprocess.run([sys.executable, "-m", "cluster.stop", "--temp-dir", mine], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    assert "stopped" in done.stdout
    assert head_processes(mine) == []
    assert ray_processes_of(my_address) == [], "a process of the stopped head is still running"
    assert all(p.is_running() for p in others), "the other head must keep running"
    assert Path(mine).is_dir()  # logs are kept unless --remove


def test_a_directory_that_is_not_a_ray_temp_dir_is_refused(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "cluster.stop", "--temp-dir", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "not the temp dir of a Ray head" in done.stderr and "Traceback" not in done.stderr


def test_rays_shared_default_temp_dir_is_refused(tmp_path: Path):
    """Every Ray started without --temp-dir lives under Ray's default one: stopping it would stop them all, like
    `ray stop`. The default is moved into tmp_path (RAY_TMPDIR, as Ray reads it), so that a regression here
    cannot stop this machine's other Rays."""
    default = tmp_path / "ray"
    (default / "session_latest").mkdir(parents=True)
    env = {**os.environ, "RAY_TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "cluster.stop", "--temp-dir", str(default)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "default temp dir" in done.stderr and "Traceback" not in done.stderr


OWNED_HEAD = """
import importlib, time
connect = importlib.import_module("cluster.connect")  # the module (the package exports the function by its name)
print(connect._start_private_head(1, 0), connect._PRIVATE_HEAD, flush=True)
time.sleep(600)
"""


def test_a_private_head_whose_driver_was_killed_is_reaped_and_a_live_owners_head_is_not():
    """A driver killed with kill -9 never runs the exit hook that stops its private head: the next
    connect(jobs=True) stops it (reap_orphaned_heads). A head whose owner still runs, and a directory without
    an owner record, are left alone."""
    from cluster.stop import OWNER_FILE, reap_orphaned_heads, record_owner

    parent = Path(tempfile.mkdtemp(prefix="rs-p-"))  # short: Ray's socket paths live under it
    env = {**os.environ, "TMPDIR": str(parent), "PYTHONPATH": str(REPO),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    driver = subprocess.Popen([sys.executable, "-c", OWNED_HEAD], env=env, stdout=subprocess.PIPE, text=True)
    try:
        address, temp_dir = driver.stdout.readline().split()
        assert head_processes(temp_dir), "the private head did not start"
        live = parent / "rs-head-live"
        live.mkdir()
        record_owner(live)  # owned by this test process, which runs
        (parent / "rs-head-foreign").mkdir()  # no owner record
        assert reap_orphaned_heads(parent) == [], "a head whose driver runs was reaped"
        driver.kill()
        driver.wait(timeout=30)
        assert head_processes(temp_dir), "the head stopped with its driver: nothing to reap"
        assert reap_orphaned_heads(parent) == [temp_dir]
        assert not head_processes(temp_dir) and not Path(temp_dir).exists()
        assert (live / OWNER_FILE).exists() and (parent / "rs-head-foreign").exists()
    finally:
        if driver.poll() is None:
            driver.kill()
        for leftover in parent.glob("rs-head-*"):
            stop_head(leftover, grace_s=0, remove=True)
        import shutil

        shutil.rmtree(parent, ignore_errors=True)
