"""A method's trainer and evaluators as plain Ray actors, for programmatic use: train once, checkpoint,
evaluate the checkpoint later or on another node.

    from cluster import connect
    from actors import TrainerActor, EvaluatorActor
    connect()
    trainer = TrainerActor.for_method("care", ["epochs=5"])
    ray.get(trainer.fit.remote())
    ckpt = ray.get(trainer.save.remote("/path/ckpt"))
    evaluator = EvaluatorActor.for_method("care")
    ray.get(evaluator.evaluate_checkpoint.remote(ckpt))
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ray

from shared.checkpoint import load_trainer, save_checkpoint, verified_state
from shared.config import flatten, to_dict
from shared.registry import get_method

Overrides = Mapping[str, Any] | Iterable[str] | None


def _options(method: str) -> dict[str, float]:
    res = get_method(method).resources
    return {"num_cpus": res.cpu, "num_gpus": res.gpu}


@ray.remote
class TrainerActor:
    """Holds one trainer; ``fit`` runs epochs, ``save``/``load`` use the shared checkpoint format."""

    def __init__(self, method: str, overrides: Overrides = None) -> None:
        self.spec = get_method(method)
        self.cfg = self.spec.load_config(overrides)
        self.trainer = self.spec.make_trainer(self.cfg)

    @staticmethod
    def for_method(method: str, overrides: Overrides = None) -> ray.actor.ActorHandle:
        """Start the actor with the resources the method asks for (after validating the config here)."""
        get_method(method).load_config(overrides)
        return TrainerActor.options(**_options(method)).remote(method, overrides)

    def fit(self, epochs: int | None = None) -> list[dict[str, float]]:
        """Train ``epochs`` more epochs (default: until the configured number); per-epoch metrics."""
        history = []
        while not self.trainer.done and (epochs is None or len(history) < epochs):
            history.append({**self.trainer.fit_epoch(), "epoch": self.trainer.epoch})
        return history

    def evaluate(self) -> dict[str, float]:
        return self.spec.evaluate(self.cfg, self.trainer.artifact(), self.trainer.data)

    def save(self, directory: str) -> str:
        return save_checkpoint(directory, self.spec, self.cfg, self.trainer)

    def load(self, directory: str) -> int:
        _, state = verified_state(directory)  # a truncated or unreadable checkpoint: an error that names the file
        self.trainer.load_state_dict(state)
        return self.trainer.epoch

    def epoch(self) -> int:
        return self.trainer.epoch

    def config(self) -> dict[str, Any]:
        return flatten(to_dict(self.cfg))


@ray.remote
class EvaluatorActor:
    """Evaluates checkpoints of a method (any checkpoint in the shared format, e.g. a Tune trial's)."""

    def __init__(self, method: str | None = None) -> None:
        self.method = method

    @staticmethod
    def for_method(method: str) -> ray.actor.ActorHandle:
        return EvaluatorActor.options(**_options(method)).remote(method)

    def evaluate_checkpoint(self, directory: str) -> dict[str, float]:
        spec, cfg, trainer = load_trainer(directory)
        if self.method is not None and spec.name != self.method:
            raise ValueError(f"checkpoint {directory} is of method {spec.name!r}, not {self.method!r}")
        return {**spec.evaluate(cfg, trainer.artifact(), trainer.data), "epoch": float(trainer.epoch)}
