"""Studies (``configs/studies/<name>.yaml``): schema, validation with line numbers, and the graph.

A study compares methods under the same data, seeds and budget. Each arm names a method, its fixed
overrides, and whether to sweep it first. The graph, per arm::

    sweep:<arm>  ->  seeds:<arm>  ->  report
    (Tune sweep of the arm's search space; the best configuration is retrained over the study's
    seeds, each seed a trial that ends with the method's evaluators; the report compares the arms)

An arm without a sweep starts at ``seeds:<arm>``. An arm's ``grid`` (method key -> values) makes its seeds node train
every point of the grid once per seed: the points of a curve (sample size, depth, group count) come from one node.
``figures`` declare the report's figures, each of a ``kind``: ``curve`` (a paper's figure: measures against a grid key
or another measure, mean and band over seeds per line, log axes where the theory is a rate, a bound overlaid),
``tradeoff`` (quality against time, a point per arm and grid point: the Pareto view) or ``bars`` (measures side by
side per arm). Figures are presentation: they are not part of the study's id, so changing one redraws the report
without retraining anything.
``after: [other arm]`` orders arms (e.g. an attack
that needs another arm's encoder); cycles are refused. Everything is checked before anything runs, and
errors name the file and line.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from shared.config import ConfigError, bounded, load_config, to_dict
from shared.names import check_name
from shared.registry import UnknownMethodError, get_method


@dataclass
class ArmConfig:
    method: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    sweep: bool = True  # sweep configs/sweeps/<method>.yaml first, then retrain the best over the seeds
    search_space: dict[str, Any] = field(default_factory=dict)  # replaces the sweep's space when given
    sweep_options: dict[str, Any] = field(default_factory=dict)  # sweep keys, e.g. {scheduler.name: fifo}
    after: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)  # this arm's own measures, besides the study's shared ones
    metric: str = ""  # picks this arm's best sweep configuration (default: the study's metric)
    grid: dict[str, list[Any]] = field(default_factory=dict)  # method key -> values: each trained once per seed


@dataclass
class FigureConfig:
    """One figure of the study's report, drawn from the rows as ``figure_<name>.png``. ``kind``:

    - ``curve`` (a paper's figure): ``y`` (one panel per measure) against ``x`` (a grid key or a measure), one line per
      arm (or per value of the grid key ``lines``), mean +- sd over seeds as a band; ``log``, ``bound``, ``rate``.
      With ``at`` (one number per ``y`` measure), the ``y`` measures are the points of one curve instead, ``y[i]`` at
      x = ``at[i]`` (a method that reports accuracy at several context lengths as several measures); ``x`` then
      only labels the axis, ``ylabel`` the single panel.
    - ``tradeoff``: quality against time (log), a point per arm and grid point at its means +- sd over seeds; ``pairs``
      lists [quality, time] measure pairs (a quality may be a number: 1.0 for a reference solver's ratio to itself).
    - ``bars``: the ``y`` measures side by side for every arm that reports them (mean +- sd over seeds)."""

    kind: str = bounded("curve", choices=["curve", "tradeoff", "bars"])
    title: str = ""
    arms: list[str] = field(default_factory=list)  # default: every arm that reports the figure's measures
    x: str = ""
    y: list[str] = field(default_factory=list)
    pairs: list[list[Any]] = field(default_factory=list)  # tradeoff: [[quality, time], ...]
    ylabel: str = ""
    lines: str = ""  # a grid key whose values are the lines (default: the arms)
    log: str = bounded("", choices=["", "x", "y", "xy"])
    bound: str = ""  # a measure drawn dashed in the first y panel (a bound the experiment computes, e.g. 1 / |F|)
    rate: float = 0.0  # a reference c x^rate (log-log slope), anchored at the first point of a line; 0: none
    rate_label: str = ""
    rate_line: str = ""  # the line the reference starts from (default: the first)
    at: list[float] = field(default_factory=list)  # curve: the x value of each y measure (they form one curve)


@dataclass
class BudgetConfig:
    trials: int = bounded(0, ge=0, help="samples of each arm's search space; 0: the sweep's own")
    time_s: float = bounded(0.0, ge=0.0, help="wall-time budget of each sweep; 0: none")


@dataclass
class StudyResources:
    profile: str = ""  # a configs/cluster/<profile>.yaml; overrides cpu and gpu when given
    cpu: float = bounded(1.0, gt=0.0)
    gpu: float = bounded(0.0, ge=0.0)


@dataclass
class StudyConfig:
    name: str = ""
    description: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # data.* overrides applied to every arm
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    data_seed: bool = False  # the seeds vary the data too: each seeds trial sets data.seed = seed (every arm)
    measures: list[str] = field(default_factory=list)
    minimize: list[str] = field(default_factory=list)  # measures where lower is better (the rest: higher)
    metric: str = ""  # the measure that picks each sweep's best configuration (default: the sweep's)
    resources: StudyResources = field(default_factory=StudyResources)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    retries: int = bounded(2, ge=0, help="resubmissions of a failed node")
    max_running: int = bounded(0, ge=0, help="nodes running at once; 0: as many as are ready")
    arms: dict[str, ArmConfig] = field(default_factory=dict)
    figures: dict[str, FigureConfig] = field(default_factory=dict)  # the report's figures (not part of the id)
    smoke: dict[str, Any] = field(default_factory=dict)  # a partial study merged in by --smoke


@dataclass(frozen=True)
class Node:
    """One node of a study's graph: one Ray job."""

    name: str  # "sweep:care", "seeds:care", "report"
    kind: str  # "sweep", "seeds", "report"
    arm: str
    deps: tuple[str, ...]


class YamlLines:
    """Line numbers of the keys of a YAML file, so that errors can say where."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[str, int] = {}
        self._walk(yaml.compose(path.read_text()), "")

    def _walk(self, node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                dotted = f"{prefix}{key.value}"
                self.lines[dotted] = key.start_mark.line + 1
                self._walk(value, dotted + ".")

    def where(self, key: str) -> str:
        parts = re.sub(r"\[\d+\]", "", key).split(".")  # "seeds[0]" -> "seeds"
        while parts:  # the deepest key that is in the file
            line = self.lines.get(".".join(parts))
            if line:
                return f"{self.path}:{line}"
            parts.pop()
        return str(self.path)


def load_study(path: str | Path, smoke: bool = False) -> StudyConfig:
    """Load and validate a study; ConfigError messages start with ``file:line``."""
    path = Path(path)
    data = read_study_yaml(path)
    lines = YamlLines(path)
    try:
        raw = OmegaConf.create(data)
        if smoke:
            raw = OmegaConf.merge(raw, raw.get("smoke") or {})
        study: StudyConfig = load_config(StudyConfig, raw)
    except ConfigError as err:
        key = str(err).split(":")[0]
        raise ConfigError(f"{lines.where(key)}: {err}") from None
    except (OmegaConfBaseException, ValueError, TypeError) as err:  # e.g. `smoke:` that is not a mapping
        raise ConfigError(f"{path}: {str(err).splitlines()[0]}") from None
    study.name = check_name(study.name or path.stem, f"{lines.where('name')}: name")
    validate_study(study, lines)
    validate_arm_sweeps(study, smoke, lines)
    return study


def read_study_yaml(path: Path) -> dict[str, Any]:
    """The study file's content as plain data, or a ConfigError naming the file (and the line) when it is
    missing, a directory, not text, not YAML, uses a tag (``!!python/...``: safe loading refuses every tag
    beyond plain data) or is not a mapping of the study's keys (sections of the right shape are checked by
    the schema)."""
    if not path.exists():
        raise ConfigError(f"{path}: no such study file")
    if not path.is_file():
        raise ConfigError(f"{path}: is a directory, not a study file" if path.is_dir() else
                          f"{path}: not a regular file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a study is YAML in UTF-8)") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read it ({err.strerror or err})") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: not a text file (it holds NUL bytes)")
    try:
        data = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as err:
        mark = err.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML tags are not allowed in a study ({err.problem})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"{path}: a study must be a mapping of keys (name, seeds, measures, arms, ...); "
                          f"this file is {kind}")
    for key, expected in (("arms", dict), ("smoke", dict), ("resources", dict), ("budget", dict), ("figures", dict),
                          ("data", dict), ("seeds", list), ("measures", list), ("minimize", list)):
        if key in data and data[key] is not None and not isinstance(data[key], expected):
            shape = "a mapping" if expected is dict else "a list"
            raise ConfigError(f"{_line(path, data, key)}: {key}: must be {shape}, got "
                              f"{type(data[key]).__name__} {data[key]!r:.80}")
    for arm_name, arm in (data.get("arms") or {}).items():
        if not isinstance(arm, dict):
            raise ConfigError(f"{path}: arms.{arm_name}: must be a mapping (method, overrides, ...), "
                              f"got {arm!r:.80}")
    return data


def _line(path: Path, data: dict[str, Any], key: str) -> str:
    """``file:line`` of a top-level key (the file parsed, so composing it again cannot fail)."""
    return YamlLines(path).where(key) if key in data else str(path)


def validate_study(study: StudyConfig, lines: YamlLines | None = None) -> None:
    def fail(key: str, message: str) -> None:
        where = lines.where(key) if lines else "study"
        raise ConfigError(f"{where}: {key}: {message}")

    if not study.arms:
        fail("arms", "a study needs at least one arm")
    if not study.seeds:
        fail("seeds", "a study needs at least one seed")
    for arm_name, arm in study.arms.items():
        key = f"arms.{arm_name}"
        where = lines.where(key) if lines else "study"
        check_name(arm_name, f"{where}: arms")
        # the longest experiment name a node of this arm gets (see study_id and the scheduler) obeys the rule too
        check_name(f"{study.name or 'study'}-smoke-{'0' * 8}--seeds-{arm_name}",
                   f"{where}: {key}: the study's and the arm's names together")
        try:
            spec = get_method(arm.method)
        except UnknownMethodError as err:
            fail(f"{key}.method", str(err))
        produced = spec.metric_names()
        for measure in study.measures:
            if measure not in produced:
                fail("measures", f"{measure!r} is not reported by arm {arm_name!r} ({arm.method}); "
                                 f"it reports {produced}")
        for measure in [*arm.measures, *([arm.metric] if arm.metric else [])]:
            if measure not in produced:
                fail(f"{key}.measures", f"{measure!r} is not reported by {arm.method}; it reports {produced}")
        if not study.measures and not arm.measures:
            fail(f"{key}.measures", "no measure to compare: give the study's measures or the arm's own")
        try:
            spec.load_config(arm_overrides(study, arm_name))
        except ConfigError as err:
            fail(f"{key}.overrides", str(err))
        for other in arm.after:
            if other not in study.arms:
                fail(f"{key}.after", f"unknown arm {other!r}")
        for gkey, values in arm.grid.items():
            if not isinstance(values, list) or not values:
                fail(f"{key}.grid.{gkey}", f"expected a non-empty list of values, got {values!r}")
            if gkey in arm_overrides(study, arm_name) or gkey == "seed":
                fail(f"{key}.grid.{gkey}", "is also fixed by the arm's overrides (or is the seed); give it once")
            for value in values:
                try:
                    spec.load_config({**arm_overrides(study, arm_name), gkey: value})
                except ConfigError as err:
                    fail(f"{key}.grid.{gkey}", f"{value!r}: {err}")
    for fig_name, fig in study.figures.items():
        validate_figure(study, fig_name, fig, fail)
    for measure in study.minimize:
        if measure not in all_measures(study):
            fail("minimize", f"{measure!r} is not one of the measures {all_measures(study)}")
    if study.metric and study.measures and study.metric not in study.measures:
        fail("metric", f"{study.metric!r} must be one of the measures {study.measures}")
    cycle = find_cycle({a: list(arm.after) for a, arm in study.arms.items()})
    if cycle:
        fail(f"arms.{cycle[0]}.after", "the arms' 'after' lists form a cycle: " + " -> ".join(cycle))


def validate_figure(study: StudyConfig, name: str, fig: FigureConfig, fail: Any) -> None:
    """A figure's arms exist and report its measures; per kind: a curve's x is a measure or a grid key of each arm
    (``lines`` a grid key); a tradeoff's pairs are [quality (a measure or a number), time measure]."""
    key = f"figures.{name}"
    if fig.kind not in ("curve", "tradeoff", "bars"):
        fail(f"{key}.kind", f"must be curve, tradeoff or bars, got {fig.kind!r}")
    if fig.log not in ("", "x", "y", "xy"):
        fail(f"{key}.log", f"must be one of '', x, y, xy (the log axes), got {fig.log!r}")
    if fig.kind == "tradeoff":
        validate_pairs(study, key, fig.pairs, fail)
        measures = [m for pair in fig.pairs for m in pair if isinstance(m, str)]
    else:
        if not fig.y:
            fail(f"{key}.y", "name at least one measure to draw")
        if fig.kind == "curve" and not fig.x:
            fail(f"{key}.x", "name the grid key (or measure) on the x axis")
        if fig.at and (fig.kind != "curve" or len(fig.at) != len(fig.y) or fig.bound or fig.lines):
            fail(f"{key}.at", f"a curve's x value for each of its {len(fig.y)} y measures (no bound or lines with it), "
                              f"got {len(fig.at)} values")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in fig.at):
            fail(f"{key}.at", f"must be finite numbers, got {fig.at!r:.80}")
        measures = [*fig.y, *([fig.bound] if fig.bound else [])]
    produced = {a: get_method(arm.method).metric_names() for a, arm in study.arms.items()}
    reports = (lambda a: set(measures) & set(produced[a])) if fig.kind == "tradeoff" else \
        (lambda a: set(measures) <= set(produced[a]))  # a tradeoff draws what each arm reports of its pairs
    arms = fig.arms or [a for a in study.arms if reports(a)]
    if not arms:
        fail(f"{key}.arms", f"no arm reports {measures}")
    for arm_name in arms:
        if arm_name not in study.arms:
            fail(f"{key}.arms", f"unknown arm {arm_name!r}; the arms are {sorted(study.arms)}")
        arm = study.arms[arm_name]
        if fig.kind == "curve":
            for measure in measures:
                if measure not in produced[arm_name]:
                    fail(f"{key}", f"{measure!r} is not reported by arm {arm_name!r} ({arm.method})")
            if not fig.at and fig.x not in produced[arm_name] and fig.x not in arm.grid and fig.x not in arm.overrides:
                fail(f"{key}.x", f"{fig.x!r} is neither a measure of arm {arm_name!r} nor a key of its grid/overrides")
            if fig.lines and fig.lines not in arm.grid and fig.lines not in arm.overrides:
                fail(f"{key}.lines", f"{fig.lines!r} is not a key of arm {arm_name!r}'s grid or overrides")


