"""Sweep configurations (``configs/sweeps/<method>.yaml``): schema, overrides, validation.

Everything here runs before Ray starts, so a bad sweep fails with a message that names the key and
writes nothing. Override syntax on the command line (OmegaConf dotlists):

    key=value          fixes a method-config key for every trial (and drops it from the search space)
    sweep.key=value    changes the sweep itself, e.g. sweep.num_samples=16 sweep.resources.gpu=1
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import yaml
from omegaconf import OmegaConf

from shared.config import CONFIG_ROOT, ConfigError, bounded, load_config, to_dict
from shared.method import MethodSpec

# same_as: {same_as: seed} takes the value another key of the search space has in the same trial (data.seed = seed)
DOMAINS = ("choice", "grid", "uniform", "loguniform", "randint", "same_as")


@dataclass
class SchedulerConfig:
    name: str = bounded("asha", choices=["asha", "fifo"])
    grace_period: int = bounded(1, ge=1, help="epochs before ASHA may stop a trial")
    reduction_factor: float = bounded(2.0, gt=1.0)


@dataclass
class TrialResources:
    cpu: float = bounded(1.0, gt=0.0)
    gpu: float = bounded(0.0, ge=0.0)


@dataclass
class SweepConfig:
    """One method's Tune sweep."""

    metric: str = "linear_probe_acc"
    mode: str = bounded("max", choices=["max", "min"])
    num_samples: int = bounded(8, ge=1, help="samples of the search space (times each grid point)")
    max_concurrent: int = bounded(0, ge=0, help="0: as many trials at once as resources allow")
    seed: int = 0  # seeds the search algorithm, so the sampled configurations are reproducible
    max_failures: int = bounded(2, ge=0, help="retries of a trial whose worker died, from its checkpoint")
    time_budget_s: float = bounded(0.0, ge=0.0, help="stop starting and running trials after this; 0: none")
    resources: TrialResources = field(default_factory=TrialResources)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    overrides: dict[str, Any] = field(default_factory=dict)  # fixed method-config keys
    search_space: dict[str, Any] = field(default_factory=dict)  # key -> {domain: args}
    smoke: dict[str, Any] = field(default_factory=dict)  # a partial SweepConfig merged in by --smoke


