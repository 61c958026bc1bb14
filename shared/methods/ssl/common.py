"""What the image SSL methods share: the SimCLR training loop and the encoder artifact (the config sections live
torch-free in ``config.py``, re-exported here).

SimCLR is the base: two independently augmented views per image, InfoNCE on the projection. Methods
that change the objective (CARE, IFM, ...) subclass :class:`SimCLRTrainer` and extend ``loss``.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from shared.augment import SimCLRAugment
from shared.config import ConfigError
from shared.data import ImageDataset, ImageSplit, load_dataset
from shared.losses.contrastive import info_nce
from shared.method import GradientTrainer
from shared.methods.ssl.config import SimCLRConfig, SSLEvalConfig  # noqa: F401  (torch-free; re-exported)
from shared.models.vision import SSLModel


class EncoderArtifact:
    """A frozen copy of the encoder with the evaluation preprocessing; caches embeddings per key, so
    several evaluators of one round embed each image set once."""

    def __init__(self, model: torch.nn.Module, augment: SimCLRAugment, batch_size: int = 512) -> None:
        self.model = copy.deepcopy(model).eval()
        self.augment = augment
        self.batch_size = batch_size
        self._cache: dict[tuple[str, str], torch.Tensor] = {}

    @torch.no_grad()
    def embed(self, images: torch.Tensor, space: str = "backbone", normalized: bool = False,
              noise_std: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Embed images given as float in [0, 1] (already augmented or not); ``space`` picks h or z.
        ``noise_std`` adds Gaussian noise to the normalised inputs (the robustness probe's input noise)."""
        out = []
        for start in range(0, images.shape[0], self.batch_size):
            x = self.augment.normalize(images[start : start + self.batch_size])
            if noise_std:
                x = x + noise_std * torch.randn(x.shape, generator=generator)
            h, z = self.model(x)
            out.append(h if space == "backbone" else z)
        emb = torch.cat(out)
        return F.normalize(emb, dim=1) if normalized else emb

    def features(self, split: ImageSplit, name: str, space: str = "backbone") -> torch.Tensor:
        """Embeddings of a split's un-augmented images, computed once per (name, space)."""
        key = (name, space)
        if key not in self._cache:
            self._cache[key] = self.embed(to_float(split.images), space)
        return self._cache[key]


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()


class ImageTrainer(GradientTrainer):
    """What the image methods' trainers share: the data set, the augmentation (whose mean/std also
    normalise un-augmented inputs) and full batches only (the last incomplete batch is dropped)."""

    data: ImageDataset

    def setup(self) -> None:
        self.data = load_dataset(self.config.data)
        self.augment = SimCLRAugment(self.config.augment, self.config.data.image_size)
        if self.steps_per_epoch() == 0:
            raise ConfigError(f"batch_size: {self.config.batch_size} exceeds the {len(self.data.train)} train images")

    def steps_per_epoch(self) -> int:
        return len(self.data.train) // self.config.batch_size


class SimCLRTrainer(ImageTrainer):
    """SimCLR (Chen et al., 2020) as CARE's baseline: L = InfoNCE over two augmented views (CARE eq. with
    lambda = 0). Batches drop the last incomplete batch, as the official code's DataLoader does."""

    config: SimCLRConfig

    def build_model(self) -> torch.nn.Module:
        return SSLModel(self.config.model)

    def batches(self) -> Iterator[torch.Tensor]:
        b = self.config.batch_size
        order = torch.randperm(len(self.data.train), generator=self.generator)
        for step in range(self.steps_per_epoch()):
            yield to_float(self.data.train.images[order[step * b : (step + 1) * b]])

    def project_views(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The projections z1, z2 of two independently augmented views of the batch."""
        _, z1 = self.model(self.augment(x, self.generator))
        _, z2 = self.model(self.augment(x, self.generator))
        return z1, z2

    def info_nce_loss(self, x: torch.Tensor) -> torch.Tensor:
        return info_nce(*self.project_views(x), self.config.temperature)

    def loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.info_nce_loss(batch)
        return loss, {"info_nce": loss.item()}

    def artifact(self) -> Any:
        return EncoderArtifact(self.model, self.augment)
