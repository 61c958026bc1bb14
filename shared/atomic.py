"""Files written whole: a temporary name in the same directory, the bytes, fsync, then a rename.

A crash or a full disk leaves either the old file or the new one, never a truncated one, and no temporary file
behind (it is removed on any failure). A full disk (ENOSPC, or a quota: EDQUOT) becomes a ``DiskFullError`` whose
message names the path, the bytes the write needed and the bytes that were free.
"""
from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path

TMP_PREFIX = ".tmp-"
_FULL = {errno.ENOSPC, errno.EDQUOT}


class DiskFullError(OSError):
    """A write failed for lack of space; the message says where and how much was needed."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self):  # Ray sends a trial's exception to the driver: rebuild it from its message
        return (DiskFullError, (str(self.strerror),))


def is_disk_full(err: BaseException) -> bool:
    if isinstance(err, DiskFullError):
        return True
    if isinstance(err, OSError) and err.errno in _FULL:
        return True
    # pyarrow reports the errno inside its message ("[errno 28] No space left on device")
    return isinstance(err, OSError) and "No space left on device" in str(err)


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free bytes on the filesystem holding ``path`` (its nearest existing parent), or None if unknown."""
    here = Path(path)
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        return shutil.disk_usage(here).free
    except OSError:
        return None


def disk_full(path: str | os.PathLike, needed: int, reserve: int = 0) -> DiskFullError:
    free = free_bytes(path)
    free_text = "unknown" if free is None else f"{free:,}"
    kept = f" (plus {reserve:,} kept free so that Tune can record the failure)" if reserve else ""
    return DiskFullError(
        f"no space left on device: writing {path} needs {needed:,} bytes{kept}, {free_text} bytes free there "
        "(free space, or point RAYSTUDY_STORAGE / --storage at a larger disk)"
    )


# What a trial leaves free on a local storage root: Tune's driver writes the trial's error and its experiment state
# there after the trial fails; with nothing left, those files are empty and Tune itself fails reading them back.
TRIAL_RESERVE = 1 << 20


def ensure_room(path: str | os.PathLike, needed: int, reserve: int = 0) -> None:
    """Raise DiskFullError naming ``path`` unless its disk has ``needed + reserve`` bytes free (unknown: pass)."""
    free = free_bytes(path)
    if free is not None and free < needed + reserve:
        raise disk_full(path, needed, reserve)


def write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True) -> str:
    """Write ``data`` to the local ``path`` whole (temporary name, fsync, rename); return the path."""
    final = Path(path)
    tmp = final.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}-{final.name}"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        os.replace(tmp, final)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if is_disk_full(err):
            raise disk_full(final, len(data)) from None
        raise
    # The directory is not fsync'd: a power cut may lose the newest rename (the old file stays, whole), which
    # a resumed run recomputes; fsync'ing the data before the rename is what rules out a truncated file.
    return str(final)


def write_text(path: str | os.PathLike, text: str, fsync: bool = True) -> str:
    return write_bytes(path, text.encode(), fsync=fsync)


def remove_leftovers(directory: str | os.PathLike) -> list[str]:
    """Delete the temporary files (``.tmp-*``) that a killed writer left anywhere under ``directory``.
    Only call this when nothing is writing there (before a run starts)."""
    root = Path(directory)
    if not root.is_dir():
        return []
    removed = []
    for leftover in root.rglob(f"{TMP_PREFIX}*"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
            removed.append(str(leftover))
    return removed
