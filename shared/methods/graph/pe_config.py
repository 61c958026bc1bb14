"""The config schemas of the positional-encoding methods (no_pe, lappe, signnet, basisnet, spe), the sign-equivariant
link predictor, ASEN and the graph-theory tools (graphon_sampling, wl_test, homophily), torch-free: a sweep's driver
loads and validates their configs without importing torch, PyG or networkx (their trainers, in the method modules and
``common.py``, import them). The method modules re-export them."""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.config import ConfigError, bounded
from shared.graphs.dataconfig import GraphDataConfig, LinkDataConfig
from shared.method import MethodConfig, OptimConfig

# ----------------------------------------------------------------------------------------------------
# positional encodings on a base GNN (common.py's GraphPETrainer)


@dataclass
class GraphPEConfig(MethodConfig):
    """What every encoding shares: the base GNN, the data and the budget (so a study compares encodings only)."""

    epochs: int = bounded(30, ge=1)
    batch_size: int = bounded(64, ge=1)
    hidden: int = bounded(64, ge=1, help="width of the base GNN")
    layers: int = bounded(4, ge=1, help="message-passing layers of the base GNN")
    base: str = bounded("gine", choices=["gine", "deepsets"], help="deepsets: no edges, graph info from the PE only")
    pool: str = bounded("sum", choices=["sum", "mean"])
    pe_dim: int = bounded(16, ge=1, help="output size of the positional encoding, projected and added to nodes")
    stability_eps: float = bounded(1e-3, gt=0.0, le=0.5, help="relative edge-weight perturbation for pe_stability")
    data: GraphDataConfig = field(default_factory=GraphDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(weight_decay=0.0))

    def check(self) -> None:
        if self.batch_size > self.data.n_train:
            raise ConfigError(f"batch_size: {self.batch_size} is larger than data.n_train={self.data.n_train}")


@dataclass
class NoPEConfig(GraphPEConfig):
    pass


@dataclass
class LapPEConfig(GraphPEConfig):
    sign: str = bounded("flip", choices=["flip", "abs", "none"], help="random sign flips in training, |V|, or raw V")


@dataclass
class SignNetConfig(GraphPEConfig):
    phi_hidden: int = bounded(16, ge=1)
    phi_out: int = bounded(4, ge=1, help="channels per eigenvector after phi")
    phi_layers: int = bounded(3, ge=1, help="GIN layers of phi")
    use_eigvals: bool = bounded(False, help="feed each eigenvalue to phi beside its eigenvector")
    phi: str = bounded("gin", choices=["gin", "deepsets"],
                       help="gin: message passing over the edges; deepsets: no edges (the official filter code's DS)")


@dataclass
class BasisNetConfig(GraphPEConfig):
    phi_hidden: int = bounded(16, ge=1)
    phi_out: int = bounded(4, ge=1, help="channels per eigenspace after phi")
    max_multiplicity: int = bounded(3, ge=1, help="separate phi_d for d = 1..max; larger eigenspaces share the last")
    eig_tol: float = bounded(1e-5, gt=0.0, help="eigenvalues closer than this form one eigenspace")


@dataclass
class SPEConfig(GraphPEConfig):
    n_psis: int = bounded(8, ge=1, help="m, the number of eigenvalue functions phi_l")
    psi_hidden: int = bounded(16, ge=1)
    rho_hidden: int = bounded(16, ge=1)
    rho_layers: int = bounded(3, ge=1, help="GIN layers of rho")


# ----------------------------------------------------------------------------------------------------
# sign-equivariant link prediction and ASEN


@dataclass
class SignEquivariantConfig(MethodConfig):
    epochs: int = bounded(100, ge=1)
    model: str = bounded("sign_equivariant", choices=["sign_equivariant", "signnet", "gcn", "decode_only"])
    hidden: int = bounded(64, ge=4)
    layers: int = bounded(4, ge=1, help="SignDSS layers")
    data: LinkDataConfig = field(default_factory=LinkDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.01, weight_decay=0.0))


# ASEN's tasks and the group each is equivariant to (shared.graphs.symmetry.named_group's names)
TASK_GROUPS = {"cyclic_sum": "cyclic", "palindrome": "reflection", "intersect": "block2"}


