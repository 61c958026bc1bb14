"""The method registry: an explicit table from name to the module that defines the method's spec.

Modules are imported only when a method is asked for, so listing methods or running a graph method
never imports the code (or the heavy dependencies) of the others. What a listing shows (kind, family,
paper) is static metadata in the table itself, so ``sweep.py --list`` imports no method, torch or Ray;
tests/test_terminal.py checks it equals each spec's. A new method is one entry here.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from shared.config import ConfigError
from shared.method import MethodSpec

KINDS = ("method", "experiment", "tool")


@dataclass(frozen=True)
class Entry:
    """One registered name: where its spec is, and what a listing shows without importing it."""

    target: str  # "module:attribute" of its MethodSpec
    kind: str  # method (a paper's algorithm) | experiment (a paper's finding) | tool (a measure, test or benchmark)
    family: str  # must equal the spec's family
    paper: str  # must equal the spec's paper


REGISTRY: dict[str, Entry] = {
    "simclr": Entry("shared.methods.ssl.specs:SIMCLR", "method", "ssl",
        "A Simple Framework for Contrastive Learning of Visual Representations (CARE's baseline)"),
    "care": Entry("shared.methods.ssl.specs:CARE", "method", "ssl",
        "Structuring Representation Geometry with Rotationally Equivariant Contrastive Learning (CARE)"),
    "ifm": Entry("shared.methods.ssl.specs:IFM", "method", "ssl",
        "Can contrastive learning avoid shortcut solutions? (IFM, NeurIPS 2021)"),
    "essl": Entry("shared.methods.ssl.specs:ESSL", "experiment", "ssl",
        "Understanding the Role of Equivariance in Self-supervised Learning (E-SSL, NeurIPS 2024)"),
    "ncl": Entry("shared.methods.ssl.specs:NCL", "method", "ssl",
        "Beyond Interpretability: The Gains of Feature Monosemanticity on Model Robustness (NCL)"),
    "sae_probe": Entry("shared.methods.ssl.specs:SAE_PROBE", "experiment", "ssl",
        "Beyond Interpretability: The Gains of Feature Monosemanticity on Model Robustness (post-hoc SAE)"),
    # no-label backdoor poisoning: robustness research
    "nlb": Entry("shared.methods.ssl.specs:NLB", "method", "ssl-security",
        "How to Craft Backdoors with Unlabeled Data Alone? (no-label backdoors, arXiv 2404.06694)"),
    "disentangled_ssl": Entry("shared.methods.multimodal.specs:DISENTANGLED_SSL", "method", "multimodal",
        "An Information Criterion for Controlled Disentanglement of Multimodal Data (DisentangledSSL, ICLR 2025)"),
    "canonical_map": Entry("shared.methods.embedding.specs:CANONICAL_MAP", "method", "embeddings",
        "Canonicalizing Multimodal Contrastive Representation Learning (Gupta et al., 2026)"),
    "debias_vl": Entry("shared.methods.embedding.specs:DEBIAS_VL", "method", "embeddings",
        "Debiasing Vision-Language Models via Biased Prompts (Chuang et al., 2023)"),
    "no_pe": Entry("shared.methods.graph.pe_specs:NO_PE", "method", "graph",
        "baseline of the spectral-PE papers: the base GNN (GINE) with no positional encoding"),
    "lappe": Entry("shared.methods.graph.pe_specs:LAPPE", "method", "graph",
        "Laplacian eigenvector PE with random sign flips (Dwivedi et al., Benchmarking GNNs; baseline of SignNet)"),
    "signnet": Entry("shared.methods.graph.pe_specs:SIGNNET", "method", "graph",
        "Sign and Basis Invariant Networks for Spectral Graph Representation Learning (SignNet, ICLR 2023)"),
    "basisnet": Entry("shared.methods.graph.pe_specs:BASISNET", "method", "graph",
        "Sign and Basis Invariant Networks for Spectral Graph Representation Learning (BasisNet, ICLR 2023)"),
    "spe": Entry("shared.methods.graph.pe_specs:SPE", "method", "graph",
        "On the Stability of Expressive Positional Encodings for Graphs (SPE, ICLR 2024)"),
    "sign_equivariant": Entry("shared.methods.graph.pe_specs:SIGN_EQUIVARIANT", "method", "graph",
        "Expressive Sign Equivariant Networks for Spectral Geometric Learning (NeurIPS 2023)"),
    "asen": Entry("shared.methods.graph.pe_specs:ASEN", "method", "graph",
        "Any-Subgroup Equivariant Networks via Symmetry Breaking (ASEN, ICLR 2026)"),
    # tool: which pairs 1-WL (and so an MPNN) cannot separate
    "graphon_sampling": Entry("shared.methods.graph.pe_specs:GRAPHON_SAMPLING", "experiment", "graph",
        "A Poincaré Inequality and Consistency Results for Signal Sampling on Large Graphs (ICLR 2024)"),
    # radius-bin MPNN trained on the expected cost of sample-and-repair; MILP (HiGHS) optimum in the same job
    "unifl": Entry("shared.methods.graph.specs:UNIFL", "method", "graph",
        "Learning to Approximate Uniform Facility Location via Graph Neural Networks (ICML 2026, arXiv 2602.13155)"),
    # softmax regression by projected gradient, each class row on a connected subgraph (PCST projection, pcst_fast)
    "gslr": Entry("shared.methods.graph.specs:GSLR", "method", "graph",
        "Graph-Sparse Logistic Regression (LeNail et al., arXiv 1712.05510)"),
    # GNN to a distribution over formulas x isotopes, peak-marginal cross-entropy (synthetic spectra by default)
    "graff_ms": Entry("shared.methods.graph.specs:GRAFF_MS", "method", "graph",
        "Efficiently predicting high resolution mass spectra with graph neural networks (GrAFF-MS, ICML 2023)"),
    "wl_test": Entry("shared.methods.graph.pe_specs:WL_TEST", "tool", "graph",
        "1-WL colour refinement, the expressivity yardstick of message-passing GNNs (Xu et al., ICLR 2019)"),
    # tool: edge/node/class/adjusted homophily, label informativeness on a contextual SBM
    "homophily": Entry("shared.methods.graph.pe_specs:HOMOPHILY", "tool", "graph",
        "The Heterophilic Graph Learning Handbook (Luan et al., arXiv 2407.09618): homophily measures"),
    # tool + method: Tree Mover's Distance between graphs, and the TMD-SVM
    "tmd": Entry("shared.methods.graph.specs:TMD", "method", "graph",
        "Tree Mover's Distance: Bridging Graph Metrics and Stability of Graph Neural Networks (NeurIPS 2022)"),
    # learnt combinatorial solvers, each measured against the classical solver on the same instances
    "optgnn": Entry("shared.methods.graph.specs:OPTGNN", "method", "graph",
        "Are Graph Neural Networks Optimal Approximation Algorithms? (OptGNN, NeurIPS 2024)"),
    "neural_sfe": Entry("shared.methods.graph.specs:NEURAL_SFE", "method", "graph",
        "Neural Set Function Extensions: Learning with Discrete Functions in High Dimensions (NeurIPS 2022)"),
    # tool: graphon-style pseudometric on attributed graphs (blow-up invariant, unlike TMD)
    "attributed_graph_distance": Entry("shared.methods.graph.specs:ATTRIBUTED_GRAPH_DISTANCE", "tool", "graph",
        "Generalization, Expressivity, and Universality of Graph Neural Networks on Attributed Graphs (ICLR 2025)"),
    # method: optimal transport that also maximises the coupling's kernel mutual information
    "infoot": Entry("shared.methods.graph.specs:INFOOT", "method", "graph",
        "InfoOT: Information Maximizing Optimal Transport (ICML 2023)"),
    # tool: k-variance normalised margins, a predictor of the generalisation gap
    "kv_margin": Entry("shared.methods.graph.specs:KV_MARGIN", "tool", "graph",
        "Measuring Generalization with Optimal Transport (NeurIPS 2021)"),
    # dense decoder: the large-model family's baseline
    "gpt": Entry("shared.methods.llm.specs:GPT", "method", "llm",
        "Language Models are Unsupervised Multitask Learners (GPT-2; dense baseline of the large-model family)"),
    # tool: the LongPPL evaluator, its key tokens vs ground truth
    "longppl": Entry("shared.methods.llm.specs:LONGPPL", "tool", "llm",
        "What is Wrong with Perplexity for Long-context Language Modeling? (Fang et al., ICLR 2025): LongPPL"),
    # cross-entropy weighted by how much long context helps
    "longce": Entry("shared.methods.llm.specs:LONGCE", "method", "llm",
        "What is Wrong with Perplexity for Long-context Language Modeling? (Fang et al., ICLR 2025): LongCE"),
    # frozen GPT + trainable KV prefixes (also icl, lora)
    "reasoncache": Entry("shared.methods.llm.specs:REASONCACHE", "method", "llm",
        "Teaching LLMs To Reason Without Weight Updates (ReasonCACHE, arXiv 2602.02366)"),
    # sparse feature attention: top-k q/k coordinates per head
    "sfa": Entry("shared.methods.llm.specs:SFA", "method", "llm",
        "Scaling Attention via Feature Sparsity (SFA, ICLR 2026, arXiv 2603.22300)"),
    # MoE routed by sequence (TopK: moe.routing=topk)
    "seqtopk": Entry("shared.methods.llm.specs:SEQTOPK", "method", "llm",
        "Route Experts by Sequence, not by Token (SeqTopK, arXiv 2511.06494)"),
    "cot_length": Entry("shared.methods.llm.cot_length:SPEC", "experiment", "llm",
        "When More is Less: Understanding Chain-of-Thought Length in LLMs (ICLR 2026, arXiv 2502.07266)"),
    "cot_length_train": Entry("shared.methods.llm.specs:COT_LENGTH_TRAIN", "experiment", "llm",
        "When More is Less: Understanding Chain-of-Thought Length in LLMs (ICLR 2026, arXiv 2502.07266)"),
    "icrm": Entry("shared.methods.llm.specs:ICRM", "method", "llm", "Context is Environment (ICRM, ICLR 2024)"),
    # SFT then GRPO with graph-task verifiers as the reward (Erdős tasks: shared/lm/erdos.py)
    "g1": Entry("shared.methods.llm.specs:G1", "method", "llm",
        "G1: Teaching LLMs to Reason on Graphs with Reinforcement Learning (NeurIPS 2025, arXiv 2505.18499)"),
    "position_bias": Entry("shared.methods.llm.specs:POSITION_BIAS", "experiment", "llm",
        "On the Emergence of Position Bias in Transformers (ICML 2025, arXiv 2502.01951)"),
    # sparse adaptive embeddings: heads on frozen embeddings, compared at k active dimensions
    "csr": Entry("shared.methods.sparse.specs:CSR", "method", "sparse",
        "Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation (CSR, ICML 2025)"),
    "csr_v2": Entry("shared.methods.sparse.specs:CSR_V2", "method", "sparse",
        "CSRv2: Unlocking Ultra-Sparse Embeddings (ICLR 2026)"),
    "mrl": Entry("shared.methods.sparse.specs:MRL", "method", "sparse",
        "Matryoshka Representation Learning (MRL, NeurIPS 2022; baseline of CSR and CSRv2)"),
    "ssr": Entry("shared.methods.sparse.specs:SSR", "method", "sparse",
        "No More K-means: Single-Stage Sparse Coding for Efficient Multi-Vector Retrieval (SSR, ICML 2026)"),
    # theory papers as experiments (shared/methods/theory): a finding measured, not a model trained
    "group_dro": Entry("shared.methods.theory.specs:GROUP_DRO", "experiment", "theory",
        "Near-Optimal Algorithms for Group Distributionally Robust Optimization and Beyond (arXiv 2212.13669)"),
    "invariant_krr": Entry("shared.methods.theory.specs:INVARIANT_KRR", "experiment", "theory",
        "The Exact Sample Complexity Gain from Invariances for Kernel Regression (NeurIPS 2023)"),
    "invariant_divergence": Entry("shared.methods.theory.specs:INVARIANT_DIVERGENCE", "experiment", "theory",
        "Sample Complexity Bounds for Estimating Probability Divergences under Invariances (ICML 2024)"),
    "flat_mf": Entry("shared.methods.theory.specs:FLAT_MF", "experiment", "theory",
        "The Inductive Bias of Flatness Regularization for Deep Matrix Factorization (NeurIPS 2023)"),
    "symmetry_hardness": Entry("shared.methods.theory.specs:SYMMETRY_HARDNESS", "experiment", "theory",
        "On the hardness of learning under symmetries (ICLR 2024)"),
    "lmc_identifiability": Entry("shared.methods.theory.specs:LMC_IDENTIFIABILITY", "experiment", "theory",
        "Beyond Structural Symmetries: Linear Mode Connectivity via Neuron Identifiability (ICML 2026)"),
    "sas": Entry("shared.methods.theory.specs:SAS", "experiment", "theory",
        "On the generalization of learning algorithms that do not converge (NeurIPS 2022, arXiv 2208.07951)"),
    "graphops_transfer": Entry("shared.methods.theory.specs:GRAPHOPS_TRANSFER", "experiment", "theory",
        "Limits, approximation and size transferability for GNNs on sparse graphs via graphops (NeurIPS 2023)"),
    "tetris_detector": Entry("shared.methods.theory.specs:TETRIS_DETECTOR", "method", "theory",
        "Tetris-inspired detector with neural network for radiation mapping (Nature Communications 2024)"),
    # gradient-free: Douglas-Rachford over the graph projections of every primitive
    "pjax": Entry("shared.methods.projection.specs:PJAX", "method", "projection",
        "A projection-based framework for gradient-free and parallel learning (PJAX, AISTATS 2026)"),
    # generative: reward fine-tuning of a flow (RAM)
    "ram": Entry("shared.methods.generative.specs:RAM", "method", "generative",
        "Reinforce Adjoint Matching: RL post-training of diffusion and flow models (RAM, arXiv 2605.10759)"),
    "reed": Entry("shared.methods.generative.specs:REED", "method", "generative",
        "Learning Diffusion Models with Flexible Representation Guidance (REED)"),
    # scheduler benchmark tool, not a paper's method
    "hold": Entry("shared.methods.bench.hold:SPEC", "tool", "bench",
        "(benchmark tool) holds resources for a fixed time without computing"),
}

# name -> "module:attribute" of its MethodSpec
METHODS: dict[str, str] = {name: entry.target for name, entry in REGISTRY.items()}


class UnknownMethodError(ConfigError):
    """The name is not in the registry; the message lists the registered names."""


def method_names() -> list[str]:
    return sorted(METHODS)


def get_method(name: str) -> MethodSpec:
    """The spec of a registered method. Raises UnknownMethodError listing the known names."""
    if name not in METHODS:
        raise UnknownMethodError(f"unknown method {name!r}; registered methods: {', '.join(method_names())}")
    module_name, attr = METHODS[name].split(":")
    spec = getattr(importlib.import_module(module_name), attr)
    if spec.name != name:
        raise ConfigError(f"registry entry {name!r} points at the spec of {spec.name!r}")
    return spec


def list_methods() -> list[MethodSpec]:
    return [get_method(name) for name in method_names()]


def listing(width: int = 0) -> str:
    """The registered names as aligned columns (name, kind, family, paper) from the static table alone.
    ``width`` > 0 wraps the paper column under itself so that each line fits (a terminal); 0 keeps it whole."""
    import textwrap

    header = ("name", "kind", "family", "paper")
    rows = [header] + [(name, e.kind, e.family, e.paper) for name, e in sorted(REGISTRY.items())]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    indent = sum(widths) + 2 * 3
    lines = []
    for row in rows:
        left = "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  "
        paper = textwrap.wrap(row[3], width - indent) if width - indent >= 20 else [row[3]]
        lines.append(left + paper[0])
        lines.extend(" " * indent + more for more in paper[1:])
    return "\n".join(lines)
