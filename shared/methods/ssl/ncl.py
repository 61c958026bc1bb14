"""NCL, non-negative contrastive learning, from "Beyond Interpretability: The Gains of Feature
Monosemanticity on Model Robustness" (Zhang, Wang, Cui, Pan, Lei, Jegelka, Wang; arXiv 2410.21331).

Intrinsic monosemanticity: the projection is made non-negative before the contrastive loss,

    z = normalize(ReLU(g(f(x)))),   L = InfoNCE(z1, z2) + w * L_act,   L_act = -(1/d) sum_j (1/N) sum_i |z_ij|

(official ``solo/methods/simclr.py``: ReLU, normalise, NT-Xent, and the activation term with weight 1 over
both views). L_act raises every dimension's mean activation, which keeps units from dying. A non-negative
code can only express similarity by co-activation, so each dimension tends to fire for few, related
samples: sparse, monosemantic features. ``rep_relu`` is the official straight-through variant (forward
ReLU, backward GELU). The probes read the non-negative projection (``eval.feature: projection``), as the
official linear evaluation does.

Deviation: the projector is the platform's SimCLR head (Linear, BN, ReLU, Linear) rather than the
official Linear, ReLU, Linear without BN, so that NCL differs from the `simclr` baseline only by the
non-negativity and L_act.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from shared.losses.contrastive import info_nce
from shared.methods.ssl.common import SimCLRTrainer
from shared.methods.ssl.config import NCLConfig  # torch-free, for the driver
from shared.methods.ssl.specs import NCL as SPEC  # noqa: F401  (the registry's entry; torch-free)
from shared.models.vision import EncoderConfig, SSLModel


def rep_relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU forward, GELU gradient backward (straight-through)."""
    gelu = F.gelu(x)
    return gelu - gelu.detach() + F.relu(x).detach()


def activation_loss(z: torch.Tensor) -> torch.Tensor:
    """L_act = -mean over dimensions of the mean |z_ij| over samples, on the normalised codes."""
    return -F.normalize(z, dim=1).abs().mean(dim=0).mean()


class NonNegativeSSLModel(SSLModel):
    """The SimCLR model whose projection z passes a non-negative activation: forward -> (h, z >= 0)."""

    def __init__(self, cfg: EncoderConfig, non_neg: str) -> None:
        super().__init__(cfg)
        self.non_neg = rep_relu if non_neg == "rep_relu" else F.relu

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, z = super().forward(x)
        return h, self.non_neg(z)


class NCLTrainer(SimCLRTrainer):
    config: NCLConfig

    def build_model(self) -> torch.nn.Module:
        return NonNegativeSSLModel(self.config.model, self.config.non_neg)

    def loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        z1, z2 = self.project_views(batch)
        contrastive = info_nce(z1, z2, self.config.temperature)
        act = activation_loss(torch.cat([z1, z2]))
        return contrastive + self.config.activation_weight * act, {"info_nce": contrastive.item(), "act": act.item()}
