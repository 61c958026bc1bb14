"""Trainer checkpoints on disk: one directory with ``trainer.pt`` (the trainer's state dict) and
``meta.json`` (method, config, epoch, code version). Tune's trial checkpoints and the actors' use the same
format, so any checkpoint can be evaluated or resumed by name.

``trainer.pt`` is loaded with ``torch.load(weights_only=True)``: a checkpoint cannot execute code. A state made
only of numbers, strings and containers (tools and solvers with no tensors) is written as ``trainer.json``
instead, so that their trials never import torch.

Both files are written whole (temporary name, fsync, rename) and ``meta.json`` (written last) records the state
file's size and SHA-256. A damaged checkpoint (truncated, empty, unreadable) is skipped on restore in favour of the
trial's previous one (Tune keeps two), then of a restart from scratch: ``restore_with_fallback``.

DeepSpeed's own checkpoints (the ``distributed: deepspeed`` methods) are loaded the same way: DeepSpeed's torch
checkpoint engine calls ``torch.load(weights_only=False)``, which runs whatever a crafted file asks for, so
:func:`load_deepspeed_checkpoint` first scans every ``*.pt`` file of the checkpoint for the Python objects it
would build and refuses any beyond tensors, containers and the few plain DeepSpeed state classes listed in
``DEEPSPEED_SAFE_GLOBALS``, then loads with ``weights_only=True`` (those classes allowed, nothing else).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared import atomic
from shared.config import ConfigError, flatten, to_dict
from shared.method import MethodSpec, Trainer
from shared.results import code_version

STATE_FILE = "trainer.pt"
JSON_STATE_FILE = "trainer.json"
META_FILE = "meta.json"


def _plain(value: Any) -> bool:
    """Only JSON types all the way down (no tensors, no tuples that JSON would turn into lists)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)


def save_checkpoint(directory: str | os.PathLike, spec: MethodSpec, cfg: Any, trainer: Trainer) -> str:
    """Write the trainer's state, then ``meta.json`` (last: a checkpoint without it is incomplete). Both are
    written whole (temporary name, fsync, rename); ``meta.json`` records the state file's size and SHA-256, so
    that a truncated copy (a full disk while Tune copied it to storage) is recognised on load."""
    path = Path(directory)
    state = trainer.state_dict()
    if _plain(state):
        name, data = JSON_STATE_FILE, json.dumps(state).encode()
    else:
        import torch  # here, not at the top: trials of methods that never use torch start without it

        buffer = io.BytesIO()
        torch.save(state, buffer)
        name, data = STATE_FILE, buffer.getvalue()
    atomic.write_bytes(path / name, data)
    meta = {"method": spec.name, "config": flatten(to_dict(cfg)), "epoch": trainer.epoch,
            "code_version": code_version(), "state_file": name, "state_bytes": len(data),
            "state_sha256": hashlib.sha256(data).hexdigest()}
    atomic.write_text(path / META_FILE, json.dumps(meta, indent=1, default=str))
    return str(path)


