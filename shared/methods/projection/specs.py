"""The spec of PJAX, torch-free: its config comes from ``config.py`` and its trainer and evaluator are named
(``LazyClass``), imported only where a trial builds them, so a sweep's driver validates its config without torch
(tests/test_fixed_costs.py). The registry points at it; ``pjax.py`` re-exports it as its ``SPEC``."""
from __future__ import annotations

from shared.method import LazyClass, Measure, MethodSpec, Resources
from shared.methods.projection.config import PJAXConfig

_M = "shared.methods.projection.pjax"

PJAX = MethodSpec(
    name="pjax",
    paper="A projection-based framework for gradient-free and parallel learning (PJAX, AISTATS 2026)",
    family="projection",
    config=PJAXConfig,
    trainer=LazyClass(f"{_M}:PJAXTrainer"),
    evaluators=(LazyClass(f"{_M}:Accuracy", metrics=("train_acc", "test_acc", "train_time_s")),),
    resources=Resources(cpu=1),
    headline=(Measure("test_acc"), Measure("train_acc"), Measure("train_time_s", "min")),
    compare=("arm",),
    description="gradient-free training by Douglas-Rachford over the graph projections of every primitive",
)
