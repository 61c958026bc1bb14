"""How a raystudy process reaches Ray: an existing cluster, or an embedded local one.

``connect()`` joins ``RAY_ADDRESS`` (set for the driver of a job run with ``ray job submit``) or the
address given; otherwise it starts a new local Ray whose dashboard listens on 127.0.0.1 only, even when a
cluster started with ``ray start`` runs on this machine (join that one with ``--address`` or ``RAY_ADDRESS``). Token
authentication is on for every path: job entrypoints set ``RAY_AUTH_MODE=token`` before Ray is imported
(Ray reads it once, at import), and when it is unset Ray 2.60 itself turns tokens on for a new local
Ray and for a cluster whose token is on this machine. The token file is made readable by its owner only.
Scripts behave the same run directly or submitted.

The jobs API (the study scheduler) needs the local Ray's job agent, which listens on a fixed port (52365)
that ``ray.init`` cannot change. When another Ray on this machine holds it, ``connect(jobs=True)`` starts a
private head with ``ray start --head`` on free ports instead (Ray's own answer for several local clusters)
and stops it when the process exits; a head whose driver was killed before that (kill -9) is stopped by the
next ``connect(jobs=True)`` on the machine (``cluster.stop.reap_orphaned_heads``).
"""
from __future__ import annotations

import atexit
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import ray

from shared.config import ConfigError

NAMESPACE = "raystudy"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Connection:
    address: str
    dashboard_url: str | None
    local: bool  # True when this process started the Ray instance

    def describe(self) -> str:
        where = "embedded local Ray" if self.local else f"Ray cluster at {self.address}"
        if self.dashboard_url:
            return f"{where}; dashboard http://{self.dashboard_url}"
        # The sweep starts its embedded Ray without the dashboard (seconds of start-up): say how to get it
        return where + ("; no dashboard (--dashboard starts one)" if self.local else "")


def ensure_token_auth() -> None:
    """Token authentication for this process's Ray clients (ray.init, the jobs API), whenever Ray was
    imported: set RAY_AUTH_MODE=token unless the user chose otherwise, and make Ray re-read it."""
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    _refresh_auth_mode()


def _refresh_auth_mode() -> None:
    """Ray caches its configuration, the authentication mode included, when it is imported. If
    ``RAY_AUTH_MODE`` was set after that (e.g. by importing a job module after ``ray``), reload it, as
    Ray itself does when it turns tokens on for a new local cluster."""
    try:
        from ray._raylet import Config

        Config.initialize("")
    except (ImportError, AttributeError):  # a future Ray without this hook reads the variable itself
        pass


def _protect_token() -> None:
    token = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token")).expanduser()
    if token.exists() and token.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
        try:
            token.chmod(0o600)
        except OSError:
            pass  # not ours to change (e.g. a shared read-only mount); Ray still works


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    dashboard: bool = True,
    jobs: bool = False,
) -> Connection:
    """Connect to Ray once per process (later calls return the same connection).

    Args:
        address: a cluster address; default ``RAY_ADDRESS``; when neither is set a local Ray is started.
        num_cpus, num_gpus: size of a *local* Ray only (Ray refuses them when joining a cluster).
        dashboard: start the dashboard with a local Ray (on 127.0.0.1).
        jobs: the caller submits Ray jobs to a local Ray: make sure it has a job agent (see above).
    """
    if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token":
        print("[raystudy] warning: RAY_AUTH_MODE is not 'token'; anyone who can reach this Ray can run code",
              flush=True)
    if not ray.is_initialized():
        _refresh_auth_mode()
        address = address or os.environ.get("RAY_ADDRESS")
        if not address:
            # A Ray started here runs this environment's interpreter for its jobs' `python` entrypoints
            # too (as if the venv were activated): its processes inherit this PATH.
            _put_interpreter_on_path()
            _put_project_on_pythonpath()
            _skip_idle_worker_prestart()
        if not address and jobs:
            from cluster.stop import reap_orphaned_heads

            reap_orphaned_heads()  # heads left by drivers killed with kill -9: they would hold CPUs and ports
        if not address and jobs and _port_in_use(AGENT_PORT):
            print(f"[raystudy] port {AGENT_PORT} (Ray's job agent) is held by another Ray on this machine; "
                  "starting a private local head on free ports", flush=True)
            with _loopback_only():
                address = _start_private_head(num_cpus, num_gpus)
        if address:
            check_reachable(address)
            # Ray would replace the private head's loopback address by this machine's network address, where
            # that head, listening on loopback only, is not found
            with _loopback_only() if _PRIVATE_HEAD is not None else nullcontext():
                ray.init(address=address, namespace=NAMESPACE, log_to_driver=True)
        else:
            # "local": a new Ray, as documented. Without it, ray.init() joins the cluster that the last
            # `ray start` on this machine recorded in /tmp/ray/ray_current_cluster (and then refuses num_cpus).
            with _loopback_only():
                ray.init(
                    address="local",
                    num_cpus=num_cpus,
                    num_gpus=num_gpus,
                    include_dashboard=dashboard,
                    dashboard_host=LOOPBACK,
                    _node_ip_address=LOOPBACK,
                    namespace=NAMESPACE,
                )
        _protect_token()
    ctx = ray.get_runtime_context()
    gcs = ctx.gcs_address
    local = _PRIVATE_HEAD is not None or not (address or os.environ.get("RAY_ADDRESS"))
    return Connection(address=gcs, dashboard_url=_dashboard_url(), local=local)


