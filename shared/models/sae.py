"""Top-k sparse autoencoder (Makhzani & Frey, 2013; Gao et al., 2024), as in the monosemanticity paper's
post-hoc SAE and the CSR family:

    h = W_enc (x - b_pre) + b_lat,   a = ReLU(TopK_k(h)),   x_hat = W_dec a + b_pre

Untied by default (``W_dec`` its own matrix); ``tied`` uses W_dec = W_enc^T. The loss of the
monosemanticity code is the per-sample normalised MSE ||x_hat - x||^2 / ||x||^2, averaged.
"""
from __future__ import annotations

import torch
from torch import nn


class TopKSAE(nn.Module):
    def __init__(self, dim: int, width: int, k: int, tied: bool = False) -> None:
        super().__init__()
        if not 1 <= k <= width:
            raise ValueError(f"k={k} must lie in [1, width={width}]")
        self.k = k
        self.pre_bias = nn.Parameter(torch.zeros(dim))
        self.latent_bias = nn.Parameter(torch.zeros(width))
        self.encoder = nn.Linear(dim, width, bias=False)
        self.decoder = None if tied else nn.Linear(width, dim, bias=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The sparse code a: at most k non-zero (and non-negative) entries per row."""
        h = self.encoder(x - self.pre_bias) + self.latent_bias
        top = torch.topk(h, self.k, dim=-1)
        return torch.zeros_like(h).scatter(-1, top.indices, torch.relu(top.values))

    def decode(self, a: torch.Tensor) -> torch.Tensor:
        weight = self.encoder.weight if self.decoder is None else self.decoder.weight.T
        return a @ weight + self.pre_bias

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.encode(x)
        return a, self.decode(a)


def normalized_mse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """mean over samples of ||x_hat - x||^2 / ||x||^2."""
    return ((x_hat - x).pow(2).sum(dim=1) / x.pow(2).sum(dim=1).clamp_min(1e-12)).mean()
