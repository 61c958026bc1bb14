"""RAM's image variant: sklearn digits as 64-d vectors in [-1, 1], rewarded by a frozen digit classifier's probability
of one class (the classifier is REED's small CNN, ``shared/reed/model.py``, trained on the training labels)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from shared.reed.model import DigitEncoder, train_encoder


def load_digit_vectors(seed: int, n_test: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """The training digits (all but ``n_test`` of a seeded permutation), flattened: (N, 64) in [-1, 1], labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = torch.randperm(len(digits.target), generator=torch.Generator().manual_seed(seed))
    x = torch.tensor(digits.data, dtype=torch.float32)[order] / 8.0 - 1.0
    return x[n_test:], torch.tensor(digits.target)[order][n_test:]


@dataclass
class ClassReward:
    """r(x) = p(target | x) under the frozen classifier, for flattened images."""

    classifier: DigitEncoder
    target: int

    @classmethod
    def fit(cls, x: torch.Tensor, y: torch.Tensor, target: int, seed: int, steps: int = 400) -> ClassReward:
        with torch.random.fork_rng():  # the classifier's initialisation does not move the flow's
            torch.manual_seed(seed)
            classifier = train_encoder(images(x), y, steps, torch.Generator().manual_seed(seed))
        return cls(classifier, target)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(images(x.float().clamp(-1, 1))).softmax(-1)[:, self.target]

    @torch.no_grad()
    def fraction(self, x: torch.Tensor) -> float:
        """Share of samples the classifier assigns to the target class."""
        return float((self.classifier(images(x.float().clamp(-1, 1))).argmax(-1) == self.target).float().mean())


def images(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, 1, 8, 8)


def digit_grid(x: torch.Tensor, columns: int = 10) -> torch.Tensor:
    """Rows of ``columns`` 8 x 8 samples as one image in [0, 1]."""
    rows = len(x) // columns
    tiles = ((images(x[: rows * columns]).clamp(-1, 1) + 1) / 2).reshape(rows, columns, 8, 8)
    return tiles.permute(0, 2, 1, 3).reshape(rows * 8, columns * 8)
