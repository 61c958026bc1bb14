"""What the config-only loaders of users' own images share (``image_folder``, ``arrays``): the size checks, the
seeded train/test split, class names from label values, and the assembly of a split with its measured hue.

A user's set without its own test split is cut like ``digits``: one permutation drawn from ``data.seed`` gives the
test images (the first ``n_test``, a count) and the train images (the next ``n_train``, or all the rest for -1).
"""
from __future__ import annotations

import numpy as np
import torch

from shared.config import ConfigError
from shared.data import DataConfig, ImageSplit, hue_factors, image_hue
from shared.data.real import resize


def check_split_sizes(cfg: DataConfig, available: int, what: str) -> None:
    """n_test a count that leaves train images; n_train a count or -1; together at most ``available``."""
    if cfg.n_test == -1:
        raise ConfigError(f"data.n_test: {what} has no test split of its own; give a count")
    if cfg.n_test >= available:
        raise ConfigError(f"data.n_test: {cfg.n_test} leaves no train images; {what} has {available}")
    if cfg.n_train != -1 and cfg.n_train + cfg.n_test > available:
        raise ConfigError(f"data.n_train: {cfg.n_train} + n_test {cfg.n_test} exceeds the {available} images of "
                          f"{what}; use at most {available - cfg.n_test}, or -1 for all the rest")


def check_subset_size(n: int, available: int, key: str, what: str) -> None:
    """A split that exists on disk: n is a count up to what it has, or -1 for all of it."""
    if n != -1 and n > available:
        raise ConfigError(f"data.{key}: asked for {n} images, {what} has {available}; give at most that, or -1")


def split_indices(cfg: DataConfig, available: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices of one seeded permutation (the sizes are checked by check_split_sizes)."""
    order = np.random.default_rng(cfg.seed).permutation(available)
    n_train = available - cfg.n_test if cfg.n_train == -1 else cfg.n_train
    return order[cfg.n_test : cfg.n_test + n_train], order[: cfg.n_test]


def subset_indices(rng: np.random.Generator, n: int, available: int) -> np.ndarray:
    """n rows (or all for -1) of a split that exists on disk, in a seeded order."""
    order = rng.permutation(available)
    return order if n == -1 else order[:n]


def encode_labels(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Label values (integers or strings) -> class indices 0..K-1 in sorted value order, and the class names.
    Integer labels 0..K-1 keep their numbers."""
    classes, index = np.unique(values, return_inverse=True)
    return index.astype(np.int64), [str(c) for c in classes.tolist()]


def make_split(images: torch.Tensor, labels: np.ndarray, source_index: np.ndarray, cfg: DataConfig,
               factors: dict[str, torch.Tensor] | None = None) -> ImageSplit:
    """uint8 (N, 3, h, w) images, resized to image_size, with "hue" (measured with image_hue unless the user gave
    a "hue" factor), "hue_bin", "source_index" (the image's row or file number in the source) and the user's
    factors."""
    images = resize(images, cfg.image_size)
    factors = dict(factors or {})
    given_hue = factors.pop("hue", None)
    out = hue_factors(image_hue(images) if given_hue is None else given_hue, cfg.hue_bins)
    out["source_index"] = torch.from_numpy(np.asarray(source_index)).long()
    out.update(factors)
    return ImageSplit(images=images, labels=torch.from_numpy(np.asarray(labels)).long(), factors=out)
