"""SimCLR augmentations as an explicit parameter sampler, batched in plain torch.

The pipeline is SimCLR's CIFAR recipe as used by CARE (Sharut/CARE, `dataset.py`):

    RandomResizedCrop -> HorizontalFlip -> ColorJitter (p) -> Grayscale (p) -> GaussianBlur (p) -> Normalize

Randomness and application are split in two:

    params = aug.sample(n, generator)   # one row of parameters per image
    views = aug.apply(images, params)   # deterministic given params

so that CARE's "same augmentation for a whole chunk" is `sample(chunks)` followed by
`repeat_interleave(chunk_size)`, and SimCLR's independent views are `sample(len(images))`.
Everything is batched (one affine grid for crop + flip, masked sub-batches for the rest), and every
random number comes from the caller's `torch.Generator`, never the global RNG.

Differences from torchvision, on purpose:
- crop boxes are continuous fractions of the image, not whole pixels, and the image is assumed square
  (the aspect ratio is sampled in fractions, which equals pixels only when H == W);
- resizing is bilinear `grid_sample` without antialiasing: identical for CIFAR (a crop is never larger
  than the 32x32 output), slightly aliased when a much larger input is shrunk;
- grayscale uses the ITU-R 601-2 weights 0.299/0.587/0.114 (PIL; torchvision's tensor path uses 0.2989).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

from shared.colour import hue_shift, rgb_to_grayscale
from shared.imageconfig import AugmentConfig as AugmentConfig  # torch-free, for the driver

# -----------------------------------------------------------------------------
# config and parameters


@dataclass
class AugmentParams:
    """Augmentation parameters, one row per image; every field has length n.

    crop: (n, 4) box as (cx, cy, w, h), fractions of the image width/height.
    order: (n, 4) a permutation of (0 brightness, 1 contrast, 2 saturation, 3 hue) per image: torchvision
        draws a fresh `randperm(4)` each time ColorJitter is called, i.e. once per image.
    brightness, contrast, saturation: multiplicative factors; hue: shift in turns, in [-hue, hue].
    Jitter factors and sigma are drawn for every row; `jitter` and `blur` say whether they are used.
    """

    crop: Tensor
    flip: Tensor
    jitter: Tensor
    brightness: Tensor
    contrast: Tensor
    saturation: Tensor
    hue: Tensor
    order: Tensor
    grayscale: Tensor
    blur: Tensor
    sigma: Tensor

    def __len__(self) -> int:
        return self.flip.shape[0]

    def _map(self, fn) -> AugmentParams:
        return AugmentParams(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    def repeat_interleave(self, k: int) -> AugmentParams:
        """Each row repeated k times in place: per-chunk parameters -> per-image parameters."""
        return self._map(lambda t: t.repeat_interleave(k, dim=0))

    def to(self, device: torch.device | str) -> AugmentParams:
        return self._map(lambda t: t.to(device))

    @classmethod
    def identity(cls, n: int, device: torch.device | str = "cpu") -> AugmentParams:
        """Parameters that only resize and normalise: full crop, no flip, jitter, grayscale or blur."""
        false = torch.zeros(n, dtype=torch.bool, device=device)
        ones = torch.ones(n, device=device)
        return cls(
            crop=torch.tensor([0.5, 0.5, 1.0, 1.0], device=device).repeat(n, 1),
            flip=false, jitter=false.clone(), grayscale=false.clone(), blur=false.clone(),
            brightness=ones, contrast=ones.clone(), saturation=ones.clone(),
            hue=torch.zeros(n, device=device), sigma=ones.clone(),
            order=torch.arange(4, device=device).repeat(n, 1),
        )


# -----------------------------------------------------------------------------
# colour helpers (images are (N, 3, H, W) in [0, 1]; factors are (N,))


def _per_image(f: Tensor) -> Tensor:
    return f.view(-1, 1, 1, 1)


def _blend(a: Tensor, b: Tensor, ratio: Tensor) -> Tensor:
    # torchvision's `_blend`: ratio * a + (1 - ratio) * b, clamped to the valid range
    r = _per_image(ratio)
    return (r * a + (1 - r) * b).clamp(0, 1)


def adjust_brightness(x: Tensor, factor: Tensor) -> Tensor:
    return (x * _per_image(factor)).clamp(0, 1)


def adjust_contrast(x: Tensor, factor: Tensor) -> Tensor:
    # torchvision blends with the mean of the grayscale image (one scalar per image)
    mean = rgb_to_grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, factor)


def adjust_saturation(x: Tensor, factor: Tensor) -> Tensor:
    return _blend(x, rgb_to_grayscale(x), factor)


def adjust_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate hue by `shift` turns per image (torchvision: h = (h + shift) mod 1 in HSV space)."""
    return hue_shift(x, shift)


