"""The contract of a theory experiment: one "epoch" runs the whole training or estimation, the evaluators then
measure the finding on what it produced. ``data.seed`` draws the problem (targets, groups, distributions) and
``seed`` the algorithm's own randomness, so a reproduction can vary both (``data_seed: true``)."""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.config import bounded
from shared.method import Evaluator, MethodConfig, Trainer


@dataclass
class ProblemSeed:
    seed: int = bounded(0, ge=0, help="draws the problem: ground truth, groups, distributions, samples")


@dataclass
class ExperimentConfig(MethodConfig):
    epochs: int = bounded(1, ge=1, le=1, help="an experiment runs once")
    data: ProblemSeed = field(default_factory=ProblemSeed)


class ExperimentTrainer(Trainer):
    """Runs ``run()`` in its one epoch. ``run`` returns plain numbers and lists (what a checkpoint may hold);
    they are the artifact the evaluators measure."""

    def __init__(self, config: ExperimentConfig) -> None:
        super().__init__(config)
        self.result: dict[str, Any] = {}

    @abstractmethod
    def run(self) -> dict[str, Any]: ...

    def fit_epoch(self) -> dict[str, float]:
        self.result = self.run()
        self.epoch += 1
        return {"loss": float(self.result.get("loss", 0.0))}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "result": dict(self.result)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.result = dict(state["result"])

    def artifact(self) -> dict[str, Any]:
        return self.result


class ReportedNumbers(Evaluator):
    """Reads the measures an estimation experiment computed itself (an error against a known truth)."""

    def evaluate(self, artifact: Mapping[str, Any]) -> dict[str, float]:
        return {name: float(artifact[name]) for name in self.metrics}
