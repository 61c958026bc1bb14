"""Two-modality synthetic data with known shared and modality-specific factors (DisentangledSSL's generator).

"An Information Criterion for Controlled Disentanglement of Multimodal Data" (Wang et al., ICLR 2025),
official ``synthetic_task/dataset.py::generate_data``:

    Z_s, Z_1, Z_2 ~ N(0, 0.5 I_k)                       (shared, specific to modality 1, specific to 2)
    X1 = [Z_1, Z_s] T_1,   X2 = [Z_2, Z_s] T_2,         T_m ~ U(-1, 1)^{2k x d}   (d = 2k by default)

and three binary labels, each read from one factor by a fixed random 2-layer MLP (Linear(k -> 100), ReLU,
Linear(100 -> 1), Xavier-uniform weights) plus N(0, 0.1^2) noise, thresholded at its median (so each
label is balanced):

    y_s1 from Z_1 (the official "label1"),   y_c from Z_s ("label2"),   y_s2 from Z_2 ("label3").

A shared representation should predict y_c and not y_s1 / y_s2; a modality-1-specific one y_s1 and not y_c.
The split into train and test is a fixed permutation drawn from the same seed.

Everything is drawn from one seeded ``torch.Generator`` (the official code draws from numpy's global
state, so the values differ; the distributions are the same). Pure torch, no Ray, no download; torch is imported
where the data are drawn, so that a sweep's driver checks the ``data:`` section without it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.config import ConfigError, bounded

if TYPE_CHECKING:
    import torch

LABELS = ("ys1", "yc", "ys2")  # metric suffixes, in the official label order (label1, label2, label3)


@dataclass
class MultimodalDataConfig:
    """The ``data:`` section of the multimodal methods."""

    name: str = bounded("synthetic", choices=["synthetic"])
    n: int = bounded(20000, ge=10, help="samples, train and test together (paper: 90000)")
    latent_dim: int = bounded(50, ge=1, help="k: dimension of each of Z_s, Z_1, Z_2 (paper: 50)")
    input_dim: int = bounded(0, ge=0, help="dimension of X1 and X2; 0 = 2 * latent_dim (paper: 100)")
    latent_var: float = bounded(0.5, gt=0.0, help="variance of the latent factors (paper: 0.5)")
    label_hidden: int = bounded(100, ge=1, help="hidden width of the label MLPs (paper: 100)")
    label_noise: float = bounded(0.1, ge=0.0, help="std of the Gaussian noise added to the label logits")
    test_fraction: float = bounded(0.2, gt=0.0, lt=1.0)
    seed: int = 0  # seeds the factors, the mixing matrices, the label MLPs and the split

    @property
    def dim(self) -> int:
        return self.input_dim or 2 * self.latent_dim

    def check(self) -> None:
        n_test = self.n_test
        if n_test < 2 or self.n - n_test < 2:
            raise ConfigError(f"test_fraction: {self.test_fraction} of n={self.n} leaves a split with < 2 samples")

    @property
    def n_test(self) -> int:
        return self.n - int((1.0 - self.test_fraction) * self.n)


@dataclass
class MultimodalSplit:
    """One split. x1, x2: float32 (N, d). labels: name in LABELS -> int64 (N,). latents: "zs", "z1", "z2"."""

    x1: torch.Tensor
    x2: torch.Tensor
    labels: dict[str, torch.Tensor]
    latents: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return self.x1.shape[0]


@dataclass
class MultimodalData:
    train: MultimodalSplit
    test: MultimodalSplit
    mixing: tuple[torch.Tensor, torch.Tensor]  # T_1, T_2: (2k, d)


def _label(z: torch.Tensor, hidden: int, noise: float, generator: torch.Generator) -> torch.Tensor:
    """A fixed random 2-layer MLP of ``z`` plus Gaussian noise, thresholded at its median (>= median -> 1)."""
    import torch

    k = z.shape[1]
    layers = []
    for fan_in, fan_out in ((k, hidden), (hidden, 1)):
        bound_w = math.sqrt(6.0 / (fan_in + fan_out))  # Xavier uniform, as the official mlp()
        bound_b = 1.0 / math.sqrt(fan_in)  # torch's default Linear bias initialisation
        weight = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound_w
        bias = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound_b
        layers.append((weight, bias))
    (w1, b1), (w2, b2) = layers
    logit = (torch.nn.functional.relu(z @ w1.T + b1) @ w2.T + b2).squeeze(1)
    logit = logit + noise * torch.randn(logit.shape, generator=generator)
    # The official code thresholds sigmoid(logit) at its median: the same labels, sigmoid being monotone.
    return (logit >= logit.median()).long()


def generate(cfg: MultimodalDataConfig) -> MultimodalData:
    """The data set of ``cfg``; the same seed gives the same tensors."""
    import torch

    g = torch.Generator().manual_seed(cfg.seed)
    n, k, d = cfg.n, cfg.latent_dim, cfg.dim
    std = math.sqrt(cfg.latent_var)
    zs, z1, z2 = (std * torch.randn(n, k, generator=g) for _ in range(3))
    t1 = torch.rand(2 * k, d, generator=g) * 2 - 1
    t2 = torch.rand(2 * k, d, generator=g) * 2 - 1
    x1 = torch.cat([z1, zs], dim=1) @ t1
    x2 = torch.cat([z2, zs], dim=1) @ t2
    labels = {name: _label(z, cfg.label_hidden, cfg.label_noise, g)
              for name, z in zip(LABELS, (z1, zs, z2), strict=True)}
    latents = {"zs": zs, "z1": z1, "z2": z2}

    order = torch.randperm(n, generator=g)
    train_idx, test_idx = order[: n - cfg.n_test], order[n - cfg.n_test:]

    def split(idx: torch.Tensor) -> MultimodalSplit:
        return MultimodalSplit(x1[idx].contiguous(), x2[idx].contiguous(),
                               {k_: v[idx] for k_, v in labels.items()}, {k_: v[idx] for k_, v in latents.items()})

    return MultimodalData(split(train_idx), split(test_idx), (t1, t2))