class ClusterUnreachable(ConfigError):
    """Nothing answers at the Ray address given (a bad --address or RAY_ADDRESS)."""


CONNECT_TIMEOUT_S = 15.0  # a head that is still starting gets this long to open its port


def check_reachable(address: str, timeout_s: float | None = None) -> None:
    """Fail within ``timeout_s`` (default ``RAYSTUDY_CONNECT_TIMEOUT_S`` or 15 s) when nothing listens at a
    ``host:port`` Ray address: ``ray.init`` itself retries such an address for minutes. Other forms
    (``auto``, ``ray://``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    limit = timeout_s if timeout_s is not None else float(os.environ.get("RAYSTUDY_CONNECT_TIMEOUT_S",
                                                                          CONNECT_TIMEOUT_S))
    deadline = time.monotonic() + limit
    while True:
        try:
            attempt_s = max(min(deadline - time.monotonic(), 5.0), 0.1)
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=attempt_s):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise ClusterUnreachable(f"cannot reach a Ray cluster at {address} within {limit:g} s "
                                         f"({err.strerror or err}); check --address / RAY_ADDRESS") from None
            time.sleep(0.5)


AGENT_PORT = 52365  # ray_constants.DEFAULT_DASHBOARD_AGENT_LISTEN_PORT
_PRIVATE_HEAD: str | None = None  # temp dir of the head this process started, if any


def _put_interpreter_on_path() -> None:
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = f"{bindir}{os.pathsep}{path}"


PROJECT_ROOT = str(Path(__file__).resolve().parents[1])


def _put_project_on_pythonpath() -> None:
    """A Ray started here gives its workers this checkout's code: its processes inherit PYTHONPATH, and an entry
    there comes before an editable install of another checkout in the same environment, which the workers
    would import otherwise (the driver imports the checkout it was started from)."""
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if parts[:1] != [PROJECT_ROOT]:
        os.environ["PYTHONPATH"] = os.pathsep.join([PROJECT_ROOT, *(p for p in parts if p != PROJECT_ROOT)])


@contextmanager
def _loopback_only() -> Iterator[None]:
    """Every process of a Ray started here listens on 127.0.0.1 only (GCS, raylet, workers, the dashboard and
    its agents, the unauthenticated metrics endpoint). Ray binds them all to loopback only when its node address
    is loopback, and on Linux it replaces a loopback ``node_ip_address`` by the machine's network address
    unless its cluster mode is off: off while this Ray starts (its processes keep the setting, read when they
    import Ray), then restored, so that later `ray start` commands of this process are unaffected."""
    from ray._private import ray_constants

    saved_env, saved_flag = os.environ.get(_CLUSTER_MODE_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_CLUSTER_MODE_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(_CLUSTER_MODE_ENV, None)
        else:
            os.environ[_CLUSTER_MODE_ENV] = saved_env


_CLUSTER_MODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR


def _skip_idle_worker_prestart() -> None:
    """Ray starts one idle worker per CPU when its first driver connects, before anything asks for one.
    Tune's trial actors did not run on them in any run checked (each started a worker of its own, by process
    id), so on a small machine they only compete for the cores at the moment the first trials start (about
    0.5 CPU-s each). The raylet reads this from the environment it inherits; a value the user set is kept."""
    os.environ.setdefault("RAY_prestart_worker_first_driver", "0")


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return True
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def head_command(temp_dir: str, num_cpus: int | None = None, num_gpus: int | None = None) -> tuple[list[str], int, int]:
    """``ray start --head`` on loopback with every port free (the job agent's fixed 52365 too: a second Ray on this
    machine would otherwise leave the cluster without a job agent), in ``temp_dir``: (argv, GCS port, dashboard
    port)."""
    port, dashboard = _free_port(), _free_port()
    cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--port", str(port),
           "--node-ip-address", LOOPBACK, "--dashboard-host", LOOPBACK, "--dashboard-port", str(dashboard),
           "--dashboard-agent-listen-port", str(_free_port()), "--dashboard-agent-grpc-port", str(_free_port()),
           "--runtime-env-agent-port", str(_free_port()), "--metrics-export-port", str(_free_port()),
           "--temp-dir", temp_dir, "--disable-usage-stats"]
    if num_cpus is not None:
        cmd += ["--num-cpus", str(num_cpus)]
    if num_gpus is not None:
        cmd += ["--num-gpus", str(num_gpus)]
    return cmd, port, dashboard


def _head_env() -> dict[str, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    return env


def _start_private_head(num_cpus: int | None, num_gpus: int | None) -> str:
    """``ray start --head`` on loopback with every port free, in its own temp dir; stopped at exit."""
    global _PRIVATE_HEAD
    from cluster.stop import record_owner

    temp_dir = tempfile.mkdtemp(prefix="rs-head-")  # short: Ray's socket paths live under it
    record_owner(temp_dir)  # a driver killed before its exit hook leaves a head the next connect() stops
    cmd, port, _ = head_command(temp_dir, num_cpus, num_gpus)
    done = subprocess.run(cmd, env=_head_env(), capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"could not start a private Ray head: {done.stderr.strip()[-500:]}")
    _PRIVATE_HEAD = temp_dir
    atexit.register(_stop_private_head, temp_dir)
    return f"127.0.0.1:{port}"


@contextmanager
def loopback_head(num_cpus: int = 2) -> Iterator[dict]:
    """A throwaway ``ray start --head`` on loopback with the dashboard (the jobs API) and token auth, in its own
    temp dir, for the tests and benchmarks that submit Ray jobs: yields {url, env, temp_dir}; on exit only its own
    processes are stopped and its temp dir removed."""
    import shutil

    from cluster.stop import stop_head

    temp_dir = tempfile.mkdtemp(prefix="rs-head-")  # short: Ray's socket paths live under it
    env = {**_head_env(), "RAY_AUTH_MODE": "token"}
    cmd, _, dashboard = head_command(temp_dir, num_cpus)
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
    url = f"http://{LOOPBACK}:{dashboard}"
    ray_cli = [str(Path(sys.executable).parent / "ray"), "job", "list", "--address", url]
    try:
        deadline = time.time() + 90
        while subprocess.run(ray_cli, env=env, capture_output=True, timeout=30, check=False).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError(f"the Ray cluster at {url} did not answer")
            time.sleep(1)
        yield {"url": url, "env": env, "temp_dir": temp_dir}
    finally:
        stop_head(temp_dir, grace_s=0)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _stop_private_head(temp_dir: str) -> None:
    """Stop only this head's processes (``ray stop`` would stop every Ray on the machine)."""
    from cluster.stop import stop_head

    if ray.is_initialized():
        ray.shutdown()
    stop_head(temp_dir, grace_s=0, remove=True)