def validate_pairs(study: StudyConfig, key: str, pairs: list[Any], fail: Any) -> None:
    """A tradeoff's [quality, time] pairs: the time a measure of the study, the quality a measure or a number."""
    known = all_measures(study)
    if not pairs:
        fail(f"{key}.pairs", "a tradeoff figure lists [quality measure, time measure] pairs")
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2:
            fail(f"{key}.pairs", f"each entry must be a [quality measure, time measure] pair, got {pair!r:.80}")
        quality, time = pair
        if isinstance(quality, bool) or not isinstance(quality, (str, int, float)) \
                or (isinstance(quality, str) and quality not in known):
            fail(f"{key}.pairs", f"quality {quality!r} is neither a number nor one of the measures {known}")
        if time not in known:
            fail(f"{key}.pairs", f"time {time!r} is not one of the measures {known}")


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle in a dependency map {node: [nodes it waits for]}, as a path, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in edges.get(n, []):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        state[n] = 2
        path.pop()
        return None

    for n in edges:
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def arm_measures(study: StudyConfig, arm: str) -> list[str]:
    """The measures arm ``arm`` must write: the study's shared ones and its own."""
    return [*study.measures, *(m for m in study.arms[arm].measures if m not in study.measures)]


def all_measures(study: StudyConfig) -> list[str]:
    """Every measure of the study's report, shared ones first (an arm's own measures compare only the arms
    that report them)."""
    out = list(study.measures)
    for arm in study.arms.values():
        out += [m for m in arm.measures if m not in out]
    return out