def split_overrides(items: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Command-line ``key=value`` items -> (sweep dotlist, fixed method overrides)."""
    sweep: list[str] = []
    method: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value (OmegaConf dotlist syntax)")
        key = item.split("=", 1)[0]
        if key.startswith("sweep."):
            sweep.append(item[len("sweep."):])
        else:  # parse the value with OmegaConf's grammar (numbers, null, lists), keep the dotted key
            try:
                method[key] = OmegaConf.select(OmegaConf.from_dotlist([item]), key)
            except yaml.YAMLError as err:
                raise ConfigError(f"override {item!r}: cannot parse the value ({str(err).splitlines()[0]})") from None
    return sweep, method


def load_sweep(spec: MethodSpec, cli: list[str] | None = None, smoke: bool = False,
               seeds: list[int] | None = None, data_seed: bool = False) -> SweepConfig:
    """The sweep of ``spec`` from its YAML, with ``--smoke`` and command-line overrides applied.

    ``seeds``: instead of searching, train the fixed configuration once per seed (FIFO, one sample each); a grid
    given on the command line (``sweep.search_space.n={grid: [16, 32]}``) is kept: each point once per seed;
    ``data_seed`` with it: each trial sets ``data.seed`` to its seed too, so the seeds vary the data.
    """
    path = CONFIG_ROOT / "sweeps" / f"{spec.name}.yaml"
    if not path.exists():
        raise ConfigError(f"method {spec.name!r} has no sweep: {path} is missing")
    sweep_items, method_overrides = split_overrides(cli or [])
    given = {item.split("=", 1)[0][len("search_space."):] for item in sweep_items if item.startswith("search_space.")}
    base = OmegaConf.load(path)
    if smoke:
        smoke_part = base.get("smoke")
        if not smoke_part:
            raise ConfigError(f"{path}: no 'smoke' section; every sweep must define one")
        base = OmegaConf.merge(base, smoke_part)
    sweep_items = _set_free_keys(base, sweep_items, path)
    try:
        cfg: SweepConfig = load_config(SweepConfig, base, sweep_items)
    except ConfigError as err:
        raise ConfigError(f"sweep {path.name}: {err}") from None
    for key in method_overrides:  # a key fixed on the command line is no longer searched
        cfg.search_space.pop(key, None)
    cfg.overrides.update(method_overrides)
    if seeds is not None:
        if not seeds:
            raise ConfigError("--seeds: give at least one seed")
        grid = {k: v for k, v in cfg.search_space.items() if k in given and k != "seed"}
        for key, domain in grid.items():
            if not (isinstance(domain, dict) and list(domain) == ["grid"]):
                raise ConfigError(f"--seeds with search_space.{key}: only a grid can be trained once per seed, "
                                  f"got {domain}")
        cfg.search_space = {**grid, "seed": {"grid": list(seeds)}}
        cfg.overrides.pop("seed", None)
        if data_seed:
            cfg.search_space["data.seed"] = {"same_as": "seed"}
            cfg.overrides.pop("data.seed", None)
        cfg.num_samples = 1
        cfg.scheduler.name = "fifo"
    return cfg


def smoke_keys(method: str) -> set[str]:
    """The method-config keys that a sweep's ``smoke`` section sets (they shrink a run to smoke scale)."""
    path = CONFIG_ROOT / "sweeps" / f"{method}.yaml"
    smoke = OmegaConf.load(path).get("smoke") or {}
    return set((smoke.get("overrides") or {}).keys())


def _set_free_keys(base: Any, items: list[str], path: Any) -> list[str]:
    """``search_space.<key>=<domain>`` and ``overrides.<key>=<value>`` name keys that contain dots
    themselves (``search_space.optim.lr``), and replace the entry instead of merging into it."""
    rest = []
    for item in items:
        target, value = item.split("=", 1)
        section = next((s for s in ("search_space", "overrides") if target.startswith(s + ".")), None)
        if section is None:
            rest.append(item)
            continue
        try:
            parsed = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={value}"]))["v"]
        except yaml.YAMLError as err:
            raise ConfigError(f"sweep.{target}: cannot parse {value!r} ({str(err).splitlines()[0]})") from None
        base[section][target[len(section) + 1:]] = parsed
    return rest


def check_domain(key: str, spec: Any) -> tuple[str, Any] | None:
    """A search-space entry checked without Ray Tune (whose import, about 0.7 CPU-s, a command's validation then
    skips: Ray starts once the input is valid, while Tune is imported): ``(kind, args)``, or None for a constant."""
    if not isinstance(spec, dict):
        return None
    if len(spec) != 1 or next(iter(spec)) not in DOMAINS:
        raise ConfigError(f"search_space.{key}: expected one of {{{', '.join(DOMAINS)}: ...}}, got {spec}")
    kind, args = next(iter(spec.items()))
    if kind == "same_as":
        if not isinstance(args, str) or args == key:
            raise ConfigError(f"search_space.{key}.same_as: expected the name of another searched key, got {args!r}")
        return kind, args
    if kind in ("choice", "grid"):
        if not isinstance(args, list) or not args:
            raise ConfigError(f"search_space.{key}.{kind}: expected a non-empty list")
        return kind, args
    if not isinstance(args, list) or len(args) != 2 or not all(_finite_number(a) for a in args):
        raise ConfigError(f"search_space.{key}.{kind}: expected [low, high] of two finite numbers, got {args}")
    if not args[0] < args[1]:
        raise ConfigError(f"search_space.{key}.{kind}: expected [low, high] with low < high, got {args}")
    if kind == "loguniform" and args[0] <= 0:
        raise ConfigError(f"search_space.{key}.loguniform: bounds must be > 0, got {args}")
    return kind, args


def to_tune_domain(key: str, spec: Any) -> Any:
    """``{"loguniform": [1e-4, 1e-2]}`` -> ``tune.loguniform(1e-4, 1e-2)``; plain values stay constants."""
    checked = check_domain(key, spec)
    if checked is None:
        return spec
    from ray import tune  # here: importing this module (a command's start, before its Ray starts) skips Ray Tune

    kind, args = checked
    if kind == "same_as":
        return tune.sample_from(lambda config, other=args: config[other])
    if kind in ("choice", "grid"):
        return tune.choice(args) if kind == "choice" else tune.grid_search(args)
    return {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[kind](*args)


def _finite_number(value: Any) -> bool:
    """A search bound must be a real, finite number (``inf`` in a YAML flow list is the string 'inf')."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def edge_values(spec: Any, space: dict[str, Any] | None = None) -> list[Any]:
    """Values that together exercise a domain's whole range, for validation before any trial starts (a
    ``same_as`` domain: those of the key it copies, which must be in ``space``)."""
    if not isinstance(spec, dict):
        return [spec]
    kind, args = next(iter(spec.items()))
    if kind == "same_as":
        if args not in (space or {}) or isinstance(space[args], dict) and "same_as" in space[args]:
            raise ConfigError(f"search_space: same_as {args!r} names no searched key (searched: {sorted(space or {})})")
        return edge_values(space[args], space)
    if kind in ("choice", "grid"):
        return list(args)
    if kind == "randint":
        return [args[0], args[1] - 1]
    return [args[0], args[1] if kind == "uniform" else args[1] * (1 - 1e-12)]


def validate_sweep(spec: MethodSpec, sweep: SweepConfig) -> Any:
    """Check the sweep against the method before compute. Returns the method config of the fixed part."""
    base_cfg = spec.load_config(sweep.overrides)
    for key, domain_spec in sweep.search_space.items():
        check_domain(key, domain_spec)  # Ray Tune's domains are built by run_sweep, once Ray is starting
        for value in edge_values(domain_spec, sweep.search_space):
            try:
                spec.load_config({**sweep.overrides, key: value})
            except ConfigError as err:
                raise ConfigError(f"search_space.{key} = {value!r}: {err}") from None
    metrics = spec.metric_names()
    if metrics and sweep.metric not in metrics:
        raise ConfigError(f"sweep.metric: {spec.name} does not report {sweep.metric!r}; it reports {metrics}")
    every = getattr(base_cfg, "eval_every", 0)
    if sweep.scheduler.name == "asha":
        if not every:
            raise ConfigError("sweep.scheduler: ASHA compares trials during training; set eval_every > 0 "
                              "or use scheduler.name=fifo")
        rf = sweep.scheduler.reduction_factor
        if sweep.scheduler.grace_period % every or rf != math.floor(rf):
            raise ConfigError(f"sweep.scheduler.grace_period: ASHA's rungs (grace_period x reduction_factor^k) "
                              f"must fall on evaluated epochs (eval_every={every})")
    return base_cfg


def experiment_name(spec: MethodSpec, sweep: SweepConfig, smoke: bool) -> str:
    """Deterministic per sweep content: running the same command again resumes the same experiment."""
    content = json.dumps(to_dict(sweep), sort_keys=True, default=str)
    digest = hashlib.sha1(content.encode()).hexdigest()[:8]
    return f"{spec.name}{'-smoke' if smoke else ''}-{digest}"
