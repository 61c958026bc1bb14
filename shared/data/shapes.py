"""Coloured shapes: a generated set whose factors are known per image and drawn independently.

Each image is one filled shape on a dark grey, slightly noisy background. Factors (all independent):
  class     which shape (CLASS_NAMES), uniform; readable from the outline alone.
  hue       the shape's colour, uniform in [0, 1) (fraction of the colour circle); "hue_bin" bins it.
  sat, val  the colour's HSV saturation and value, uniform in [0.7, 1] (so every shape is vivid).
  rotation  angle in radians, uniform in [0, 2*pi), by which the canonical shape is turned. Shapes are
            symmetric, so it is visible only modulo 2*pi / SYMMETRY[class] (a circle or ring: not at all).
  pos_x,    the shape's centre in image coordinates in [0, 1] (x right, y down): the image centre
  pos_y     jittered uniformly by up to +-POS_JITTER.
  scale     the shape's outer radius as a fraction of the image side, uniform in SCALE_RANGE.

Shapes are rendered at SUPERSAMPLE x the resolution and averaged down, so edges are anti-aliased.
The background is grey (equal channels), so it adds no hue: image_hue() of an image is its shape's hue.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from shared.data import DataConfig, ImageDataset, ImageSplit, hsv_to_rgb, hue_factors
from shared.data.checks import check_shapes as check  # torch-free: the registry points the driver at it

CLASS_NAMES = ["circle", "square", "triangle", "cross", "star", "ring"]
SYMMETRY = {"circle": 0, "square": 4, "triangle": 3, "cross": 4, "star": 5, "ring": 0}  # 0: continuous
SCALE_RANGE = (0.22, 0.36)
POS_JITTER = 0.1  # 0.5 + 0.1 + 0.36 < 1: every shape stays inside the frame
SAT_RANGE = (0.7, 1.0)
VAL_RANGE = (0.7, 1.0)
BACKGROUND = 0.15  # grey level of the background in [0, 1]
NOISE = 0.03  # std of the background's per-pixel grey noise
SUPERSAMPLE = 2
CHUNK = 512  # images rendered at once; bounds memory at about CHUNK * (2 * size)^2 * 4 bytes per array


def _star(points: int, outer: float, inner: float) -> np.ndarray:
    angles = -math.pi / 2 + np.arange(2 * points) * math.pi / points  # first tip points up
    radii = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross(arm: float, half_width: float) -> np.ndarray:
    a, w = arm, half_width
    # a plus sign: twelve corners, clockwise from the top of the upper arm's right edge
    return np.array([
        (w, -a), (w, -w), (a, -w), (a, w), (w, w), (w, a),
        (-w, a), (-w, w), (-a, w), (-a, -w), (-w, -w), (-w, -a),
    ])


# Polygons in the shape's own frame, outer radius about 1; sizes chosen so all shapes look about as big.
_POLYGONS = {
    "square": np.array([(-0.72, -0.72), (0.72, -0.72), (0.72, 0.72), (-0.72, 0.72)]),
    "triangle": _star(3, 1.0, 0.5),  # an equilateral triangle: the "inner" points lie on its edges
    "cross": _cross(0.95, 0.3),
    "star": _star(5, 1.0, 0.45),  # fatter than a pentagram (0.38) so the arms survive at 32 px
}
_DISCS = {"circle": (0.0, 0.85), "ring": (0.5, 0.95)}  # (inner, outer) radius


def _inside_polygon(u: np.ndarray, v: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Even-odd rule: a point is inside when a ray to +u crosses the outline an odd number of times."""
    inside = np.zeros(u.shape, dtype=bool)
    for (x1, y1), (x2, y2) in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        if y1 == y2:
            continue  # a horizontal edge is never crossed by a horizontal ray
        spans = (y1 > v) != (y2 > v)
        x_cross = x1 + (v - y1) * ((x2 - x1) / (y2 - y1))
        inside ^= spans & (u < x_cross)
    return inside


