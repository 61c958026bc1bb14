"""The config schema of DisentangledSSL (``disentangled_ssl.py``), torch-free: the sweep driver loads and validates a
config against it without importing torch (the trainer imports it). ``disentangled_ssl.py`` imports it from here."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from shared.config import ConfigError, bounded
from shared.data.multimodal import MultimodalDataConfig
from shared.method import MethodConfig


@dataclass
class DisentangledEvalConfig:
    probe_weight_decay: float = bounded(1e-4, ge=0.0)
    probe_max_iter: int = bounded(200, ge=1, help="L-BFGS iterations of each linear probe (sklearn's max_iter)")


@dataclass
class DisentangledSSLConfig(MethodConfig):
    epochs: int = bounded(25, ge=1, help="step1_epochs of step 1, then step 2 for the rest")
    step1_epochs: int = bounded(15, ge=1, help="epochs of step 1; = epochs trains step 1 only")
    batch_size: int = bounded(256, ge=2)
    hidden_dim: int = bounded(256, ge=1, help="encoder MLP width (official: 512)")
    embed_dim: int = bounded(64, ge=1, help="dimension of Z_c and of each Z_s^m (official: 100)")
    init_std: float = bounded(0.01, ge=0.0, help="std of the N(0, s^2) weight init (official 0.01); 0 = torch default")
    temperature: float = bounded(0.07, gt=0.0, help="SupCon temperature of both steps")
    kappa: float = bounded(1000.0, ge=10.0, help="vMF concentration of step 1's sampling")
    beta: float = bounded(0.1, ge=0.0, help="weight of the SKL term (step 1)")
    lam: float = bounded(1.0, ge=0.0, help="lambda: weight of the orthogonality penalty (step 2)")
    lr_step1: float = bounded(1e-3, gt=0.0)
    lr_step2: float = bounded(1e-3, gt=0.0)
    schedule: str = bounded("cosine", choices=["none", "cosine"], help="per-epoch cosine annealing within each step")
    noise_scale: float = bounded(0.01, ge=0.0, help="augmentation: std of the Gaussian noise")
    drop_fraction: float = bounded(0.1, ge=0.0, lt=1.0, help="augmentation: share of coordinates zeroed")
    data: MultimodalDataConfig = field(default_factory=MultimodalDataConfig)
    eval: DisentangledEvalConfig = field(default_factory=DisentangledEvalConfig)

    def check(self) -> None:
        if self.step1_epochs > self.epochs:
            raise ConfigError(f"step1_epochs: {self.step1_epochs} exceeds epochs={self.epochs}")
        n_train = self.data.n - self.data.n_test
        if self.batch_size > n_train:
            raise ConfigError(f"batch_size: {self.batch_size} is larger than the {n_train} train samples "
                              f"(data.n={self.data.n}); an epoch would have no full batch")

    def prefix_run(self) -> tuple[str, DisentangledSSLConfig] | None:
        """Step 1 alone (``epochs = step1_epochs``): nothing of step 2 (lambda, its learning rate) acts before it
        ends, so runs that differ only there share it (the step-2 encoders are initialised at the start either way)."""
        if self.step1_epochs == self.epochs:
            return None
        defaults = DisentangledSSLConfig()
        return "disentangled_ssl", replace(self, epochs=self.step1_epochs, lam=defaults.lam,
                                               lr_step2=defaults.lr_step2)
