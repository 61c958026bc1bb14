"""The specs of the theory experiments, torch-free: their configs come from ``config.py`` and their trainers and
evaluators are named (``LazyClass``), imported only where a trial builds them. A sweep's driver thus resolves, loads
and validates a theory config without importing torch, POT, networkx or scipy (tests/test_fixed_costs.py); the
registry points at these, and each experiment's module (``group_dro.py``, ...) re-exports its own as ``SPEC``."""
from __future__ import annotations

from shared.method import LazyClass, Measure, MethodSpec, Resources
from shared.methods.theory.config import (
    FlatMFConfig,
    GraphopsConfig,
    GroupDROConfig,
    InvariantDivergenceConfig,
    InvariantKRRConfig,
    LMCConfig,
    SASConfig,
    SymmetryHardnessConfig,
    TetrisConfig,
)

_PKG = "shared.methods.theory"


def _named(module: str, cls: str, **known: tuple[str, ...]) -> LazyClass:
    """``shared.methods.theory.<module>:<cls>``, with what it reports (``metrics=``, checked equal in the tests)."""
    return LazyClass(f"{_PKG}.{module}:{cls}", **known)


GROUP_DRO = MethodSpec(
    name="group_dro",
    paper="Near-Optimal Algorithms for Group Distributionally Robust Optimization and Beyond (arXiv 2212.13669)",
    family="theory",
    config=GroupDROConfig,
    trainer=_named("group_dro", "GroupDROTrainer"),
    evaluators=(_named("group_dro", "WorstGroupRisk", metrics=(
        "worst_group_risk", "worst_group_gap", "q_active_mass", "robust_risk", "robust_gap")),),
    resources=Resources(cpu=1),
    headline=(Measure("worst_group_gap", "min"), Measure("worst_group_risk", "min")),
    compare=("algorithm",),
    description="ERM vs Sagawa's online GDRO vs GDRO-EXP3P, exact worst-group risks on linear regression",
)

INVARIANT_KRR = MethodSpec(
    name="invariant_krr",
    paper="The Exact Sample Complexity Gain from Invariances for Kernel Regression (NeurIPS 2023)",
    family="theory",
    config=InvariantKRRConfig,
    trainer=_named("invariant_krr", "InvariantKRRTrainer"),
    evaluators=(_named("invariant_krr", "L2Error", metrics=("l2_error", "l2_error_sd", "ridge")),),
    resources=Resources(cpu=1),
    headline=(Measure("l2_error", "min"),),
    compare=("estimator",),
    description="KRR with the C_4-averaged Sobolev kernel on the circle vs plain KRR: learning curves in n",
)

INVARIANT_DIVERGENCE = MethodSpec(
    name="invariant_divergence",
    paper="Sample Complexity Bounds for Estimating Probability Divergences under Invariances (ICML 2024)",
    family="theory",
    config=InvariantDivergenceConfig,
    trainer=_named("invariant_divergence", "InvariantDivergenceTrainer"),
    evaluators=(_named("invariant_divergence", "W1Error", metrics=("w1_error", "w1_error_sd")),),
    resources=Resources(cpu=1),
    headline=(Measure("w1_error", "min"),),
    compare=("estimator",),
    description="orbit-averaged empirical W_1 (POT, exact LP) under S_3 on [0, 1]^3 vs the plain plug-in estimate",
)

FLAT_MF = MethodSpec(
    name="flat_mf",
    paper="The Inductive Bias of Flatness Regularization for Deep Matrix Factorization (NeurIPS 2023)",
    family="theory",
    config=FlatMFConfig,
    trainer=_named("flat_mf", "FlatMFTrainer"),
    evaluators=(_named("flat_mf", "Recovery", metrics=("rel_error", "nuclear_ratio", "train_loss", "trace_gn")),),
    resources=Resources(cpu=1),
    headline=(Measure("rel_error", "min"), Measure("nuclear_ratio", "min")),
    compare=("arm",),
    description="trace-of-Hessian regularised deep matrix factorisation vs GD vs the min-Frobenius interpolant",
)

