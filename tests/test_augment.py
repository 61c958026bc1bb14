"""Unit tests of shared/augment.py: the batched SimCLR augmentation and its parameter sampler."""

import colorsys
import dataclasses
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from shared.augment import (
    AugmentConfig,
    AugmentParams,
    SimCLRAugment,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    blur_kernel_size,
    gaussian_blur,
)
from shared.colour import hsv_to_rgb, rgb_to_hsv

SIZE = 32


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 8, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=gen(seed))


@pytest.fixture
def aug() -> SimCLRAugment:
    return SimCLRAugment(AugmentConfig(), SIZE)


@pytest.fixture
def raw() -> SimCLRAugment:
    """Normalize is the identity, so outputs are the augmented images in [0, 1]."""
    return SimCLRAugment(AugmentConfig(mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0]), SIZE)


def identity_with(n: int, **changes) -> AugmentParams:
    return dataclasses.replace(AugmentParams.identity(n), **changes)


# --- determinism, shapes


def test_same_seed_same_output_different_seed_differs(aug):
    x = images(16)
    a, b, c = aug(x, gen(1)), aug(x, gen(1)), aug(x, gen(2))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_global_rng_untouched(aug):
    torch.manual_seed(0)
    state = torch.get_rng_state()
    aug(images(4), gen(3))
    aug.same_per_chunk(images(4), 2, gen(3))
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_and_dtype(dtype):
    aug = SimCLRAugment(AugmentConfig(), 24)
    out = aug(images(5, size=40).to(dtype), gen())
    assert out.shape == (5, 3, 24, 24) and out.dtype == dtype
    assert torch.isfinite(out).all()


def test_bad_inputs_raise(aug):
    with pytest.raises(ValueError, match="equal chunks"):
        aug.same_per_chunk(images(10), 3, gen())
    with pytest.raises(ValueError):
        aug.apply(images(4), aug.sample(3, gen()))
    with pytest.raises(ValueError):
        aug(torch.rand(4, 1, SIZE, SIZE), gen())


# --- the sampler


def test_params_repeat_interleave_and_len(aug):
    p = aug.sample(3, gen())
    q = p.repeat_interleave(4)
    assert len(p) == 3 and len(q) == 12
    for f in dataclasses.fields(p):
        a, b = getattr(p, f.name), getattr(q, f.name)
        assert b.shape[0] == 12
        assert torch.equal(b[4:8], a[1:2].expand_as(b[4:8]))


def test_sampled_rates_and_ranges(aug):
    n = 20000
    p = aug.sample(n, gen(5))
    for name, rate in [("flip", 0.5), ("jitter", 0.8), ("grayscale", 0.2), ("blur", 0.5)]:
        assert abs(getattr(p, name).float().mean().item() - rate) < 0.02, name
    assert p.brightness.min() >= 0.6 and p.brightness.max() <= 1.4
    assert p.hue.abs().max() <= 0.1
    assert p.sigma.min() >= 0.1 and p.sigma.max() <= 2.0
    assert torch.equal(p.order.sort(dim=1).values, torch.arange(4).expand(n, 4))
    cx, cy, w, h = p.crop.unbind(dim=1)
    eps = 1e-6
    assert ((cx - w / 2) >= -eps).all() and ((cx + w / 2) <= 1 + eps).all()
    assert ((cy - h / 2) >= -eps).all() and ((cy + h / 2) <= 1 + eps).all()
    assert (w * h >= 0.08 - eps).all() and (w * h <= 1 + eps).all()
    assert (w / h >= 3 / 4 - eps).all() and (w / h <= 4 / 3 + eps).all()


def test_crop_fallback_is_centred():
    # no box of area 1 has an aspect ratio in [2, 3]: torchvision falls back to (W, W / 2), centred
    cfg = AugmentConfig(crop_scale_min=1.0, crop_scale_max=1.0, crop_ratio_min=2.0, crop_ratio_max=3.0)
    p = SimCLRAugment(cfg, SIZE).sample(5, gen())
    assert torch.allclose(p.crop, torch.tensor([0.5, 0.5, 1.0, 0.5]).expand(5, 4))


