"""The config schema of PJAX, torch-free: the sweep driver loads and validates a config against it without importing
torch (its trainer, in ``pjax.py``, imports it and re-exports it)."""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.config import bounded
from shared.method import MethodConfig


@dataclass
class DataSeed:
    seed: int = bounded(0, ge=0, help="draws the digits train/test split")


@dataclass
class PJAXConfig(MethodConfig):
    epochs: int = bounded(3, ge=1, le=1000)
    data: DataSeed = field(default_factory=DataSeed)
    arm: str = bounded("pjax", choices=["pjax", "adam"])
    dataset: str = bounded("digits", choices=["xor", "digits"])
    n_train: int = bounded(400, ge=10, le=1500, help="digits training examples (the rest are the test set)")
    hidden: int = bounded(16, ge=1, le=512)
    activation: str = bounded("relu", choices=["relu", "quantize"])
    levels: int = bounded(2, ge=2, le=16, help="quantiser output levels in [0, 1]")
    scheme: str = bounded("dr", choices=["dr", "ap"], help="Douglas-Rachford or alternating projections")
    steps_per_update: int = bounded(20, ge=1, le=1000)
    batch_size: int = bounded(100, ge=1, le=1500)
    margin: float = bounded(1.0, gt=0.0)
    lr: float = bounded(1e-2, gt=0.0, help="Adam arm")
