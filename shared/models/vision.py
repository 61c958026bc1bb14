"""Image encoders and the SimCLR projection head, in plain torch (no torchvision)."""
from __future__ import annotations

import torch
from torch import nn

from shared.imageconfig import EncoderConfig as EncoderConfig  # torch-free, for the driver


class MaxPool2x2(nn.Module):
    """``nn.MaxPool2d(2)``, computed without autograd (evaluation, feature extraction) as the elementwise
    maximum of the four strided sub-grids: the same values, bit for bit (tests/test_vision.py), and faster on
    CPU than torch's pooling kernel (2-8x at the ConvNet's sizes in the default format, 1.3-1.6x channels-last;
    measured once, not a benchmark). With
    autograd the torch kernel runs, so that training's gradients are untouched (it sends a tie's gradient to
    the first maximum; an elementwise maximum would split it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return nn.functional.max_pool2d(x, 2)
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # an odd last row or column is dropped, as by torch
        x = x[..., :h, :w]
        return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                             torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ConvNet(nn.Module):
    """Four conv-BN-ReLU stages (width w, 2w, 4w, 8w), each halving the resolution but the first, then
    global average pooling: the small encoder of the CPU-scale checks.

    It computes in channels-last memory format (its conv weights and its input): the same network, but CPU
    kernels that vectorise over channels. A forward and backward pass at width 16 on 256 images of 32x32, one
    thread, took 0.137 CPU-s against 0.199 in the default format (0.69x; ``python jobs/bench_encoder.py``,
    2026-12-04, AVX2 kernels, quiet machine). The floats differ from the default format's in their last bits
    (another summation order), as they do between machines."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_bn_relu(3, w), MaxPool2x2(),
            conv_bn_relu(w, 2 * w), MaxPool2x2(),
            conv_bn_relu(2 * w, 4 * w), MaxPool2x2(),
            conv_bn_relu(4 * w, 8 * w),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.out_dim = 8 * w
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x.contiguous(memory_format=torch.channels_last))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(c_in, c_out, stride),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.skip = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ResNet18(nn.Module):
    """ResNet-18 with the CIFAR stem used by CARE (3x3 stride-1 first conv, no max-pool); width 64 is the
    standard network, smaller widths scale every stage."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        w = width
        layers: list[nn.Module] = [conv_bn_relu(3, w)]
        c_in = w
        for i, c_out in enumerate([w, 2 * w, 4 * w, 8 * w]):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.out_dim = 8 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class SSLModel(nn.Module):
    """Backbone f and projection head g as in SimCLR/CARE: g = Linear(no bias) -> BN -> ReLU -> Linear.

    ``forward`` returns (h, z): the backbone feature (the representation that is evaluated) and the
    projection (where the losses act), both un-normalised; the losses and kNN normalise.
    """

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.backbone = ConvNet(cfg.width) if cfg.backbone == "convnet" else ResNet18(cfg.width)
        d = self.backbone.out_dim
        self.head = nn.Sequential(
            nn.Linear(d, cfg.proj_hidden, bias=False),
            nn.BatchNorm1d(cfg.proj_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.proj_hidden, cfg.proj_dim),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(x)
        return h, self.head(h)
