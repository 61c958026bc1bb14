"""The specs of the image SSL methods (SimCLR, CARE, IFM, E-SSL, NCL, the SAE probe and NLB), torch-free: their
configs come from ``config.py`` and their trainers and evaluators are named (``LazyClass``), imported only where a
trial builds them. A sweep's driver thus resolves, loads and validates their configs in a fraction of a second and
never imports torch (tests/test_fixed_costs.py); the registry points at these, and each method's module re-exports
its spec as its ``SPEC``."""
from __future__ import annotations

from shared.method import LazyClass, Measure, MethodSpec, Resources
from shared.methods.ssl.config import (
    CAREConfig,
    ESSLConfig,
    IFMConfig,
    NCLConfig,
    NLBConfig,
    SAEProbeConfig,
    SimCLRConfig,
)

_EV = "shared.methods.ssl.evaluators"
# shared/methods/ssl/evaluators.py's SSL_EVALUATORS, by name, with what each reports (checked equal in the tests)
SSL_EVALUATORS = (
    LazyClass(f"{_EV}:ClassProbe", metrics=("linear_probe_acc",)),
    LazyClass(f"{_EV}:KNNMonitor", metrics=("knn_acc",)),
    LazyClass(f"{_EV}:ColourProbe", metrics=("colour_probe_acc", "hue_sensitivity")),
    LazyClass(f"{_EV}:EquivarianceError", metrics=("equiv_error", "equiv_orth_residual", "equiv_moved",
                                                   "equiv_residual", "equiv_rotation_angle", "gram_discrepancy")),
    LazyClass(f"{_EV}:NoisyProbe", metrics=("probe_acc_label_noise", "probe_acc_input_noise")),
    LazyClass(f"{_EV}:Monosemanticity", metrics=("nonneg_ratio", "sparsity", "active_dims", "semantic_consistency",
                                                 "semantic_consistency_control", "effective_rank")),
)

SIMCLR = MethodSpec(
    name="simclr",
    paper="A Simple Framework for Contrastive Learning of Visual Representations (CARE's baseline)",
    family="ssl",
    config=SimCLRConfig,
    trainer=LazyClass("shared.methods.ssl.common:SimCLRTrainer"),
    evaluators=SSL_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("linear_probe_acc"), Measure("colour_probe_acc"), Measure("equiv_orth_residual", "min")),
    compare=("temperature",),
    description="InfoNCE on two augmented views; CARE with lambda = 0",
)

CARE = MethodSpec(
    name="care",
    paper="Structuring Representation Geometry with Rotationally Equivariant Contrastive Learning (CARE)",
    family="ssl",
    config=CAREConfig,
    trainer=LazyClass("shared.methods.ssl.care:CARETrainer"),
    evaluators=SSL_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("colour_probe_acc"), Measure("linear_probe_acc"), Measure("equiv_orth_residual", "min")),
    compare=("lam",),
    description="InfoNCE + lambda * Gram-matrix equivariance loss over chunks sharing an augmentation pair",
)

IFM = MethodSpec(
    name="ifm",
    paper="Can contrastive learning avoid shortcut solutions? (IFM, NeurIPS 2021)",
    family="ssl",
    config=IFMConfig,
    trainer=LazyClass("shared.methods.ssl.ifm:IFMTrainer"),
    evaluators=SSL_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("linear_probe_acc"), Measure("colour_probe_acc"), Measure("knn_acc")),
    compare=("epsilon",),
    description="InfoNCE mixed with its closed-form adversarial version: logits (s+ - eps)/tau, (s- + eps)/tau",
)

ESSL = MethodSpec(
    name="essl",
    paper="Understanding the Role of Equivariance in Self-supervised Learning (E-SSL, NeurIPS 2024)",
    family="ssl",
    config=ESSLConfig,
    trainer=LazyClass("shared.methods.ssl.essl:ESSLTrainer"),
    evaluators=(*SSL_EVALUATORS, LazyClass("shared.methods.ssl.essl:TransformPrediction", metrics=("transform_acc",))),
    resources=Resources(cpu=1),
    headline=(Measure("linear_probe_acc"), Measure("transform_acc"), Measure("knn_acc")),
    compare=("task",),
    description="predict a discrete transformation (rotation, flips, inversion, grayscale, blur, jigsaw)",
)

NCL = MethodSpec(
    name="ncl",
    paper="Beyond Interpretability: The Gains of Feature Monosemanticity on Model Robustness (NCL)",
    family="ssl",
    config=NCLConfig,
    trainer=LazyClass("shared.methods.ssl.ncl:NCLTrainer"),
    evaluators=SSL_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("probe_acc_label_noise"), Measure("linear_probe_acc"),
              Measure("semantic_consistency"), Measure("sparsity")),
    compare=("activation_weight",),
    description="InfoNCE on ReLU'd (non-negative) projections plus an activation term: sparse, monosemantic codes",
)

SAE_PROBE = MethodSpec(
    name="sae_probe",
    paper="Beyond Interpretability: The Gains of Feature Monosemanticity on Model Robustness (post-hoc SAE)",
    family="ssl",
    config=SAEProbeConfig,
    trainer=LazyClass("shared.methods.ssl.sae_probe:SAEProbeTrainer"),
    evaluators=SSL_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("probe_acc_label_noise"), Measure("linear_probe_acc"),
              Measure("semantic_consistency"), Measure("sparsity")),
    compare=("sae_k",),
    description="SimCLR, then a top-k sparse autoencoder on its frozen projections; probes read the SAE code",
)

_NLB = "shared.methods.ssl.nlb"
NLB = MethodSpec(
    name="nlb",
    paper="How to Craft Backdoors with Unlabeled Data Alone? (no-label backdoors, arXiv 2404.06694)",
    family="ssl-security",
    config=NLBConfig,
    trainer=LazyClass(f"{_NLB}:NLBTrainer"),
    evaluators=(LazyClass(f"{_NLB}:PoisonPurity", metrics=("poison_purity",)),
                LazyClass(f"{_NLB}:CleanAccuracy", metrics=("clean_acc",)),
                LazyClass(f"{_NLB}:AttackSuccessRate", metrics=("attack_success_rate",))),
    resources=Resources(cpu=1),
    headline=(Measure("attack_success_rate"), Measure("clean_acc"), Measure("poison_purity")),
    compare=("selection",),
    description="robustness of SSL to no-label poisoning: surrogate SimCLR, contrastive / k-means / random "
                "poison selection, 3x3 trigger, victim SimCLR; TPR, clean accuracy, ASR",
)
