"""MRL baseline: Matryoshka Representation Learning (Kusupati et al., NeurIPS 2022), as the CSR papers compare
against it on fixed embeddings: a linear map z = A x trained with nested-prefix losses

    L = sum_{m in nesting} CE(W[:, :m] z[:, :m] + b, y)          (the "efficient" variant: one shared classifier)

and evaluated at its first k coordinates (k dense active dimensions). With one nesting size equal to the full
dimension it is the plain cross-entropy head. Labels: the class (digits) or the source document (text).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from shared.config import ConfigError
from shared.method import Measure, MethodSpec, Resources
from shared.methods.sparse.common import SPARSE_EVALUATORS, Coder, EmbeddingHeadTrainer, SparseHeadConfig


@dataclass
class MRLConfig(SparseHeadConfig):
    nesting: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64],
                               metadata={"help": "prefix lengths with a loss (capped at the embedding dimension)"})

    def check(self) -> None:
        if not self.nesting or min(self.nesting) < 1:
            raise ConfigError(f"nesting: give positive prefix lengths, got {self.nesting}")


class MatryoshkaHead(nn.Module):
    def __init__(self, dim: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim, bias=False)
        self.classifier = nn.Linear(dim, n_classes)

    def nested_logits(self, x: torch.Tensor, m: int) -> torch.Tensor:
        z = self.linear(x)
        return z[:, :m] @ self.classifier.weight[:, :m].T + self.classifier.bias


def nested_loss(head: MatryoshkaHead, x: torch.Tensor, y: torch.Tensor, nesting: list[int]) -> torch.Tensor:
    return sum(F.cross_entropy(head.nested_logits(x, m), y) for m in nesting)


class PrefixCoder(Coder):
    def __init__(self, linear: nn.Linear, k: int) -> None:
        super().__init__()
        self.linear, self.k = linear, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)[:, : self.k]


class MRLTrainer(EmbeddingHeadTrainer):
    config: MRLConfig

    def build_model(self) -> nn.Module:
        n_classes = int(torch.cat([self.data.train_y, self.data.test_y]).max()) + 1
        self.nesting = sorted({min(m, self.data.dim) for m in self.config.nesting})
        return MatryoshkaHead(self.data.dim, n_classes)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return nested_loss(self.model, *batch, self.nesting)

    def artifact(self) -> PrefixCoder:
        return PrefixCoder(self.model.linear, min(self.config.k, self.data.dim))


SPEC = MethodSpec(
    name="mrl",
    paper="Matryoshka Representation Learning (MRL, NeurIPS 2022; baseline of CSR and CSRv2)",
    family="sparse",
    config=MRLConfig,
    trainer=MRLTrainer,
    evaluators=SPARSE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("nn_acc"), Measure("ndcg_at_10")),
    compare=("k",),
    description="linear head with nested-prefix cross-entropy losses, evaluated at its first k coordinates",
)