# --- geometry


def test_identity_params_return_normalised_input(aug):
    x = images(6)
    out = aug.apply(x, AugmentParams.identity(6))
    assert torch.allclose(out, aug.normalize(x), atol=1e-5)


def test_inactive_jitter_and_blur_leave_image_alone(raw):
    x = images(4)
    p = identity_with(4, brightness=torch.full((4,), 1.4), hue=torch.full((4,), 0.1),
                      sigma=torch.full((4,), 2.0))
    assert torch.allclose(raw.apply(x, p), x, atol=1e-5)


def test_flip_mirrors(raw):
    x = images(4)
    out = raw.apply(x, identity_with(4, flip=torch.tensor([True, False, True, False])))
    assert torch.allclose(out[0::2], x[0::2].flip(-1), atol=1e-5)
    assert torch.allclose(out[1::2], x[1::2], atol=1e-5)


def test_central_half_crop_is_upsampled_centre(raw):
    x = images(3)
    crop = torch.tensor([0.5, 0.5, 0.5, 0.5]).expand(3, 4)
    out = raw.apply(x, identity_with(3, crop=crop))
    ref = F.interpolate(x[:, :, 8:24, 8:24], size=SIZE, mode="bilinear", align_corners=False)
    # interior: identical sampling positions; the outer ring differs because the crop's neighbours
    # outside the box contribute here, while F.interpolate clamps at the crop's edge
    assert torch.allclose(out[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-5)
    assert (out - ref).abs().max() < 0.5


def test_downscale_of_full_image_is_block_average(raw):
    x = images(2, size=2 * SIZE)
    out = raw.apply(x, AugmentParams.identity(2))
    assert torch.allclose(out, F.avg_pool2d(x, 2), atol=1e-5)  # bilinear at half-pixel centres


# --- colour


def test_grayscale_equal_channels(raw):
    x = images(4)
    out = raw.apply(x, identity_with(4, grayscale=torch.ones(4, dtype=torch.bool)))
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for c in range(3):
        assert torch.allclose(out[:, c], luma, atol=1e-5)


def test_hsv_matches_colorsys_and_round_trips():
    x = images(2, size=8)
    hsv = torch.stack(rgb_to_hsv(x), dim=1)
    pixels = x.permute(0, 2, 3, 1).reshape(-1, 3).tolist()
    ref = torch.tensor([colorsys.rgb_to_hsv(*rgb) for rgb in pixels])
    assert torch.allclose(hsv.permute(0, 2, 3, 1).reshape(-1, 3), ref, atol=1e-5)
    assert torch.allclose(hsv_to_rgb(*hsv.unbind(1)), x, atol=1e-5)


def test_hue_shift_zero_is_identity_and_red_to_green():
    x = images(4)
    assert torch.allclose(adjust_hue(x, torch.zeros(4)), x, atol=1e-5)
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1.0
    green = adjust_hue(red, torch.tensor([1 / 3]))
    assert torch.allclose(green, torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1).expand_as(red), atol=1e-5)


def test_hue_through_pipeline(raw):
    red = torch.zeros(1, 3, SIZE, SIZE)
    red[:, 0] = 1.0
    p = identity_with(1, jitter=torch.tensor([True]), hue=torch.tensor([-1 / 3]))
    blue = raw.apply(red, p)
    assert torch.allclose(blue, torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand_as(red), atol=1e-5)


def test_contrast_and_saturation_extremes():
    x = images(3)
    flat = adjust_contrast(x, torch.zeros(3))  # factor 0: the grayscale mean everywhere
    assert torch.allclose(flat, flat.mean(dim=(1, 2, 3), keepdim=True).expand_as(x), atol=1e-6)
    gray = adjust_saturation(x, torch.zeros(3))
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    assert torch.allclose(adjust_contrast(x, torch.ones(3)), x)