SYMMETRY_HARDNESS = MethodSpec(
    name="symmetry_hardness",
    paper="On the hardness of learning under symmetries (ICLR 2024)",
    family="theory",
    config=SymmetryHardnessConfig,
    trainer=_named("symmetry_hardness", "SymmetryHardnessTrainer"),
    evaluators=(_named("symmetry_hardness", "CSQMeasures", metrics=(
        "class_size", "periodic_dropped", "gram_error", "bessel_ratio", "informative_fraction", "informative_bound",
        "test_corr", "test_mse")),),
    resources=Resources(cpu=1),
    headline=(Measure("informative_fraction", "min"), Measure("gram_error", "min")),
    compare=("n",),
    description="orbit parities: exact orthonormality, Bessel bound and CSQ informative fraction <= 1/|F| vs n; "
                "a trained invariant CNN's failure curve as |F| grows",
)

LMC_IDENTIFIABILITY = MethodSpec(
    name="lmc_identifiability",
    paper="Beyond Structural Symmetries: Linear Mode Connectivity via Neuron Identifiability (ICML 2026)",
    family="theory",
    config=LMCConfig,
    trainer=_named("lmc_identifiability", "LMCTrainer"),
    evaluators=(_named("lmc_identifiability", "Barrier", metrics=(
        "barrier", "aligned_barrier", "endpoint_mse", "coherence")),),
    resources=Resources(cpu=1),
    headline=(Measure("barrier", "min"),),
    compare=("copies",),
    description="masked one-hidden-layer ReLU nets: unaligned linear-interpolation barrier against coherence 1/k",
)

SAS = MethodSpec(
    name="sas",
    paper="On the generalization of learning algorithms that do not converge (NeurIPS 2022, arXiv 2208.07951)",
    family="theory",
    config=SASConfig,
    trainer=_named("sas", "SASTrainer"),
    evaluators=(_named("sas", "Stability", metrics=("beta_hat", "beta_hat_sd", "gap", "test_loss", "train_loss")),),
    resources=Resources(cpu=1),
    headline=(Measure("beta_hat", "min"), Measure("gap", "min")),
    compare=("noise",),
    description="constant-step SGD on noisy-label MLPs: SAS estimate beta-hat from coupled loss dynamics vs the gap",
)

GRAPHOPS_TRANSFER = MethodSpec(
    name="graphops_transfer",
    paper="Limits, approximation and size transferability for GNNs on sparse graphs via graphops (NeurIPS 2023)",
    family="theory",
    config=GraphopsConfig,
    trainer=_named("graphops_transfer", "GraphopsTrainer"),
    evaluators=(_named("graphops_transfer", "Transferability", metrics=(
        "w1", "w1_sd", "rate", "graph_effect", "graph_effect_by_size", "transfer_mse")),),
    resources=Resources(cpu=1),
    headline=(Measure("w1", "min"), Measure("transfer_mse", "min")),
    compare=("n", "graph"),
    description="polynomial-filter GNNs on random regular and graphon graphs: node-output W1 between sizes n and 2n",
)

_TETRIS = "tetris_detector"
TETRIS_DETECTOR = MethodSpec(
    name="tetris_detector",
    paper="Tetris-inspired detector with neural network for radiation mapping (Nature Communications 2024)",
    family="theory",
    config=TetrisConfig,
    trainer=_named(_TETRIS, "TetrisTrainer"),
    evaluators=(_named(_TETRIS, "DirectionError", metrics=("median_error_deg", "val_emd", "uniform_emd")),
                _named(_TETRIS, "PaddingContrast", metrics=("contrast_padded", "contrast_bare")),
                _named(_TETRIS, "MapLocalisation", metrics=("map_error_cells",)),
                _named(_TETRIS, "OracleMapLocalisation", metrics=("map_error_true_cells",))),
    resources=Resources(cpu=1),
    headline=(Measure("median_error_deg", "min"), Measure("map_error_cells", "min")),
    compare=("layout",),
    description="4-pixel Tetris detector, analytic simulator: filter layer + circular CNN, ring EMD; MAP mapping",
)
