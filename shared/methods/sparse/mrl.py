"""MRL baseline: Matryoshka Representation Learning (Kusupati et al., NeurIPS 2022), as the CSR papers compare
against it on fixed embeddings: a linear map z = A x trained with nested-prefix losses

    L = sum_{m in nesting} CE(W[:, :m] z[:, :m] + b, y)          (the "efficient" variant: one shared classifier)

and evaluated at its first k coordinates (k dense active dimensions). With one nesting size equal to the full
dimension it is the plain cross-entropy head. Labels: the class (digits) or the source document (text).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shared.methods.sparse.common import Coder, EmbeddingHeadTrainer
from shared.methods.sparse.config import MRLConfig  # torch-free; re-exported
from shared.methods.sparse.specs import MRL


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


SPEC = MRL  # the spec lives torch-free in shared/methods/sparse/specs.py (the registry's entry)
