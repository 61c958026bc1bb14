"""The Ray layer: generic wrappers that run any registered method (no method-specific code here)."""
from actors.trainable import MethodTrainable
from actors.workers import EvaluatorActor, TrainerActor

__all__ = ["EvaluatorActor", "MethodTrainable", "TrainerActor"]
