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
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from shared.config import ConfigError, bounded
from shared.losses.contrastive import equivariance_loss
from shared.method import Measure, MethodSpec, Resources
from shared.methods.ssl.common import SimCLRConfig, SimCLRTrainer
from shared.methods.ssl.evaluators import SSL_EVALUATORS


@dataclass
class CAREConfig(SimCLRConfig):
    lam: float = bounded(0.03, ge=0.0, help="weight of the equivariance loss (CIFAR-10 recipe: 0.03)")
    equiv_splits: int = bounded(16, ge=1, help="chunks per batch, each with its own augmentation pair")

    def check(self) -> None:
        super().check()
        if self.batch_size % self.equiv_splits:
            raise ConfigError(
                f"equiv_splits: batch_size={self.batch_size} does not split into {self.equiv_splits} equal chunks"
            )
        if self.batch_size // self.equiv_splits < 2:
            raise ConfigError(f"equiv_splits: chunks of {self.batch_size // self.equiv_splits} image(s) have no pairs")


class CARETrainer(SimCLRTrainer):
    config: CAREConfig

    def loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        info = self.info_nce_loss(batch)
        if self.config.lam == 0.0:
            return info, {"info_nce": info.item()}
        splits = self.config.equiv_splits
        e1 = self.augment.same_per_chunk(batch, splits, self.generator)
        e2 = self.augment.same_per_chunk(batch, splits, self.generator)
        _, z1 = self.model(e1)
        _, z2 = self.model(e2)
        equi = equivariance_loss(z1, z2, splits)
        return info + self.config.lam * equi, {"info_nce": info.item(), "equivariance": equi.item()}


SPEC = MethodSpec(
    name="care",
    paper="Structuring Representation Geometry with Rotationally Equivariant Contrastive Learning (CARE)",
    family="ssl",
    config=CAREConfig,
    trainer=CARETrainer,
    evaluators=SSL_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("colour_probe_acc"), Measure("linear_probe_acc"), Measure("equiv_error", "min")),
    compare=("lam",),
    description="InfoNCE + lambda * Gram-matrix equivariance loss over chunks sharing an augmentation pair",
)