def arm_overrides(study: StudyConfig, arm: str) -> dict[str, Any]:
    """The fixed method-config overrides of one arm: the study's data, then the arm's own."""
    return {**{f"data.{k}": v for k, v in study.data.items()}, **study.arms[arm].overrides}


def build_graph(study: StudyConfig) -> list[Node]:
    """The study's nodes in an order where every node comes after its dependencies."""
    nodes: list[Node] = []
    for arm_name in topological_arms(study):
        arm = study.arms[arm_name]
        upstream = tuple(f"seeds:{a}" for a in arm.after)
        if arm.sweep:
            nodes.append(Node(f"sweep:{arm_name}", "sweep", arm_name, upstream))
            nodes.append(Node(f"seeds:{arm_name}", "seeds", arm_name, (f"sweep:{arm_name}",)))
        else:
            nodes.append(Node(f"seeds:{arm_name}", "seeds", arm_name, upstream))
    nodes.append(Node("report", "report", "", tuple(n.name for n in nodes if n.kind == "seeds")))
    return nodes


def topological_arms(study: StudyConfig) -> list[str]:
    done: list[str] = []
    while len(done) < len(study.arms):
        ready = [a for a, arm in study.arms.items() if a not in done and all(d in done for d in arm.after)]
        if not ready:
            raise ConfigError("the arms' 'after' lists form a cycle")
        done.extend(sorted(ready))
    return done


