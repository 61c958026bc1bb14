"""Synthetic paired "image" and "text" vectors with a shared latent and a class (the canonical-map spec card's
small-scale setting; generated, seeded, deterministic).

    s ~ N(0, I_latent)                     the content both modalities describe
    class = argmax_c (W s)_c               W fixed per seed: classes are regions of the latent space
    x = tanh(A s) + noise * e_x            the image view (image_dim)
    y = tanh(B s) + noise * e_y            the text view (text_dim)

A, B and W are drawn from ``seed`` (the "world"); samples from ``seed`` and the split, so two models can be
trained on different samples of the same world. torch is imported where the data are drawn, so that a sweep's
driver checks the ``data:`` section without it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.config import bounded

if TYPE_CHECKING:
    import torch


@dataclass
class PairedConfig:
    n_train: int = bounded(8000, ge=10)
    n_test: int = bounded(2000, ge=10)
    latent_dim: int = bounded(8, ge=1)
    image_dim: int = bounded(32, ge=1)
    text_dim: int = bounded(24, ge=1)
    classes: int = bounded(10, ge=2)
    noise: float = bounded(0.1, ge=0.0)
    seed: int = 0


@dataclass
class PairedSplit:
    images: torch.Tensor  # (n, image_dim)
    texts: torch.Tensor  # (n, text_dim)
    labels: torch.Tensor  # (n,)


@dataclass
class PairedData:
    train: PairedSplit
    test: PairedSplit
    classes: int


def make_paired(cfg: PairedConfig) -> PairedData:
    import torch

    world = torch.Generator().manual_seed(cfg.seed)
    a = torch.randn(cfg.image_dim, cfg.latent_dim, generator=world) / cfg.latent_dim ** 0.5
    b = torch.randn(cfg.text_dim, cfg.latent_dim, generator=world) / cfg.latent_dim ** 0.5
    w = torch.randn(cfg.classes, cfg.latent_dim, generator=world)

    def split(n: int, stream: int) -> PairedSplit:
        g = torch.Generator().manual_seed(cfg.seed * 1000 + stream)
        s = torch.randn(n, cfg.latent_dim, generator=g)
        x = torch.tanh(s @ a.T) + cfg.noise * torch.randn(n, cfg.image_dim, generator=g)
        y = torch.tanh(s @ b.T) + cfg.noise * torch.randn(n, cfg.text_dim, generator=g)
        return PairedSplit(x, y, (s @ w.T).argmax(dim=1))

    return PairedData(split(cfg.n_train, 1), split(cfg.n_test, 2), cfg.classes)
