"""One status per trial, written by the sweep's driver after ``tuner.fit()``.

A trial writes its own rows ("running", then "final" at its last epoch). What it cannot write is how it
ended when Tune ended it: a trial stopped by the scheduler (ASHA) is simply not stepped again, and with
``reuse_actors=True`` its actor goes on to the next trial (``reset_config``), so no hook of the trial runs;
a trial that failed in ``setup`` or in its first epoch wrote nothing at all. The driver knows both from the
ResultGrid, so it records them here:

- stopped before its last epoch, no error, and done for Tune (a scheduler's STOP sets ``done`` in the trial's
  last result; a trial interrupted by Ctrl-C is not done, will resume, and stays as it is: incomplete): the rows
  of its last epoch are rewritten with status "stopped"
  (the same file: epoch files are deterministic per trial and epoch), so filtering on final/stopped finds
  every trial that ran;
- failed: an "error" row (metric ``error``, value NaN) after its last epoch unless it wrote one itself, and
  the message in ``results/<experiment>/<trial>/error.json`` for the report.

A trial that reached its last epoch but has no "final" row (its file was lost) is left as it is: the report
calls it incomplete rather than guess.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.damage_notes import read_rows
from shared.config import flatten, to_dict
from shared.results import SCHEMA, ResultsStore, RunInfo, metric_rows

ERROR_FILE = "error.json"


def trial_id_of(result: Any) -> str:
    """The trial id of a Tune Result: its metrics carry it once it reported; else its directory's name (the
    sweep names trial directories by trial id)."""
    metrics = result.metrics or {}
    return str(metrics.get("trial_id") or Path(str(result.path)).name)


def error_message(error: BaseException) -> str:
    """The last line of the error (the trial's own exception under Tune's wrapper), at most 300 characters."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:300]


def record_trial_statuses(store: ResultsStore, experiment: str, grid: Any, spec: Any,
                          overrides: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, str]:
    """Write the stopped/error statuses of the sweep's trials; returns {trial: what was recorded}."""
    rows = read_rows(store, [experiment], quarantine=True)  # the sweep's report quarantines damaged files too
    if rows.empty:
        rows = SCHEMA.empty_table().to_pandas()
    done: dict[str, str] = {}
    for result in grid:
        trial = trial_id_of(result)
        own = rows[rows["trial"] == trial]
        if result.error is not None:
            _record_error(store, experiment, trial, own, result, spec, overrides, labels or {})
            done[trial] = "error"
        elif (result.metrics or {}).get("done") and _stopped_early(own):
            _mark_stopped(store, experiment, trial, own)
            done[trial] = "stopped"
    return done


def _stopped_early(own: pd.DataFrame) -> bool:
    """Rows, none final or error, and the last one before the configured number of epochs."""
    if own.empty or own["status"].isin(["final", "error", "stopped"]).any():
        return False
    last = own.loc[own["epoch"].idxmax()]
    epochs = json.loads(last["config"]).get("epochs")
    return epochs is None or int(last["epoch"]) < int(epochs)


def _mark_stopped(store: ResultsStore, experiment: str, trial: str, own: pd.DataFrame) -> None:
    epoch = int(own["epoch"].max())
    last = own[own["epoch"] == epoch].copy()
    last["status"] = "stopped"
    store.write_rows(_records(last), experiment, trial, f"epoch={epoch:06d}.parquet")


def _record_error(store: ResultsStore, experiment: str, trial: str, own: pd.DataFrame, result: Any,
                  spec: Any, overrides: dict[str, Any], labels: dict[str, str]) -> None:
    message = error_message(result.error)
    epoch = int(own["epoch"].max()) + 1 if not own.empty else 1
    if not (own["status"] == "error").any():
        info = _run_info(experiment, trial, own, result, spec, overrides, labels)
        error_rows = metric_rows(info, epoch, {"error": math.nan}, "error", 0.0)
        store.write_rows(error_rows, experiment, trial, f"epoch={epoch:06d}.parquet")
    else:
        epoch = int(own.loc[own["status"] == "error", "epoch"].max())
    store.write_text(json.dumps({"message": message, "epoch": epoch}), "results", experiment, trial, ERROR_FILE)


def _run_info(experiment: str, trial: str, own: pd.DataFrame, result: Any, spec: Any,
              overrides: dict[str, Any], labels: dict[str, str]) -> RunInfo:
    """The labels of the trial's rows: from its own rows when it wrote any, else from its sampled config."""
    if not own.empty:
        first = own.iloc[0]
        config_json = str(first["config"])
        seed, dataset = int(first["seed"]), str(first["dataset"])
    else:
        sampled = {**overrides, **(result.config or {})}
        try:  # the full method config, as a trial's own rows carry it
            cfg = spec.load_config(sampled)
            config_json = RunInfo.config_to_json(flatten(to_dict(cfg)))
            seed, dataset = int(getattr(cfg, "seed", 0)), str(getattr(getattr(cfg, "data", None), "name", ""))
        except Exception:  # noqa: BLE001 - the config itself may be why the trial failed: keep what was sampled
            config_json, seed, dataset = RunInfo.config_to_json(sampled), int(sampled.get("seed", 0)), ""
    return RunInfo(experiment=experiment, method=spec.name, paper=spec.paper, dataset=dataset, seed=seed,
                   trial=trial, config_json=config_json, study=labels.get("study", ""), job=labels.get("job", ""),
                   code_version=labels.get("code_version", ""))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.to_dict("records")
    for row in out:  # pandas gives Timestamps; the schema's timestamp column takes them, NaT as None
        if pd.isna(row.get("time")):
            row["time"] = int(time.time() * 1000)
    return out
