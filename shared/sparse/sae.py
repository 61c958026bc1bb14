"""The tied top-k sparse autoencoder of CSR / CSRv2 / SSR (``neilwen987/CSR_Adaptive_Rep: Vision/model_zoo.py``):

    h = W (x - b_pre) + b_lat,   z_k = ReLU(TopK_k(h)),   x_hat_k = W^T z_k + b_pre          (tied decoder)

Multi-top-k: a second reconstruction from the same h with the top 4k (weighted 1/8 in the loss).
AuxK: a latent is dead when it has not fired for more than ``dead_threshold`` steps; the ``auxk`` largest
pre-activations among the dead latents reconstruct the detached residual e = x - x_hat_k, scored by the
normalised MSE ||e_hat - e||^2 / ||mean(e) - e||^2 (the denominator uses the batch mean of e).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def topk_relu(h: torch.Tensor, k: int) -> torch.Tensor:
    """ReLU(TopK_k(h)) row-wise: the k largest entries of each row kept (negative ones set to 0), the rest 0."""
    top = torch.topk(h, min(k, h.shape[-1]), dim=-1)
    return torch.zeros_like(h).scatter(-1, top.indices, torch.relu(top.values))


def batch_nmse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """||x_hat - x||^2 / ||mean(x) - x||^2 over the batch: 1 = no better than predicting the batch mean."""
    return (x_hat - x).pow(2).sum() / (x - x.mean(0, keepdim=True)).pow(2).sum().clamp_min(1e-12)


@dataclass
class SAEOutput:
    pre: torch.Tensor  # h, the pre-activations
    code: torch.Tensor  # z_k
    recon: torch.Tensor  # x_hat_k
    recon_multi: torch.Tensor  # x_hat_{4k}


class TiedTopKSAE(nn.Module):
    def __init__(self, dim: int, hidden: int, dead_threshold: int = 30) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(hidden, dim) / dim**0.5)
        self.pre_bias = nn.Parameter(torch.zeros(dim))
        self.latent_bias = nn.Parameter(torch.zeros(hidden))
        self.dead_threshold = dead_threshold
        # steps since each latent last fired (official: stats_last_nonzero); a buffer, so checkpoints keep it
        self.register_buffer("steps_idle", torch.zeros(hidden, dtype=torch.long))

    @property
    def hidden(self) -> int:
        return self.weight.shape[0]

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.pre_bias) @ self.weight.T + self.latent_bias

    def decode(self, z: torch.Tensor, bias: bool = True) -> torch.Tensor:
        out = z @ self.weight  # tied: the decoder is W^T
        return out + self.pre_bias if bias else out

    def encode(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return topk_relu(self.pre_activations(x), k)

    def forward(self, x: torch.Tensor, k: int) -> SAEOutput:
        h = self.pre_activations(x)
        code = topk_relu(h, k)
        return SAEOutput(h, code, self.decode(code), self.decode(topk_relu(h, 4 * k)))

    @torch.no_grad()
    def update_idle(self, code: torch.Tensor) -> None:
        """One training step: latents that fired in ``code`` restart their count, the others age by one."""
        fired = (code > 0).any(dim=0)
        self.steps_idle += 1
        self.steps_idle[fired] = 0

    def dead_mask(self) -> torch.Tensor:
        return self.steps_idle > self.dead_threshold

    def auxk_loss(self, x: torch.Tensor, out: SAEOutput, auxk: int) -> torch.Tensor:
        """NMSE of the dead latents' top-``auxk`` reconstruction of the residual; 0 when no latent is dead."""
        dead = self.dead_mask()
        if auxk == 0 or not bool(dead.any()):
            return x.new_zeros(())
        masked = out.pre.masked_fill(~dead, float("-inf"))
        aux_code = topk_relu(masked, min(auxk, int(dead.sum())))
        residual = (x - out.recon).detach()
        return batch_nmse(self.decode(aux_code, bias=False), residual)
