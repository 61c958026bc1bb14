"""A paper's qualitative claim at small scale: the arms of ``configs/reproduce/NAME.yaml`` over seeds, on Ray.

    python jobs/reproduce.py NAME [--seeds 0 1 2] [key=value ...]

The YAML names the claim, the shared setting (overrides every arm gets), the arms (a method and its own
overrides) and the measures. Each (arm, seed) runs as one Ray task (runs that begin with the same run train
it once: ``MethodConfig.prefix_run``) and computes only the evaluators of the measures; the table gives the mean
and standard deviation over seeds. The reproduction tests (``tests/test_reproduction*.py``) call :func:`compare`, and
REPRODUCTION.md records the figures this command prints.

A run whose config asks for generation actors (``MethodConfig.generation_actors``, e.g. g1's
``grpo.generation_actors=2``) samples through a pool of them (``actors/generation.py``) in a placement group of its
own: the learner's bundle and one per actor, by default the run's CPU split between them. The driver creates that
group only when the run can start (the run it begins from has finished), and removes it when the run ends, so runs
waiting on their prefix never hold CPUs that prefix needs. A request that can never fit a local Ray is refused first.
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

import ray  # noqa: E402

from actors.generation import generation_request, placement_bundles  # noqa: E402
from shared.config import CONFIG_ROOT, ConfigError, load_config  # noqa: E402
from shared.registry import get_method  # noqa: E402

Results = dict[str, dict[str, list[float]]]  # {arm: {measure: [value per seed]}}


@dataclass
class Arm:
    method: str = ""
    overrides: list[str] = field(default_factory=list)


@dataclass
class Reproduction:
    claim: str = ""
    setting: list[str] = field(default_factory=list)
    arms: dict[str, Arm] = field(default_factory=dict)
    measures: list[str] = field(default_factory=list)
    # A reproduction seed also seeds the data (data.seed = seed), so that the spread over seeds includes the
    # data's variation; off for reproductions whose methods have no data.seed.
    data_seed: bool = False


def load_reproduction(name: str) -> Reproduction:
    path = CONFIG_ROOT / "reproduce" / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"no reproduction {name!r} ({path}); known: {', '.join(known)}")
    repro = load_config(Reproduction, path)
    for arm_name, arm in repro.arms.items():
        spec = get_method(arm.method)
        spec.load_config([*repro.setting, *arm.overrides])  # every arm's configuration is valid
        unknown = set(repro.measures) - set(spec.metric_names())
        if unknown:
            raise ConfigError(f"measures: arm {arm_name!r} ({arm.method}) does not report {sorted(unknown)}")
    return repro


@ray.remote(num_cpus=1)
def run(method: str, cfg: Any, measures: list[str] | None = None, start: dict | None = None,
        keep_state: bool = False) -> Any:
    """Train one configuration, then measure it: ``{measure: value}`` (only the evaluators that report
    ``measures``; all when None). ``start``: the final state of the run ``cfg.prefix_run()`` names, whose epochs are
    then not trained again. ``keep_state``: also return the final trainer state, for the runs that start from it;
    with ``measures=[]`` only that state."""
    from actors.generation import attach_pool, detach_pool

    spec = get_method(method)
    trainer = spec.make_trainer(cfg)
    if start is not None:
        trainer.load_prefix_state(start)
    attach_pool(trainer, cfg)  # the config's generation actors, in the placement group compare gave this run
    try:
        while not trainer.done:
            trainer.fit_epoch()
    finally:
        detach_pool(trainer)
    state = copy.deepcopy(trainer.state_dict()) if keep_state else None  # before the evaluators touch anything
    if measures == []:
        return state
    metrics = spec.evaluate(cfg, trainer.artifact(), trainer.data, metrics=measures)
    return (metrics, state) if keep_state else metrics


def seed_overrides(repro: Reproduction, seed: int) -> list[str]:
    """What one reproduction seed sets: the method's seed, and the data's when the reproduction asks for it."""
    return [f"seed={seed}", f"data.seed={seed}"] if repro.data_seed else [f"seed={seed}"]


def plan_prefixes(configs: dict[Any, tuple[str, Any]]) -> tuple[dict[Any, Any], list[tuple[str, Any]]]:
    """Runs that begin with the same run (``MethodConfig.prefix_run``) train it once. ``configs``: {key: (method,
    config)}. Returns {key: what it starts from}, either another key (a run of ``configs`` that is the prefix
    itself, e.g. the simclr arm for sae_probe's encoder phase) or an index into the returned list of prefix runs
    to train on their own (a prefix that two runs or more share and no run of ``configs`` is)."""
    starts: dict[Any, Any] = {}
    extra: list[tuple[str, Any]] = []
    for key, (_, cfg) in configs.items():
        prefix = cfg.prefix_run()
        if prefix is None:
            continue
        source = next((k for k, run in configs.items() if run == prefix and run[1].prefix_run() is None), None)
        if source is not None:
            starts[key] = source
            continue
        index = next((i for i, run in enumerate(extra) if run == prefix), None)
        if index is None:
            sharing = [k for k, (_, c) in configs.items() if k not in starts and c.prefix_run() == prefix]
            if len(sharing) < 2:  # nothing to share
                continue
            extra.append(prefix)
            index = len(extra) - 1
        starts[key] = index
    return starts, extra


def compare(name: str, seeds: list[int], extra: list[str] | None = None, arms: list[str] | None = None,
            done: dict[tuple[str, str], dict[str, float]] | None = None) -> Results:
    """Every (arm, seed) of reproduction ``name`` as a Ray task on the connected Ray. ``arms``: only these (a test
    that asserts on some arms need not train the others). Runs that begin with the same run
    (``MethodConfig.prefix_run``: sae_probe's encoder phase is the simclr arm's run) start from its final state
    instead of training it again. ``done``: measures of runs made before, by method and config; a run found there
    with every measure this reproduction needs is not made again (two reproductions that share an identical run,
    e.g. E-SSL's rotation task and its normal mode), and the runs made here are added."""
    repro = load_reproduction(name)
    if arms is not None:
        unknown = set(arms) - set(repro.arms)
        if unknown:
            raise ConfigError(f"reproduction {name!r} has no arms {sorted(unknown)}; it has {sorted(repro.arms)}")
        repro.arms = {a: arm for a, arm in repro.arms.items() if a in arms}
    configs = {(arm_name, seed): (arm.method, get_method(arm.method).load_config(
                   [*repro.setting, *arm.overrides, *(extra or []), *seed_overrides(repro, seed)]))
               for arm_name, arm in repro.arms.items() for seed in seeds}
    done = {} if done is None else done
    results = {key: done[(method, repr(cfg))] for key, (method, cfg) in configs.items()
               if set(repro.measures) <= set(done.get((method, repr(cfg)), ()))}
    configs = {key: run_ for key, run_ in configs.items() if key not in results}
    starts, prefixes = plan_prefixes(configs)
    states = {i: run.remote(method, cfg, measures=[], keep_state=True) for i, (method, cfg) in enumerate(prefixes)}
    sources = {source for source in starts.values() if not isinstance(source, int)}
    refs: dict[Any, Any] = {}

    def submit(key: Any, **options: Any) -> None:
        method, cfg = configs[key]
        if key in sources:
            refs[key], states[key] = run.options(num_returns=2, **options).remote(method, cfg, repro.measures,
                                                                                  keep_state=True)
        else:
            refs[key] = run.options(**options).remote(method, cfg, repro.measures, start=states.get(starts.get(key)))

    order = sorted(configs, key=lambda k: k in starts)  # sources first: Ray starts ready tasks in order
    pooled = [key for key in order if generation_request(configs[key][1])[0] > 0]
    for key in order:
        if key not in pooled:
            submit(key)
    _run_pooled(pooled, configs, starts, states, submit, refs)
    for key, ref in refs.items():
        method, cfg = configs[key]
        results[key] = done[(method, repr(cfg))] = ray.get(ref)
    return {arm: {m: [results[(arm, s)][m] for s in seeds] for m in repro.measures} for arm in repro.arms}


def run_bundles(method: str, cfg: Any) -> list[dict[str, float]]:
    """The placement group of one run with generation actors: the learner's bundle (the method's resources) first."""
    resources = get_method(method).resources
    return placement_bundles(resources.cpu, resources.gpu, *generation_request(cfg))


def _run_pooled(pooled: list[Any], configs: dict[Any, tuple[str, Any]], starts: dict[Any, Any],
                states: dict[Any, Any], submit: Any, refs: dict[Any, Any]) -> None:
    """Start each run of ``pooled`` (runs with generation actors) in a placement group of its own, created once the
    run can start (the state it starts from is computed) and removed as soon as it ends; returns when all ended.
    A group created before its run could start would hold CPUs the run it waits on may need (on 2 CPUs, the seeds'
    groups starved their own SFT runs)."""
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    waiting, groups = list(pooled), {}
    try:
        while waiting or groups:
            for key in list(waiting):
                source = starts.get(key)
                if source is not None and (source not in states or not ray.wait([states[source]], timeout=0)[0]):
                    continue  # the run it starts from has not been submitted, or not finished
                bundles = run_bundles(*configs[key])
                group = placement_group(bundles)
                submit(key, num_cpus=bundles[0]["CPU"], num_gpus=bundles[0].get("GPU", 0.0),
                       scheduling_strategy=PlacementGroupSchedulingStrategy(
                           group, placement_group_bundle_index=0, placement_group_capture_child_tasks=True))
                groups[refs[key]] = group
                waiting.remove(key)
            watch = list(dict.fromkeys([*groups, *(states[starts[k]] for k in waiting if starts.get(k) in states)]))
            if not watch:
                raise RuntimeError(f"runs {waiting} wait on runs that were never started")
            finished, _ = ray.wait(watch, num_returns=1)
            for ref in finished:
                if ref in groups:
                    remove_placement_group(groups.pop(ref))
    finally:
        for group in groups.values():
            remove_placement_group(group)


def check_fits(name: str, extra: list[str], seeds: list[int], cpus: int | None) -> None:
    """Refuse a run that can never be placed: its placement group (learner + generation actors) asks for more CPUs
    than the local Ray will have (``cpus``; None: not known, e.g. a remote cluster, and nothing is refused)."""
    if cpus is None:
        return
    repro = load_reproduction(name)
    for arm_name, arm in repro.arms.items():
        for seed in seeds:
            cfg = get_method(arm.method).load_config([*repro.setting, *arm.overrides, *extra,
                                                      *seed_overrides(repro, seed)])
            need = sum(b["CPU"] for b in run_bundles(arm.method, cfg))
            actors, actor_cpus = generation_request(cfg)
            if need > cpus + 1e-9:
                per = f" + {actors} generation actors x {actor_cpus:g} CPU" if actors and actor_cpus else ""
                raise ConfigError(f"arm {arm_name!r}: one run asks for {need:g} CPUs (its learner{per}), but the "
                                  f"local Ray has {cpus}; lower the config's generation actors or the CPUs each "
                                  "reserves (0: the actors share the run's CPU; g1: grpo.generation_actors, "
                                  "grpo.generation_cpus)")


def mean(out: Results, arm: str, measure: str) -> float:
    return statistics.mean(out[arm][measure])


def _fmt(value: float) -> str:
    """Three decimals, or three significant digits for small values (e.g. an MSE of 6e-4)."""
    return f"{value:.3f}" if value == 0 or abs(value) >= 0.01 else f"{value:.2e}"


def table(out: Results) -> str:
    arms = list(out)
    measures = list(out[arms[0]])
    lines = ["| measure | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    for m in measures:
        cells = []
        for arm in arms:
            v = out[arm][m]
            if any(math.isnan(x) for x in v):  # the arm does not measure this (e.g. a task it did not train)
                cells.append("-")
                continue
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append(f"{_fmt(statistics.mean(v))} ± {_fmt(sd)}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    known = sorted(p.stem for p in (CONFIG_ROOT / "reproduce").glob("*.yaml"))
    parser.add_argument("name", help=f"a reproduction: {', '.join(known)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("overrides", nargs="*", help="key=value applied to every arm")
    args = parser.parse_args(argv)
    try:
        repro = load_reproduction(args.name)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        local = not os.environ.get("RAY_ADDRESS")
        check_fits(args.name, args.overrides, args.seeds, os.cpu_count() if local else None)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from cluster import connect

    print(f"[raystudy] {connect(dashboard=False).describe()}", flush=True)
    print(f"claim: {repro.claim}", flush=True)
    out = compare(args.name, args.seeds, args.overrides)
    data = " (data.seed = seed)" if repro.data_seed else ""
    print(f"seeds {args.seeds}{data}; setting {repro.setting + args.overrides}")
    print(table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
