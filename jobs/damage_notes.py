"""What a report says about damage: result files moved to quarantine (rows missing, or recomputed since) and
trials that resumed from an older checkpoint (or from scratch) because their newest one was damaged. A report
never drops rows silently: ``read_rows`` refuses damaged files unless asked to quarantine them, and
``damage_notes`` lists what was quarantined."""
from __future__ import annotations

import sys

import pandas as pd

from shared.results import DamagedResultsError, ResultsStore

CHECKPOINT_FALLBACK = "checkpoint_fallback"  # the metric actors/trainable.py writes (kept in step by a test)


def read_rows(store: ResultsStore, experiments: list[str], quarantine: bool) -> pd.DataFrame:
    """The rows of the experiments. Damaged files raise DamagedResultsError naming them, or with ``quarantine``
    are moved to ``<root>/quarantine/`` with a warning (the report then lists their rows as missing)."""
    tables, damaged = [], []
    for experiment in experiments:
        table, bad = store.read_checked(experiment)
        tables.append(table.to_pandas())
        damaged += bad
    if damaged and not quarantine:
        raise DamagedResultsError(store, damaged)
    for item, target in zip(damaged, store.quarantine(damaged), strict=True):
        print(f"[raystudy] WARNING damaged result file {item.path} ({item.reason}) moved to {target}",
              file=sys.stderr, flush=True)
    frames = [t for t in tables if not t.empty]
    return pd.concat(frames, ignore_index=True) if frames else (tables[0] if tables else pd.DataFrame())


def damage_notes(store: ResultsStore, experiments: list[str], rows: pd.DataFrame) -> list[str]:
    """Markdown lines (empty when nothing was damaged) for the end of a report."""
    lines = []
    for experiment in experiments:
        for q in store.quarantined(experiment):
            what = "recomputed since (the trial ran the epoch again)" if q.rewritten else "**its rows are missing**"
            lines.append(f"- `{experiment}` trial `{q.trial}` epoch {q.epoch}: result file damaged ({q.reason}); "
                         f"moved to `{q.path}`; {what}")
    if not rows.empty and "metric" in rows:
        fallbacks = rows[rows["metric"] == CHECKPOINT_FALLBACK].sort_values(["trial", "epoch"])
        for _, row in fallbacks.iterrows():
            start = int(row["value"])
            where = f"its checkpoint of epoch {start}" if start else "scratch (no usable checkpoint was left)"
            lines.append(f"- trial `{row['trial']}`: its newest checkpoint was damaged; it resumed from {where} and "
                         f"trained epochs {start + 1}-{int(row['epoch'])} again")
    if not lines:
        return []
    return ["", "## Damaged files", "", *lines]