# Keys added after studies were first run: left out of the id when unset, so those studies resume under their ids.
OPTIONAL_KEYS = ("data_seed",)
PRESENTATION_KEYS = ("figures",)  # what the report draws, not what runs: never part of the id


def figures_fingerprint(figures: StudyConfig | dict[str, Any] | None) -> str:
    """The figures a study declares, as the canonical JSON its report records (``reports/<study>/figures.json``)."""
    if isinstance(figures, StudyConfig):
        figures = to_dict(figures)["figures"]
    return json.dumps(figures or {}, sort_keys=True, default=str)


def study_id(study: StudyConfig, smoke: bool) -> str:
    """Deterministic per study content: the same study resumes under the same id."""
    fields = to_dict(study)
    for key in PRESENTATION_KEYS:
        fields.pop(key, None)
    for key in OPTIONAL_KEYS:  # absent when off: the ids of studies without the key are what they were
        if not fields.get(key):
            fields.pop(key, None)
    for arm in fields.get("arms", {}).values():
        if not arm.get("grid"):
            arm.pop("grid", None)
    content = json.dumps(fields, sort_keys=True, default=str)
    return f"{study.name}{'-smoke' if smoke else ''}-{hashlib.sha1(content.encode()).hexdigest()[:8]}"


def arm_items(study: StudyConfig, arm_name: str, smoke: bool) -> list[str]:
    """The command-line items every job of arm ``arm_name`` carries: its method overrides (the sweep's smoke
    section wins over them at smoke scale, since it shrinks epochs, model and data) and per-trial resources."""
    arm = study.arms[arm_name]
    overrides = arm_overrides(study, arm_name)
    if smoke:
        from jobs.sweepconfig import smoke_keys

        shrunk = smoke_keys(arm.method)
        overrides = {k: v for k, v in overrides.items() if k not in shrunk}
    cpu, gpu = study_trial_resources(study)
    return [*(f"{k}={_dotlist_value(v)}" for k, v in overrides.items()),
            f"sweep.resources.cpu={cpu}", f"sweep.resources.gpu={gpu}"]


