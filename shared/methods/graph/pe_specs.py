"""The specs of the positional-encoding methods (no_pe, lappe, signnet, basisnet, spe), sign_equivariant, ASEN and
the graph-theory tools (graphon_sampling, wl_test, homophily), torch-free: their configs come from ``pe_config.py``
and their trainers and evaluators are named (``LazyClass``), imported only where a trial builds them. A sweep's
driver thus resolves, loads and validates these configs without importing torch, PyG, networkx or scikit-learn
(tests/test_fixed_costs.py); the registry points at these, and each method module re-exports its own as ``SPEC``.
The papers and equations are in the method modules' docstrings."""
from __future__ import annotations

from shared.method import LazyClass, Measure, MethodSpec, Resources
from shared.methods.graph.pe_config import (
    ASENConfig,
    BasisNetConfig,
    GraphonSamplingConfig,
    HomophilyConfig,
    LapPEConfig,
    NoPEConfig,
    SignEquivariantConfig,
    SignNetConfig,
    SPEConfig,
    WLTestConfig,
)

_G = "shared.methods.graph"
# common.py's evaluators, which every encoding reports, by name with their metrics (checked equal in the tests)
GRAPH_PE_EVALUATORS = (
    LazyClass(f"{_G}.common:GraphRegression",
              metrics=("val_mae", "test_mae", "val_mse", "test_mse", "train_mse", "count_acc")),
    LazyClass(f"{_G}.common:PEStability", metrics=("pe_stability",)),
)
# what the encodings' tables lead with: the ZINC error, then (for an encoding) the stability SPE bounds
_MAE = (Measure("val_mae", "min"), Measure("test_mae", "min"))
_MAE_STABILITY = (*_MAE, Measure("pe_stability", "min"))

NO_PE = MethodSpec(
    name="no_pe",
    paper="baseline of the spectral-PE papers: the base GNN (GINE) with no positional encoding",
    family="graph",
    config=NoPEConfig,
    trainer=LazyClass(f"{_G}.no_pe:NoPETrainer"),
    evaluators=GRAPH_PE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=_MAE,
    compare=("layers",),
    description="GINE alone; what every positional encoding must beat",
)

LAPPE = MethodSpec(
    name="lappe",
    paper="Laplacian eigenvector PE with random sign flips (Dwivedi et al., Benchmarking GNNs; baseline of SignNet)",
    family="graph",
    config=LapPEConfig,
    trainer=LazyClass(f"{_G}.lappe:LapPETrainer"),
    evaluators=GRAPH_PE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=_MAE_STABILITY,
    compare=("sign",),
    description="Linear map of the first k eigenvectors, signs flipped at random while training",
)

SIGNNET = MethodSpec(
    name="signnet",
    paper="Sign and Basis Invariant Networks for Spectral Graph Representation Learning (SignNet, ICLR 2023)",
    family="graph",
    config=SignNetConfig,
    trainer=LazyClass(f"{_G}.signnet:SignNetTrainer"),
    evaluators=GRAPH_PE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=_MAE_STABILITY,
    compare=("phi_layers",),
    description="rho(phi(v_i) + phi(-v_i)): sign-invariant eigenvector encoding, phi a GIN or an edge-free DeepSets",
)

BASISNET = MethodSpec(
    name="basisnet",
    paper="Sign and Basis Invariant Networks for Spectral Graph Representation Learning (BasisNet, ICLR 2023)",
    family="graph",
    config=BasisNetConfig,
    trainer=LazyClass(f"{_G}.basisnet:BasisNetTrainer"),
    evaluators=GRAPH_PE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=_MAE_STABILITY,
    compare=("phi_hidden",),
    description="rho(phi_d(V_i V_i^T)) over eigenspaces: basis-invariant encoding with IGN phi",
)

SPE = MethodSpec(
    name="spe",
    paper="On the Stability of Expressive Positional Encodings for Graphs (SPE, ICLR 2024)",
    family="graph",
    config=SPEConfig,
    trainer=LazyClass(f"{_G}.spe:SPETrainer"),
    evaluators=GRAPH_PE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=_MAE_STABILITY,
    compare=("n_psis",),
    description="rho(V diag(phi_l(lambda)) V^T): stable, basis-invariant encoding, rho a GIN",
)

