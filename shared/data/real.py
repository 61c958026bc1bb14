"""Real benchmarks read from a local root, in torchvision's on-disk layout. Nothing here downloads.

  CIFAR-10: <root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
  STL-10:   <root>/stl10_binary/{train_X.bin, train_y.bin, test_X.bin, test_y.bin, class_names.txt}

Missing files raise DatasetNotFoundError with the URL of the archive and where to extract it. A seeded
permutation picks n_train / n_test images (-1 = all, in that seeded order); images are resized to
image_size with antialiased bilinear interpolation. Factors:
  hue           the image's dominant hue (image_hue: saturation*value-weighted circular mean), measured
                on the resized image; "hue_bin" bins it. It is measured, not controlled, so unlike the
                generated sets it is correlated with the class (sky, grass, ...).
  source_index  the image's index in the on-disk split (train or test), for provenance.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import torch
import torch.nn.functional as F

from shared.config import ConfigError
from shared.data import DataConfig, DatasetNotFoundError, ImageDataset, ImageSplit, hue_factors, image_hue

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_FILES = CIFAR10_TRAIN + ["test_batch", "batches.meta"]

STL10_URL = "https://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"
STL10_DIR = "stl10_binary"
STL10_FILES = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin", "class_names.txt"]
STL10_SIDE = 96

RESIZE_CHUNK = 1024  # images resized at once: bounds the float copy


# ----------------------------------------------------------------------------------------------------
# presence checks (file system only; used by check_dataset before any compute)


def _require(cfg: DataConfig, title: str, folder: str, files: list[str], url: str) -> str:
    """Return <root>/<folder>, or raise DatasetNotFoundError naming the expected files and the fix."""
    if cfg.root is None:
        raise DatasetNotFoundError(
            f"{title} not found: data.root is not set. Expected {', '.join(files)} in "
            f"<root>/{folder}/ (e.g. <root>/{folder}/{files[0]}). Download {url}, extract it into a folder "
            f"<root> (the archive unpacks to <root>/{folder}/) and set data.root=<root>. "
            f"Nothing is downloaded automatically."
        )
    root = os.path.expanduser(cfg.root)
    base = os.path.join(root, folder)
    missing = [f for f in files if not os.path.isfile(os.path.join(base, f))]
    if missing:
        raise DatasetNotFoundError(
            f"{title} not found: missing {', '.join(os.path.join(base, f) for f in missing)} "
            f"(expected {', '.join(files)} in {base}). Download {url} and extract it "
            f"into {root} (the archive unpacks to {base}), or set data.root=... to the folder that holds "
            f"{folder}/. Nothing is downloaded automatically."
        )
    return base


def check_cifar10(cfg: DataConfig) -> None:
    _require(cfg, "CIFAR-10", CIFAR10_DIR, CIFAR10_FILES, CIFAR10_URL)


def check_stl10(cfg: DataConfig) -> None:
    _require(cfg, "STL-10", STL10_DIR, STL10_FILES, STL10_URL)


# ----------------------------------------------------------------------------------------------------
# shared steps: seeded subset, resize, split assembly


def _subset(rng: np.random.Generator, available: int, n: int, key: str, title: str) -> np.ndarray:
    if n > available:
        raise ConfigError(f"data.{key}: asked for {n} images, {title} has {available}")
    order = rng.permutation(available)
    return order if n == -1 else order[:n]


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 3, h, w) -> uint8 (N, 3, size, size); antialiased bilinear, so shrinking averages
    (area-like) instead of aliasing. Returns the input when it already has that size."""
    if images.shape[-2:] == (size, size):
        return images
    out = []
    for start in range(0, images.shape[0], RESIZE_CHUNK):
        x = images[start : start + RESIZE_CHUNK].float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out) if out else images.new_zeros((0, 3, size, size))


def _split(images: np.ndarray, labels: np.ndarray, idx: np.ndarray, cfg: DataConfig) -> ImageSplit:
    x = resize(torch.from_numpy(np.ascontiguousarray(images)), cfg.image_size)
    factors = hue_factors(image_hue(x), cfg.hue_bins)
    factors["source_index"] = torch.from_numpy(idx).long()
    return ImageSplit(images=x, labels=torch.from_numpy(np.asarray(labels)).long(), factors=factors)


