"""The config schemas of the theory experiments, torch-free: a sweep's driver loads and validates one against them
without importing torch, POT, networkx or scipy (the experiments' code, one module per paper beside this one, does;
each imports its config from here). The papers, their equations and the meaning of each setting are in those
modules' docstrings."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shared.config import ConfigError, bounded
from shared.method import MethodConfig, OptimConfig
from shared.theory.experiment import ExperimentConfig, ProblemSeed
from shared.theory.radiation import MU_CZT, MU_PAD, TETRIS


@dataclass
class GroupDROConfig(ExperimentConfig):
    algorithm: str = bounded("exp3p", choices=["exp3p", "sagawa", "erm"])
    groups: int = bounded(8, ge=2, le=4096, help="m")
    dim: int = bounded(5, ge=1, le=1024)
    steps: int = bounded(32_000, ge=1, le=10_000_000, help="T: rounds, one sample each")
    radius: float = bounded(2.0, gt=0.0, help="Theta: the ball of this radius (D)")
    loss_scale: float = bounded(2.0, gt=0.0, help="B: the bandit's gain is min(loss / B, 1)")
    grad_bound: float = bounded(4.0, gt=0.0, help="G: theta step D / (G sqrt(T))")
    delta: float = bounded(0.1, gt=0.0, lt=1.0, help="EXP3.P confidence")
    eta_mult: float = bounded(10.0, ge=0.0, help="EXP3P eta = mult x 0.95 sqrt(ln m / (T m))")
    gamma_mult: float = bounded(1.0, ge=0.0, help="EXP3P gamma = mult x 1.05 sqrt(m ln m / T), capped at 1")
    beta_mult: float = bounded(0.0, ge=0.0, help="EXP3P beta = mult x sqrt(ln(m / delta) / (T m))")
    q_step_mult: float = bounded(3.0, ge=0.0, help="Sagawa eta_q = mult x m sqrt(ln m / T)")
    minority: float = bounded(0.05, gt=0.0, lt=1.0, help="p: mass of group 0 in the population (ERM's mixture)")
    ambiguity: str = bounded("group", choices=["group", "subpopulation", "cvar"], help="Q: see the module")
    alpha: float = bounded(0.2, gt=0.0, le=1.0, help="subpopulation / CVaR level: caps p_i / alpha or 1 / (alpha m)")


@dataclass
class InvariantKRRConfig(ExperimentConfig):
    estimator: str = bounded("invariant", choices=["invariant", "plain"])
    domain: str = bounded("circle", choices=["circle", "sphere"], help="circle: G = C_q; sphere: G = S_dim")
    dim: int = bounded(3, ge=2, le=6, help="sphere: ambient dimension (|G| = dim!)")
    bandwidth: float = bounded(2.0, gt=0.0, help="sphere: kappa of the kernel exp(kappa (x . y - 1))")
    centres: int = bounded(8, ge=1, le=10_000, help="sphere: kernel sections of the target")
    n: int = bounded(32, ge=2, le=100_000, help="training samples")
    group_order: int = bounded(4, ge=1, le=64, help="|G| of the rotation group C_q")
    modes: int = bounded(256, ge=1, le=10_000, help="Fourier modes of the base kernel and the target")
    smoothness: float = bounded(1.0, gt=0.5, help="Sobolev order s of the base kernel")
    decay: float = bounded(1.51, gt=0.5, help="target amplitudes ~ k^-decay")
    scale: float = bounded(3.0, gt=0.0, help="target amplitude scale")
    noise: float = bounded(1.0, ge=0.0, help="label noise sigma")
    grid: int = bounded(2048, ge=16, le=1_000_000, help="evaluation points of the L2 error")
    ridges: int = bounded(36, ge=1, le=1000, help="log-spaced ridge values in [1e-7, 1] (oracle choice)")
    repeats: int = bounded(10, ge=1, le=10_000, help="independent draws averaged in one trial")

    def check(self) -> None:
        if self.group_order > self.modes:
            raise ConfigError(f"group_order: must be <= modes={self.modes} (the target has the modes k = 0 mod it), "
                              f"got {self.group_order}")


@dataclass
class InvariantDivergenceConfig(ExperimentConfig):
    estimator: str = bounded("orbit", choices=["orbit", "plain"])
    n: int = bounded(50, ge=1, le=20_000, help="samples from each measure")
    repeats: int = bounded(4, ge=1, le=10_000, help="independent draws averaged in one trial")


@dataclass
class FlatMFConfig(ExperimentConfig):
    arm: str = bounded("trace", choices=["trace", "gd", "min_frobenius"])
    depth: int = bounded(2, ge=2, le=8, help="L factors")
    dim: int = bounded(8, ge=2, le=256, help="d: the matrices are d x d")
    rank: int = bounded(1, ge=1, le=256)
    measurements: int = bounded(40, ge=1, le=100_000, help="n Gaussian measurements")
    lam: float = bounded(1e-3, ge=0.0, help="weight of tr_GN (the trace arm)")
    lr: float = bounded(1e-2, gt=0.0)
    steps: int = bounded(6000, ge=1, le=1_000_000, help="full-batch Adam steps")

    def check(self) -> None:
        if self.rank > self.dim:
            raise ConfigError(f"rank: must be <= dim={self.dim}, got {self.rank}")


@dataclass
class SymmetryHardnessConfig(ExperimentConfig):
    n: int = bounded(10, ge=2, le=40, help="input dimension (csq: 2^n inputs enumerated, n <= 16)")
    k: int = bounded(4, ge=1, le=16, help="support size of the parities")
    channels: int = bounded(16, ge=1, le=1024, help="channels of the shift-invariant CNN")
    measure: str = bounded("csq", choices=["csq", "train"], help="csq: the exact CSQ check; train: the failure curve")
    samples: int = bounded(3000, ge=1, le=10_000_000, help="train: fresh training inputs in all (the budget)")
    batch: int = bounded(8, ge=1, le=100_000, help="train: minibatch size")
    lr: float = bounded(3e-3, gt=0.0, help="train: Adam learning rate")

    def check(self) -> None:
        if self.k > self.n:
            raise ConfigError(f"k: the support size must be <= n={self.n}, got {self.k}")
        if self.measure == "csq" and self.n > 16:
            raise ConfigError(f"n: the exact CSQ check enumerates 2^n inputs, keep n <= 16 (got {self.n}); "
                              "measure=train draws samples instead")


LMC_DIM = 20  # lmc_identifiability's input dimension: the latent's copies must fit in it


@dataclass
class LMCConfig(ExperimentConfig):
    copies: int = bounded(1, ge=1, le=10, help="k active copies of the latent (coherence 1/k)")
    width: int = bounded(128, ge=1, le=100_000)
    density: float = bounded(0.15, gt=0.0, le=1.0, help="Bernoulli mask density of the hidden weights")
    n_train: int = bounded(1024, ge=1, le=10_000_000)
    n_test: int = bounded(2048, ge=1, le=10_000_000)
    batch_size: int = bounded(512, ge=1)
    train_epochs: int = bounded(100, ge=1, le=100_000, help="epochs of each model of the pair")
    lr: float = bounded(1e-2, gt=0.0)
    weight_decay: float = bounded(1e-2, ge=0.0, help="AdamW, on the weights only (0 on the bias)")

    def check(self) -> None:
        if 2 * self.copies > LMC_DIM:
            raise ConfigError(f"copies: at most {LMC_DIM // 2} copies fit in R^{LMC_DIM}, got {self.copies}")


@dataclass
class SASConfig(ExperimentConfig):
    noise: float = bounded(0.2, ge=0.0, le=0.5, help="label-flip probability rho (train and test)")
    dim: int = bounded(20, ge=1, le=10_000)
    n_train: int = bounded(200, ge=2, le=1_000_000)
    n_test: int = bounded(200, ge=1, le=1_000_000)
    width: int = bounded(64, ge=1, le=100_000)
    lr: float = bounded(0.5, gt=0.0, help="constant SGD step (a decaying one would make the dynamics converge)")
    batch_size: int = bounded(16, ge=1)
    steps: int = bounded(4000, ge=1, le=10_000_000)
    burn_in: int = bounded(2000, ge=0, help="steps discarded before recording (the estimator assumes stationarity)")
    record_every: int = bounded(10, ge=1)
    replaced: int = bounded(4, ge=1, le=1000, help="perturbed datasets S^(i), i = 0 .. replaced - 1")

    def check(self) -> None:
        if self.burn_in >= self.steps:
            raise ConfigError(f"burn_in: must be < steps={self.steps} (nothing would be recorded), got {self.burn_in}")
        if self.replaced > self.n_train:
            raise ConfigError(f"replaced: at most n_train={self.n_train} points can be replaced, got {self.replaced}")
        if self.batch_size > self.n_train:
            raise ConfigError(f"batch_size: must be <= n_train={self.n_train}, got {self.batch_size}")


@dataclass
class GraphopsConfig(ExperimentConfig):
    graph: str = bounded("regular", choices=["regular", "graphon"])
    n: int = bounded(100, ge=4, le=100_000, help="the smaller size; compared with 2n")
    degree: int = bounded(3, ge=1, le=100, help="degree of the random regular graphs")
    normalisation: str = bounded("auto", choices=["auto", "max_degree", "size"],
                                 help="P = A / deg_max or A / n; auto: max_degree for regular, size for graphon")
    order: int = bounded(2, ge=0, le=10, help="K: powers of P in each polynomial filter")
    layers: int = bounded(2, ge=1, le=10)
    hidden: int = bounded(16, ge=1, le=4096)
    repeats: int = bounded(5, ge=1, le=1000, help="independent (n, 2n) graph pairs averaged in one trial")
    n_train: int = bounded(0, ge=0, le=100_000, help="student training graph size; 0: no student")
    train_graphs: int = bounded(20, ge=1, le=10_000)
    student_steps: int = bounded(300, ge=1, le=1_000_000)
    student_lr: float = bounded(1e-2, gt=0.0)
    n_test: int = bounded(2000, ge=4, le=100_000)

    def check(self) -> None:
        if self.graph == "regular":
            for key, size in (("n", self.n), ("n_train", self.n_train), ("n_test", self.n_test)):
                if size and (size * self.degree % 2 or size <= self.degree):
                    raise ConfigError(f"{key}: a {self.degree}-regular graph needs more than {self.degree} nodes "
                                      f"and an even n x degree, got {size}")

    def scaling(self) -> str:
        if self.normalisation != "auto":
            return self.normalisation
        return "max_degree" if self.graph == "regular" else "size"


LAYOUTS = [*TETRIS, "square2", "square5", "square10"]
OFFICIAL_SETS = {"J": "j_1", "S": "s_1", "T": "t_1", "square2": "sq2_1"}  # single-source sets of the official data


@dataclass
class TetrisConfig(MethodConfig):
    epochs: int = bounded(50, ge=1)
    data: ProblemSeed = field(default_factory=ProblemSeed)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, weight_decay=0.0))
    layout: str = bounded("J", choices=LAYOUTS)
    samples: int = bounded(1000, ge=20, le=1_000_000, help="simulated sources (the official sets: 3,000)")
    test_fraction: float = bounded(0.1, gt=0.0, lt=1.0)
    particles: float = bounded(5e6, gt=0.0, help="emitted photons per source (official: 50,000 x 100 batches)")
    distance_min: int = bounded(20, ge=2, help="cm")
    distance_max: int = bounded(500, ge=2, help="cm")
    pad_mu: float = bounded(MU_PAD, ge=0.0, help="padding attenuation, cm^-1 (0: no padding)")
    pixel_mu: float = bounded(MU_CZT, gt=0.0, help="CdZnTe attenuation, cm^-1")
    bins: int = bounded(64, ge=8, le=1024)
    rays: int = bounded(128, ge=8, le=100_000, help="rays of the fan through the detector per source")
    channels: int = bounded(16, ge=1, le=1024)
    batch_size: int = bounded(64, ge=1)
    filter_lr_ratio: float = bounded(0.03, gt=0.0, help="filter-layer learning rate / the CNN's (official 3e-5/1e-3)")
    map_unit_cm: float = bounded(10.0, gt=0.0, help="centimetres per map unit")
    data_root: str = bounded("", help="the official repository's save/ folder (OpenMC JSON); empty: the simulator")

    def check(self) -> None:
        if self.data_root:
            check_official_root(self)
        if self.distance_min > self.distance_max:
            raise ConfigError(f"distance_min: must be <= distance_max={self.distance_max}, got {self.distance_min}")
        if self.bins % 8:
            raise ConfigError(f"bins: must be a multiple of 8, got {self.bins}")


def official_folder(root: Path, kind: str, name: str) -> Path:
    """``openmc_data/j_1_data`` or ``openmc_filter/j_1_filter``, also under a ``saved_files`` level (both seen)."""
    plain = root / f"openmc_{kind}" / name
    return plain if plain.is_dir() else root / f"openmc_{kind}" / "saved_files" / name


def check_official_root(cfg: TetrisConfig) -> None:
    """The official OpenMC set of ``cfg.layout`` is under ``data_root``: its data and filter JSON both present."""
    if cfg.layout not in OFFICIAL_SETS:
        raise ConfigError(f"layout: the official data have single-source sets for {sorted(OFFICIAL_SETS)} only, "
                          f"got {cfg.layout!r}")
    prefix = OFFICIAL_SETS[cfg.layout]
    for kind, name in (("data", f"{prefix}_data"), ("filter", f"{prefix}_filter")):
        folder = official_folder(Path(cfg.data_root).expanduser(), kind, name)
        if not any(folder.glob("*.json")):
            raise ConfigError(f"data_root: no {name}/*.json under {cfg.data_root}/openmc_{kind} (expected the "
                              f"official repository's save/ folder, RyotaroOKabe/radiation_mapping)")
