"""`hold`: a benchmark tool, not a paper's method. Each epoch holds its trial's resources for `hold_s`
seconds without computing, so that scheduler benchmarks (`jobs/bench_scheduler.py`) measure scheduling
on a simulated cluster whose logical CPUs outnumber this machine's cores.

Test knob: ``fail_marker=<path>`` makes epoch ``fail_epoch`` fail ``fail_times`` times in all: each failure
first creates a file of its own (``<path>``, then ``<path>.2``, ...; created exclusively, so of trials that
reach the epoch together only one fails per file), and once they all exist every later attempt (Tune's retry
of the trial, a rerun, a study node's retry) goes on. The recovery tests use it for a trial error that a
retry can cure."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import bounded
from shared.method import Evaluator, Measure, MethodConfig, MethodSpec, Resources, Trainer


@dataclass
class HoldConfig(MethodConfig):
    epochs: int = bounded(1, ge=1)
    hold_s: float = bounded(1.0, ge=0.0, help="seconds each epoch holds the trial's resources")
    fail_marker: str = ""  # test knob (see the module's docstring); "" never fails
    fail_epoch: int = bounded(1, ge=1, help="the epoch that fails when fail_marker is set")
    fail_times: int = bounded(1, ge=1, le=100, help="how many times that epoch fails in all")


class HoldFailure(RuntimeError):
    """The failure that ``fail_marker`` asks for."""


_trials_in_this_process = 0  # trials whose trainer this process built (Tune reuses a trial's process: reuse_actors)


def _fixed_cost_breakdown(now: float) -> dict[str, float]:
    trial = sys.modules.get("actors.trainable")
    setups = getattr(trial, "TRIAL_CPU_AT_SETUP", None)
    if not setups:  # not a Tune trial (a test building the trainer directly)
        return {}
    at_import, after_imports = trial.PROCESS_CPU_AT_IMPORT, trial.PROCESS_CPU_AFTER_IMPORTS
    return {"worker_cpu_s": at_import, "imports_cpu_s": after_imports - at_import,
            "actor_cpu_s": setups[0] - after_imports, "build_cpu_s": now - setups[0]}


class HoldTrainer(Trainer):
    """Also reports the trial's fixed cost for ``jobs/bench_scheduler.py``: ``process_cpu_s``, the CPU-seconds
    this process had spent when the trial's trainer was built (in a new process: the Ray worker's start, the
    imports of Tune and the method, the trial actor's set-up), and ``new_process`` (1 for a process's first
    trial, 0 for a reused one, whose figure includes the trials before it), and ``process_id`` (the trial process's
    pid: the trials of a sweep that share a process). In a Tune trial process a new process's
    figure is also broken down (``actors/trainable.py`` records the moments; read here without importing Ray):
    ``worker_cpu_s`` until the trainable's module was imported (the Ray worker's start), ``imports_cpu_s`` of its
    imports (Ray Tune's package, the results store), ``actor_cpu_s`` until the trial's setup began (Tune's trial
    actor), ``build_cpu_s`` until this trainer was built (the method's import and construction)."""

    config: HoldConfig

    def __init__(self, config: HoldConfig) -> None:
        global _trials_in_this_process
        super().__init__(config)
        self.process_cpu_s = time.process_time()
        self.new_process = float(_trials_in_this_process == 0)
        _trials_in_this_process += 1
        self.breakdown = _fixed_cost_breakdown(self.process_cpu_s) if self.new_process else {}

    def fit_epoch(self) -> dict[str, float]:
        time.sleep(self.config.hold_s)
        self._fail_once()
        self.epoch += 1
        return {"loss": 0.0, "process_cpu_s": self.process_cpu_s, "new_process": self.new_process,
                "process_id": float(os.getpid()), **self.breakdown}

    def _fail_once(self) -> None:
        marker = self.config.fail_marker
        if not marker or self.epoch + 1 != self.config.fail_epoch:
            return
        for failure in range(1, self.config.fail_times + 1):
            try:  # exclusive creation: each failure happens once, whichever trial reaches it
                with open(Path(marker if failure == 1 else f"{marker}.{failure}"), "x"):
                    pass
            except FileExistsError:
                continue
            raise HoldFailure(f"hold: epoch {self.config.fail_epoch} fails ({failure} of {self.config.fail_times}), "
                              f"as fail_marker={marker} asks")

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
