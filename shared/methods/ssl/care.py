"""CARE: "Structuring Representation Geometry with Rotationally Equivariant Contrastive Learning"
(Gupta, Robinson, Lim, Villar, Jegelka; ICLR 2024, arXiv 2306.13924).

Objective (the paper's total loss, as in the official ``main.py``):

    L = L_InfoNCE + lambda * L_equi,
    L_equi = mean over chunks c of  (2/b) sum_i sum_{j != i} (<z1_i, z1_j> - <z2_i, z2_j>)^2

where the batch is cut into ``equiv_splits`` chunks of b images and every image of chunk c is transformed
by the same augmentation pair (t1_c, t2_c). Preserving all pairwise inner products makes each augmentation
act on the embedding as an orthogonal map (a rotation), which keeps augmentation-sensitive information
such as colour instead of discarding it.

Deliberate choice: each chunk gets its own pair (t1_c, t2_c), sampled explicitly. The official code's
``vmap(process, randomness='same')`` over chunks probably gives all chunks one shared pair; one pair
per chunk is the reading in which the splits add augmentation diversity (see the spec card's pitfalls).
With lambda = 0 the equivariance branch is skipped, so CARE is exactly SimCLR (same RNG draws, same BN
statistics): tested in ``tests/test_care.py``.

``loss_subtype`` is the official code's ``--loss-subtype``: which part of InfoNCE joins lambda * L_equi.
"infonce" (default) the whole loss; "alignment" only -mean(s+ / tau) over the 2N anchors; "uniformity" only
mean log sum_{2N-2 negatives} exp(s / tau). "uniformity" is the paper's "equivariance + uniformity only" run:
no invariance term at all, the representation kept non-trivial by uniformity and structured by L_equi.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from shared.losses.contrastive import equivariance_loss
from shared.methods.ssl.common import SimCLRTrainer
from shared.methods.ssl.config import LOSS_SUBTYPES, CAREConfig  # noqa: F401  (torch-free; re-exported)
from shared.methods.ssl.specs import CARE


def alignment_uniformity(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE's two halves as the official ``infoNCE`` returns them, over the 2N anchors of two views:
    alignment = -mean_i s(i, i+) / tau; uniformity = mean_i log sum_{k not i, i+} exp(s(i, k) / tau), with s the
    cosine similarity (the 2N - 2 views of the other samples are the negatives)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    logits = z @ z.T / temperature
    alignment = -logits[torch.arange(2 * n, device=z.device), positive].mean()
    excluded = torch.eye(2 * n, dtype=torch.bool, device=z.device) | F.one_hot(positive, 2 * n).bool()
    uniformity = torch.logsumexp(logits.masked_fill(excluded, float("-inf")), dim=1).mean()
    return alignment, uniformity


class CARETrainer(SimCLRTrainer):
    config: CAREConfig

    def contrastive_loss(self, batch: torch.Tensor) -> torch.Tensor:
        """InfoNCE, or the half of it that ``loss_subtype`` keeps (same views, same RNG draws)."""
        if self.config.loss_subtype == "infonce":
            return self.info_nce_loss(batch)
        alignment, uniformity = alignment_uniformity(*self.project_views(batch), self.config.temperature)
        return alignment if self.config.loss_subtype == "alignment" else uniformity

    def loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        info = self.contrastive_loss(batch)
        if self.config.lam == 0.0:
            return info, {"info_nce": info.item()}
        splits = self.config.equiv_splits
        e1 = self.augment.same_per_chunk(batch, splits, self.generator)
        e2 = self.augment.same_per_chunk(batch, splits, self.generator)
        _, z1 = self.model(e1)
        _, z2 = self.model(e2)
        equi = equivariance_loss(z1, z2, splits)
        return info + self.config.lam * equi, {"info_nce": info.item(), "equivariance": equi.item()}


SPEC = CARE  # the spec lives torch-free in shared/methods/ssl/specs.py (the registry's entry)
