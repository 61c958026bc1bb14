"""Trainer checkpoints on disk: one directory with ``trainer.pt`` (the trainer's state dict) and
``meta.json`` (method, config, epoch, code version). Tune's trial checkpoints and the actors' use the same
format, so any checkpoint can be evaluated or resumed by name.

``trainer.pt`` is loaded with ``torch.load(weights_only=True)``: a checkpoint cannot execute code.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from shared.config import flatten, to_dict
from shared.method import MethodSpec, Trainer
from shared.results import code_version

STATE_FILE = "trainer.pt"
META_FILE = "meta.json"


def save_checkpoint(directory: str | os.PathLike, spec: MethodSpec, cfg: Any, trainer: Trainer) -> str:
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f".{STATE_FILE}.tmp"
    torch.save(trainer.state_dict(), tmp)
    os.replace(tmp, path / STATE_FILE)
    meta = {"method": spec.name, "config": flatten(to_dict(cfg)), "epoch": trainer.epoch,
            "code_version": code_version()}
    (path / META_FILE).write_text(json.dumps(meta, indent=1, default=str))
    return str(path)


def load_state(directory: str | os.PathLike) -> dict[str, Any]:
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