def arm_seeds_items(study: StudyConfig, arm_name: str, smoke: bool) -> list[str]:
    """The command-line items of arm ``arm_name``'s seeds node: what every job of the arm carries, and its grid as a
    search space (``sweep.py --seeds`` trains each grid point once per seed)."""
    grid = study.arms[arm_name].grid
    return [*arm_items(study, arm_name, smoke),
            *(f"sweep.search_space.{k}={_dotlist_value({'grid': v})}" for k, v in grid.items())]


def arm_sweep_items(study: StudyConfig, arm_name: str, smoke: bool) -> list[str]:
    """The command-line items of arm ``arm_name``'s sweep job: what every job of the arm carries, plus budget,
    metric, search space and sweep options. The scheduler submits exactly these, and validation loads them."""
    arm = study.arms[arm_name]
    items = arm_items(study, arm_name, smoke)
    if study.budget.trials:
        items.append(f"sweep.num_samples={study.budget.trials}")
    if study.budget.time_s:
        items.append(f"sweep.time_budget_s={study.budget.time_s}")
    metric = arm.metric or study.metric
    if metric:
        items += [f"sweep.metric={metric}", f"sweep.mode={'min' if metric in study.minimize else 'max'}"]
    items += [f"sweep.search_space.{k}={_dotlist_value(v)}" for k, v in arm.search_space.items()]
    if "seed" not in arm_overrides(study, arm_name) and "seed" not in arm.search_space:
        # a sweep may search seeds (care.yaml); otherwise a study picks its configuration on seed 0, and
        # the arm's seeds node retrains the pick on every seed
        items.append("seed=0")
    items += [f"sweep.{k}={_dotlist_value(v)}" for k, v in arm.sweep_options.items()]
    return items


