"""The specs of the combinatorial, distance and application graph methods, torch-free: their configs come from
``config.py`` and their trainers and evaluators are named (``LazyClass``, with the metrics each evaluator reports),
imported only where a trial builds them. A sweep's driver thus validates these methods' configs without importing
torch, PyG, sklearn or POT (tests/test_fixed_costs.py); the registry points at these, and each method module
re-exports its own as ``SPEC``."""
from __future__ import annotations

from shared.method import LazyClass, Measure, MethodSpec, Resources
from shared.methods.graph.config import (
    AttributedDistanceConfig,
    GraffConfig,
    GSLRConfig,
    InfoOTConfig,
    KVMarginConfig,
    NeuralSFEConfig,
    OptGNNConfig,
    TMDConfig,
    UniFLConfig,
)

_G = "shared.methods.graph"  # the method modules: trainers and evaluators, imported when a trial builds them


UNIFL = MethodSpec(
    name="unifl",
    paper="Learning to Approximate Uniform Facility Location via Graph Neural Networks (ICML 2026, arXiv 2602.13155)",
    family="graph",
    config=UniFLConfig,
    trainer=LazyClass(f"{_G}.unifl:UniFLTrainer"),
    evaluators=(
        LazyClass(f"{_G}.unifl:FacilityQuality", metrics=("cost_ratio", "cost_ratio_large", "simple_ratio",
                                                          "simple_ratio_large", "expected_ratio",
                                                          "simple_expected_ratio", "simple_c", "milp_seconds",
                                                          "milp_seconds_large", "mpnn_seconds_large",
                                                          "solution_seconds", "solution_seconds_large")),
        LazyClass(f"{_G}.unifl:ExpectedCostCheck", metrics=("expected_cost_mc_gap",)),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("cost_ratio", "min"), Measure("cost_ratio_large", "min"), Measure("simple_ratio", "min")),
    compare=("c",),
    description="radius-bin MPNN trained on the expected cost of sample-and-repair; MILP optimum by HiGHS",
)

GSLR = MethodSpec(
    name="gslr",
    paper="Graph-Sparse Logistic Regression (LeNail et al., arXiv 1712.05510)",
    family="graph",
    config=GSLRConfig,
    trainer=LazyClass(f"{_G}.gslr:GSLRTrainer"),
    evaluators=(
        LazyClass(f"{_G}.gslr:SupportRecovery", metrics=("support_f1", "support_precision", "support_size",
                                                         "connected", "test_acc", "l1_support_f1", "l1_support_size",
                                                         "l1_connected", "l1_test_acc")),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("support_f1"), Measure("test_acc"), Measure("l1_support_f1")),
    compare=("sparsity_high",),
    description="softmax regression by projected gradient, each class row on a connected subgraph (PCST projection)",
)

GRAFF_MS = MethodSpec(
    name="graff_ms",
    paper="Efficiently predicting high resolution mass spectra with graph neural networks (GrAFF-MS, ICML 2023)",
    family="graph",
    config=GraffConfig,
    trainer=LazyClass(f"{_G}.graff_ms:GraffTrainer"),
    evaluators=(
        LazyClass(f"{_G}.graff_ms:SpectrumCosine", metrics=("cosine", "baseline_cosine", "cosine_greedy")),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("cosine"), Measure("baseline_cosine")),
    compare=("vocabulary",),
    description="GNN over molecular graphs to a formula-vocabulary distribution, peak-marginal cross-entropy",
)

TMD = MethodSpec(
    name="tmd",
    paper="Tree Mover's Distance: Bridging Graph Metrics and Stability of Graph Neural Networks (NeurIPS 2022)",
    family="graph",
    config=TMDConfig,
    trainer=LazyClass(f"{_G}.tmd:TMDTrainer"),
    evaluators=(
        LazyClass(f"{_G}.tmd:TMDSVM", metrics=("tmd_svm_accuracy", "histogram_svm_accuracy", "mean_tmd",
                                               "svm_accuracy")),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("tmd_svm_accuracy"), Measure("histogram_svm_accuracy")),
    compare=("depth", "w"),
    description="all-pairs Tree Mover's Distance on the planted-motif set and the TMD-SVM against a histogram SVM",
)

