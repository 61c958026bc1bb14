"""The config schemas of the embedding methods (``canonical_map.py``, ``debias_vl.py``), torch-free: the sweep
driver loads and validates a config against them without importing torch (their trainers import it; debias_vl's
text encoder sentence-transformers too). The methods' modules import them from here."""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.config import ConfigError, bounded
from shared.data.paired import PairedConfig
from shared.method import MethodConfig


@dataclass
class CanonicalMapConfig(MethodConfig):
    epochs: int = bounded(40, ge=2, help="the first half trains model A, the second half model B")
    batch_size: int = bounded(256, ge=2)
    temperature: float = bounded(0.07, gt=0.0)
    embed_dim: int = bounded(32, ge=1)
    width_a: int = bounded(64, ge=1)
    width_b: int = bounded(128, ge=1)
    lr: float = bounded(1e-3, gt=0.0)
    pairs_b: str = bounded("aligned", choices=["aligned", "shuffled"], help="shuffled: the negative control")
    anchor_classes: int = bounded(5, ge=1, help="classes the anchors come from (the rest are unseen)")
    anchors: int = bounded(200, ge=2, help="anchor images for the fit")
    centering: bool = bounded(True, help="fit and apply with the mean shift (false: rotation only)")
    data: PairedConfig = field(default_factory=PairedConfig)

    def check(self) -> None:
        if self.anchor_classes >= self.data.classes:
            raise ConfigError(f"anchor_classes: {self.anchor_classes} leaves no unseen class of {self.data.classes}")
        if self.batch_size > self.data.n_train // 2:
            raise ConfigError(f"batch_size: each model trains on half of data.n_train={self.data.n_train}")


PROFESSIONS_CALIBRATION = ["doctor", "nurse", "engineer", "teacher", "lawyer", "chef", "pilot", "scientist",
                           "firefighter", "librarian"]
PROFESSIONS_EVAL = ["dentist", "farmer", "painter", "accountant", "architect", "plumber", "journalist",
                    "pharmacist", "electrician", "secretary"]


@dataclass
class DebiasConfig(MethodConfig):
    epochs: int = bounded(1, ge=1, le=1, help="closed form: one step")
    variant: str = bounded("orth_cali", choices=["orth_proj", "orth_cali"], help="P0 alone, or calibrated P*")
    lam: float = bounded(1000.0, ge=0.0, help="calibration weight (official discriminative default: 1000)")
    spurious_prompts: list[str] = field(default_factory=lambda: [
        "a photo of a male.", "a photo of a female.", "a photo of a man.", "a photo of a woman.",
        "a photo of a boy.", "a photo of a girl."])
    attributes: list[str] = field(default_factory=lambda: ["male", "female"])
    pair_template: str = "a photo of a {attribute} {cls}."
    class_template: str = "a photo of a {cls}."
    calibration_classes: list[str] = field(default_factory=lambda: list(PROFESSIONS_CALIBRATION))
    eval_classes: list[str] = field(default_factory=lambda: list(PROFESSIONS_EVAL))

    def check(self) -> None:
        if len(self.attributes) != 2:
            raise ConfigError(f"attributes: give the two values of the spurious attribute, got {self.attributes}")
        for key in ("pair_template", "class_template"):
            if "{cls}" not in getattr(self, key):
                raise ConfigError(f"{key}: the template needs a {{cls}} placeholder")
        if "{attribute}" not in self.pair_template:
            raise ConfigError("pair_template: the template needs an {attribute} placeholder")
        if not self.calibration_classes or not self.eval_classes or not self.spurious_prompts:
            raise ConfigError("calibration_classes, eval_classes and spurious_prompts must not be empty")
        if set(self.calibration_classes) & set(self.eval_classes):
            raise ConfigError("eval_classes: must be held out from calibration_classes")
