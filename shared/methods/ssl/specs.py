"""The specs of SimCLR and CARE, torch-free: their configs come from ``config.py`` and their trainers and evaluators
are named (``LazyClass``), imported only where a trial builds them. A sweep's driver thus resolves, loads and
validates a CARE config in a fraction of a second and never imports torch (tests/test_fixed_costs.py); the registry
points at these, and ``care.py`` / ``simclr.py`` re-export them as their ``SPEC``."""
from __future__ import annotations

from shared.method import LazyClass, Measure, MethodSpec, Resources
from shared.methods.ssl.config import CAREConfig, SimCLRConfig

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
