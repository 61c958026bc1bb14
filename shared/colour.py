"""Colour-space helpers on batched RGB tensors in [0, 1] (channels on dim -3), shared by the data sets,
the augmentations and the colour measures."""
from __future__ import annotations

import torch


def wrap01(x: torch.Tensor) -> torch.Tensor:
    # x mod 1 in [0, 1): in float32 a tiny negative x gives exactly 1.0 after `x % 1`, so fold that to 0
    x = torch.remainder(x, 1.0)
    return torch.where(x >= 1.0, torch.zeros_like(x), x)


def rgb_to_hsv(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RGB in [0, 1] with channels on dim -3 -> (h, s, v), each without the channel dim; h in [0, 1).

    Grey pixels (max == min) get h = 0 and s = 0.
    """
    r, g, b = rgb.unbind(dim=-3)
    v, _ = rgb.max(dim=-3)
    lo, _ = rgb.min(dim=-3)
    chroma = v - lo
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))  # avoid 0/0; masked below
    # the standard hexcone formula, one sector per dominant channel (ties resolve r > g > b)
    h = torch.where(
        v == r,
        torch.remainder((g - b) / safe, 6.0),
        torch.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    h = torch.where(chroma > 0, wrap01(h / 6.0), torch.zeros_like(h))
    s = torch.where(v > 0, chroma / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))
    return h, s, v


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(h, s, v) of equal shape (..., H, W) -> RGB with channels on dim -3. h is taken mod 1."""
    # f(n) = v - v s max(0, min(k, 4 - k, 1)), k = (n + 6h) mod 6, with n = 5, 3, 1 for R, G, B:
    # a branch-free form of the six-sector table, so it batches cleanly
    n = torch.tensor([5.0, 3.0, 1.0], dtype=h.dtype, device=h.device).view(3, 1, 1)
    k = torch.remainder(n + 6.0 * h.unsqueeze(-3), 6.0)
    ramp = torch.minimum(torch.minimum(k, 4.0 - k), torch.ones_like(k)).clamp(min=0.0)
    return v.unsqueeze(-3) - (v * s).unsqueeze(-3) * ramp


def hue_shift(images: torch.Tensor, delta: torch.Tensor | float) -> torch.Tensor:
    """Rotate the hue of RGB images in [0, 1] by `delta` (a fraction of the colour circle).

    images: float (..., 3, H, W). delta: a float, or a tensor with the leading (batch) shape of
    `images`, e.g. (N,) for one shift per image. Saturation and value are kept, so grey stays grey;
    delta = 0 and delta = 1 are the identity up to float rounding.
    """
    h, s, v = rgb_to_hsv(images)
    if isinstance(delta, torch.Tensor):
        delta = delta.to(h.dtype).reshape(delta.shape + (1, 1))  # broadcast over H, W
    return hsv_to_rgb(wrap01(h + delta), s, v).clamp(0.0, 1.0)


LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL's convert("L")


def rgb_to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma of (N, 3, H, W) images as (N, 1, H, W)."""
    w = x.new_tensor(LUMA).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)
