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
Both inputs are checked before any compute, without torch, by ``config.py`` (``checkpoint_dir`` is there).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from shared.cache import cache_root, save_whole
from shared.config import flatten, to_dict
from shared.sparse.config import checkpoint_dir, encoder_config

if TYPE_CHECKING:
    from shared.method import Trainer

FEATURE_SPACE = "backbone"


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
    cfg = encoder_config(spec, overrides, seed)
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
