"""How a raystudy process reaches Ray: an existing cluster, or an embedded local one.

``connect()`` joins ``RAY_ADDRESS`` (set for the driver of a job run with ``ray job submit``) or the
address given; otherwise it starts a local Ray whose dashboard listens on 127.0.0.1 only. Token
authentication is on for every path: job entrypoints set ``RAY_AUTH_MODE=token`` before Ray is imported
(Ray reads it once, at import), and when it is unset Ray 2.60 itself turns tokens on for a new local
Ray and for a cluster whose token is on this machine. The token file is made readable by its owner only.
Scripts behave the same run directly or submitted.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import ray

NAMESPACE = "raystudy"


@dataclass(frozen=True)
class Connection:
    address: str
    dashboard_url: str | None
    local: bool  # True when this process started the Ray instance

    def describe(self) -> str:
        where = "embedded local Ray" if self.local else f"Ray cluster at {self.address}"
        dash = f"; dashboard http://{self.dashboard_url}" if self.dashboard_url else ""
        return where + dash


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
) -> Connection:
    """Connect to Ray once per process (later calls return the same connection).

    Args:
        address: a cluster address; default ``RAY_ADDRESS``; when neither is set a local Ray is started.
        num_cpus, num_gpus: size of a *local* Ray only (Ray refuses them when joining a cluster).
        dashboard: start the dashboard with a local Ray (on 127.0.0.1).
    """
    if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token":
        print("[raystudy] warning: RAY_AUTH_MODE is not 'token'; anyone who can reach this Ray can run code",
              flush=True)
    if not ray.is_initialized():
        _refresh_auth_mode()
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=True)
        else:
            ray.init(
                num_cpus=num_cpus,
                num_gpus=num_gpus,
                include_dashboard=dashboard,
                dashboard_host="127.0.0.1",
                namespace=NAMESPACE,
            )
        _protect_token()
    ctx = ray.get_runtime_context()
    gcs = ctx.gcs_address
    local = not (address or os.environ.get("RAY_ADDRESS"))
    return Connection(address=gcs, dashboard_url=_dashboard_url(), local=local)


def _dashboard_url() -> str | None:
    try:
        from ray._private.worker import global_worker

        url = global_worker.node.address_info.get("webui_url")  # type: ignore[union-attr]
        return url or None
    except Exception:  # the dashboard is optional; its absence must not fail a run
        return None


def cluster_resources() -> dict[str, float]:
    return dict(ray.cluster_resources())
