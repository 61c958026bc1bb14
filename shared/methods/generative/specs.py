"""The specs of RAM and REED, torch-free: their configs come from ``config.py`` and their trainers and evaluators are
named (``LazyClass``), imported only where a trial builds them, so a sweep's driver validates their configs without
torch (tests/test_fixed_costs.py). The registry points at these; ``ram.py`` and ``reed.py`` re-export them as their
``SPEC``."""
from __future__ import annotations

from shared.method import Figure, LazyClass, Measure, MethodSpec, Resources
from shared.methods.generative.config import RAMConfig, REEDConfig

_M = "shared.methods.generative"

RAM = MethodSpec(
    name="ram",
    paper="Reinforce Adjoint Matching: RL post-training of diffusion and flow models (RAM, arXiv 2605.10759)",
    family="generative",
    config=RAMConfig,
    trainer=LazyClass(f"{_M}.ram:RAMTrainer"),
    evaluators=(
        LazyClass(f"{_M}.ram:TiltedTarget",
                  metrics=("mass_rewarded", "tilt_mass", "tilt_error", "mass_outside", "mean_reward", "mean_shift",
                           "cov_error", "ref_mass_rewarded", "ref_tilt_error", "ref_tilt_mass", "tilt_gap",
                           "reward_queries", "mass_drawdown", "regularised_reward")),
        LazyClass(f"{_M}.ram:DigitClass",
                  metrics=("digit_fraction", "digit_reward", "ref_digit_fraction", "ref_digit_reward")),
    ),
    resources=Resources(cpu=1),
    headline=(Measure("tilt_error", "min"), Measure("mass_rewarded"), Measure("mass_outside", "min")),
    compare=("arm",),
    figures=(Figure("mode_mass", "The rewarded mode's mass: reference flow, fine-tuned flow and the analytic tilt",
                    ("ref_mass_rewarded", "mass_rewarded", "ref_tilt_mass", "tilt_mass"),
                    "mass of the rewarded mode"),),
    description="reward fine-tuning of a flow by adjoint matching with a REINFORCE adjoint, anchored to the reference",
)

REED = MethodSpec(
    name="reed",
    paper="Learning Diffusion Models with Flexible Representation Guidance (REED)",
    family="generative",
    config=REEDConfig,
    trainer=LazyClass(f"{_M}.reed:REEDTrainer"),
    evaluators=(LazyClass(f"{_M}.reed:DenoisingAndFrechet", metrics=("heldout_denoise", "frechet")),),
    resources=Resources(cpu=1),
    headline=(Measure("frechet", "min"), Measure("heldout_denoise", "min")),
    compare=("alignment",),
    description="a diffusion transformer aligned to an image encoder's and a synthetic caption's representations",
)