@dataclass
class ASENConfig(MethodConfig):
    epochs: int = bounded(30, ge=1)
    batch_size: int = bounded(64, ge=1)
    tasks: list[str] = field(default_factory=lambda: ["cyclic_sum", "palindrome", "intersect"])
    symmetry: str = bounded("orbital", choices=["orbital", "none"], help="none: every pair its own colour")
    length: int = bounded(8, ge=2, help="sequence length n (even: intersect splits it in halves)")
    vocab: int = bounded(7, ge=2)
    samples: int = bounded(4000, ge=10, help="training sequences per task")
    test_samples: int = bounded(1000, ge=10)
    hidden: int = bounded(32, ge=4)
    heads: int = bounded(2, ge=1)
    layers: int = bounded(3, ge=1)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-3, weight_decay=0.0))

    def check(self) -> None:
        unknown = [t for t in self.tasks if t not in TASK_GROUPS]
        if unknown or not self.tasks:
            raise ConfigError(f"tasks: {unknown or 'empty'}; known: {', '.join(TASK_GROUPS)}")
        if self.length % 2:
            raise ConfigError(f"length: must be even (intersect compares the halves), got {self.length}")


# ----------------------------------------------------------------------------------------------------
# graph-theory experiments and tools


@dataclass
class GraphonData:
    n: int = bounded(1000, ge=50, le=20000)
    blocks: int = bounded(4, ge=2, le=64)
    noise: float = bounded(1.5, ge=0.0, le=100.0, help="feature noise around the one-hot label")
    seed: int = bounded(0, ge=0)


@dataclass
class GraphonSamplingConfig(MethodConfig):
    epochs: int = bounded(4, ge=1)
    steps_per_epoch: int = bounded(50, ge=1, le=100000)
    sampling: str = bounded("interval", choices=["interval", "random"])
    budget: float = bounded(0.1, gt=0.0, le=1.0, help="share of the nodes the subgraph keeps")
    k: int = bounded(6, ge=1, le=256, help="bandwidth: eigenvectors, and intervals chosen")
    intervals: int = bounded(20, ge=2, le=1000, help="latent intervals (bins of [0, 1])")
    hidden: int = bounded(16, ge=1, le=1024)
    lr: float = bounded(0.01, gt=0.0, le=1.0)
    threads: int = 1
    data: GraphonData = field(default_factory=GraphonData)


@dataclass
class WLTestConfig(MethodConfig):
    epochs: int = bounded(1, ge=1, le=1, help="one pass over the pairs")
    random_pairs: int = bounded(20, ge=0, help="random same-size pairs besides the named ones")
    nodes: int = bounded(10, ge=2, help="nodes of each random graph")
    edges: int = bounded(12, ge=1, help="edges of each random graph")
    gnn_layers: int = bounded(4, ge=1)
    gnn_hidden: int = bounded(32, ge=1)
    pe_k: int = bounded(16, ge=1, help="eigenpairs for the SPE-augmented GIN")
    tol: float = bounded(1e-6, gt=0.0, help="relative output difference above which a network separates a pair")


@dataclass
class CSBMConfig:
    nodes: int = bounded(1000, ge=4)
    classes: int = bounded(5, ge=2)
    homophily: float = bounded(0.5, ge=0.0, le=1.0, help="expected edge homophily (ignored when independent)")
    independent: bool = False  # edges independent of the labels (an Erdos-Renyi graph): the null model
    imbalance: float = bounded(0.0, ge=0.0, lt=1.0, help="0: balanced classes; toward 1: class 0 takes everything")
    degree: float = bounded(10.0, gt=0.0, help="expected mean degree")
    feature_dim: int = bounded(8, ge=1)
    feature_noise: float = bounded(1.0, ge=0.0)
    seed: int = bounded(0, ge=0)


@dataclass
class HomophilyConfig(MethodConfig):
    epochs: int = bounded(1, ge=1, le=1, help="one pass: generate and measure")
    data: CSBMConfig = field(default_factory=CSBMConfig)
