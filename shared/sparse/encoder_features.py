"""Frozen image features from one of the project's own SSL encoders (SimCLR, CARE, ... : any method whose artifact
embeds images), read from a run's checkpoint and cached once per checkpoint, so that sparse heads train on cached
vectors and the backbone runs once.

The checkpoint is a directory with ``meta.json`` (``shared/checkpoint.py``; a Tune trial's ``checkpoint_*``), or a
directory holding such checkpoints (the newest is read). Its method, config and state rebuild the trainer; its own
image data set (the run's ``data`` section) is embedded: backbone features h, unit-normalised, of the train and test
images, with their class labels. The run's train/test split is kept (the encoder never saw the test images). The
cache key is the state file's SHA-256 recorded in ``meta.json``: a retrained checkpoint is a new entry.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from shared.cache import cache_root, save_whole
from shared.config import ConfigError

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
    encoder = trainer.artifact()
    features = {}
    for split in ("train", "test"):
        images = getattr(trainer.data, split)
        features[f"{split}_x"] = F.normalize(encoder.features(images, split, FEATURE_SPACE), dim=1)
        features[f"{split}_y"] = images.labels.clone()
    save_whole(features, out)
    return features
