"""Offline image data: generated sets with known factors, packaged data, and local real benchmarks.

Every image data set is loaded through one registry (`shared/data/registry.py`, which also holds the graph
sets) and one config (`DataConfig`, the YAML `data:` section of every image method). Nothing here
downloads: generated sets are drawn from a seeded numpy Generator, `digits` ships inside scikit-learn,
and the real benchmarks (CIFAR-10, STL-10) are read from a local root or fail fast with
`DatasetNotFoundError` saying what to fetch and where to put it; users' own images are read from an
ImageFolder tree (`image_folder`) or one .npz / .parquet file (`arrays`), see docs/datasets.md.

Images are uint8 (N, 3, H, W). Besides the class label each image carries known factors; all sets
have "hue" (the image's colour, a fraction of the colour circle in [0, 1)) and "hue_bin" (hue
quantised into `hue_bins` equal bins, a colour label for linear probes).

This package never imports ray, and imports torch only where a function uses it (a sweep's driver checks a
`data:` section without it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.config import ConfigError

if TYPE_CHECKING:  # torch is imported where it is used: a sweep's driver checks the `data:` section without it
    import torch

_COLOUR = ("hsv_to_rgb", "hue_shift", "rgb_to_hsv", "wrap01")  # shared.colour's, re-exported lazily (torch)


def __getattr__(name: str) -> Any:
    if name in _COLOUR:
        import shared.colour

        return getattr(shared.colour, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# ----------------------------------------------------------------------------------------------------
# config and containers


@dataclass
class DataConfig:
    """The `data:` section of an image method's config (OmegaConf validates YAML against it)."""

    name: str = "shapes"  # a registered image data set (shared/data/registry.py)
    root: str | None = None  # local folder: real benchmarks (cifar10, stl10) and image_folder
    n_train: int = 4096  # train images; -1 = all available (real sets, digits)
    n_test: int = 1024  # test images; -1 = all available (real sets only)
    image_size: int = 32  # output side length in pixels (images are square)
    seed: int = 0  # seeds generation, colourisation and subset selection
    hue_bins: int = 8  # number of equal bins of the colour circle for the "hue_bin" label
    # arrays (your own .npz or .parquet file): where it is and which arrays / columns hold what
    path: str | None = None  # the .npz or .parquet file
    images: str = "image"  # the array / column holding the images
    label: str = "label"  # the array / column holding the class (integers or strings)
    factors: list[str] = field(default_factory=list)  # further known factors, numeric, one value per image


@dataclass
class ImageSplit:
    """One split: images, class labels and per-image known factors.

    images:  uint8 (N, 3, H, W).
    labels:  int64 (N,), the class (index into ImageDataset.class_names).
    factors: name -> tensor of length N. Always "hue" (float32 in [0, 1)) and "hue_bin" (int64 in
             [0, hue_bins)); each loader's docstring lists the others it adds.
    """

    images: torch.Tensor
    labels: torch.Tensor
    factors: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return self.labels.shape[0]


@dataclass
class ImageDataset:
    name: str
    train: ImageSplit
    test: ImageSplit
    class_names: list[str]
    hue_bins: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class DatasetNotFoundError(FileNotFoundError):
    """A real benchmark's files are not under data.root; the message says what to download and where."""


# ----------------------------------------------------------------------------------------------------
# loading through the registry (shared/data/registry.py: one entry per data set, image and graph)


def check_dataset(cfg: DataConfig) -> None:
    """Fail fast, before any compute, on a config that cannot load. Does not load the data.

    Raises ConfigError naming the offending key ("data.name: ...", "data.n_train: ...") for an unknown name, a
    registered set that is unavailable here (a package it needs is missing) or bad sizes, and
    DatasetNotFoundError for a set whose files are not where the config says.
    """
    from shared.data.registry import check_entry

    for key in ("n_train", "n_test"):
        n = getattr(cfg, key)
        if not isinstance(n, int) or not (n > 0 or n == -1):
            raise ConfigError(f"data.{key}: must be a positive count or -1 for all, got {n!r}")
    if not isinstance(cfg.image_size, int) or cfg.image_size < 8:
        raise ConfigError(f"data.image_size: must be an integer >= 8, got {cfg.image_size!r}")
    if not isinstance(cfg.hue_bins, int) or cfg.hue_bins < 2:
        raise ConfigError(f"data.hue_bins: must be an integer >= 2, got {cfg.hue_bins!r}")
    check_entry(cfg.name, "image", cfg)


def load_dataset(cfg: DataConfig) -> ImageDataset:
    """Check the config, then load (or generate) the data set it names."""
    from shared.data.registry import check_entry, resolve

    return resolve(check_entry(cfg.name, "image", cfg), "loader")(cfg)


# ----------------------------------------------------------------------------------------------------
# colour: hue bins, RGB <-> HSV in torch, dominant hue, hue shift


def hue_bin(hue: torch.Tensor, bins: int) -> torch.Tensor:
    """Bin index floor(hue * bins), clamped to [0, bins - 1], as int64."""
    import torch

    return torch.floor(hue * bins).long().clamp(0, bins - 1)


def image_hue(images: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Dominant hue of uint8 images (N, 3, H, W) -> float32 (N,) in [0, 1).

    The circular mean of per-pixel hue weighted by saturation * value, so grey, dark and washed-out
    pixels (background, shadows) count little. An image with no colour at all gets hue 0.
    """
    import torch

    from shared.colour import rgb_to_hsv, wrap01

    out = []
    for start in range(0, images.shape[0], chunk):  # chunks keep the float copy small
        x = images[start : start + chunk].float() / 255.0
        h, s, v = rgb_to_hsv(x)
        w = (s * v).flatten(1)
        angle = 2.0 * math.pi * h.flatten(1)
        y = (w * torch.sin(angle)).sum(1)
        c = (w * torch.cos(angle)).sum(1)
        out.append(wrap01(torch.atan2(y, c) / (2.0 * math.pi)))
    return torch.cat(out) if out else torch.zeros(0)


def hue_factors(hue: torch.Tensor, bins: int) -> dict[str, torch.Tensor]:
    """The two factors every split carries: "hue" (float32 in [0, 1)) and its bin "hue_bin"."""
    hue = hue.float()
    return {"hue": hue, "hue_bin": hue_bin(hue, bins)}


__all__ = [
    "DataConfig",
    "ImageSplit",
    "ImageDataset",
    "DatasetNotFoundError",
    "DATASETS",
    "DatasetEntry",
    "check_dataset",
    "load_dataset",
    "hue_bin",
    "image_hue",
    "hue_shift",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "hue_factors",
]

# The registry is imported last: it needs nothing from above, and `from shared.data import DATASETS` keeps working.
from shared.data.registry import DATASETS, DatasetEntry  # noqa: E402