def ensure_room_for_copy(checkpoint_dir: str | os.PathLike, destination: str, reserve: int = 0) -> None:
    """Raise DiskFullError (naming ``destination``) when its disk cannot hold a copy of ``checkpoint_dir`` and
    ``reserve`` more bytes: Tune copies a trial's checkpoint to storage file by file, and on a full disk it left a
    truncated copy behind."""
    files = [p for p in Path(checkpoint_dir).rglob("*") if p.is_file()]
    needed = sum(-(-p.stat().st_size // 4096) * 4096 for p in files)  # whole 4 KiB blocks, as most disks count
    atomic.ensure_room(destination, needed, reserve)


def load_state(directory: str | os.PathLike) -> dict[str, Any]:
    if (Path(directory) / JSON_STATE_FILE).exists():
        return json.loads((Path(directory) / JSON_STATE_FILE).read_text())
    import torch

    return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)


# What a DeepSpeed checkpoint of this platform holds besides tensors and containers: plain state classes
# (found by loading ZeRO 0-3 checkpoints in fp32 and bf16 with Adam, AdamW and SGD with weights_only=True).
DEEPSPEED_SAFE_GLOBALS = (
    "deepspeed.runtime.fp16.loss_scaler.LossScaler",
    "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler",
    "deepspeed.runtime.zero.config.ZeroStageEnum",
    "deepspeed.utils.tensor_fragment.fragment_address",
)


class UnsafeCheckpointError(ConfigError):
    """A checkpoint file would build Python objects other than tensors, containers and allowed types (loading it
    with pickle could run code): it is refused, never unpickled. The same on every rank and every retry."""


def _import_global(qualname: str) -> Any:
    import importlib

    module, _, name = qualname.rpartition(".")
    return getattr(importlib.import_module(module), name)


def deepspeed_safe_globals() -> list[Any]:
    return [_import_global(name) for name in DEEPSPEED_SAFE_GLOBALS]


def check_checkpoint_files(directory: str | os.PathLike, allowed: list[Any] | None = None) -> None:
    """Raise UnsafeCheckpointError if any ``*.pt`` file under ``directory`` would build a Python object that
    ``torch.load(weights_only=True)`` with ``allowed`` refuses. Reads the pickles without running them: torch's
    zip format is scanned (only its small pickle part is read); any other file is loaded weights-only."""
    import torch

    allowed = allowed if allowed is not None else deepspeed_safe_globals()
    allowed_names = {f"{g.__module__}.{g.__qualname__}" for g in allowed}
    for path in sorted(Path(directory).rglob("*.pt")):
        try:
            found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        except ValueError:  # not torch's zip format (e.g. a bare pickle): the weights-only loader decides
            _weights_only_load(allowed, str(path), map_location="cpu")
            continue
        refused = sorted(set(found) - allowed_names)
        if refused:
            raise UnsafeCheckpointError(
                f"refusing to load checkpoint file {path}: it would build {', '.join(refused)}, which a "
                "checkpoint of this platform never holds (loading it could run code); delete or replace this "
                "checkpoint, and keep the storage root writable only by you (docs/security.md)")


def _weights_only_load(allowed: list[Any], path: str, map_location: Any = None) -> Any:
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise UnsafeCheckpointError(
            f"refusing to load checkpoint file {path}: it is not a weights-only torch file ({first}); loading it "
            "could run code; delete or replace this checkpoint, and keep the storage root writable only by you "
            "(docs/security.md)") from None


def load_deepspeed_checkpoint(engine: Any, directory: str | os.PathLike) -> tuple[str | None, dict[str, Any] | None]:
    """``engine.load_checkpoint(directory)`` without unpickling arbitrary objects: every file is checked first
    (so every rank, which reads the same directory, reaches the same verdict before any collective), and the
    engine's checkpoint engine loads with ``weights_only=True``. Returns DeepSpeed's ``(path, client_state)``."""
    from functools import partial

    allowed = deepspeed_safe_globals()
    check_checkpoint_files(directory, allowed)
    # an instance attribute: every load of this engine (model states, ZeRO shards, optimizer states) goes
    # through it, whichever of DeepSpeed's loaders asks
    engine.checkpoint_engine.load = partial(_weights_only_load, allowed)
    return engine.load_checkpoint(str(directory))


def read_meta(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DamagedCheckpointError(f"{path}: unreadable ({type(err).__name__}: {err})") from None
    if not isinstance(meta, dict):
        raise DamagedCheckpointError(f"{path}: not a JSON object")
    return meta


class DamagedCheckpointError(Exception):
    """A checkpoint that is incomplete, truncated or unreadable; the message names the file and why."""


def verified_state(directory: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checkpoint's meta and state, after checking the state file against the size and SHA-256 that
    ``meta.json`` records (checkpoints older than that record are only loaded). Raises DamagedCheckpointError."""
    meta = read_meta(directory)
    name = meta.get("state_file")
    if name in (STATE_FILE, JSON_STATE_FILE):
        state_path = Path(directory) / name
        try:
            data = state_path.read_bytes()
        except OSError as err:
            raise DamagedCheckpointError(f"{state_path}: unreadable ({err})") from None
        if len(data) != meta.get("state_bytes"):
            raise DamagedCheckpointError(f"{state_path}: {len(data):,} bytes, but {meta.get('state_bytes'):,} were "
                                         "written (truncated)")
        if hashlib.sha256(data).hexdigest() != meta.get("state_sha256"):
            raise DamagedCheckpointError(f"{state_path}: its contents differ from what was written (SHA-256)")
    try:
        return meta, load_state(directory)
    except Exception as err:  # noqa: BLE001 - any failure to load means: not usable, try the one before
        raise DamagedCheckpointError(f"{directory}: cannot be loaded ({type(err).__name__}: "
                                     f"{str(err).strip().splitlines()[0] if str(err).strip() else ''})") from None


_TUNE_CHECKPOINT = re.compile(r"^checkpoint_(\d+)$")


def earlier_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Tune's older checkpoints of the same trial (``checkpoint_<n>`` siblings with a smaller n, newest first):
    Tune keeps ``num_to_keep`` of them, and on a local storage root it passes the stored directory itself."""
    path = Path(directory)
    own = _TUNE_CHECKPOINT.match(path.name)
    if own is None or not path.parent.is_dir():
        return []
    older = []
    for sibling in path.parent.iterdir():
        match = _TUNE_CHECKPOINT.match(sibling.name)
        if match and sibling.is_dir() and int(match.group(1)) < int(own.group(1)):
            older.append((int(match.group(1)), sibling))
    return [p for _, p in sorted(older, reverse=True)]


def oldest_surviving_checkpoint(missing: str | os.PathLike) -> tuple[Path, int] | None:
    """For a trial checkpoint that no longer exists: the oldest intact ``checkpoint_<n>`` of the same trial and
    its epoch, or None. Tune snapshots its experiment state every few seconds but deletes checkpoints beyond
    ``num_to_keep`` at once, so a driver killed in between resumes from a state naming a deleted checkpoint;
    older ones go first, so the oldest survivor is the nearest to what the state expected."""
    parent = Path(missing).parent
    if not parent.is_dir():
        return None
    found = []
    for sibling in parent.iterdir():
        if _TUNE_CHECKPOINT.match(sibling.name) and sibling.is_dir():
            try:
                meta, _ = verified_state(sibling)
            except DamagedCheckpointError:
                continue
            found.append((int(meta.get("epoch", 0)), sibling))
    return (min(found)[1], min(found)[0]) if found else None


@dataclass
class Restored:
    """What ``restore_with_fallback`` found: the state to load (None: start from scratch), where it came from,
    and the checkpoints it had to skip (with why)."""

    state: dict[str, Any] | None
    directory: Path | None
    epoch: int
    skipped: list[str] = field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        return bool(self.skipped)

    def describe(self) -> str:
        where = f"the earlier checkpoint {self.directory} (epoch {self.epoch})" if self.state is not None \
            else "scratch (epoch 0): no usable checkpoint is left"
        return "damaged checkpoint(s) skipped: " + "; ".join(self.skipped) + f". Resuming from {where}."


def restore_with_fallback(directory: str | os.PathLike) -> Restored:
    """The state of the checkpoint Tune asks for, else of the newest earlier one that loads, else None (a
    restart from scratch): a damaged checkpoint is never retried until the trial runs out of retries."""
    skipped = []
    for candidate in [Path(directory), *earlier_checkpoints(directory)]:
        try:
            meta, state = verified_state(candidate)
        except DamagedCheckpointError as err:
            skipped.append(str(err))
            continue
        return Restored(state, candidate, int(meta.get("epoch", 0)), skipped)
    return Restored(None, None, 0, skipped)


def load_trainer(directory: str | os.PathLike) -> tuple[MethodSpec, Any, Trainer]:
    """Rebuild the method, its config and its trainer at the checkpointed state."""
    from shared.registry import get_method

    meta, state = verified_state(directory)
    spec = get_method(meta["method"])
    cfg = spec.load_config(meta["config"])
    trainer = spec.make_trainer(cfg)
    trainer.load_state_dict(state)
    return spec, cfg, trainer
