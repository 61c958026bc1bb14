"""The config schemas of SimCLR and CARE, torch-free: the sweep driver loads and validates a config against them
without importing torch (their trainers, in ``common.py`` and ``care.py``, import it). ``common.py`` and ``care.py``
re-export them."""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.config import ConfigError, bounded
from shared.data import DataConfig
from shared.imageconfig import AugmentConfig, EncoderConfig
from shared.method import MethodConfig, OptimConfig

LOSS_SUBTYPES = ("infonce", "alignment", "uniformity")


@dataclass
class SSLEvalConfig:
    """Evaluation of a frozen encoder (see ``shared/methods/ssl/evaluators.py``)."""

    feature: str = bounded("backbone", choices=["backbone", "projection"],
                           help="which embedding the probes and kNN read")
    knn_k: int = bounded(200, ge=1)
    knn_temperature: float = bounded(0.5, gt=0.0)
    probe_weight_decay: float = bounded(1e-4, ge=0.0)
    equiv_pairs: int = bounded(4, ge=1, help="fixed augmentation pairs (t1, t2) for the equivariance error")
    equiv_space: str = bounded("projection", choices=["backbone", "projection"])
    hue_shift: float = bounded(0.5, gt=0.0, lt=1.0, help="hue rotation for the colour-sensitivity measure")
    label_noise: float = bounded(0.6, ge=0.0, lt=1.0, help="share of train labels replaced for the noisy probe")
    input_noise_std: float = bounded(0.2, ge=0.0, help="Gaussian noise on normalised inputs for the noisy probe")
    seed: int = 1234  # seeds the fixed evaluation augmentations: the same for every method and trial


@dataclass
class SimCLRConfig(MethodConfig):
    epochs: int = bounded(30, ge=1)
    batch_size: int = bounded(256, ge=2)
    temperature: float = bounded(0.5, gt=0.0)
    data: DataConfig = field(default_factory=DataConfig)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: SSLEvalConfig = field(default_factory=SSLEvalConfig)

    def check(self) -> None:
        if self.data.n_train != -1 and self.data.n_train < self.batch_size:
            raise ConfigError(
                f"batch_size: {self.batch_size} is larger than data.n_train={self.data.n_train}; "
                "an epoch would have no full batch"
            )


@dataclass
class CAREConfig(SimCLRConfig):
    lam: float = bounded(0.03, ge=0.0, help="weight of the equivariance loss (CIFAR-10 recipe: 0.03)")
    equiv_splits: int = bounded(16, ge=1, help="chunks per batch, each with its own augmentation pair")
    loss_subtype: str = bounded("infonce", choices=list(LOSS_SUBTYPES),
                                help="the InfoNCE part the loss keeps (official --loss-subtype); "
                                     "uniformity = the paper's equivariance + uniformity only")

    def check(self) -> None:
        super().check()
        if self.batch_size % self.equiv_splits:
            raise ConfigError(
                f"equiv_splits: batch_size={self.batch_size} does not split into {self.equiv_splits} equal chunks"
            )
        if self.batch_size // self.equiv_splits < 2:
            raise ConfigError(f"equiv_splits: chunks of {self.batch_size // self.equiv_splits} image(s) have no pairs")
