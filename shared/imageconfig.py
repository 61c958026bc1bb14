"""The image methods' ``augment:`` and ``model:`` config sections and the table of E-SSL's pretext tasks, torch-free:
a sweep's driver loads and validates an image method's config without importing torch (``shared/augment.py``,
``shared/models/vision.py`` and ``shared/pretext.py`` re-export them beside the code that uses them)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from shared.config import bounded


@dataclass
class AugmentConfig:
    """The `augment:` section of SSL methods; defaults are the SimCLR / CARE CIFAR recipe."""

    crop_scale_min: float = 0.08
    crop_scale_max: float = 1.0
    crop_ratio_min: float = 3 / 4
    crop_ratio_max: float = 4 / 3
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma_min: float = 0.1
    blur_sigma_max: float = 2.0
    mean: list[float] = field(default_factory=lambda: [0.4914, 0.4822, 0.4465])
    std: list[float] = field(default_factory=lambda: [0.2470, 0.2435, 0.2616])


@dataclass
class EncoderConfig:
    """Backbone and projection head of the SSL methods."""

    backbone: str = bounded("convnet", choices=["convnet", "resnet18"])
    width: int = bounded(32, ge=1, help="channels of the first stage; doubled at each of the next three")
    proj_hidden: int = bounded(512, ge=1)
    proj_dim: int = bounded(128, ge=1, help="dimension of z, where the contrastive losses act")


# The discrete transformations of the pretext tasks (shared/pretext.py): task -> number of operations (labels)
BLUR_KERNELS = (0, 5, 9, 15)
JIGSAW_PERMUTATIONS = tuple(itertools.permutations(range(4)))
TASKS: dict[str, int] = {"rotation": 4, "hflip": 2, "vflip": 2, "invert": 2, "grayscale": 2,
                         "blur": len(BLUR_KERNELS), "jigsaw": len(JIGSAW_PERMUTATIONS)}
