"""The method contract: every method of the group's papers is a config, a Trainer and its Evaluators.

A ``Trainer`` is driven one epoch at a time (``fit_epoch``) and can be saved and resumed exactly
(``state_dict`` / ``load_state_dict`` hold model, optimizer, RNG streams and the epoch counter).
Gradient methods subclass :class:`GradientTrainer` and write only ``build_model``, ``batches`` and
``loss`` (and optionally ``configure_optimizer``); solvers and closed forms override ``fit_epoch``.
Evaluators take the trainer's ``artifact()`` and return the paper's own measures.

Nothing here imports Ray: the Ray layer (``actors/``) drives these objects unchanged.
"""
from __future__ import annotations

import importlib
import math
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.config import CONFIG_ROOT, ConfigError, bounded, load_config

if TYPE_CHECKING:  # torch is imported where it is used, so that tools and solvers that never touch it
    import torch  # (the scheduler benchmark's `hold`, the study driver) start without its 1.5 s import
    from torch import nn


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; training this configuration cannot continue."""


@dataclass
class OptimConfig:
    """Optimizer and learning-rate schedule shared by gradient methods."""

    name: str = bounded("adam", choices=["adam", "adamw", "sgd"])
    lr: float = bounded(1e-3, gt=0.0)
    weight_decay: float = bounded(1e-6, ge=0.0)
    momentum: float = bounded(0.9, ge=0.0, lt=1.0, help="SGD only")
    schedule: str = bounded("none", choices=["none", "cosine"])
    warmup_epochs: int = bounded(0, ge=0)


@dataclass
class MethodConfig:
    """Fields every method has. Method configs subclass this and add their own sections."""

    seed: int = 0
    epochs: int = bounded(10, ge=1)
    eval_every: int = bounded(0, ge=0, help="evaluate every N epochs; 0 = only after the last epoch")
    threads: int = bounded(0, ge=0, help="torch intra-op threads; 0 = leave torch's default")

    def prefix_run(self) -> tuple[str, Any] | None:
        """A run of another method, ``(method name, its config)``, that this run begins with exactly: that run's
        final trainer state is this run's state after its first epochs (model, optimizer, RNG streams, epoch),
        and what only this method has is still as initialised then. A driver that holds that run's final state
        may start this run from it (``Trainer.load_prefix_state``) instead of training those epochs again
        (``jobs/reproduce.py`` does, when both runs are arms of one comparison). None: no such run."""
        return None

    def generation_actors(self) -> int:
        """How many Ray generation actors sample for this run (``actors/generation.py``); 0: the trainer samples in
        its own process. A method with a sampling phase (an RL method's rollouts) maps it to one of its keys."""
        return 0

    def generation_cpus(self) -> float:
        """CPUs each generation actor reserves; 0: the actors share the run's own CPUs with the learner."""
        return 0.0


class LocalShardMap:
    """The in-process form of a generation pool (``actors/generation.py``): ``map`` runs ``fn(module, payload)`` on
    each payload with the learner's own module, in order; ``sync`` has nothing to do. A trainer that samples through
    a shard map gets the same results from either, payload by payload, when each payload carries its own seed."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def sync(self, state_dict: dict[str, Any]) -> None:
        return None

    def map(self, fn: Any, payloads: list[Any]) -> list[Any]:
        return [fn(self.module, p) for p in payloads]


@dataclass(frozen=True)
class Resources:
    """What one trial of the method asks the cluster for."""

    cpu: float = 1.0
    gpu: float = 0.0
    # None; "deepspeed": the method runs under Ray Train + DeepSpeed (its sweeps too); "deepspeed-optional": it can
    # (actors/distributed.py, jobs/train_distributed.py), but its sweeps and studies run the plain loop
    distributed: str | None = None


class Trainer(ABC):
    """Trains one method for one configuration, one epoch per call."""

    def __init__(self, config: MethodConfig) -> None:
        self.config = config
        self.epoch = 0

    @property
    def done(self) -> bool:
        return self.epoch >= self.config.epochs

    @abstractmethod
    def fit_epoch(self) -> dict[str, float]:
        """Run one epoch; return its training metrics (means over the epoch)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: tensors, numbers, strings and containers of them only,
        so that checkpoints load with ``torch.load(weights_only=True)``."""

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...

    def load_prefix_state(self, state: Mapping[str, Any]) -> None:
        """Continue from the final ``state_dict()`` of the run ``config.prefix_run()`` names (see there)."""
        self.load_state_dict(state)

    @abstractmethod
    def artifact(self) -> Any:
        """What evaluators consume (e.g. the frozen encoder)."""

    # Data shared with evaluators so that they do not load it a second time (None: they load it).
    data: Any = None


class Evaluator(ABC):
    """One of a method's measures. ``evaluate(artifact) -> {metric: value}``; ``metrics`` names what it
    reports, so that sweeps and studies can be checked before they run."""

    metrics: tuple[str, ...] = ()

    def __init__(self, config: MethodConfig, data: Any = None) -> None:
        self.config = config
        self._data = data

    @property
    def data(self) -> Any:
        if self._data is None:
            self._data = self.load_data()
        return self._data

    def load_data(self) -> Any:
        """Evaluators that need data and were not given the trainer's override this."""
        raise NotImplementedError(f"{type(self).__name__} needs data; pass the trainer's data")

    @abstractmethod
    def evaluate(self, artifact: Any) -> dict[str, float]: ...

    def write_files(self, artifact: Any, out_dir: Path) -> list[Path]:
        """Pictures of the final artifact for reports (e.g. a grid of samples), written under ``out_dir``; returns
        their paths. The platform calls it once per trial, after the last evaluation, and keeps the files with the
        trial's rows (``results/<experiment>/<trial>/files/``), where a study's report shows each arm's first seed's.
        Default: none."""
        return []


def seed_everything(seed: int) -> None:
    """Seed the global torch RNG (model initialisation, dropout). Data order and augmentations use
    the trainer's own ``torch.Generator`` so that they are saved and restored with it."""
    import torch

    torch.manual_seed(seed)


def rng_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    import torch

    return {"torch": torch.get_rng_state(), "generator": generator.get_state()}


def set_rng_state(generator: torch.Generator, state: Mapping[str, torch.Tensor]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])


