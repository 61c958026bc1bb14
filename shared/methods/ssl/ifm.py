"""IFM: "Can contrastive learning avoid shortcut solutions?" (Robinson, Sun, Yu, Batmanghelich, Jegelka,
Sra; NeurIPS 2021, arXiv 2106.11230).

Implicit feature modification perturbs, for each anchor q, its positive and negative embeddings
adversarially within an L2 ball of radius epsilon. For unit vectors the worst case has a closed form,
k+ -> k+ - eps q and k- -> k- + eps q, so the logits become (s+ - eps)/tau and (s- + eps)/tau
(``info_nce(..., epsilon=eps)``). The objective mixes it with the plain loss, as in the official
``main_moco.py``:

    L = (L_InfoNCE + alpha * L_adv) / (1 + alpha)         (alpha = 1 by default)

and ``ifm_only`` trains on L_adv alone. It costs nothing extra: the same similarities, shifted. The
paper's point: the shift removes the features currently used to tell instances apart, so the encoder
also learns features that an easy shortcut (e.g. colour) would otherwise suppress.

Deviation: the paper's headline runs use MoCo-v2 with a queue; here IFM modifies the SimCLR loss (the
2N-2 in-batch negatives of CARE's InfoNCE), which the paper also evaluates (SimCLR + IFM on CIFAR/STL).
"""
from __future__ import annotations

import torch

from shared.losses.contrastive import info_nce
from shared.methods.ssl.common import SimCLRTrainer
from shared.methods.ssl.config import IFMConfig  # torch-free, for the driver
from shared.methods.ssl.specs import IFM as SPEC  # noqa: F401  (the registry's entry; torch-free)


class IFMTrainer(SimCLRTrainer):
    config: IFMConfig

    def loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        z1, z2 = self.project_views(batch)
        adversarial = info_nce(z1, z2, cfg.temperature, epsilon=cfg.epsilon)
        if cfg.ifm_only:
            return adversarial, {"ifm_adv": adversarial.item()}
        plain = info_nce(z1, z2, cfg.temperature)
        loss = (plain + cfg.alpha * adversarial) / (1.0 + cfg.alpha)
        return loss, {"info_nce": plain.item(), "ifm_adv": adversarial.item()}
