"""The config schemas of the combinatorial, distance and application graph methods (unifl, gslr, graff_ms, tmd, optgnn,
neural_sfe, attributed_graph_distance, infoot, kv_margin), torch-free: a sweep's driver loads and validates their
configs without importing torch, PyG, sklearn or POT (their trainers, in the method modules, import them and re-export
these). Checks that look at files or packages (graff_ms's matchms and data files, tmd's TU files) read the file
system and the import path only (``shared/graphs/gnps.py``, ``shared/graphs/tu_files.py``)."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from shared.config import ConfigError, bounded
from shared.graphs.gnps import read_gnps_smiles
from shared.graphs.tmd_choices import DISTANCES, MOTIF_SIZES
from shared.graphs.tu_files import check_tu_classes
from shared.method import MethodConfig, OptimConfig


# unifl: uniform facility location by a radius-bin MPNN (shared/methods/graph/unifl.py)
@dataclass
class FacilityData:
    n: int = bounded(200, ge=10, le=5000, help="points per training and test instance")
    large_n: int = bounded(600, ge=10, le=5000, help="points per size-generalisation test instance")
    train_instances: int = bounded(100, ge=1, le=100000)
    test_instances: int = bounded(3, ge=1, le=1000)
    dim: int = bounded(2, ge=1, le=64)
    components: int = bounded(6, ge=1, le=1000)
    side: float = bounded(6.0, gt=0.0, help="mixture centres uniform in [0, side]^dim")
    spread: float = bounded(0.8, gt=0.0, help="component standard deviation (times U[0.5, 1.5])")
    seed: int = bounded(0, ge=0)


@dataclass
class UniFLConfig(MethodConfig):
    epochs: int = bounded(20, ge=1)
    batch_size: int = bounded(10, ge=1, le=100000, help="instances per step")
    bins: int = bounded(16, ge=2, le=1024, help="k: radius bins a_1 < ... < a_k = 1")
    hidden: int = bounded(32, ge=1, le=4096)
    c: float = bounded(0.1, gt=0.0, help="initial c of p = min(1, c log n r_hat)")
    samples: int = bounded(1000, ge=1, le=1_000_000, help="inference: draws of F averaged")
    mc_samples: int = bounded(2000, ge=1, le=1_000_000, help="Monte-Carlo draws checking the expected cost")
    simple_cs: list[float] = bounded([0.025, 0.05, 0.1, 0.2, 0.4], help="SimpleUniformFL's c grid")
    milp_time_limit: float = bounded(120.0, gt=0.0, help="seconds per MILP instance")
    model: str = bounded("mpnn", choices=["mpnn", "simple"],
                         help="simple: SimpleUniformFL at the best c of simple_cs, nothing trained")
    threads: int = 1
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.01, weight_decay=0.0))
    data: FacilityData = field(default_factory=FacilityData)


# gslr: graph-sparse logistic regression (shared/methods/graph/gslr.py)
@dataclass
class PathwayData:
    nodes: int = bounded(300, ge=4, le=100000, help="features = nodes of the feature graph")
    graph: str = bounded("ba", choices=["ba", "grid"], help="Barabasi-Albert (m = 2) or a 2-D grid")
    support: int = bounded(20, ge=1, le=100000, help="size of the true (connected) support")
    shift: float = bounded(0.5, ge=0.0, help="mean shift of the positive class on the support")
    train: int = bounded(200, ge=2, le=1_000_000)
    test: int = bounded(1000, ge=2, le=1_000_000)
    seed: int = bounded(0, ge=0)


@dataclass
class GSLRConfig(MethodConfig):
    epochs: int = bounded(30, ge=1, help="projected-gradient steps, one per epoch")
    sparsity_low: int = bounded(15, ge=1)
    sparsity_high: int = bounded(30, ge=1)
    steps: list[float] = bounded([0.03, 0.1, 0.3], help="candidate step sizes tried at every step")
    proj_max_iter: int = bounded(20, ge=1, le=1000, help="bisection rounds of the PCST projection")
    l1_rounds: int = bounded(30, ge=1, le=1000, help="bisection rounds of the L1 baseline's C (matched sparsity)")
    data: PathwayData = field(default_factory=PathwayData)


# graff_ms: mass spectra from molecular graphs (shared/methods/graph/graff_ms.py)
MSP_NAME = "gnps_cfm-id.msp"
GNPS_NAME = "gnps.tsv"
# matchms and the runtime imports of matchms.similarity, as scripts/setup.sh installs them (without declared deps)
MATCHMS_INSTALL = ("matchms==0.33.1 numba==0.68.1 llvmlite==0.50.0 sparsestack==0.7.1 pickydict==0.5.0 "
                   "deprecated==1.3.1 pubchempy==1.0.5 pyteomics==5.0.1 lxml==6.1.3")


@dataclass
class SpectraData:
    source: str = bounded("synthetic", choices=["synthetic", "cfm_id", "gnps"])
    root: str = bounded("", help="cfm_id: folder holding gnps_cfm-id.msp (murphy17/graff-ms data/cfm-id/gnps/); "
                        "gnps: folder holding gnps.tsv (murphy17/graff-ms data/gnps/)")
    molecules: int = bounded(360, ge=4, le=1_000_000,
                             help="synthetic / gnps: molecules drawn from the MOSES / GNPS SMILES")
    test_share: float = bounded(0.15, gt=0.0, lt=1.0)
    seed: int = bounded(0, ge=0)


@dataclass
class GraffConfig(MethodConfig):
    epochs: int = bounded(15, ge=1)
    batch_size: int = bounded(32, ge=1, le=100000)
    vocabulary: int = bounded(300, ge=1, le=100000, help="K formulas (products and losses)")
    ppm: float = bounded(10.0, gt=0.0, le=1000.0, help="m/z tolerance of annotation")
    hidden: int = bounded(64, ge=1, le=4096)
    layers: int = bounded(3, ge=1, le=64)
    decoder: int = bounded(128, ge=1, le=8192)
    dropout: float = bounded(0.1, ge=0.0, lt=1.0)
    cosine_tolerance: float = bounded(0.1, gt=0.0, help="Da, the cosine's peak matching (official --matchms_tol)")
    threads: int = 1
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=5e-4, weight_decay=1e-5))
    data: SpectraData = field(default_factory=SpectraData)

    def check(self) -> None:
        if importlib.util.find_spec("matchms") is None:
            raise ConfigError("graff_ms scores spectra with matchms's CosineHungarian, which is not installed: "
                              f"pip install --no-deps {MATCHMS_INSTALL} (scripts/setup.sh does)")
        if self.data.source == "cfm_id":
            path = msp_path(self.data.root)
            if not path.is_file():
                raise ConfigError(f"data.root: {path} not found; data.source=cfm_id reads the public CFM-ID spectra "
                                  f"data/cfm-id/gnps/{MSP_NAME} of github.com/murphy17/graff-ms from a local folder "
                                  "(nothing is downloaded); or use data.source=synthetic")
        if self.data.source == "gnps":
            path = gnps_path(self.data.root)
            if not path.is_file():
                raise ConfigError(f"data.root: {path} not found; data.source=gnps reads the GNPS input SMILES "
                                  f"data/gnps/{GNPS_NAME} of github.com/murphy17/graff-ms from a local folder "
                                  "(nothing is downloaded); or use data.source=synthetic")
            try:
                read_gnps_smiles(path)
            except ValueError as err:
                raise ConfigError(f"data.root: {err}") from None


def msp_path(root: str) -> Path:
    path = Path(root).expanduser()
    return path if path.suffix == ".msp" else path / MSP_NAME


def gnps_path(root: str) -> Path:
    path = Path(root).expanduser()
    return path if path.suffix == ".tsv" else path / GNPS_NAME


# tmd: Tree Mover's Distance and the TMD-SVM (shared/methods/graph/tmd.py)
@dataclass
class MotifDataConfig:
    name: str = bounded("planted_motifs", choices=["planted_motifs", "sbm_homophily", "tu"],
                        help="sbm_homophily: two-block SBM graphs at homophily 0.5 vs 0.7; tu: a local TU data set")
    root: str | None = None  # tu: the folder holding <tu_name>_A.txt (or <tu_name>/ or <tu_name>/raw/ in it)
    tu_name: str | None = None  # tu: the file prefix, e.g. MUTAG
    subset: int = bounded(0, ge=0, help="tu: a random subset of this many graphs (0: all)")
    graphs: int = bounded(150, ge=10, help="graphs in the set, half per class (the card: about 150)")
    min_nodes: int = bounded(10, ge=3, help="planted_motifs (sbm_homophily: fixed, shared.graphs.tmd_data)")
    max_nodes: int = bounded(20, ge=3, help="planted_motifs")
    label_types: int = bounded(3, ge=1, help="planted_motifs")
    motif: str = bounded("triangle", choices=list(MOTIF_SIZES), help="planted_motifs: the labelled cycle of class 1")
    seed: int = bounded(0, ge=0)

    def check(self) -> None:
        if self.name == "tu":  # the files exist and carry classes, before Ray starts
            check_tu_classes(self.root, self.tu_name)
        if self.name == "planted_motifs" and not MOTIF_SIZES[self.motif] < self.min_nodes <= self.max_nodes:
            raise ConfigError(f"data.min_nodes: need {MOTIF_SIZES[self.motif]} < min_nodes <= max_nodes for the "
                              f"{self.motif} motif, got {self.min_nodes}, {self.max_nodes}")


@dataclass
class TMDConfig(MethodConfig):
    epochs: int = bounded(1, ge=1, le=1, help="one pass: all-pairs distances")
    depth: int = bounded(3, ge=1, le=6, help="L: depth of the computation trees")
    w: float = bounded(1.0, gt=0.0, help="depth weight w(l), the same at every level")
    distance: str = bounded("tmd", choices=list(DISTANCES), help="the SVM's D in exp(-gamma D): tmd or a baseline")
    gammas: list = bounded([0.01, 0.05, 0.1], help="kernel exp(-gamma TMD): gamma candidates")
    svm_c: list = bounded([1.0, 10.0, 100.0], help="SVM C candidates")
    test_share: float = bounded(0.3, gt=0.0, lt=1.0)
    data: MotifDataConfig = field(default_factory=MotifDataConfig)


# optgnn: OptGNN / LiftMP on Max-Cut and vertex cover (shared/methods/graph/optgnn.py)
@dataclass
class ERGraphs:
    n_min: int = bounded(30, ge=2, le=5000)
    n_max: int = bounded(60, ge=2, le=5000)
    p: float = bounded(0.15, gt=0.0, le=1.0, help="Erdos-Renyi edge probability")
    test_graphs: int = bounded(40, ge=1, le=10000, help="held-out graphs the evaluator solves")
    seed: int = bounded(0, ge=0, help="the training stream and the held-out graphs")


@dataclass
class OptGNNConfig(MethodConfig):
    epochs: int = bounded(4, ge=1)
    steps_per_epoch: int = bounded(100, ge=1, le=1_000_000)
    problem: str = bounded("max_cut", choices=["max_cut", "vertex_cover"])
    model: str = bounded("liftmp", choices=["liftmp", "gin"])
    penalty: float = bounded(1.0, ge=0.0, le=1e6, help="vertex cover: weight of the squared edge constraints")
    pe_dimension: int = bounded(0, ge=0, le=64, help="random-walk PE coordinates (k = 1..pe_dimension return "
                                "probabilities) in place of the input's last ones (official featurize_batch)")
    rank: int = bounded(16, ge=2, le=512, help="r: dimension of the Burer-Monteiro vectors")
    layers: int = bounded(8, ge=1, le=64)
    hidden: int = bounded(32, ge=2, le=4096, help="GIN only: hidden width")
    batch_size: int = bounded(16, ge=1, le=4096, help="graphs per step")
    lr: float = bounded(1e-3, gt=0.0, le=1.0)
    hyperplanes: int = bounded(1000, ge=1, le=100_000, help="random hyperplanes tried per graph when rounding")
    gw_solver: str = bounded("SCS", choices=["SCS", "CLARABEL"])
    reference: bool = bounded(True, help="also solve the held-out graphs by GW-SDP (off: its measures are NaN)")
    threads: int = 1
    data: ERGraphs = field(default_factory=ERGraphs)

    def check(self) -> None:
        if self.pe_dimension >= self.rank:
            raise ConfigError(f"pe_dimension={self.pe_dimension} must be below rank={self.rank}: the input keeps at "
                              "least one random coordinate")


# neural_sfe: max clique by neural set function extensions (shared/methods/graph/neural_sfe.py)
@dataclass
class PlantedCliques:
    train_graphs: int = bounded(300, ge=1, le=100_000)
    test_graphs: int = bounded(60, ge=1, le=100_000)
    n_min: int = bounded(20, ge=4, le=500)
    n_max: int = bounded(30, ge=4, le=500)
    p: float = bounded(0.3, ge=0.0, le=1.0)
    k_min: int = bounded(6, ge=2, le=500, help="planted clique size, smallest")
    k_max: int = bounded(8, ge=2, le=500)
    seed: int = bounded(0, ge=0)


@dataclass
class NeuralSFEConfig(MethodConfig):
    epochs: int = bounded(30, ge=1)
    extension: str = bounded("neural", choices=["lovasz", "neural", "straight_through"])
    columns: int = bounded(4, ge=1, le=64, help="neural SFE: rank-one terms (columns of X)")
    hidden: int = bounded(64, ge=2, le=4096)
    layers: int = bounded(4, ge=1, le=32)
    batch_size: int = bounded(32, ge=1, le=4096)
    lr: float = bounded(3e-4, gt=0.0, le=1.0)
    threads: int = 1
    data: PlantedCliques = field(default_factory=PlantedCliques)


# attributed_graph_distance: the RJL-style pseudometric (shared/methods/graph/attributed_graph_distance.py)
@dataclass
class AttributedDistanceConfig(MethodConfig):
    epochs: int = bounded(1, ge=1, le=1, help="one pass over the graphs")
    graphs: int = bounded(6, ge=3)
    nodes: int = bounded(6, ge=2)
    edges: int = bounded(8, ge=1)
    label_types: int = bounded(3, ge=1)
    depth: int = bounded(2, ge=0, le=5, help="rounds of neighbour measures")
    mass_penalty: float = bounded(1.0, gt=0.0, help="cost per unit of unmatched neighbour mass")
    blowup: int = bounded(3, ge=2, help="largest blow-up factor k")
    triples: int = bounded(20, ge=0)


# infoot: InfoOT on warped digits (shared/methods/graph/infoot.py)
@dataclass
class DigitsWarpConfig:
    sources: int = bounded(150, ge=10, le=1000)
    targets: int = bounded(150, ge=10, le=1000)
    unseen: int = bounded(50, ge=1, le=300, help="source points kept from the solver (out-of-sample projection)")
    rotation_scale: float = bounded(0.05, ge=0.0, help="the warp's rotation: expm(scale x (A - A^T))")
    shift_norm: float = bounded(3.0, ge=0.0, help="the warp's shift (digits/16 lie ~3-4 apart)")
    warp_seed: int = bounded(0, ge=0, help="fixes the warp; the same for every data seed")
    seed: int = bounded(0, ge=0, help="which digits go to source, unseen, target and test")


@dataclass
class InfoOTConfig(MethodConfig):
    epochs: int = bounded(10, ge=1, le=500, help="mirror steps (the official default is 50)")
    fused: bool = bounded(True, help="fused InfoOT (cost C - lam grad I); false: maximise I alone")
    h: float = bounded(0.5, gt=0.0, help="relative kernel bandwidth")
    lam: float = bounded(10.0, ge=0.0, help="weight of the mutual information (official 100 on DeCAF features)")
    reg: float = bounded(1.0, gt=0.0, help="Sinkhorn entropic regularisation")
    labelled: bool = bounded(True, help="use source labels in the source kernel (different labels: +label_delta)")
    label_delta: float = bounded(5000.0, ge=0.0)
    data: DigitsWarpConfig = field(default_factory=DigitsWarpConfig)


# kv_margin: k-variance normalised margins (shared/methods/graph/kv_margin.py)
@dataclass
class NoisyDigitsConfig:
    train_size: int = bounded(300, ge=20, le=1700)
    label_noise: float = bounded(0.0, ge=0.0, le=1.0, help="share of training labels replaced by a random class")
    seed: int = bounded(0, ge=0)


@dataclass
class KVMarginConfig(MethodConfig):
    epochs: int = bounded(200, ge=1, le=10_000, help="at most; training stops at target_train_acc")
    target_train_acc: float = bounded(0.99, gt=0.0, le=1.0,
                                      help="stop once the training accuracy (on its own labels) reaches this: PGDL's "
                                           "models are all trained to (near) zero training error, so gaps compare")
    width: int = bounded(64, ge=1, le=4096)
    depth: int = bounded(2, ge=1, le=16, help="hidden layers")
    batch_size: int = bounded(50, ge=1, le=1700)
    per_class: int = bounded(200, ge=2, le=2000, help="training samples per class the scores use (official 200)")
    draws: int = bounded(1, ge=1, le=100, help="random half-splits averaged per class's k-variance")
    threads: int = 1
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-2, weight_decay=0.0))
    data: NoisyDigitsConfig = field(default_factory=NoisyDigitsConfig)
