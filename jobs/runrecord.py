"""What an experiment is: its method and full configuration, recorded beside Tune's state so that a name is
never reused for another run.

Running a sweep again under the same name (``--name``, or the default name made from the sweep's content)
resumes that experiment. ``<storage>/tune/<experiment>/raystudy-run.json`` records the method, the smoke flag,
the fixed method configuration (defaults included) and the sweep; a resume whose record differs is refused
before Ray starts, naming each difference (``key: old -> new``), instead of silently resuming the other run
and overwriting its report.

Not compared: the per-trial resources, ``max_concurrent``, ``max_failures`` and ``time_budget_s``, which say
how a run is carried out (e.g. on a bigger cluster), not what it computes.
"""
from __future__ import annotations

import json
from typing import Any

from shared.config import ConfigError, flatten, to_dict
from shared.registry import get_method
from shared.results import ResultsStore

RECORD = "raystudy-run.json"
# Sweep keys that change how a run is carried out, not what it computes (a resume may change them).
RUNTIME_KEYS = ("resources", "max_concurrent", "max_failures", "time_budget_s", "smoke", "overrides")


def run_record(plan: Any) -> dict[str, Any]:
    """The run as flat ``key: value`` pairs (JSON values): what a resume must match. ``plan``: a SweepPlan."""
    spec = get_method(plan.method)
    config = flatten(to_dict(spec.load_config(plan.sweep.overrides)))
    sweep = {k: v for k, v in to_dict(plan.sweep).items() if k not in RUNTIME_KEYS}
    record = {"method": plan.method, "smoke": plan.smoke,
              **{f"config.{k}": v for k, v in config.items()},
              **{f"sweep.{k}": v for k, v in flatten(sweep).items()}}
    return json.loads(json.dumps(record, default=str))  # as the stored copy reads back


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every key whose value differs (``(absent)`` for a key only one side has)."""
    out = []
    for key in sorted(set(old) | set(new), key=lambda k: (k not in ("method", "smoke"), k)):
        before, after = old.get(key, "(absent)"), new.get(key, "(absent)")
        if before != after:
            out.append(f"{key}: {json.dumps(before)} -> {json.dumps(after)}")
    return out


def stored_record(plan: Any) -> dict[str, Any] | None:
    """The record of the experiment named by ``plan`` (None when there is none)."""
    store = ResultsStore(plan.storage)
    text = store.read_text("tune", plan.experiment, RECORD)
    if text is None:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{store.path('tune', plan.experiment, RECORD)}: not a valid run record ({err}); "
                          f"move it away to resume, or start a new experiment with --fresh") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{store.path('tune', plan.experiment, RECORD)}: not a valid run record")
    return record


def check_same_run(plan: Any) -> None:
    """Refuse to resume experiment ``plan.experiment`` with another method or configuration than it was
    started with (raises ConfigError naming the differences). Call it only when the experiment exists."""
    old = stored_record(plan)
    if old is None:
        return  # recorded before raystudy kept records: nothing to compare with
    diffs = differences(old, run_record(plan))
    if diffs:
        shown = "; ".join(diffs[:8]) + (f"; and {len(diffs) - 8} more" if len(diffs) > 8 else "")
        raise ConfigError(
            f"experiment {plan.experiment!r} (under {plan.storage}/tune) is another run: {shown}. Running it again "
            f"would resume that run, not this one: give another --name, or --fresh for a new experiment")


def write_record(plan: Any) -> str:
    """Record the run beside Tune's state (written whole, then renamed)."""
    text = json.dumps(run_record(plan), indent=1, sort_keys=True)
    return ResultsStore(plan.storage).write_text(text, "tune", plan.experiment, RECORD)
