"""Stop one Ray head of this machine, found by its --temp-dir, and leave every other Ray running.

    ray start --head --temp-dir /tmp/my-ray ...      # a head of your own
    python -m cluster.stop --temp-dir /tmp/my-ray    # stops that head and its workers only

``ray stop`` stops every Ray process of the machine, other users' included. A head started with its own
``--temp-dir`` names that directory in the command line of its processes (GCS, raylet, dashboard, monitors),
and its workers and agents are their children; the Ray client server names neither, only the head's GCS
address, which the head records in ``<temp-dir>/ray_current_cluster``. Those processes and their children
are stopped: SIGTERM, then SIGKILL for any still running after ``grace_s`` seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import psutil

ADDRESS_FILE = "ray_current_cluster"  # written by `ray start --head` into its temp dir: "<ip>:<gcs port>"


def head_address(temp_dir: str | os.PathLike) -> str | None:
    """The GCS address the head of ``temp_dir`` recorded, or None when there is none."""
    try:
        return (Path(temp_dir) / ADDRESS_FILE).read_text().strip() or None
    except OSError:
        return None


def _names_dir(cmdline: list[str], temp_dir: str) -> bool:
    """Whether an argument is ``temp_dir`` or a path under it (also as ``--flag=value``): a plain substring
    test would also match ``/tmp/my-ray-2`` when asked for ``/tmp/my-ray``."""
    for arg in cmdline:
        for value in arg.split("="):
            if value == temp_dir or value.startswith(temp_dir + os.sep):
                return True
    return False


def _is_ray_process_of(cmdline: list[str], address: str) -> bool:
    """A Ray process (a module or file of the ``ray`` package) given ``address`` as its cluster: not a user's
    script that was merely pointed at the head with ``--address``."""
    is_ray = any(arg.startswith("ray.") or f"{os.sep}ray{os.sep}" in arg for arg in cmdline)
    return is_ray and any(address in arg.split("=") for arg in cmdline)


def head_processes(temp_dir: str | os.PathLike) -> list[psutil.Process]:
    """The processes of the head whose temp dir is ``temp_dir``, with all their children."""
    directory = str(Path(temp_dir).resolve())
    address = head_address(directory)
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if _names_dir(cmdline, directory) or (address and _is_ray_process_of(cmdline, address)):
            found[proc.pid] = proc
            try:  # Ray's agents and dashboard modules rename their process title: reach them as children
                found.update((child.pid, child) for child in proc.children(recursive=True))
            except psutil.Error:
                pass
    found.pop(os.getpid(), None)  # never this process, whatever its arguments
    return list(found.values())


def stop_head(temp_dir: str | os.PathLike, *, grace_s: float = 5.0, remove: bool = False) -> int:
    """Stop the head of ``temp_dir`` (see the module docstring); return how many processes were stopped.
    ``remove`` also deletes the directory (its logs go with it)."""
    procs = head_processes(temp_dir)
    alive = procs
    if grace_s > 0:
        for proc in procs:
            try:
                proc.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5.0)  # SIGKILL is delivered asynchronously: wait, even with no grace
    if remove:
        shutil.rmtree(temp_dir, ignore_errors=True)
    return len(procs)


OWNER_FILE = "raystudy-owner.json"  # in a private head's temp dir: the process that started it


def record_owner(temp_dir: str | os.PathLike) -> None:
    """Write which process owns the head about to start in ``temp_dir`` (pid and start time, so that a reused
    pid is not mistaken for the owner): a head whose owner died without stopping it can then be found."""
    me = psutil.Process()
    (Path(temp_dir) / OWNER_FILE).write_text(json.dumps({"pid": me.pid, "create_time": me.create_time()}))


def _owner_alive(owner: dict) -> bool:
    try:
        return abs(psutil.Process(int(owner["pid"])).create_time() - float(owner["create_time"])) < 1e-3
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def reap_orphaned_heads(parent: str | os.PathLike | None = None, log=print) -> list[str]:
    """Stop and remove the private heads (``rs-head-*`` temp dirs of this user) whose owning process is gone:
    a driver killed with kill -9 never runs the exit hook that stops its head. Heads without an owner record
    (another tool's) or whose owner still runs are left alone. Returns the temp dirs reaped."""
    reaped = []
    for temp_dir in sorted(Path(parent or tempfile.gettempdir()).glob("rs-head-*")):
        try:
            if temp_dir.stat().st_uid != os.getuid():
                continue
            owner = json.loads((temp_dir / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(owner, dict) or _owner_alive(owner):
            continue
        stopped = stop_head(temp_dir, grace_s=0, remove=True)
        log(f"[raystudy] stopped a private Ray head whose driver (pid {owner.get('pid')}) died without "
            f"stopping it: {temp_dir} ({stopped} processes)")
        reaped.append(str(temp_dir))
    return reaped


def default_temp_dir() -> Path:
    """Ray's default temp dir, as Ray picks it (``$RAY_TMPDIR``, else ``$TMPDIR``, else ``/tmp``, then ``ray``):
    every Ray started without ``--temp-dir`` shares it."""
    return Path(os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp") / "ray"


def _is_ray_temp_dir(path: Path) -> bool:
    return (path / ADDRESS_FILE).is_file() or (path / "session_latest").exists()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.stop", description=__doc__.splitlines()[0])
    parser.add_argument("--temp-dir", required=True, help="the --temp-dir the head was started with")
    parser.add_argument("--remove", action="store_true", help="also delete the temp dir (its logs included)")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds between SIGTERM and SIGKILL")
    args = parser.parse_args(argv)
    temp_dir = Path(args.temp_dir).expanduser()
    if temp_dir.resolve() in {default_temp_dir().resolve(), Path("/tmp/ray").resolve()}:
        print(f"error: {temp_dir} is Ray's default temp dir, shared by every Ray on this machine started without "
              "--temp-dir: stopping its processes would stop them all, as `ray stop` does. Start your head with a "
              "--temp-dir of its own", file=sys.stderr)
        return 2
    if not temp_dir.is_dir() or not _is_ray_temp_dir(temp_dir):
        print(f"error: {temp_dir} is not the temp dir of a Ray head (no {ADDRESS_FILE} or session_latest in it); "
              "pass the --temp-dir given to `ray start --head`", file=sys.stderr)
        return 2
    count = stop_head(temp_dir, grace_s=args.grace, remove=args.remove)
    print(f"stopped {count} process(es) of the Ray head in {temp_dir}" if count
          else f"no process of the Ray head in {temp_dir} is running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