class StepTrainer(Trainer):
    """A hand-written loop over one torch model and one optimizer, its batches drawn from a numpy generator
    ``self.rng`` (``None`` where a method draws none). What such loops share: one optimizer ``step`` and the
    resume state (model, optimizer, epoch, both generators), so that a resumed run draws the same batches."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    rng: Any = None  # np.random.Generator of the training batches, or None

    def step(self, loss: torch.Tensor, clip: float = 0.0) -> float:
        """One optimizer step on ``loss`` (gradient norm clipped to ``clip`` when > 0); returns its value."""
        import torch

        self.optimizer.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.optimizer.step()
        return loss.item()

    def state_dict(self) -> dict[str, Any]:
        import torch

        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": self.epoch,
                 "torch_rng": torch.get_rng_state()}
        if self.rng is not None:
            state["rng"] = self.rng.bit_generator.state
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        import torch

        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        torch.set_rng_state(state["torch_rng"])
        if self.rng is not None:
            self.rng.bit_generator.state = state["rng"]


class GradientTrainer(Trainer):
    """The plain training loop. Subclasses write ``build_model``, ``batches`` and ``loss``.

    ``loss(batch)`` returns the scalar loss, or ``(loss, {name: value})`` to log its parts. The same three
    methods are what the distributed path (DDP, DeepSpeed) drives, so they must not step the optimizer.
    """

    config: Any

    def __init__(self, config: Any) -> None:
        import torch

        super().__init__(config)
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.setup()
        self.model = self.build_model()
        self.optimizer = self.configure_optimizer()
        self.global_step = 0

    # -- what a method writes -------------------------------------------------------------------
    def setup(self) -> None:
        """Load data and anything the model needs to know (called before ``build_model``)."""

    @abstractmethod
    def build_model(self) -> nn.Module: ...

    @abstractmethod
    def batches(self) -> Iterator[Any]:
        """The batches of one epoch, in an order drawn from ``self.generator``."""

    @abstractmethod
    def loss(self, batch: Any) -> torch.Tensor | tuple[torch.Tensor, dict[str, float]]: ...

    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def configure_optimizer(self) -> torch.optim.Optimizer:
        return make_optimizer(self.model.parameters(), self.config.optim)

    # -- the loop -------------------------------------------------------------------------------
    def learning_rate(self) -> float:
        """Learning rate at the current step: linear warm-up, then constant or cosine to zero."""
        opt: OptimConfig = self.config.optim
        steps = self.steps_per_epoch()
        warm = opt.warmup_epochs * steps
        if self.global_step < warm:
            return opt.lr * (self.global_step + 1) / warm
        if opt.schedule == "cosine":
            total = max(self.config.epochs * steps - warm, 1)
            progress = min((self.global_step - warm) / total, 1.0)
            return opt.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
        return opt.lr

    def fit_epoch(self) -> dict[str, float]:
        import torch

        self.model.train()
        sums: dict[str, float] = defaultdict(float)
        n = 0
        start = time.perf_counter()
        for batch in self.batches():
            lr = self.learning_rate()
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss, parts = split_loss(self.loss(batch))
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"loss is {loss.item()} at epoch {self.epoch + 1}, step {self.global_step} "
                    f"(lr={lr:.3g}); this configuration diverged: lower the learning rate or check the inputs"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip = getattr(self.config, "grad_clip", 0.0)  # methods whose config has it (DeepSpeed: gradient_clipping)
            if clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.optimizer.step()
            self.global_step += 1
            n += 1
            sums["loss"] += loss.item()
            for k, v in parts.items():
                sums[k] += float(v)
        self.epoch += 1
        metrics = {k: v / max(n, 1) for k, v in sums.items()}
        metrics["lr"] = self.learning_rate() if n else self.config.optim.lr
        metrics["epoch_time_s"] = time.perf_counter() - start
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng_state(self.generator),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        set_rng_state(self.generator, state["rng"])


def split_loss(out: Any) -> tuple[torch.Tensor, dict[str, float]]:
    if isinstance(out, tuple):
        loss, parts = out
        return loss, {k: float(v) for k, v in parts.items()}
    return out, {}


def make_optimizer(params: Iterable[nn.Parameter], opt: OptimConfig) -> torch.optim.Optimizer:
    import torch

    if opt.name == "adam":
        return torch.optim.Adam(params, lr=opt.lr, weight_decay=opt.weight_decay)
    if opt.name == "adamw":
        return torch.optim.AdamW(params, lr=opt.lr, weight_decay=opt.weight_decay)
    return torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay)


@dataclass(frozen=True)
class Measure:
    """A measure a report leads with: a metric name and which direction is better ("max" or "min")."""

    name: str
    mode: str = "max"

    def __post_init__(self) -> None:
        if self.mode not in ("max", "min"):
            raise ValueError(f"Measure {self.name!r}: mode must be 'max' or 'min', got {self.mode!r}")


@dataclass(frozen=True)
class Figure:
    """A figure of a study report: ``measures`` (on one scale) side by side for every arm that reports them, each
    the mean ± sd over the arm's seeds of its final values; ``name`` is the PNG's name."""

    name: str
    title: str
    measures: tuple[str, ...]
    ylabel: str = ""


class LazyClass:
    """A trainer or evaluator class named by ``"module:attribute"``, imported on first use. A spec that names its
    classes this way (and its config from a torch-free module) imports without torch, so that a sweep's driver
    validates a config in a fraction of a second and never imports torch (shared/methods/ssl/specs.py). Calling it
    constructs the class; any other attribute comes from the class, except those given as ``known`` (an
    evaluator's ``metrics``), answered without the import (tests/test_fixed_costs.py checks they equal the class's).
    """

    def __init__(self, target: str, **known: Any) -> None:
        self.target = target
        self.known = known
        self._cls: type | None = None

    def resolve(self) -> type:
        if self._cls is None:
            module, attr = self.target.split(":")
            self._cls = getattr(importlib.import_module(module), attr)
        return self._cls

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # only for attributes not set in __init__
        if name.startswith("__") or name in ("target", "known", "_cls"):
            raise AttributeError(name)
        if name in self.known:
            return self.known[name]
        return getattr(self.resolve(), name)

    def __getstate__(self) -> dict[str, Any]:  # pickled by name: the receiver imports the class itself
        return {"target": self.target, "known": self.known, "_cls": None}

    def __repr__(self) -> str:
        return f"LazyClass({self.target!r})"


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: what the platform needs to know to train, evaluate and schedule it."""

    name: str
    paper: str
    family: str
    config: type
    trainer: type[Trainer] | LazyClass  # LazyClass: imported when a trainer is made (a torch-free spec)
    evaluators: tuple[type[Evaluator] | LazyClass, ...] = ()
    resources: Resources = field(default_factory=Resources)
    description: str = ""
    # What the method's paper judges it by, most important first; reports and studies lead with these.
    headline: tuple[Measure, ...] = ()
    # The hyperparameter(s) the method's comparison is about (CARE: lambda); a sweep report summarises per value.
    compare: tuple[str, ...] = ()
    # Figures a study report draws from the rows of the arms that run this method (e.g. a measured mass beside its
    # analytic target).
    figures: tuple[Figure, ...] = ()

    @property
    def config_path(self) -> Path:
        return CONFIG_ROOT / "methods" / f"{self.name}.yaml"

    def load_config(self, overrides: Mapping[str, Any] | Iterable[str] | None = None) -> Any:
        """Defaults from ``configs/methods/<name>.yaml``, then overrides; validated (ConfigError names the key)."""
        path = self.config_path if self.config_path.exists() else None
        cfg = load_config(self.config, path, overrides)
        self.check(cfg)
        return cfg

    def check(self, cfg: Any) -> None:
        """Checks that need more than the schema (e.g. that a data set's files exist); run before compute."""
        data = getattr(cfg, "data", None)
        if type(data).__module__ == "shared.data":  # an image data set (imported only then: it needs torch)
            from shared.data import DataConfig, check_dataset

            if isinstance(data, DataConfig):
                check_dataset(data)

    def make_trainer(self, cfg: Any) -> Trainer:
        return self.trainer(cfg)

    def metric_names(self) -> list[str]:
        """What the evaluators report, plus the training loss."""
        return ["loss", *(m for ev in self.evaluators for m in ev.metrics)]

    def make_evaluators(self, cfg: Any, data: Any = None) -> list[Evaluator]:
        return [ev(cfg, data) for ev in self.evaluators]

    def evaluate(self, cfg: Any, artifact: Any, data: Any = None, metrics: Iterable[str] | None = None
                 ) -> dict[str, float]:
        """Run every evaluator on one artifact; metric names must not collide. ``metrics``: only the evaluators
        that report one of these (each evaluator draws from its own seeded generator, so their values do not
        depend on which others ran)."""
        wanted = None if metrics is None else set(metrics)
        out: dict[str, float] = {}
        for ev in self.make_evaluators(cfg, data):
            if wanted is not None and not wanted & set(ev.metrics):
                continue
            got = ev.evaluate(artifact)
            clash = set(out) & set(got)
            if clash:
                raise ConfigError(f"method {self.name}: evaluators report the same metric twice: {sorted(clash)}")
            out.update(got)
        return out


def headline_measures(spec: Any, metric: str = "", mode: str = "max") -> tuple[Measure, ...]:
    """A spec's headline measures; a spec without them (or none at all) falls back to ``metric``/``mode``."""
    declared = tuple(getattr(spec, "headline", ()) or ())
    if declared:
        return declared
    return (Measure(metric, mode),) if metric else ()
