"""Discrete transformations with labels, for transformation-prediction pretext tasks (E-SSL).

Each task is a finite group (or set) of image operations; label v picks the v-th operation. Operations
act on float images (N, 3, H, W) in [0, 1]; labels are drawn uniformly per image from a generator, so a
batch's transformations are reproducible and recoverable (see tests/test_essl.py).

    rotation   4   counter-clockwise by 0, 90, 180, 270 degrees
    hflip      2   identity / mirror left-right
    vflip      2   identity / mirror top-bottom
    invert     2   identity / 1 - x
    grayscale  2   identity / luminance on all channels
    blur       4   none, or a Gaussian blur of kernel 5, 9, 15
    jigsaw    24   the 4 quadrants of a 2x2 grid rearranged by one of the 24 permutations
"""
from __future__ import annotations

import torch
from torch import Tensor

from shared.augment import gaussian_blur, grayscale, resized_crop_flip
from shared.imageconfig import BLUR_KERNELS, JIGSAW_PERMUTATIONS, TASKS  # torch-free (E-SSL's `task:`); re-exported


def random_labels(task: str, n: int, generator: torch.Generator) -> Tensor:
    """n labels drawn uniformly from the task's operations."""
    return torch.randint(TASKS[task], (n,), generator=generator)


def apply_transform(task: str, images: Tensor, labels: Tensor) -> Tensor:
    """Image i transformed by operation labels[i] of ``task``."""
    if task not in TASKS:
        raise ValueError(f"unknown transformation task {task!r}; known: {', '.join(TASKS)}")
    out = images.clone()
    for value in labels.unique().tolist():
        rows = labels == value
        out[rows] = _operation(task, images[rows], int(value))
    return out


def _operation(task: str, x: Tensor, v: int) -> Tensor:
    if task == "rotation":
        return torch.rot90(x, v, dims=(-2, -1))
    if v == 0 and task != "jigsaw":
        return x
    if task == "hflip":
        return x.flip(-1)
    if task == "vflip":
        return x.flip(-2)
    if task == "invert":
        return 1.0 - x
    if task == "grayscale":
        return grayscale(x)
    if task == "blur":
        k = BLUR_KERNELS[v]
        sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for a kernel size: one blur level per label
        return gaussian_blur(x, torch.full((x.shape[0],), sigma), k)
    return jigsaw(x, JIGSAW_PERMUTATIONS[v])


def jigsaw(x: Tensor, permutation: tuple[int, ...]) -> Tensor:
    """Quadrant i of the output (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) is the input's
    quadrant permutation[i]."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f"jigsaw needs even image sides, got {tuple(x.shape[-2:])}")
    tiles = [x[..., :h, :w], x[..., :h, w:], x[..., h:, :w], x[..., h:, w:]]
    p = [tiles[i] for i in permutation]
    return torch.cat([torch.cat(p[:2], dim=-1), torch.cat(p[2:], dim=-1)], dim=-2)


def random_translate(images: Tensor, max_shift: float, generator: torch.Generator) -> Tensor:
    """Shift each image by up to ``max_shift`` of its side in x and y, edges replicated: the base crop
    applied before the pretext transformation (RandomCrop with padding, without a border to exploit)."""
    n = images.shape[0]
    centre = 0.5 + (torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift
    box = torch.cat([centre, torch.ones(n, 2)], dim=1)
    return resized_crop_flip(images, box, torch.zeros(n, dtype=torch.bool), images.shape[-1])
