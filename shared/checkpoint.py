"""Trainer checkpoints on disk: one directory with ``trainer.pt`` (the trainer's state dict) and
``meta.json`` (method, config, epoch, code version). Tune's trial checkpoints and the actors' use the same
format, so any checkpoint can be evaluated or resumed by name.

``trainer.pt`` is loaded with ``torch.load(weights_only=True)``: a checkpoint cannot execute code. A state made
only of numbers, strings and containers (tools and solvers with no tensors) is written as ``trainer.json``
instead, so that their trials never import torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from shared.config import flatten, to_dict
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
