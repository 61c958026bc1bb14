"""cot_length: "When More is Less: Understanding Chain-of-Thought Length in LLMs" (ICLR 2026, arXiv 2502.07266),
the analytic part. One trial evaluates the accuracy model of :mod:`shared.lm.cot_length` (log A(N) = N log(1 - eps)
- lam N (T/N)^alpha / M) for a task of difficulty T and a model of capability M over N = 1..T steps, and reports
where it peaks. A sweep over T and M draws the paper's curves: the optimal number of steps grows with T and
falls with M. The per-step model is a chosen monotone family (the paper's closed form is not pinned down here).

The training reproduction (GPTs of capability M on the mod-10 addition trees of
``shared.lm.cot_length.chain_of_thought``, accuracy against operators per step t) is ``cot_length_train``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.config import ConfigError, bounded
from shared.lm.cot_length import best_integer_steps, optimal_steps, success
from shared.method import Evaluator, Measure, MethodConfig, MethodSpec, Resources, Trainer


@dataclass
class CoTLengthConfig(MethodConfig):
    epochs: int = bounded(1, ge=1, le=1, help="one evaluation of the model")
    difficulty: int = bounded(32, ge=1, le=100_000, help="T: operators in the task")
    capability: float = bounded(1.0, gt=0.0, le=1e6, help="M: the model's capability")
    eps: float = bounded(0.02, gt=0.0, lt=1.0, help="per-step noise")
    lam: float = bounded(0.01, gt=0.0, le=1e6, help="scale of a step's difficulty")
    alpha: float = bounded(2.0, gt=1.0, le=10.0, help="growth of a step's difficulty in its operators (> 1)")

    def check(self) -> None:
        if not np.isfinite(self.lam * self.difficulty**self.alpha):
            raise ConfigError("lam * difficulty^alpha overflows")

    def model(self) -> dict[str, float]:
        return {"eps": self.eps, "lam": self.lam, "alpha": self.alpha}


class CoTLengthTrainer(Trainer):
    config: CoTLengthConfig

    def fit_epoch(self) -> dict[str, float]:
        c = self.config
        self.curve = success(np.arange(1, c.difficulty + 1), c.difficulty, c.capability, **c.model())
        self.epoch += 1
        return {"loss": float(1.0 - self.curve.max())}

    def state_dict(self) -> dict:
        return {"epoch": self.epoch}

    def load_state_dict(self, state) -> None:
        self.epoch = int(state["epoch"])
        if self.epoch:
            self.epoch -= 1
            self.fit_epoch()

    def artifact(self) -> CoTLengthTrainer:
        return self


CURVE_STEPS = (1, 2, 4, 8, 16, 32, 64)  # points of the curve reported as acc_n<N> (those with N <= T)


class PeakOfTheCurve(Evaluator):
    """Where the curve peaks and how high, and the curve itself at N = 1, 2, 4, ... 64 steps (``acc_n<N>``, for
    N <= T: a study's report draws them per arm)."""

    metrics = ("best_steps", "optimal_steps", "peak_acc", "acc_one_step", "acc_finest", "interior_peak",
               *(f"acc_n{n}" for n in CURVE_STEPS))

    def evaluate(self, trainer: CoTLengthTrainer) -> dict[str, float]:
        c, curve = self.config, trainer.curve
        best = best_integer_steps(c.difficulty, c.capability, **c.model())
        return {"best_steps": float(best), "optimal_steps": optimal_steps(c.difficulty, c.capability, **c.model()),
                "peak_acc": float(curve.max()), "acc_one_step": float(curve[0]), "acc_finest": float(curve[-1]),
                "interior_peak": float(1 < best < c.difficulty),
                **{f"acc_n{n}": float(curve[n - 1]) for n in CURVE_STEPS if n <= c.difficulty}}


SPEC = MethodSpec(
    name="cot_length",
    paper="When More is Less: Understanding Chain-of-Thought Length in LLMs (ICLR 2026, arXiv 2502.07266)",
    family="llm",
    config=CoTLengthConfig,
    trainer=CoTLengthTrainer,
    evaluators=(PeakOfTheCurve,),
    resources=Resources(cpu=1),
    headline=(Measure("best_steps"), Measure("peak_acc")),
    compare=("capability", "difficulty"),
    description="analytic accuracy vs CoT length: one peak, later for harder tasks, earlier for stronger models",
)