JITTERS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)  # indices used by `order`


def grayscale(x: Tensor) -> Tensor:
    """Grayscale replicated to 3 channels, as RandomGrayscale(num_output_channels=3)."""
    return rgb_to_grayscale(x).expand_as(x).contiguous()


# -----------------------------------------------------------------------------
# geometry and blur


def resized_crop_flip(x: Tensor, crop: Tensor, flip: Tensor, size: int) -> Tensor:
    """Crop boxes (cx, cy, w, h) resized to size x size, mirrored where `flip`: one affine grid.

    affine_grid maps output coordinates in [-1, 1] to input coordinates; with align_corners=False,
    -1 and 1 are the outer pixel edges, so the box [cx - w/2, cx + w/2] is [2cx - 1 - w, 2cx - 1 + w].
    A negative x scale mirrors the crop (torchvision flips after cropping, which is the same).
    """
    cx, cy, w, h = crop.to(x.dtype).unbind(dim=1)
    sign = 1 - 2 * flip.to(x.dtype)
    zero = torch.zeros_like(w)
    theta = torch.stack([
        torch.stack([w * sign, zero, 2 * cx - 1], dim=1),
        torch.stack([zero, h, 2 * cy - 1], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, [x.shape[0], x.shape[1], size, size], align_corners=False)
    # 'border' clamps at the image edge like F.interpolate, instead of mixing in black
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def blur_kernel_size(image_size: int) -> int:
    """About 10% of the image side, odd, at least 3 (SimCLR; CARE uses int(0.1 * 32) = 3)."""
    k = int(0.1 * image_size)
    return max(3, k + 1 - k % 2)


def gaussian_blur(x: Tensor, sigma: Tensor, kernel_size: int) -> Tensor:
    """Per-image Gaussian blur: separable depthwise convolution, reflect padding (as torchvision)."""
    n, c, hgt, wid = x.shape
    half = kernel_size // 2
    offsets = torch.arange(kernel_size, device=x.device, dtype=x.dtype) - half
    kernel = torch.exp(-0.5 * (offsets / sigma.to(x.dtype).view(-1, 1)) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (n*c, k)
    y = F.pad(x.reshape(1, n * c, hgt, wid), (half, half, half, half), mode="reflect")
    y = F.conv2d(y, kernel.view(n * c, 1, kernel_size, 1), groups=n * c)
    y = F.conv2d(y, kernel.view(n * c, 1, 1, kernel_size), groups=n * c)
    return y.view(n, c, hgt, wid)


def _where_rows_(x: Tensor, mask: Tensor, fn, *factors: Tensor) -> Tensor:
    """Rows of x in `mask` replaced by fn(x[mask], *factors[mask]), in place; other rows untouched.

    Only the selected sub-batch is computed, and in place because `apply` owns x (the fresh output
    of grid_sample): copying the whole batch at each of the 18 steps cost a third of the time.
    """
    idx = mask.nonzero().flatten()
    if idx.numel() > 0:
        x.index_copy_(0, idx, fn(x.index_select(0, idx), *(f.index_select(0, idx) for f in factors)))
    return x


# -----------------------------------------------------------------------------
# the augmentation


class SimCLRAugment:
    """SimCLR augmentation of image batches with explicit, reproducible parameters."""

    def __init__(self, cfg: AugmentConfig, image_size: int):
        if not 0 < cfg.crop_scale_min <= cfg.crop_scale_max <= 1:
            raise ValueError(f"need 0 < crop_scale_min <= crop_scale_max <= 1, got {cfg}")
        if not 0 < cfg.crop_ratio_min <= cfg.crop_ratio_max:
            raise ValueError(f"need 0 < crop_ratio_min <= crop_ratio_max, got {cfg}")
        if len(cfg.mean) != 3 or len(cfg.std) != 3:
            raise ValueError("mean and std need 3 values (RGB)")
        self.cfg = cfg
        self.image_size = image_size
        self.kernel_size = blur_kernel_size(image_size)

    # --- sampling

    def _sample_crops(self, n: int, rand) -> Tensor:
        """Boxes as torchvision's RandomResizedCrop.get_params, vectorised over images and the 10 tries.

        Area fraction ~ U(scale), aspect ratio log-uniform in `ratio`; the first try that fits wins,
        otherwise the fallback is the largest centred box with a ratio inside `ratio`.
        """
        c = self.cfg
        area = c.crop_scale_min + (c.crop_scale_max - c.crop_scale_min) * rand(n, 10)
        lo, hi = math.log(c.crop_ratio_min), math.log(c.crop_ratio_max)
        ratio = torch.exp(lo + (hi - lo) * rand(n, 10))
        w, h = torch.sqrt(area * ratio), torch.sqrt(area / ratio)
        fits = (w <= 1) & (h <= 1)
        first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # first try that fits (0 if none)
        w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
        # fallback for a square image (torchvision's in_ratio = 1): clamp the ratio into range
        fw = c.crop_ratio_max if c.crop_ratio_max < 1 else 1.0
        fh = 1 / c.crop_ratio_min if c.crop_ratio_min > 1 else 1.0
        ok = fits.any(dim=1)
        w, h = torch.where(ok, w, torch.full_like(w, fw)), torch.where(ok, h, torch.full_like(h, fh))
        # top-left uniform over the valid positions, as torchvision's randint(0, H - h + 1); 0.5 = centre
        u = rand(n, 2)
        cx = torch.where(ok, w / 2 + (1 - w) * u[:, 0], torch.full_like(w, 0.5))
        cy = torch.where(ok, h / 2 + (1 - h) * u[:, 1], torch.full_like(h, 0.5))
        return torch.stack([cx, cy, w, h], dim=1)

    def sample(self, n: int, generator: torch.Generator) -> AugmentParams:
        """Draw n independent rows of parameters, on the generator's device."""
        c = self.cfg

        def rand(*shape: int) -> Tensor:
            return torch.rand(*shape, generator=generator, device=generator.device)

        def uniform(lo: float, hi: float) -> Tensor:
            return lo + (hi - lo) * rand(n)

        # probabilities as torchvision: apply when rand < p (p = 0 never, p = 1 always)
        return AugmentParams(
            crop=self._sample_crops(n, rand),
            flip=rand(n) < c.flip_p,
            jitter=rand(n) < c.jitter_p,
            # ColorJitter ranges: [max(0, 1 - b), 1 + b] for the factors, [-h, h] for hue
            brightness=uniform(max(0.0, 1 - c.brightness), 1 + c.brightness),
            contrast=uniform(max(0.0, 1 - c.contrast), 1 + c.contrast),
            saturation=uniform(max(0.0, 1 - c.saturation), 1 + c.saturation),
            hue=uniform(-c.hue, c.hue),
            order=rand(n, 4).argsort(dim=1),  # a uniform random permutation per image
            grayscale=rand(n) < c.grayscale_p,
            blur=rand(n) < c.blur_p,
            sigma=uniform(c.blur_sigma_min, c.blur_sigma_max),
        )

    # --- application

    def normalize(self, images: Tensor) -> Tensor:
        """Only the Normalize step, for un-augmented evaluation images (no resize)."""
        mean = images.new_tensor(self.cfg.mean).view(1, 3, 1, 1)
        std = images.new_tensor(self.cfg.std).view(1, 3, 1, 1)
        return (images - mean) / std

    def _color_jitter(self, x: Tensor, p: AugmentParams) -> Tensor:
        # step k applies, to each jittered image, the jitter at position k of its own order
        factors = (p.brightness, p.contrast, p.saturation, p.hue)
        for k in range(4):
            for op, (fn, f) in enumerate(zip(JITTERS, factors, strict=True)):
                x = _where_rows_(x, p.jitter & (p.order[:, k] == op), fn, f)
        return x

    def apply(self, images: Tensor, params: AugmentParams) -> Tensor:
        """Augment float images (N, 3, H, W) in [0, 1] -> normalised (N, 3, image_size, image_size)."""
        if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise ValueError(f"expected float images (N, 3, H, W), got {tuple(images.shape)} {images.dtype}")
        if len(params) != images.shape[0]:
            raise ValueError(f"{len(params)} parameter rows for {images.shape[0]} images")
        p = params.to(images.device)
        x = resized_crop_flip(images, p.crop, p.flip, self.image_size)
        x = self._color_jitter(x, p)
        x = _where_rows_(x, p.grayscale, grayscale)
        x = _where_rows_(x, p.blur, lambda y, s: gaussian_blur(y, s, self.kernel_size), p.sigma)
        return self.normalize(x)

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """Independent augmentation per image (SimCLR's views)."""
        return self.apply(images, self.sample(images.shape[0], generator))

    def same_per_chunk(self, images: Tensor, chunks: int, generator: torch.Generator) -> Tensor:
        """One augmentation per chunk of consecutive images, shared by the whole chunk (CARE)."""
        n = images.shape[0]
        if chunks <= 0 or n % chunks != 0:
            raise ValueError(f"batch of {n} images cannot be split into {chunks} equal chunks")
        params = self.sample(chunks, generator).repeat_interleave(n // chunks)
        return self.apply(images, params)
