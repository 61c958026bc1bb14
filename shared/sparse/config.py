"""The sparse family's ``data:`` sections and their checks, torch-free: a sweep's driver loads and validates a CSR,
CSRv2, MRL or SSR config without importing torch. ``embeddings.py`` (frozen embeddings), ``tokens.py`` (token
vectors) and ``encoder_features.py`` (an SSL encoder's features) re-export them beside the code that reads the data.

The ``checkpoint`` and ``ssl`` sources are checked before any compute from the checkpoint's ``meta.json`` and the
encoder's registered spec (its config only), never by loading a model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.config import ConfigError, bounded, flatten

if TYPE_CHECKING:
    from shared.method import MethodSpec


@dataclass
class EmbeddingDataConfig:
    source: str = bounded("digits", choices=["digits", "text", "checkpoint", "ssl"])
    corpus: str = bounded("lee", choices=["lee", "wiki"], help="text only: the gensim corpus")
    n_docs: int = bounded(-1, ge=-1, help="text only: the first N documents; -1 = all")
    test_fraction: float = bounded(0.25, gt=0.0, lt=1.0)
    seed: int = bounded(0, ge=0, help="draws the train/test split")
    checkpoint: str = bounded("", help="checkpoint only: a run's checkpoint directory (or a folder of them)")
    encoder: str = bounded("simclr", help="ssl only: the registered image SSL method trained for the features")
    encoder_overrides: dict[str, Any] = field(default_factory=dict)  # ssl only: the encoder's config overrides

    def check(self) -> None:
        if self.source == "ssl":
            check_image_encoder(self.encoder, self.encoder_overrides)
        if self.source == "checkpoint":
            if not self.checkpoint:
                raise ConfigError("checkpoint: give the SSL run's checkpoint directory (data.checkpoint=PATH)")
            check_checkpoint(self.checkpoint)


@dataclass
class TokenDataConfig:
    corpus: str = bounded("lee", choices=["lee", "wiki"], help="the gensim corpus")
    n_docs: int = bounded(100, ge=-1, help="the first N documents; -1 = all")
    test_fraction: float = bounded(0.25, gt=0.0, lt=1.0, help="share of the sentences that become queries")
    seed: int = bounded(0, ge=0, help="draws which sentences are queries")


def checkpoint_dir(path: str) -> Path:
    """The checkpoint directory ``path`` names: itself when it has meta.json, else its newest ``checkpoint_*``
    (or any sub-directory with meta.json, by name). ConfigError when there is none."""
    root = Path(path).expanduser()
    if (root / "meta.json").is_file():
        return root
    if not root.is_dir():
        raise ConfigError(f"checkpoint: {path} is not a directory (give a run's checkpoint directory)")
    found = sorted(p.parent for p in root.glob("*/meta.json"))
    if not found:
        raise ConfigError(f"checkpoint: {path} holds no checkpoint (no meta.json in it or its sub-directories)")
    return found[-1]


def check_checkpoint(path: str) -> None:
    """Bad input before any compute: the path names a checkpoint of a registered image SSL method."""
    from shared.registry import get_method

    meta = json.loads((checkpoint_dir(path) / "meta.json").read_text())
    spec = get_method(meta.get("method", ""))
    data = dict(meta.get("config", {}))
    if "data.name" not in data or "model.backbone" not in data:
        raise ConfigError(f"checkpoint: {path} is a run of {spec.name!r}, not of an image SSL encoder "
                          "(simclr, care, ...): its config has no data.name / model.backbone")


def check_image_encoder(method: str, overrides: dict) -> None:
    """Bad input before any compute: ``method`` is a registered image SSL method and the overrides fit its config."""
    from shared.registry import UnknownMethodError, get_method

    try:
        spec = get_method(method)
    except UnknownMethodError as err:
        raise ConfigError(f"data.encoder: {err}") from None
    cfg = encoder_config(spec, overrides, 0)
    data, model = getattr(cfg, "data", None), getattr(cfg, "model", None)
    if not (hasattr(data, "name") and hasattr(data, "seed") and hasattr(model, "backbone")):
        raise ConfigError(f"data.encoder: {method!r} is not an image SSL encoder (simclr, care, ...): its config has "
                          "no data.name / data.seed / model.backbone")


def encoder_config(spec: MethodSpec, overrides: dict, seed: int) -> Any:
    """The encoder's config: its defaults, the overrides, and the data seed as its ``seed`` and ``data.seed``."""
    flat = {**flatten(dict(overrides)), "seed": seed}
    try:
        cfg = spec.load_config(flat)
        return spec.load_config({**flat, "data.seed": seed}) if hasattr(getattr(cfg, "data", None), "seed") else cfg
    except ConfigError as err:
        raise ConfigError(f"data.encoder_overrides: {err}") from None
