"""The storage root holds files that are unpickled on resume (Tune's ``tuner.pkl``, ``params.pkl``,
``error.pkl``, its experiment state), so whoever can write there can run code as the user who resumes. As ssh
refuses a key file others can read, a run refuses a local storage root, or the part of it it would resume from,
that another user could have written (docs/security.md):

- every directory and file checked must be owned by the user running the command;
- none may be writable by others, nor by its group unless that group is the user's own private group (a group
  named after the user with no other members, the usual Linux default);
- a symbolic link is checked at its target too.

Checked before Ray starts: the root itself, then ``tune`` and ``train`` directly under it, then the whole tree of
what the run resumes from (``tune/<experiment>``, ``train/<name>``). A remote root (``s3://...``) cannot be
checked here: its access policy is the user's to keep private. ``RAYSTUDY_ALLOW_SHARED_STORAGE=1`` skips the
check (with a warning) for a root whose access is controlled otherwise (ACLs, a shared group you trust).
"""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from shared.config import ConfigError

ALLOW_ENV = "RAYSTUDY_ALLOW_SHARED_STORAGE"


def _private_group(gid: int, uid: int) -> bool:
    """A user-private group: named after the user, no other members (so its write bit lets nobody else in)."""
    try:
        import grp
        import pwd

        group, user = grp.getgrgid(gid), pwd.getpwuid(uid)
    except (ImportError, KeyError):
        return False
    return group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}


def _why_untrusted(st: os.stat_result, uid: int) -> str | None:
    if st.st_uid != uid:
        return f"owned by another user (uid {st.st_uid})"
    if st.st_mode & stat.S_IWOTH:
        return f"writable by every user (mode {stat.S_IMODE(st.st_mode):04o})"
    if st.st_mode & stat.S_IWGRP and not _private_group(st.st_gid, uid):
        return f"writable by group {st.st_gid} (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _check_path(path: Path, uid: int) -> tuple[Path, str] | None:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        if st.st_uid != uid:
            return path, f"a symbolic link owned by another user (uid {st.st_uid})"
        try:
            st = path.stat()
        except OSError:
            return None  # a dangling link leads nowhere that could be loaded
    why = _why_untrusted(st, uid)
    return (path, why) if why else None


def _walk(top: Path) -> list[Path]:
    """``top`` and everything under it, links not followed into (their targets are checked where they point)."""
    out = [top]
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        out.extend(Path(dirpath) / name for name in [*dirnames, *filenames])
    return out


def untrusted_paths(root: str, resume_from: tuple[str, ...] = ()) -> list[tuple[Path, str]]:
    """What another user could have written among the root, its ``tune``/``train`` folders and the trees under
    ``resume_from`` (paths relative to the root); empty when all is private or the root does not exist yet."""
    if "://" in root or not os.path.lexists(root):
        return []
    uid = os.geteuid()
    base = Path(root)
    candidates = [base, base / "tune", base / "train"]
    for rel in resume_from:
        if os.path.lexists(base / rel):
            candidates.extend(_walk(base / rel))
    found = []
    for path in candidates:
        if os.path.lexists(path):
            problem = _check_path(path, uid)
            if problem:
                found.append(problem)
    return found


def check_storage_trusted(root: str, *resume_from: str) -> None:
    """Raise ConfigError (exit 2 at the entrypoints) naming what another user could have written and how to fix
    it; ``resume_from`` are the folders (relative to the root) a resume would unpickle files from."""
    found = untrusted_paths(root, tuple(resume_from))
    if not found:
        return
    shown = "; ".join(f"{path} is {why}" for path, why in found[:3])
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    if os.environ.get(ALLOW_ENV) == "1":
        print(f"[raystudy] warning: {ALLOW_ENV}=1: using storage root {root} although {shown}{more}",
              file=sys.stderr, flush=True)
        return
    raise ConfigError(
        f"refusing storage root {root}: {shown}{more}. Tune unpickles files from it on resume, so another user "
        f"who can write there could run code as you. Fix: make it yours and private (chown -R $USER {root}; "
        f"chmod -R go-w {root}), or use a private root (--storage / RAYSTUDY_STORAGE). "
        f"If its access is controlled otherwise, set {ALLOW_ENV}=1 (see docs/security.md)")