OPTGNN = MethodSpec(
    name="optgnn",
    paper="Are Graph Neural Networks Optimal Approximation Algorithms? (OptGNN, NeurIPS 2024)",
    family="graph",
    config=OptGNNConfig,
    trainer=LazyClass(f"{_G}.optgnn:OptGNNTrainer"),
    evaluators=(
        LazyClass(f"{_G}.optgnn:MaxCutEvaluator", metrics=("cut", "cut_ratio_gw", "untrained_cut", "random_cut",
                                                           "gw_cut", "relaxed_value", "sdp_value",
                                                           "seconds_per_graph", "gw_seconds_per_graph", "greedy_cut",
                                                           "greedy_ratio_gw", "greedy_seconds_per_graph")),
        LazyClass(f"{_G}.optgnn:VertexCoverEvaluator", metrics=("cover_size", "untrained_cover_size",
                                                                "greedy_cover_size", "cover_valid",
                                                                "optimal_cover_size", "cover_ratio_optimal")),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("cut_ratio_gw"), Measure("cut")),
    compare=("model", "layers", "rank"),
    description="LiftMP on the Max-Cut SDP (vs GW-SDP via cvxpy, GIN) and on vertex cover (vs the greedy 2-approx)",
)

NEURAL_SFE = MethodSpec(
    name="neural_sfe",
    paper="Neural Set Function Extensions: Learning with Discrete Functions in High Dimensions (NeurIPS 2022)",
    family="graph",
    config=NeuralSFEConfig,
    trainer=LazyClass(f"{_G}.neural_sfe:NeuralSFETrainer"),
    evaluators=(
        LazyClass(f"{_G}.neural_sfe:CliqueEvaluator", metrics=("approx_ratio", "random_init_ratio", "clique_share",
                                                               "found_size", "max_clique", "seconds_per_graph",
                                                               "exact_seconds_per_graph")),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("approx_ratio"),),
    compare=("extension",),
    description="max clique by a GNN trained on a set-function extension (Lovasz, neural SFE, straight-through)",
)

ATTRIBUTED_GRAPH_DISTANCE = MethodSpec(
    name="attributed_graph_distance",
    paper="Generalization, Expressivity, and Universality of Graph Neural Networks on Attributed Graphs (ICLR 2025)",
    family="graph",
    config=AttributedDistanceConfig,
    trainer=LazyClass(f"{_G}.attributed_graph_distance:AttributedDistanceTrainer"),
    evaluators=(
        LazyClass(f"{_G}.attributed_graph_distance:BlowUpInvariance",
                  metrics=("blowup_distance", "blowup_tmd_k2", "blowup_tmd_kmax", "triangle_violation")),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("blowup_distance", "min"), Measure("triangle_violation", "min")),
    compare=("depth", "mass_penalty"),
    description="an RJL-style graphon pseudometric: blow-up invariance against TMD, and the triangle inequality",
)

INFOOT = MethodSpec(
    name="infoot",
    paper="InfoOT: Information Maximizing Optimal Transport (ICML 2023)",
    family="graph",
    config=InfoOTConfig,
    trainer=LazyClass(f"{_G}.infoot:InfoOTTrainer"),
    evaluators=(
        LazyClass(f"{_G}.infoot:DomainAdaptation", metrics=("acc_none", "acc_ot", "acc_infoot_bary",
                                                            "acc_infoot_cond", "acc_unseen_cond", "acc_unseen_none",
                                                            "map_error_ot", "map_error_infoot_cond",
                                                            "map_error_unseen_cond", "mi_infoot", "mi_ot",
                                                            "marginal_error")),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("acc_infoot_cond"), Measure("acc_ot"), Measure("acc_none")),
    compare=("lam", "reg"),
    description="fused InfoOT with the conditional projection vs exact OT vs no adaptation on warped digits",
)

KV_MARGIN = MethodSpec(
    name="kv_margin",
    paper="Measuring Generalization with Optimal Transport (NeurIPS 2021)",
    family="graph",
    config=KVMarginConfig,
    trainer=LazyClass(f"{_G}.kv_margin:KVMarginTrainer"),
    evaluators=(
        LazyClass(f"{_G}.kv_margin:GeneralisationMeasures", metrics=("train_acc", "test_acc", "gap", "margin_score",
                                                                     "kv_margin_score", "kv_gn_margin_score",
                                                                     "k_variance")),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("gap", "min"), Measure("kv_gn_margin_score", "min"), Measure("kv_margin_score", "min")),
    compare=("width", "depth", "optim.weight_decay", "data.label_noise"),
    description="k-variance normalised margins (kV-Margin, kV-GN-Margin) of small MLPs on digits vs their gap",
)
