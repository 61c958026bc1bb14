"""`hold`: a benchmark tool, not a paper's method. Each epoch holds its trial's resources for `hold_s`
seconds without computing, so that scheduler benchmarks (`jobs/bench_scheduler.py`) measure scheduling
on a simulated cluster whose logical CPUs outnumber this machine's cores."""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.config import bounded
from shared.method import Evaluator, Measure, MethodConfig, MethodSpec, Resources, Trainer


@dataclass
class HoldConfig(MethodConfig):
    epochs: int = bounded(1, ge=1)
    hold_s: float = bounded(1.0, ge=0.0, help="seconds each epoch holds the trial's resources")


class HoldTrainer(Trainer):
    config: HoldConfig

    def fit_epoch(self) -> dict[str, float]:
        time.sleep(self.config.hold_s)
        self.epoch += 1
        return {"loss": 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])

    def artifact(self) -> Any:
        return self.epoch


class HeldTime(Evaluator):
    metrics = ("held_s",)

    def evaluate(self, artifact: Any) -> dict[str, float]:
        return {"held_s": artifact * self.config.hold_s}


SPEC = MethodSpec(
    name="hold",
    paper="(benchmark tool) holds resources for a fixed time without computing",
    family="bench",
    config=HoldConfig,
    trainer=HoldTrainer,
    evaluators=(HeldTime,),
    resources=Resources(cpu=1),
    headline=(Measure("held_s"),),
    compare=("hold_s",),
)