def test_jitter_matches_pil():
    # torchvision's PIL path is PIL's ImageEnhance: an independent reference, up to uint8 rounding
    Image = pytest.importorskip("PIL.Image")
    ImageEnhance = pytest.importorskip("PIL.ImageEnhance")
    pixels = (images(1)[0] * 255).round().byte()
    pil = Image.fromarray(pixels.permute(1, 2, 0).numpy())
    for fn, enhancer in [(adjust_contrast, ImageEnhance.Contrast), (adjust_saturation, ImageEnhance.Color)]:
        ours = fn(pixels[None] / 255, torch.tensor([1.4]))[0]
        ref = torch.tensor(np.array(enhancer(pil).enhance(1.4))).permute(2, 0, 1) / 255
        assert (ours - ref).abs().max() < 3 / 255, fn.__name__


def test_jitter_order_matters_and_is_followed(raw):
    x = images(1)
    base = dict(jitter=torch.tensor([True]), brightness=torch.tensor([1.4]), contrast=torch.tensor([0.6]))
    a = raw.apply(x, identity_with(1, order=torch.tensor([[0, 1, 2, 3]]), **base))
    b = raw.apply(x, identity_with(1, order=torch.tensor([[1, 0, 2, 3]]), **base))
    bright_then_contrast = adjust_contrast((x * 1.4).clamp(0, 1), torch.tensor([0.6]))
    assert torch.allclose(a, bright_then_contrast, atol=1e-5)
    assert not torch.allclose(a, b, atol=1e-3)  # clamping makes the two orders differ


# --- blur


def test_blur_kernel_size():
    assert [blur_kernel_size(s) for s in (32, 96, 224)] == [3, 9, 23]


def test_tiny_sigma_blur_is_identity_and_constant_stays_constant(raw):
    x = images(4)
    assert torch.allclose(gaussian_blur(x, torch.full((4,), 0.1), 3), x, atol=1e-6)
    p = identity_with(4, blur=torch.ones(4, dtype=torch.bool), sigma=torch.full((4,), 0.1))
    assert torch.allclose(raw.apply(x, p), x, atol=1e-5)
    const = torch.full((2, 3, SIZE, SIZE), 0.3)
    assert torch.allclose(gaussian_blur(const, torch.tensor([0.5, 2.0]), 9), const, atol=1e-6)


def test_blur_is_per_image():
    x = images(2)
    both = gaussian_blur(x, torch.tensor([0.1, 2.0]), 3)
    assert torch.allclose(both[1:], gaussian_blur(x[1:], torch.tensor([2.0]), 3), atol=1e-6)
    assert torch.allclose(both[:1], x[:1], atol=1e-6)


# --- chunks vs per image


def test_same_per_chunk_shares_params_within_chunks_only(aug):
    chunks, size = 4, 8
    x = images(1).expand(chunks * size, -1, -1, -1).contiguous()  # one image everywhere
    out = aug.same_per_chunk(x, chunks, gen(7)).view(chunks, size, -1)
    assert torch.equal(out, out[:, :1].expand_as(out))  # identical inside every chunk
    firsts = out[:, 0]
    for i in range(chunks):
        for j in range(i + 1, chunks):
            assert not torch.allclose(firsts[i], firsts[j], atol=1e-3)


def test_per_image_call_differs_on_identical_images(aug):
    x = images(1).expand(16, -1, -1, -1).contiguous()
    out = aug(x, gen(8)).flatten(1)
    dist = torch.cdist(out, out)
    assert (dist + torch.eye(16) * 1e9).min() > 1e-3


def test_omegaconf_accepts_config():
    OmegaConf = pytest.importorskip("omegaconf").OmegaConf
    cfg = OmegaConf.merge(OmegaConf.structured(AugmentConfig), {"mean": [0.5, 0.5, 0.5], "hue": 0.0})
    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, AugmentConfig) and obj.mean == [0.5, 0.5, 0.5]


# --- speed (reported, not asserted: timed assertions do not go in tests)


def test_report_speed(aug):
    x = images(256)
    g = gen()
    for _ in range(3):
        aug(x, g)
    times = []
    for _ in range(20):
        t = time.perf_counter()
        aug(x, g)
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"\nSimCLRAugment: 256 x 3x{SIZE}x{SIZE}, {torch.get_num_threads()} threads: "
          f"median {1e3 * times[10]:.1f} ms, best {1e3 * times[0]:.1f} ms")
