"""The spec of DisentangledSSL, torch-free: its config comes from ``config.py`` and its trainer and evaluators are
named (``LazyClass``), imported only where a trial builds them, so that a sweep's driver validates a config without
importing torch (tests/test_fixed_costs.py). The registry points here; ``disentangled_ssl.py`` re-exports it as its
``SPEC``."""
from __future__ import annotations

from shared.method import LazyClass, Measure, MethodSpec, Resources
from shared.methods.multimodal.config import DisentangledSSLConfig

_DS = "shared.methods.multimodal.disentangled_ssl"
DISENTANGLED_SSL = MethodSpec(
    name="disentangled_ssl",
    paper="An Information Criterion for Controlled Disentanglement of Multimodal Data (DisentangledSSL, ICLR 2025)",
    family="multimodal",
    config=DisentangledSSLConfig,
    trainer=LazyClass(f"{_DS}:DisentangledSSLTrainer"),
    evaluators=(LazyClass(f"{_DS}:SharedProbe", metrics=("shared_acc_ys1", "shared_acc_yc", "shared_acc_ys2",
                                                         "shared_gap")),
                LazyClass(f"{_DS}:SpecificProbe", metrics=("specific1_acc_ys1", "specific1_acc_yc",
                                                           "specific1_acc_ys2", "specific2_acc_ys1",
                                                           "specific2_acc_yc", "specific2_acc_ys2", "specific_gap"))),
    resources=Resources(cpu=1),
    headline=(Measure("specific_gap"), Measure("shared_gap")),
    compare=("beta",),
    description="step 1: cross-modal SupCon + beta * SKL (shared Z_c); step 2: conditional SupCon + "
                "lambda * orthogonality (specific Z_s^m); linear probes of y_c, y_s1, y_s2",
)