SIGN_EQUIVARIANT = MethodSpec(
    name="sign_equivariant",
    paper="Expressive Sign Equivariant Networks for Spectral Geometric Learning (NeurIPS 2023)",
    family="graph",
    config=SignEquivariantConfig,
    trainer=LazyClass(f"{_G}.sign_equivariant:SignEquivariantTrainer"),
    evaluators=(LazyClass(f"{_G}.sign_equivariant:LinkPrediction", metrics=("val_auc", "test_auc", "twin_auc")),),
    resources=Resources(cpu=1),
    headline=(Measure("val_auc"), Measure("test_auc"), Measure("twin_auc")),
    compare=("model",),
    description="sign-equivariant eigenvector layers for link prediction on nearly symmetric graphs",
)

ASEN = MethodSpec(
    name="asen",
    paper="Any-Subgroup Equivariant Networks via Symmetry Breaking (ASEN, ICLR 2026)",
    family="graph",
    config=ASENConfig,
    trainer=LazyClass(f"{_G}.asen:ASENTrainer"),
    evaluators=(LazyClass(f"{_G}.asen:ASENEvaluator", metrics=("acc_cyclic_sum", "acc_palindrome", "acc_intersect",
                                                                "mean_acc", "equiv_error", "break_error")),),
    resources=Resources(cpu=1),
    headline=(Measure("mean_acc"), Measure("equiv_error", "min"), Measure("break_error")),
    compare=("symmetry",),
    description="one GATv2 made G-equivariant for any group G by orbital edge colours; multitask sequences",
)

GRAPHON_SAMPLING = MethodSpec(
    name="graphon_sampling",
    paper="A Poincaré Inequality and Consistency Results for Signal Sampling on Large Graphs (ICLR 2024)",
    family="graph",
    config=GraphonSamplingConfig,
    trainer=LazyClass(f"{_G}.graphon_sampling:GraphonSamplingTrainer"),
    evaluators=(
        LazyClass(f"{_G}.graphon_sampling:FullGraphAccuracy", metrics=("full_graph_acc",)),
        LazyClass(f"{_G}.graphon_sampling:SamplingTheory",
                  metrics=("recon_error", "cond_ratio", "interval_overlap", "interval_overlap_random")),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("full_graph_acc"), Measure("interval_overlap"), Measure("cond_ratio", "min")),
    compare=("sampling",),
    description="uniqueness sets by pivoted QR; a GCN trained on an interval-sampled subgraph vs random nodes",
)

WL_TEST = MethodSpec(
    name="wl_test",
    paper="1-WL colour refinement, the expressivity yardstick of message-passing GNNs (Xu et al., ICLR 2019)",
    family="graph",
    config=WLTestConfig,
    trainer=LazyClass(f"{_G}.wl_test:WLTrainer"),
    evaluators=(LazyClass(f"{_G}.wl_test:WLVerdicts", metrics=("wl_agreement", "wl_distinguished", "gnn_separated",
                                                               "gnn_beyond_wl", "spe_separated_wl_equivalent")),),
    resources=Resources(cpu=1),
    headline=(Measure("wl_distinguished"), Measure("gnn_separated"), Measure("gnn_beyond_wl")),
    compare=("edges",),
    description="which graph pairs a plain MPNN cannot separate, checked against random GINs and SPE",
)

HOMOPHILY = MethodSpec(
    name="homophily",
    paper="The Heterophilic Graph Learning Handbook (Luan et al., arXiv 2407.09618): homophily measures",
    family="graph",
    config=HomophilyConfig,
    trainer=LazyClass(f"{_G}.homophily:HomophilyTrainer"),
    evaluators=(LazyClass(f"{_G}.homophily:HomophilyMeasures",
                          metrics=("edge_homophily", "node_homophily", "class_homophily", "adjusted_homophily",
                                   "label_informativeness", "chance_homophily")),),
    resources=Resources(cpu=1),
    headline=(Measure("adjusted_homophily"), Measure("label_informativeness"), Measure("edge_homophily")),
    compare=("data.homophily", "data.imbalance"),
    description="edge, node, class, adjusted homophily and label informativeness of a contextual SBM",
)
