"""Where derived data (featurised molecules, eigenpairs, tokenised corpora) is cached, and how it is written.

Files are written whole: a temporary name, then an atomic rename, so a killed run never leaves a half-written
cache entry that a later run would trust."""
from __future__ import annotations

import os
from pathlib import Path

from shared import atomic


def cache_root() -> Path:
    """$RAYSTUDY_CACHE, or ~/.cache/raystudy."""
    return Path(os.environ.get("RAYSTUDY_CACHE", Path.home() / ".cache" / "raystudy"))


def save_whole(obj: object, path: Path) -> None:
    """torch.save, written whole (temporary name, fsync, rename; removed on failure; a full disk is a
    DiskFullError naming the path)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic.write_bytes(path, buffer.getvalue())
