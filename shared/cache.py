"""Where derived data (featurised molecules, eigenpairs, tokenised corpora) is cached, and how it is written.

Files are written whole: a temporary name, then an atomic rename, so a killed run never leaves a half-written
cache entry that a later run would trust."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$RAYSTUDY_CACHE, or ~/.cache/raystudy."""
    return Path(os.environ.get("RAYSTUDY_CACHE", Path.home() / ".cache" / "raystudy"))


def save_whole(obj: object, path: Path) -> None:
    """torch.save to a temporary name, then rename."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