def _dashboard_url() -> str | None:
    try:
        from ray._private.worker import global_worker

        url = global_worker.node.address_info.get("webui_url")  # type: ignore[union-attr]
        return url or None
    except Exception:  # the dashboard is optional; its absence must not fail a run
        return None


def cluster_resources() -> dict[str, float]:
    return dict(ray.cluster_resources())


class BackgroundConnect:
    """``connect()`` started on a thread of its own, so that a command validates its input (imports torch and the
    method) while a local Ray starts: the user's first result comes seconds sooner. ``wait()`` returns the
    connection (or raises what ``connect`` raised); ``abandon()`` is for input found bad meanwhile: it waits for
    the start to end and stops that Ray, so the command still exits 2 before any trial starts.

    The thread stays alive until the process ends (or ``abandon``): Ray's processes are started with
    PR_SET_PDEATHSIG, which fires when the *thread* that started them ends, and would stop the new Ray with it.
    Ray sets its SIGTERM handler (exit, so its ``atexit`` shutdown runs) only from the main thread; the same
    handler is set here."""

    def __init__(self, address: str | None = None, **kwargs: object) -> None:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
        self._ready, self._release = threading.Event(), threading.Event()
        self._result: Connection | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(address, kwargs), name="raystudy-connect",
                                        daemon=True)
        self._thread.start()

    def _run(self, address: str | None, kwargs: dict) -> None:
        import logging

        quiet = _DropLine("SIGTERM handler is not set")  # set above, on the main thread
        logging.getLogger("ray._private.worker").addFilter(quiet)
        try:
            self._result = connect(address, **kwargs)  # type: ignore[arg-type]
        except BaseException as err:  # noqa: BLE001 - re-raised by wait() on the caller's thread
            self._result = err
        finally:
            logging.getLogger("ray._private.worker").removeFilter(quiet)
            self._ready.set()
        self._release.wait()

    def wait(self) -> Connection:
        self._ready.wait()
        if isinstance(self._result, BaseException):
            raise self._result
        return self._result  # type: ignore[return-value]

    def abandon(self) -> None:
        self._ready.wait()
        if ray.is_initialized():
            ray.shutdown()
        self._release.set()


class _DropLine:
    def __init__(self, text: str) -> None:
        self.text = text

    def filter(self, record: object) -> bool:
        return self.text not in getattr(record, "msg", "")