def study_trial_resources(study: StudyConfig) -> tuple[float, float]:
    """(cpu, gpu) of one trial: the study's profile when it names one (an unknown profile is a ConfigError
    listing the known ones), else its own resources."""
    if study.resources.profile:
        from cluster.profiles import load_profile

        profile = load_profile(study.resources.profile)
        return profile.cpu, profile.gpu
    return study.resources.cpu, study.resources.gpu


def _dotlist_value(value: Any) -> str:
    """A value as OmegaConf dotlist text (JSON is valid YAML flow syntax), as the scheduler renders it."""
    return json.dumps(value) if not isinstance(value, str) else value


def validate_arm_sweeps(study: StudyConfig, smoke: bool, lines: YamlLines | None = None) -> None:
    """Load and check every arm's sweep (search space, sweep options, budget, resources) as its job will,
    so that a bad arm fails here, before any node is submitted, instead of failing its job on each retry."""
    from jobs.sweepconfig import load_sweep, validate_sweep

    try:
        study_trial_resources(study)
    except ConfigError as err:
        raise ConfigError(f"{lines.where('resources.profile') if lines else 'study'}: resources.profile: {err}") \
            from None
    for arm_name, arm in study.arms.items():
        spec = get_method(arm.method)
        try:
            if arm.sweep:
                validate_sweep(spec, load_sweep(spec, arm_sweep_items(study, arm_name, smoke), smoke=smoke))
            else:  # the seeds node: the arm's fixed configuration (each point of its grid), once per seed
                seeds_sweep = load_sweep(spec, arm_seeds_items(study, arm_name, smoke), smoke=smoke,
                                         seeds=list(study.seeds), data_seed=study.data_seed)
                if study.data_seed:  # the method has a data.seed to set
                    validate_sweep(spec, seeds_sweep)
            if arm.sweep and arm.grid:
                searched = set(load_sweep(spec, arm_sweep_items(study, arm_name, smoke), smoke=smoke).search_space)
                if searched & set(arm.grid):
                    raise ConfigError(f"grid keys {sorted(searched & set(arm.grid))} are also searched by the "
                                      "arm's sweep; a key is either searched or drawn as a curve")
        except ConfigError as err:
            section = "search_space" if arm.search_space else "sweep_options"
            where = lines.where(f"arms.{arm_name}.{section}") if lines else "study"
            raise ConfigError(f"{where}: arms.{arm_name}: {err}") from None