# ----------------------------------------------------------------------------------------------------
# CIFAR-10


# What the official CIFAR-10 batches hold besides dicts, lists, bytes and numbers: numpy arrays (the names
# differ between numpy 1 and 2, and protocol 5 rebuilds arrays from buffers).
_CIFAR_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles containers, numbers, strings and numpy arrays only: a crafted batch file cannot run code."""

    def find_class(self, module: str, name: str):  # type: ignore[no-untyped-def]
        if (module, name) in _CIFAR_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch file")


def _unpickle(path: str) -> dict:
    # the official archive holds Python pickles: read them with only numpy arrays allowed (docs/security.md)
    with open(path, "rb") as f:
        try:
            return _ArraysOnlyUnpickler(f, encoding="bytes").load()
        except pickle.UnpicklingError as err:
            raise pickle.UnpicklingError(f"refusing {path}: {err}") from None


def load_cifar10(cfg: DataConfig) -> ImageDataset:
    """CIFAR-10 (50,000 train / 10,000 test, 32x32, 10 classes) from <root>/cifar-10-batches-py."""
    base = _require(cfg, "CIFAR-10", CIFAR10_DIR, CIFAR10_FILES, CIFAR10_URL)
    rng = np.random.default_rng(cfg.seed)
    splits = {}
    for key, names in (("n_train", CIFAR10_TRAIN), ("n_test", ["test_batch"])):
        batches = [_unpickle(os.path.join(base, name)) for name in names]
        images = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches])
        labels = np.concatenate([np.asarray(b[b"labels"], dtype=np.int64) for b in batches])
        idx = _subset(rng, images.shape[0], getattr(cfg, key), key, f"CIFAR-10 {key[2:]}")
        splits[key] = _split(images[idx].reshape(-1, 3, 32, 32), labels[idx], idx, cfg)
    meta = _unpickle(os.path.join(base, "batches.meta"))
    return ImageDataset(
        name="cifar10",
        train=splits["n_train"],
        test=splits["n_test"],
        class_names=[n.decode() for n in meta[b"label_names"]],
        hue_bins=cfg.hue_bins,
    )


# ----------------------------------------------------------------------------------------------------
# STL-10


def _stl10_images(path: str) -> np.ndarray:
    """Memory-map an STL-10 image file: uint8, each image 3x96x96 stored column-major."""
    pixels = 3 * STL10_SIDE * STL10_SIDE
    count, rest = divmod(os.path.getsize(path), pixels)
    if rest:
        raise ValueError(f"{path}: size is not a multiple of {pixels} bytes (truncated, or not STL-10)")
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(count, 3, STL10_SIDE, STL10_SIDE))


def load_stl10(cfg: DataConfig) -> ImageDataset:
    """STL-10 labelled splits (5,000 train / 8,000 test, 96x96, 10 classes) from <root>/stl10_binary.

    The 100,000 unlabelled images are not loaded.
    """
    base = _require(cfg, "STL-10", STL10_DIR, STL10_FILES, STL10_URL)
    rng = np.random.default_rng(cfg.seed)
    splits = {}
    for key, prefix in (("n_train", "train"), ("n_test", "test")):
        images = _stl10_images(os.path.join(base, f"{prefix}_X.bin"))
        labels = np.fromfile(os.path.join(base, f"{prefix}_y.bin"), dtype=np.uint8).astype(np.int64) - 1
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"STL-10 {prefix}: {images.shape[0]} images but {labels.shape[0]} labels")
        idx = _subset(rng, images.shape[0], getattr(cfg, key), key, f"STL-10 {prefix}")
        # read only the chosen images (sorted reads are sequential), then put them back in seeded order
        order = np.argsort(idx)
        picked = np.empty((idx.size, 3, STL10_SIDE, STL10_SIDE), dtype=np.uint8)
        picked[order] = images[idx[order]]
        splits[key] = _split(picked.transpose(0, 1, 3, 2), labels[idx], idx, cfg)  # column- to row-major
    with open(os.path.join(base, "class_names.txt")) as f:
        class_names = [line.strip() for line in f if line.strip()]
    return ImageDataset(
        name="stl10",
        train=splits["n_train"],
        test=splits["n_test"],
        class_names=class_names,
        hue_bins=cfg.hue_bins,
    )
