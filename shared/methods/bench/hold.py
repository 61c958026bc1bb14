"""`hold`: a benchmark tool, not a paper's method. Each epoch holds its trial's resources for `hold_s`
seconds without computing, so that scheduler benchmarks (`jobs/bench_scheduler.py`) measure scheduling
on a simulated cluster whose logical CPUs outnumber this machine's cores.

Test knob: ``fail_marker=<path>`` makes a trial fail once, in epoch ``fail_epoch``: the first trial to reach
that epoch creates the file and raises; every later attempt (a retry, a rerun) finds the file and goes on.
The recovery tests use it for a trial error that a retry can cure."""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import bounded
from shared.method import Evaluator, MethodConfig, MethodSpec, Resources, Trainer


@dataclass
class HoldConfig(MethodConfig):
    epochs: int = bounded(1, ge=1)
    hold_s: float = bounded(1.0, ge=0.0, help="seconds each epoch holds the trial's resources")
    fail_marker: str = ""  # test knob (see the module's docstring); "" never fails
    fail_epoch: int = bounded(1, ge=1, help="the epoch that fails once when fail_marker is set")


class HoldFailure(RuntimeError):
    """The failure that ``fail_marker`` asks for."""


class HoldTrainer(Trainer):
    config: HoldConfig

    def fit_epoch(self) -> dict[str, float]:
        time.sleep(self.config.hold_s)
        self._fail_once()
        self.epoch += 1
        return {"loss": 0.0}

    def _fail_once(self) -> None:
        marker = self.config.fail_marker
        if not marker or self.epoch + 1 != self.config.fail_epoch:
            return
        try:  # exclusive creation: of trials that reach the epoch together, exactly one fails
            with open(Path(marker), "x"):
                pass
        except FileExistsError:
            return
        raise HoldFailure(f"hold: failing epoch {self.config.fail_epoch} once, as fail_marker={marker} asks")

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
)
