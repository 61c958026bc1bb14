"""The PJAX toy problems: XOR (4 points) and sklearn digits (8 x 8, scaled to [0, 1]), split by a data seed."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Split:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: int


def load_split(dataset: str, n_train: int, data_seed: int) -> Split:
    if dataset == "xor":  # nothing is held out: the four points are the whole problem
        x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
        y = torch.tensor([0, 1, 1, 0])
        return Split(x, y, x, y, 2)
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = torch.randperm(len(digits.target), generator=torch.Generator().manual_seed(data_seed))
    x = torch.tensor(digits.data, dtype=torch.float64)[order] / 16.0
    y = torch.tensor(digits.target)[order]
    return Split(x[:n_train], y[:n_train], x[n_train:], y[n_train:], 10)