def _shape_mask(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if name in _DISCS:
        inner, outer = _DISCS[name]
        r2 = u * u + v * v
        return (r2 <= outer * outer) & (r2 >= inner * inner)
    return _inside_polygon(u, v, _POLYGONS[name])


def _coverage(name: str, f: dict[str, np.ndarray], size: int) -> np.ndarray:
    """Fraction of each pixel covered by the shape, (n, size, size) float32, for one class's images."""
    hi = size * SUPERSAMPLE
    grid = ((np.arange(hi, dtype=np.float32) + 0.5) / hi)[None]  # sample centres in [0, 1]
    dx = grid[:, None, :] - f["pos_x"][:, None, None]  # (n, 1, hi): x varies along columns
    dy = grid[:, :, None] - f["pos_y"][:, None, None]  # (n, hi, 1)
    cos = (np.cos(f["rotation"]) / f["scale"])[:, None, None]
    sin = (np.sin(f["rotation"]) / f["scale"])[:, None, None]
    # sample position in the shape's frame: undo translation, rotation and scale
    u = cos * dx + sin * dy
    v = -sin * dx + cos * dy
    mask = _shape_mask(name, u, v).astype(np.float32)
    n = mask.shape[0]
    return mask.reshape(n, size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(2, 4))


def _draw_factors(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    # one draw per factor, each independent of the others; the order is fixed for reproducibility
    f32 = np.float32
    return {
        "label": rng.integers(0, len(CLASS_NAMES), size=n),
        "hue": rng.random(n, dtype=f32),  # float32 draw: stays < 1, unlike a float64 draw cast down
        "sat": rng.uniform(*SAT_RANGE, size=n).astype(f32),
        "val": rng.uniform(*VAL_RANGE, size=n).astype(f32),
        "rotation": rng.uniform(0.0, 2 * math.pi, size=n).astype(f32),
        "pos_x": rng.uniform(0.5 - POS_JITTER, 0.5 + POS_JITTER, size=n).astype(f32),
        "pos_y": rng.uniform(0.5 - POS_JITTER, 0.5 + POS_JITTER, size=n).astype(f32),
        "scale": rng.uniform(*SCALE_RANGE, size=n).astype(f32),
    }


def _render(rng: np.random.Generator, f: dict[str, np.ndarray], size: int) -> np.ndarray:
    n = f["label"].shape[0]
    alpha = np.empty((n, size, size), dtype=np.float32)
    for k, name in enumerate(CLASS_NAMES):  # each image is rasterised only with its own shape's test
        idx = np.flatnonzero(f["label"] == k)
        for start in range(0, idx.size, CHUNK):
            part = idx[start : start + CHUNK]
            alpha[part] = _coverage(name, {key: val[part] for key, val in f.items()}, size)
    colour = hsv_to_rgb(*(torch.from_numpy(f[key]).view(n, 1, 1) for key in ("hue", "sat", "val"))).numpy()
    # grey noise (equal on all channels) keeps the background colourless
    background = BACKGROUND + NOISE * rng.standard_normal((n, 1, size, size), dtype=np.float32)
    alpha = alpha[:, None]
    image = colour * alpha + np.clip(background, 0.0, 1.0) * (1.0 - alpha)
    return np.round(image * 255.0).astype(np.uint8)


def _split(rng: np.random.Generator, n: int, cfg: DataConfig) -> ImageSplit:
    f = _draw_factors(rng, n)
    images = torch.from_numpy(_render(rng, f, cfg.image_size))
    factors = hue_factors(torch.from_numpy(f["hue"]), cfg.hue_bins)
    for key in ("sat", "val", "rotation", "pos_x", "pos_y", "scale"):
        factors[key] = torch.from_numpy(f[key])
    return ImageSplit(images=images, labels=torch.from_numpy(f["label"]).long(), factors=factors)


def load(cfg: DataConfig) -> ImageDataset:
    """Generate train and test from `cfg.seed`; the same config gives bit-identical tensors.

    Train and test come from two child streams spawned by one Generator seeded with cfg.seed, so they
    are independent draws and the test set does not change when n_train does.
    """
    check(cfg)
    train_rng, test_rng = np.random.default_rng(cfg.seed).spawn(2)
    return ImageDataset(
        name="shapes",
        train=_split(train_rng, cfg.n_train, cfg),
        test=_split(test_rng, cfg.n_test, cfg),
        class_names=list(CLASS_NAMES),
        hue_bins=cfg.hue_bins,
    )
