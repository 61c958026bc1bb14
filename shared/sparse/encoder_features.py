"""Frozen image features from one of the project's own SSL encoders (SimCLR, CARE, ... : any method whose artifact
embeds images), cached on disk, so that sparse heads train on cached vectors and the backbone runs once. Two ways in:

- ``checkpoint_features``: read from a run's checkpoint, cached once per checkpoint (below).
- ``ssl_features``: the encoder is named by its registered method and overrides (``data.encoder`` and
  ``data.encoder_overrides`` of the heads' config); with no cached features for (encoder config, data seed), it is
  trained once in-process through its registered trainer (the data seed is the encoder's ``seed`` and
  ``data.seed``: each seed draws its own images and its own encoder), then embedded and cached under a hash of the
  encoder's whole config. A study's trials need no other arm's checkpoint. Concurrent trials of one key may both
  train (the work is redone), but the cache file is written whole (temporary name, rename): none reads a
  half-written file.

The checkpoint is a directory with ``meta.json`` (``shared/checkpoint.py``; a Tune trial's ``checkpoint_*``), or a
directory holding such checkpoints (the newest is read). Its method, config and state rebuild the trainer; its own
image data set (the run's ``data`` section) is embedded: backbone features h, unit-normalised, of the train and test
images, with their class labels. The run's train/test split is kept (the encoder never saw the test images). The
cache key is the state file's SHA-256 recorded in ``meta.json``: a retrained checkpoint is a new entry.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from shared.cache import cache_root, save_whole
from shared.config import ConfigError, flatten, to_dict

if TYPE_CHECKING:
    from shared.method import MethodSpec, Trainer

FEATURE_SPACE = "backbone"


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


def checkpoint_features(path: str) -> dict[str, torch.Tensor]:
    """{train_x, train_y, test_x, test_y}: the encoder's features of its data set, from the cache or embedded once."""
    from shared.checkpoint import load_trainer

    directory = checkpoint_dir(path)
    meta = json.loads((directory / "meta.json").read_text())
    out = cache_root() / "sparse_embeddings" / f"encoder-{meta['method']}-{meta['state_sha256'][:16]}.pt"
    if out.exists():
        return torch.load(out, weights_only=True)
    _, _, trainer = load_trainer(directory)
    features = encode(trainer)
    save_whole(features, out)
    return features


def check_image_encoder(method: str, overrides: dict) -> None:
    """Bad input before any compute: ``method`` is a registered image SSL method and the overrides fit its config."""
    from shared.registry import UnknownMethodError, get_method

    try:
        spec = get_method(method)
    except UnknownMethodError as err:
        raise ConfigError(f"data.encoder: {err}") from None
    cfg = _encoder_config(spec, overrides, 0)
    data, model = getattr(cfg, "data", None), getattr(cfg, "model", None)
    if not (hasattr(data, "name") and hasattr(data, "seed") and hasattr(model, "backbone")):
        raise ConfigError(f"data.encoder: {method!r} is not an image SSL encoder (simclr, care, ...): its config has "
                          "no data.name / data.seed / model.backbone")


def _encoder_config(spec: MethodSpec, overrides: dict, seed: int) -> Any:
    """The encoder's config: its defaults, the overrides, and the data seed as its ``seed`` and ``data.seed``."""
    flat = {**flatten(dict(overrides)), "seed": seed}
    try:
        cfg = spec.load_config(flat)
        return spec.load_config({**flat, "data.seed": seed}) if hasattr(getattr(cfg, "data", None), "seed") else cfg
    except ConfigError as err:
        raise ConfigError(f"data.encoder_overrides: {err}") from None


def encode(trainer: Trainer) -> dict[str, torch.Tensor]:
    """{train_x, train_y, test_x, test_y}: a trained SSL trainer's unit-norm backbone features of its own data."""
    encoder = trainer.artifact()
    features = {}
    for split in ("train", "test"):
        images = getattr(trainer.data, split)
        features[f"{split}_x"] = F.normalize(encoder.features(images, split, FEATURE_SPACE), dim=1)
        features[f"{split}_y"] = images.labels.clone()
    return features


def ssl_features(method: str, overrides: dict, seed: int) -> dict[str, torch.Tensor]:
    """The features of ``method``'s encoder trained with ``overrides`` on data seed ``seed``: from the cache, or
    trained (all its epochs), embedded and cached once."""
    from shared.registry import get_method
    from shared.sparse.embeddings import cache_key

    spec = get_method(method)
    cfg = _encoder_config(spec, overrides, seed)
    key = cache_key({"method": method, "config": flatten(to_dict(cfg)), "space": FEATURE_SPACE})
    out = cache_root() / "sparse_embeddings" / f"ssl-{method}-seed{seed}-{key}.pt"
    if out.exists():
        return torch.load(out, weights_only=True)
    trainer = spec.make_trainer(cfg)
    for _ in range(cfg.epochs):
        trainer.fit_epoch()
    features = encode(trainer)
    save_whole(features, out)
    return features
