"""Colourised digits: scikit-learn's 8x8 handwritten digits (shipped inside the package, offline).

Each grey image (values 0..16) is upsampled to image_size (bilinear) and painted one colour:
pixel = HSV(hue, 1, 1) * intensity on a black background. Factors:
  class         the digit 0..9 (sklearn's target).
  hue           the paint colour, uniform in [0, 1) per image, independent of the digit; "hue_bin" bins it.
  source_index  the image's row in sklearn.datasets.load_digits(), for provenance.

There is no official split: one seeded permutation of the 1,797 images gives test (the first n_test)
and train (the next n_train, or all the rest for n_train = -1).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from shared.data import DataConfig, ImageDataset, ImageSplit, hsv_to_rgb, hue_factors
from shared.data.checks import check_digits as check  # torch-free: the registry points the driver at it

CLASS_NAMES = [str(d) for d in range(10)]


def _colourise(grey: np.ndarray, hue: torch.Tensor, size: int) -> torch.Tensor:
    """grey (n, 8, 8) in 0..16 -> uint8 (n, 3, size, size), painted HSV(hue, 1, 1)."""
    intensity = torch.from_numpy(grey).float().div(16.0).unsqueeze(1)  # (n, 1, 8, 8) in [0, 1]
    intensity = F.interpolate(intensity, size=(size, size), mode="bilinear", align_corners=False)
    ones = torch.ones_like(hue).view(-1, 1, 1)
    colour = hsv_to_rgb(hue.view(-1, 1, 1), ones, ones)  # (n, 3, 1, 1)
    return torch.round(colour * intensity.clamp(0.0, 1.0) * 255.0).to(torch.uint8)


def _split(idx: np.ndarray, hue: np.ndarray, digits, cfg: DataConfig) -> ImageSplit:
    hue_t = torch.from_numpy(hue)
    factors = hue_factors(hue_t, cfg.hue_bins)
    factors["source_index"] = torch.from_numpy(idx).long()
    return ImageSplit(
        images=_colourise(digits.images[idx], hue_t, cfg.image_size),
        labels=torch.from_numpy(digits.target[idx]).long(),
        factors=factors,
    )


def load(cfg: DataConfig) -> ImageDataset:
    """Seeded split and colourisation of sklearn's digits; the same config gives identical tensors."""
    from sklearn.datasets import load_digits  # local import: sklearn is only needed here

    check(cfg)
    digits = load_digits()
    n = digits.images.shape[0]
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(n)
    hue = rng.random(n, dtype=np.float32)  # one hue per source image, drawn before the cut
    n_train = n - cfg.n_test if cfg.n_train == -1 else cfg.n_train
    test, train = order[: cfg.n_test], order[cfg.n_test : cfg.n_test + n_train]
    return ImageDataset(
        name="digits",
        train=_split(train, hue[train], digits, cfg),
        test=_split(test, hue[test], digits, cfg),
        class_names=list(CLASS_NAMES),
        hue_bins=cfg.hue_bins,
    )
