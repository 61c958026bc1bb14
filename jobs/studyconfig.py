"""Studies (``configs/studies/<name>.yaml``): schema, validation with line numbers, and the graph.

A study compares methods under the same data, seeds and budget. Each arm names a method, its fixed
overrides, and whether to sweep it first. The graph, per arm::

    sweep:<arm>  ->  seeds:<arm>  ->  report
    (Tune sweep of the arm's search space; the best configuration is retrained over the study's
    seeds, each seed a trial that ends with the method's evaluators; the report compares the arms)

An arm without a sweep starts at ``seeds:<arm>``. ``after: [other arm]`` orders arms (e.g. an attack
that needs another arm's encoder); cycles are refused. Everything is checked before anything runs, and
errors name the file and line.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

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
    measures: list[str] = field(default_factory=list)
    minimize: list[str] = field(default_factory=list)  # measures where lower is better (the rest: higher)
    metric: str = ""  # the measure that picks each sweep's best configuration (default: the sweep's)
    resources: StudyResources = field(default_factory=StudyResources)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    retries: int = bounded(2, ge=0, help="resubmissions of a failed node")
    max_running: int = bounded(0, ge=0, help="nodes running at once; 0: as many as are ready")
    arms: dict[str, ArmConfig] = field(default_factory=dict)
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
    if not path.exists():
        raise ConfigError(f"{path}: no such study file")
    lines = YamlLines(path)
    raw = OmegaConf.load(path)
    if smoke:
        raw = OmegaConf.merge(raw, raw.get("smoke") or {})
    try:
        study: StudyConfig = load_config(StudyConfig, raw)
    except ConfigError as err:
        key = str(err).split(":")[0]
        raise ConfigError(f"{lines.where(key)}: {err}") from None
    study.name = check_name(study.name or path.stem, f"{lines.where('name')}: name")
    validate_study(study, lines)
    return study


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
    for measure in study.minimize:
        if measure not in all_measures(study):
            fail("minimize", f"{measure!r} is not one of the measures {all_measures(study)}")
    if study.metric and study.measures and study.metric not in study.measures:
        fail("metric", f"{study.metric!r} must be one of the measures {study.measures}")
    cycle = find_cycle({a: list(arm.after) for a, arm in study.arms.items()})
    if cycle:
        fail(f"arms.{cycle[0]}.after", "the arms' 'after' lists form a cycle: " + " -> ".join(cycle))


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


def study_id(study: StudyConfig, smoke: bool) -> str:
    """Deterministic per study content: the same study resumes under the same id."""
    content = json.dumps(to_dict(study), sort_keys=True, default=str)
    return f"{study.name}{'-smoke' if smoke else ''}-{hashlib.sha1(content.encode()).hexdigest()[:8]}"
