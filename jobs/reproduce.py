"""A paper's qualitative claim at small scale: the arms of ``configs/reproduce/NAME.yaml`` over seeds, on Ray.

    python jobs/reproduce.py NAME [--seeds 0 1 2] [key=value ...]

The YAML names the claim, the shared setting (overrides every arm gets), the arms (a method and its own
overrides) and the measures. Each (arm, seed) runs as one Ray task; the table gives the mean and standard
deviation over seeds. The reproduction tests (``tests/test_reproduction*.py``) call :func:`compare`, and
REPRODUCTION.md records the figures this command prints.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

import ray  # noqa: E402

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
def train_and_evaluate(method: str, overrides: list[str]) -> dict[str, float]:
    spec = get_method(method)
    cfg = spec.load_config(overrides)
    trainer = spec.make_trainer(cfg)
    while not trainer.done:
        trainer.fit_epoch()
    return spec.evaluate(cfg, trainer.artifact(), trainer.data)


def compare(name: str, seeds: list[int], extra: list[str] | None = None, arms: list[str] | None = None) -> Results:
    """Every (arm, seed) of reproduction ``name`` as a Ray task on the connected Ray. ``arms``: only these (a test
    that asserts on some arms need not train the others)."""
    repro = load_reproduction(name)
    if arms is not None:
        unknown = set(arms) - set(repro.arms)
        if unknown:
            raise ConfigError(f"reproduction {name!r} has no arms {sorted(unknown)}; it has {sorted(repro.arms)}")
        repro.arms = {a: arm for a, arm in repro.arms.items() if a in arms}
    for arm in repro.arms.values():
        get_method(arm.method).load_config([*repro.setting, *arm.overrides, *(extra or [])])
    refs = {(arm_name, seed): train_and_evaluate.remote(
                arm.method, [*repro.setting, *arm.overrides, *(extra or []), f"seed={seed}"])
            for arm_name, arm in repro.arms.items() for seed in seeds}
    results = {key: ray.get(ref) for key, ref in refs.items()}
    return {arm: {m: [results[(arm, s)][m] for s in seeds] for m in repro.measures} for arm in repro.arms}


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
    from cluster import connect

    print(f"[raystudy] {connect().describe()}", flush=True)
    print(f"claim: {repro.claim}", flush=True)
    out = compare(args.name, args.seeds, args.overrides)
    print(f"seeds {args.seeds}; setting {repro.setting + args.overrides}")
    print(table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
