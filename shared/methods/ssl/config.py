"""The config schemas of the image SSL methods (SimCLR, CARE, IFM, E-SSL, NCL, the SAE probe and NLB), torch-free:
the sweep driver loads and validates a config against them without importing torch (their trainers, in the
methods' modules, import it). Each method's module imports its config from here."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from shared.config import ConfigError, bounded
from shared.data import DataConfig
from shared.imageconfig import TASKS, AugmentConfig, EncoderConfig
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


@dataclass
class IFMConfig(SimCLRConfig):
    epsilon: float = bounded(0.1, ge=0.0, le=2.0, help="perturbation budget on unit-norm embeddings (paper: 0.1)")
    alpha: float = bounded(1.0, ge=0.0, help="weight of the adversarial loss in the mix")
    ifm_only: bool = bounded(False, help="train on the adversarial loss alone (official --method ifm_only)")


@dataclass
class ESSLConfig(MethodConfig):
    epochs: int = bounded(30, ge=1)
    batch_size: int = bounded(256, ge=2)
    task: str = bounded("rotation", choices=list(TASKS), help="the transformation to predict")
    mode: str = bounded("normal", choices=["normal", "add", "eliminate"], help="explaining-away variants")
    lam: float = bounded(1.0, ge=0.0, help="weight of the class term in add / eliminate (official lmbd: 1)")
    pretrain: bool = bounded(True, help="false: keep the random initialisation (the official 'none' baseline); "
                                         "its BatchNorm statistics are still those of the train images")
    shuffle_classes: bool = bounded(False, help="add / eliminate: the class head learns a fixed random permutation of "
                                                "the train labels (a control with no class information)")
    head_hidden: int = bounded(512, ge=1, help="hidden width of the prediction head (official: 2048)")
    max_shift: float = bounded(0.125, ge=0.0, lt=0.5, help="base random crop: shift as a fraction of the side")
    data: DataConfig = field(default_factory=lambda: DataConfig(name="digits", n_train=-1, n_test=360))
    model: EncoderConfig = field(default_factory=EncoderConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # its mean/std normalise the inputs
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: SSLEvalConfig = field(default_factory=lambda: SSLEvalConfig(equiv_space="backbone"))

    def check(self) -> None:
        if self.data.n_train != -1 and self.data.n_train < self.batch_size:
            raise ConfigError(f"batch_size: {self.batch_size} is larger than data.n_train={self.data.n_train}")
        if self.task == "jigsaw" and self.data.image_size % 2:
            raise ConfigError(f"task: jigsaw needs an even data.image_size, got {self.data.image_size}")


@dataclass
class NCLConfig(SimCLRConfig):
    non_neg: str = bounded("relu", choices=["relu", "rep_relu"], help="how the projection is made non-negative")
    activation_weight: float = bounded(1.0, ge=0.0, help="weight w of L_act (official: 1)")


@dataclass
class SAEProbeConfig(SimCLRConfig):
    epochs: int = bounded(40, ge=2, help="encoder_epochs of SimCLR, then the SAE's epochs")
    encoder_epochs: int = bounded(30, ge=1)
    sae_width: int = bounded(128, ge=1, help="latents (official: 2048, the input dimension)")
    sae_k: int = bounded(16, ge=1, help="active latents per sample (official: 256 of 2048)")
    sae_tied: bool = bounded(False, help="decoder = encoder transpose (CSR-style); the paper's SAE is untied")
    sae_lr: float = bounded(3e-3, gt=0.0)
    sae_batch_size: int = bounded(64, ge=1)
    sae_passes: int = bounded(5, ge=1, help="passes over the frozen inputs per SAE epoch (they are cheap)")

    def check(self) -> None:
        super().check()
        if self.encoder_epochs >= self.epochs:
            raise ConfigError(f"encoder_epochs: {self.encoder_epochs} leaves no SAE epoch of epochs={self.epochs}")
        if self.sae_k > self.sae_width:
            raise ConfigError(f"sae_k: {self.sae_k} exceeds sae_width={self.sae_width}")

    def prefix_run(self) -> tuple[str, SimCLRConfig] | None:
        """The encoder phase is the `simclr` run with these settings and ``epochs=encoder_epochs``, unless the
        learning rate follows a cosine over all ``epochs`` (then it decays differently from that run's)."""
        if self.optim.schedule != "none":
            return None
        shared = {f.name: getattr(self, f.name) for f in fields(SimCLRConfig)}
        return "simclr", SimCLRConfig(**{**shared, "epochs": self.encoder_epochs})


SELECTIONS = ("contrastive", "clustering", "random")
# What acts only once the surrogate is trained: runs that differ only here share the surrogate (NLBConfig.prefix_run).
SELECTION_KEYS = ("selection", "poison_rate", "n_clusters", "selection_space", "trigger_alpha")


@dataclass
class NLBConfig(SimCLRConfig):
    epochs: int = bounded(46, ge=1, help="surrogate_epochs, then the victim's; epochs = surrogate_epochs "
                                         "is a selection-only run (no victim)")
    surrogate_epochs: int = bounded(16, ge=1, help="clean SimCLR epochs of the attacker's surrogate encoder")
    selection: str = bounded("contrastive", choices=SELECTIONS)
    poison_rate: float = bounded(0.6, gt=0.0, le=1.0, help="M = poison_rate * |D_pre| / C (official 0.6)")
    n_clusters: int = bounded(0, ge=0, help="k-means clusters of the clustering selection; 0 = C classes")
    selection_space: str = bounded("backbone", choices=["backbone", "projection"],
                                   help="surrogate features the selection reads (official: backbone)")
    trigger_alpha: float = bounded(1.0, gt=0.0, le=1.0, help="blend of the 3x3 checkerboard (official 1.0)")
    pretrain_fraction: float = bounded(0.9, gt=0.0, lt=1.0,
                                       help="share of each class in the unlabelled pretraining set")
    split_seed: int = 42  # the pretrain / downstream split, fixed across trial seeds (official 42)

    def check(self) -> None:
        super().check()
        if self.surrogate_epochs > self.epochs:
            raise ConfigError(f"surrogate_epochs: {self.surrogate_epochs} exceeds epochs={self.epochs}")

    @property
    def victim_epochs(self) -> int:
        return self.epochs - self.surrogate_epochs

    def prefix_run(self) -> tuple[str, NLBConfig] | None:
        """The surrogate phase with the default selection settings: the surrogate does not depend on them (they
        act once it is trained), so runs that differ only in them share it and each makes its own selection on
        it (``NLBTrainer.load_prefix_state``). None for that run itself."""
        defaults = NLBConfig()
        prefix = replace(self, epochs=self.surrogate_epochs, **{k: getattr(defaults, k) for k in SELECTION_KEYS})
        return None if prefix == self else ("nlb", prefix)
