"""Trainer checkpoints on disk: one directory with ``trainer.pt`` (the trainer's state dict) and
``meta.json`` (method, config, epoch, code version). Tune's trial checkpoints and the actors' use the same
format, so any checkpoint can be evaluated or resumed by name.

``trainer.pt`` is loaded with ``torch.load(weights_only=True)``: a checkpoint cannot execute code. A state made
only of numbers, strings and containers (tools and solvers with no tensors) is written as ``trainer.json``
instead, so that their trials never import torch.

DeepSpeed's own checkpoints (the ``distributed: deepspeed`` methods) are loaded the same way: DeepSpeed's torch
checkpoint engine calls ``torch.load(weights_only=False)``, which runs whatever a crafted file asks for, so
:func:`load_deepspeed_checkpoint` first scans every ``*.pt`` file of the checkpoint for the Python objects it
would build and refuses any beyond tensors, containers and the few plain DeepSpeed state classes listed in
``DEEPSPEED_SAFE_GLOBALS``, then loads with ``weights_only=True`` (those classes allowed, nothing else).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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
    return value is None or isinstance(value, (bool, int, float, str))


def save_checkpoint(directory: str | os.PathLike, spec: MethodSpec, cfg: Any, trainer: Trainer) -> str:
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    state = trainer.state_dict()
    if _plain(state):
        tmp = path / f".{JSON_STATE_FILE}.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, path / JSON_STATE_FILE)
    else:
        import torch  # here, not at the top: trials of methods that never use torch start without it

        tmp = path / f".{STATE_FILE}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, path / STATE_FILE)
    meta = {"method": spec.name, "config": flatten(to_dict(cfg)), "epoch": trainer.epoch,
            "code_version": code_version()}
    (path / META_FILE).write_text(json.dumps(meta, indent=1, default=str))
    return str(path)


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
    return json.loads((Path(directory) / META_FILE).read_text())


def load_trainer(directory: str | os.PathLike) -> tuple[MethodSpec, Any, Trainer]:
    """Rebuild the method, its config and its trainer at the checkpointed state."""
    from shared.registry import get_method

    meta = read_meta(directory)
    spec = get_method(meta["method"])
    cfg = spec.load_config(meta["config"])
    trainer = spec.make_trainer(cfg)
    trainer.load_state_dict(load_state(directory))
    return spec, cfg, trainer
