"""kv_margin: k-variance normalised margins as a predictor of the generalisation gap ("Measuring Generalization
with Optimal Transport", Chuang, Mroueh, Greenewald, Torralba, Jegelka; NeurIPS 2021; ``shared.ot.kvariance``).

A tool with a training loop: one run trains a small MLP on sklearn digits (a random ``train_size`` subset, labels
flipped at rate ``label_noise``) and the evaluator reports the gap (train accuracy on the labels it was trained on
minus accuracy on the untouched rest) and the complexity scores at the first hidden layer (post-ReLU), from at most
``per_class`` training samples per class: the median margin, kV-Margin and kV-GN-Margin. A family of runs (a grid
over width, depth, weight decay and label noise: ``configs/sweeps/kv_margin.yaml``, or the arms of
``configs/reproduce/kv_margin_family.yaml``) is the paper's PGDL benchmark in miniature, ranked by Kendall tau
instead of the competition's conditional mutual information. Departures: PyTorch forward split instead of the
TF1 private ``layer._last_seen_input``; MLPs on digits instead of the PGDL CNN checkpoints (a download).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from shared.method import Evaluator, GradientTrainer
from shared.methods.graph.config import KVMarginConfig, NoisyDigitsConfig
from shared.methods.graph.specs import KV_MARGIN as SPEC  # noqa: F401  (the registry reads specs.py)
from shared.ot.kvariance import kv_margin_scores, margins_and_gradient_norms


@dataclass
class NoisyDigits:
    train_x: torch.Tensor
    train_y: torch.Tensor  # possibly noisy: what the network is trained (and its train accuracy measured) on
    test_x: torch.Tensor
    test_y: torch.Tensor


def noisy_digits(cfg: NoisyDigitsConfig) -> NoisyDigits:
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng([cfg.seed, 21])
    order = rng.permutation(len(x))
    train, test = order[:cfg.train_size], order[cfg.train_size:]
    noisy = y[train].copy()
    flip = rng.random(len(train)) < cfg.label_noise
    noisy[flip] = rng.integers(0, 10, int(flip.sum()))
    tensor = lambda a: torch.tensor(a / 16.0, dtype=torch.float32)  # noqa: E731
    return NoisyDigits(tensor(x[train]), torch.tensor(noisy), tensor(x[test]), torch.tensor(y[test]))


class SplitMLP(nn.Module):
    """``features`` (the first hidden layer, post-ReLU) then ``head`` (the remaining layers): the split the scores
    are measured at."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(64, width), nn.ReLU())
        layers: list[nn.Module] = []
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        self.head = nn.Sequential(*layers, nn.Linear(width, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class KVMarginTrainer(GradientTrainer):
    config: KVMarginConfig

    def setup(self) -> None:
        self.data = noisy_digits(self.config.data)

    def build_model(self) -> nn.Module:
        return SplitMLP(self.config.width, self.config.depth)

    def steps_per_epoch(self) -> int:
        return -(-len(self.data.train_y) // self.config.batch_size)

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.data.train_y), generator=self.generator)
        for start in range(0, len(order), self.config.batch_size):
            index = order[start:start + self.config.batch_size]
            yield self.data.train_x[index], self.data.train_y[index]

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.model(x), y)

    @property
    def done(self) -> bool:
        if self.epoch >= self.config.epochs:
            return True
        return self.epoch > 0 and self.train_accuracy() >= self.config.target_train_acc

    def train_accuracy(self) -> float:
        with torch.no_grad():
            return float((self.model(self.data.train_x).argmax(1) == self.data.train_y).float().mean())

    def artifact(self) -> SplitMLP:
        return self.model


def capped_per_class(labels: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``cap`` random samples of each class (the official code's 200 per class)."""
    keep = [rng.permutation(np.flatnonzero(labels == c))[:cap] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


class GeneralisationMeasures(Evaluator):
    metrics = ("train_acc", "test_acc", "gap", "margin_score", "kv_margin_score", "kv_gn_margin_score", "k_variance")

    def load_data(self) -> NoisyDigits:
        return noisy_digits(self.config.data)

    def evaluate(self, artifact: SplitMLP) -> dict[str, float]:
        d, cfg = self.data, self.config
        artifact.eval()
        with torch.no_grad():
            train_acc = float((artifact(d.train_x).argmax(1) == d.train_y).float().mean())
            test_acc = float((artifact(d.test_x).argmax(1) == d.test_y).float().mean())
            features = artifact.features(d.train_x)
        rng = np.random.default_rng([cfg.seed, 7])
        keep = torch.from_numpy(capped_per_class(d.train_y.numpy(), cfg.per_class, rng))
        margins, norms = margins_and_gradient_norms(artifact.head, features[keep], d.train_y[keep])
        scores = kv_margin_scores(features[keep].numpy().astype(np.float64), d.train_y[keep].numpy(), margins, norms,
                                  rng, cfg.draws)
        return {"train_acc": train_acc, "test_acc": test_acc, "gap": train_acc - test_acc, **scores}
