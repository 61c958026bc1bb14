"""Reports made from result rows: Markdown and PNG figures that answer the question a sweep or study asks.

    python jobs/report.py EXPERIMENT [--storage ROOT] [--metric NAME --mode max] [--quarantine]
    python jobs/report.py --study STUDY_ID [--measures a,b --minimize b] [--quarantine]

A sweep's report leads with the method's headline measures (``MethodSpec.headline``) per value of the
hyperparameter its comparison is about (``MethodSpec.compare``; CARE: lambda) at matched epochs: the largest
epoch every trial of the comparison was evaluated at, so that trials the scheduler stopped early are not set
against trials that trained longer. Then every trial with its status (finished, stopped by the scheduler,
error with its message, incomplete) and its last measures. Figures: learning curves of the headline measures,
a trade-off of the first two, and the headline measures against each swept hyperparameter.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from jobs import reportfigs  # noqa: E402
from jobs.damage_notes import damage_notes, read_rows  # noqa: E402
from jobs.studyconfig import figures_fingerprint  # noqa: E402
from shared.config import ConfigError  # noqa: E402
from shared.method import headline_measures  # noqa: E402
from shared.names import name_arg  # noqa: E402
from shared.registry import get_method  # noqa: E402
from shared.results import DamagedResultsError, ResultsStore  # noqa: E402

# Training diagnostics that are not measures of the result; left out of tables and plots.
DIAGNOSTICS = {"lr", "epoch_time_s", "checkpoint_fallback", "error", "nonfinite_loss"}
STATUSES = ("finished", "stopped", "error", "incomplete")


def trial_status(statuses: pd.Series) -> str:
    """A trial's status from its rows' statuses: error > finished (a final row) > stopped > incomplete (only
    "running" rows: still running, or its run died before the driver recorded how it ended)."""
    seen = set(statuses)
    if "error" in seen:
        return "error"
    if "final" in seen:
        return "finished"
    return "stopped" if "stopped" in seen else "incomplete"


def read_errors(store: ResultsStore, experiment: str, trials: list[str]) -> dict[str, str]:
    """The error messages the sweep's driver recorded (jobs/trialstatus.py), per trial."""
    out = {}
    for trial in trials:
        text = store.read_text("results", experiment, trial, "error.json")
        if text:
            out[trial] = str(json.loads(text).get("message", ""))
    return out


def final_measures(rows: pd.DataFrame, errors: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per trial (every trial that wrote a row, failed ones included): its last value of every metric,
    its last epoch, its status and its error message."""
    if rows.empty:
        return pd.DataFrame()
    trials = pd.Index(sorted(rows["trial"].unique()), name="trial")
    ok = rows[(rows["status"] != "error") & rows["value"].notna()].sort_values("epoch")
    last = ok.groupby(["trial", "metric"]).tail(1)
    wide = last.pivot(index="trial", columns="metric", values="value").reindex(trials)
    out = wide.join(rows.groupby("trial")["epoch"].max().rename("epochs"))
    out = out.join(rows.groupby("trial")["status"].agg(trial_status).rename("status"))
    out["error"] = [(errors or {}).get(t, "") for t in out.index]
    out["config"] = rows.sort_values("epoch").groupby("trial")["config"].last().map(json.loads).reindex(trials)
    return out.reset_index()


def _swept_keys(table: pd.DataFrame, search_space: dict[str, Any]) -> list[str]:
    return [k for k in search_space if k in table.columns]


def summary_table(rows: pd.DataFrame, search_space: dict[str, Any], metric: str, mode: str,
                  measures: list[str] | None = None, errors: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per trial, sorted best first. ``measures``: the columns to keep, in order (default: every metric)."""
    table = final_measures(rows, errors)
    if table.empty:
        return table
    reached = "epochs"  # the last epoch each trial reached; a sweep over the `epochs` key needs both columns
    if "epochs" in search_space:
        table, reached = table.rename(columns={"epochs": "epochs_reached"}), "epochs_reached"
    for key in search_space:
        table[key] = table["config"].map(lambda c, k=key: c.get(k) if isinstance(c, dict) else None)
    reported = [m for m in rows["metric"].unique() if m not in DIAGNOSTICS and m in table.columns]
    measures = [m for m in (measures or sorted(reported)) if m in reported]
    if metric in measures:
        measures = [metric] + [m for m in measures if m != metric]
    table["status"] = [f"error: {e}" if s == "error" and e else s for s, e in zip(table["status"], table["error"],
                                                                               strict=True)]
    cols = ["trial", *search_space, reached, "status", *measures]
    table = table[cols]
    if metric in table.columns:
        table = table.sort_values(metric, ascending=(mode == "min"), na_position="last")
    return table.reset_index(drop=True)


def to_markdown(table: pd.DataFrame, metric: str) -> str:
    """A GitHub table; the best trial (first row after sorting, if finite) is marked."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "" if pd.isna(v) else f"{v:.4g}"
        return str(v).replace("|", "\\|")

    header = "| " + " | ".join(table.columns) + " |"
    sep = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [header, sep]
    for i, row in table.iterrows():
        cells = [fmt(v) for v in row]
        if i == 0 and metric in table.columns and pd.notna(row[metric]):
            cells[0] = f"**{cells[0]}** (best)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---- the comparison: headline measures per value of the compared hyperparameter, at matched epochs ----------

def compare_keys(compare: tuple[str, ...], table: pd.DataFrame, space: dict[str, Any]) -> list[str]:
    """The method's compared hyperparameters that this sweep varies; else the swept ones that vary (the seed
    last: a seeds run compares seeds); none when nothing varies."""
    def varying(k: str) -> bool:
        return k in table and table[k].astype(str).nunique() > 1

    declared = [k for k in compare if varying(k)]
    if declared:
        return declared
    return [k for k in space if k != "seed" and varying(k)][:1]


def matched_epoch(rows: pd.DataFrame, trials: list[str], measures: list[str]) -> int | None:
    """The largest epoch at which every one of ``trials`` reported a headline measure; None when they share none."""
    evaluated = rows[rows["metric"].isin(measures) & rows["value"].notna() & (rows["status"] != "error")]
    common: set[int] | None = None
    for trial in trials:
        epochs = set(evaluated.loc[evaluated["trial"] == trial, "epoch"].astype(int))
        common = epochs if common is None else common & epochs
    return max(common) if common else None


def values_at(rows: pd.DataFrame, trials: list[str], measures: list[str], epoch: int | None) -> pd.DataFrame:
    """trial x measure: the value at ``epoch``, or (None) each trial's last reported value."""
    sub = rows[rows["trial"].isin(trials) & rows["metric"].isin(measures) & rows["value"].notna()
               & (rows["status"] != "error")]
    if epoch is not None:
        sub = sub[sub["epoch"] == epoch]
    last = sub.sort_values("epoch").groupby(["trial", "metric"]).tail(1)
    return last.pivot(index="trial", columns="metric", values="value").reindex(trials)


def group_labels(table: pd.DataFrame, keys: list[str]) -> pd.Series:
    """trial -> the compared value(s) as a label, e.g. ``0.1`` or ``0.1, 16``."""
    if not keys:
        return pd.Series("all trials", index=table["trial"])
    labels = [", ".join(str(v) for v in values) for values in table[keys].itertuples(index=False)]
    return pd.Series(labels, index=table["trial"].to_numpy())


def compare_summary(values: pd.DataFrame, groups: pd.Series, measures: list[str]) -> pd.DataFrame:
    """Per group: trials, and per measure mean, sample standard deviation (ddof 1) and count over its trials."""
    out = []
    for group in sorted(groups.reindex(values.index).unique(), key=reportfigs.sort_key):
        members = values[groups.reindex(values.index) == group]
        row: dict[str, Any] = {"group": group, "trials": len(members)}
        for m in measures:
            col = members[m].dropna() if m in members else pd.Series(dtype=float)
            row[f"{m}_mean"] = col.mean() if len(col) else float("nan")
            row[f"{m}_std"] = col.std(ddof=1) if len(col) > 1 else float("nan")
            row[f"{m}_n"] = len(col)
        out.append(row)
    return pd.DataFrame(out)


def compare_markdown(summary: pd.DataFrame, keys: list[str], measures: list[tuple[str, str]]) -> str:
    """The summary as a table; the best group per measure in bold (when at least two groups report it)."""
    title = ", ".join(keys) if keys else "trials"
    lines = [f"| {title} | trials | " + " | ".join(f"{m} ({'↑' if mode == 'max' else '↓'})" for m, mode in measures)
             + " |", "|" + "---|" * (2 + len(measures))]
    best = {}
    for m, mode in measures:
        col = summary[f"{m}_mean"].dropna()
        best[m] = None if len(col) < 2 else (col.idxmax() if mode == "max" else col.idxmin())
    for i, row in summary.iterrows():
        cells = []
        for m, _ in measures:
            if not row[f"{m}_n"]:
                cells.append("-")
                continue
            sd = "" if pd.isna(row[f"{m}_std"]) else f" ± {row[f'{m}_std']:.4f}"
            text = f"{row[f'{m}_mean']:.4f}{sd} (n={int(row[f'{m}_n'])})"
            cells.append(f"**{text}**" if best[m] == i else text)
        lines.append(f"| {row['group']} | {row['trials']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _headline(rows: pd.DataFrame, metric: str, mode: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The method's headline measures (name, mode) that the rows report, and its compared hyperparameters."""
    spec = None
    if not rows.empty:
        try:
            spec = get_method(str(rows["method"].iloc[0]))
        except (ConfigError, KeyError, ImportError):  # rows of a method this checkout does not register
            spec = None
    reported = set(rows["metric"]) if not rows.empty else set()
    heads = [(m.name, m.mode) for m in headline_measures(spec, metric, mode) if m.name in reported]
    if not heads and metric in reported:
        heads = [(metric, mode)]
    return tuple(heads), tuple(getattr(spec, "compare", ()) or ())


def comparison_section(rows: pd.DataFrame, table: pd.DataFrame, space: dict[str, Any], heads: tuple,
                       compare: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    """The report's lead: its Markdown lines, and what the figures need (groups, values, matched epoch)."""
    keys = compare_keys(compare, table, space)
    names = [m for m, _ in heads]
    left_out = table[table["status"].str.startswith("error")]["trial"].tolist()
    reported = set(rows.loc[rows["metric"].isin(names) & rows["value"].notna(), "trial"])
    trials = [t for t in table["trial"] if t not in left_out and t in reported]
    groups = group_labels(table, keys)
    epoch = matched_epoch(rows, trials, names)
    values = values_at(rows, trials, names, epoch)
    when = f"at epoch {epoch}" if epoch is not None else "at each trial's last evaluation"
    title = ", ".join(keys) if keys else "all trials"
    lines = [f"## Headline measures {'per ' + title if keys else 'over all trials'}, {when}", ""]
    if not trials:
        lines.append("No trial reported a headline measure.")
        return lines, {}
    summary = compare_summary(values, groups, names)
    lines += [compare_markdown(summary, keys, list(heads)), ""]
    if epoch is not None:
        lines.append(f"- Matched epoch {epoch}: the largest epoch at which all {len(trials)} trials of the comparison "
                     "were evaluated (a trial stopped early is compared at the same epoch as the others).")
    else:
        lines.append("- The trials share no evaluated epoch: each is shown at its last evaluation (epochs differ).")
    lines.append("- Mean ± sample standard deviation over the trials of each value (samples and seeds); n: trials; "
                 "best in bold.")
    if left_out:
        lines.append(f"- Left out: {len(left_out)} trial(s) that failed ({', '.join(left_out)}).")
    unevaluated = [t for t in table["trial"] if t not in left_out and t not in reported]
    if unevaluated:
        lines.append(f"- Left out: {len(unevaluated)} trial(s) without any evaluation of a headline measure "
                     f"({', '.join(unevaluated)}).")
    lines.append("")
    return lines, {"groups": groups, "values": values, "epoch": epoch, "when": when, "title": title}


def status_line(table: pd.DataFrame) -> str:
    kinds = table["status"].map(lambda s: "error" if s.startswith("error") else s)
    counts = [f"{(kinds == s).sum()} {s}" for s in STATUSES if (kinds == s).any()]
    return f"{len(table)} trial(s): " + ", ".join(counts) + "."


def constant_columns(table: pd.DataFrame, measures: list[str]) -> dict[str, Any]:
    """Measures with one value over every trial that reported them (two or more; e.g. a dimension): said once,
    not tabled."""
    out = {}
    for m in measures:
        col = table[m].dropna()
        if len(col) > 1 and col.nunique() == 1:
            out[m] = col.iloc[0]
    return out


def write_sweep_report(store: ResultsStore, experiment: str, sweep: Any,
                       measures: list[str] | None = None, quarantine: bool = False) -> dict[str, str]:
    """Write ``report.md`` and its figures (``curves.png``, ``tradeoff.png``, ``measures_vs_hparams.png``)
    under ``reports/<experiment>/``. ``plot`` in the answer: the first figure written ('' when none). Damaged
    result files raise DamagedResultsError, or with ``quarantine`` are moved aside and listed in the report as
    missing rows."""
    import tempfile

    rows = read_rows(store, [experiment], quarantine)
    out_dir = Path(tempfile.mkdtemp(prefix="raystudy-report-"))  # then copied whole to the store
    space = dict(sweep.search_space)
    errors = read_errors(store, experiment, sorted(rows["trial"].unique())) if not rows.empty else {}
    heads, compare = _headline(rows, sweep.metric, sweep.mode)
    names = [m for m, _ in heads]  # the table's columns: the headline measures first
    ordered = names + [m for m in (measures or sorted(rows["metric"].unique())) if m not in names]
    table = summary_table(rows, space, sweep.metric, sweep.mode, ordered, errors)
    source = store.path("results", experiment)
    text = [f"# Sweep {experiment}", "",
            f"Metric: `{sweep.metric}` ({sweep.mode}); {len(table)} trial(s); rows from {source}", ""]
    figures: dict[str, Any] = {}
    if table.empty:
        text.append("No results were written.")
    else:
        text += [status_line(table), ""]
        lead, info = comparison_section(rows, table, space, heads, compare)
        text += lead
        if info:
            figures = _sweep_figures(rows, table, space, heads, info)
        text += [f"![{name.replace('_', ' ')}]({name}.png)" for name in figures if figures[name] is not None]
        text += ["", *_full_table(table, sweep.metric)]
    notes = damage_notes(store, [experiment], rows)
    text += notes
    md = out_dir / "report.md"
    md.write_text("\n".join(text) + "\n")
    spec_file = out_dir / "sweep.json"  # lets `report.py EXPERIMENT` redraw with the sweep's own axes
    spec_file.write_text(json.dumps({"search_space": space, "metric": sweep.metric, "mode": sweep.mode,
                                     "measures": measures}, indent=1, default=str))
    store.put_file(spec_file, "reports", experiment, spec_file.name)
    paths = {"report": store.put_file(md, "reports", experiment, md.name), "plot": ""}
    for name, fig in figures.items():
        if fig is None:
            continue
        png = out_dir / f"{name}.png"
        reportfigs.save(fig, png)
        paths[name] = store.put_file(png, "reports", experiment, png.name)
        paths["plot"] = paths["plot"] or paths[name]
    shutil.rmtree(out_dir, ignore_errors=True)
    if not table.empty:
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(table.drop(columns=["trial"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if notes:
        print("\n".join(notes[1:]))
    return paths


def _sweep_figures(rows: pd.DataFrame, table: pd.DataFrame, space: dict[str, Any], heads: tuple,
                   info: dict[str, Any]) -> dict[str, Any]:
    groups, title = info["groups"], info["title"]
    figures = {"curves": reportfigs.curves_figure(rows[rows["status"] != "error"], groups, title, list(heads),
                                                  info["epoch"])}
    if len(heads) >= 2:  # the first two headline measures: the method's trade-off (CARE: colour against class)
        figures["tradeoff"] = reportfigs.tradeoff_figure(info["values"], groups, title, heads[1], heads[0],
                                                         info["when"])
    at_matched = table.drop(columns=[m for m, _ in heads if m in table]).merge(
        info["values"], left_on="trial", right_index=True, how="inner")  # the trials of the comparison
    figures["measures_vs_hparams"] = reportfigs.measures_vs_hparams_figure(at_matched, space, list(heads),
                                                                           info["when"])
    return figures


def _full_table(table: pd.DataFrame, metric: str) -> list[str]:
    fixed = {"trial", "epochs", "epochs_reached", "status"}
    measures = [c for c in table.columns if c not in fixed and pd.api.types.is_float_dtype(table[c])]
    constant = constant_columns(table, measures)
    lines = ["## All trials", "", "Each trial's status and its last reported values (at its last epoch, `epochs`).",
             "", to_markdown(table.drop(columns=list(constant)), metric), ""]
    if constant:
        lines += ["The same in every trial: " + ", ".join(f"`{k}` = {v:.4g}" for k, v in constant.items()), ""]
    return lines


def flat_configs(rows: pd.DataFrame) -> pd.DataFrame:
    """Each row's method config, flattened to dotted keys (``optim.lr``), on the rows' index."""
    if "config" not in rows:
        return pd.DataFrame(index=rows.index)
    configs = rows["config"].map(lambda text: json.loads(text) if isinstance(text, str) and text else {})
    return pd.json_normalize(list(configs)).set_index(rows.index) if len(rows) else pd.DataFrame(index=rows.index)


def setting_keys(configs: pd.DataFrame) -> list[str]:
    """The config keys that vary between the rows of one seeds node besides the seed: its grid (a curve's x). A key
    equal to the seed in every row (``data.seed`` in a study with ``data_seed``) is the seed, not a setting."""
    seeds = configs["seed"].astype(str) if "seed" in configs else None

    def follows_seed(key: str) -> bool:
        return seeds is not None and bool((configs[key].astype(str) == seeds).all())

    return [k for k in configs.columns
            if k != "seed" and configs[k].astype(str).nunique() > 1 and not follows_seed(k)]


def study_table(rows: pd.DataFrame, measures: list[str], minimize: list[str]) -> pd.DataFrame:
    """Per arm (the study's ``seeds:<arm>`` nodes), per point of the arm's grid, and per measure: mean, standard
    deviation and seeds, from each seed's final row. ``setting``: the grid point ('' for an arm without a grid)."""
    final = rows[(rows["status"] == "final") & rows["job"].str.startswith("seeds:")]
    out = []
    for job, group in final.groupby("job"):
        configs = flat_configs(group)
        keys = setting_keys(configs)
        labels = (configs[keys].astype(str).apply(lambda r: ", ".join(f"{k}={v}" for k, v in r.items()), axis=1)
                  if keys else pd.Series("", index=group.index))
        points = sorted(labels.unique(), key=lambda lab: [reportfigs.sort_key(p.split("=", 1)[-1])
                                                           for p in lab.split(", ")])
        for label in points:
            part = group[labels == label]
            row: dict[str, Any] = {"arm": job.split(":", 1)[1], "setting": label, "method": part["method"].iloc[0],
                                   "seeds": part["seed"].nunique()}
            for m in measures:  # a measure this arm does not report stays NaN ("-" in the table)
                values = part.loc[part["metric"] == m, "value"]
                row[f"{m}_mean"] = values.mean() if len(values) else float("nan")
                row[f"{m}_std"] = values.std(ddof=1) if len(values) > 1 else (0.0 if len(values) else float("nan"))
            out.append(row)
    return pd.DataFrame(out)


def series_column(fig: dict[str, Any]) -> str:
    """The name of the single panel of a curve whose y measures are its points (``at``)."""
    return fig.get("ylabel") or " / ".join(fig["y"])


def figure_points(rows: pd.DataFrame, fig: dict[str, Any]) -> pd.DataFrame:
    """The points of one paper figure: per seed and grid point of its arms, the x value (a config key or a measure),
    the line (the arm, or the value of the grid key ``lines``), each y measure and the bound."""
    final = rows[(rows["status"] == "final") & rows["job"].str.startswith("seeds:")]
    arms = fig.get("arms") or sorted({j.split(":", 1)[1] for j in final["job"]})
    final = final[final["job"].isin([f"seeds:{a}" for a in arms])]
    if final.empty:
        return pd.DataFrame()
    wide = final.pivot_table(index=["job", "trial"], columns="metric", values="value", aggfunc="last")
    firsts = final.groupby(["job", "trial"]).first()
    configs = flat_configs(firsts.reset_index()).set_index(firsts.index)
    x, lines = fig["x"], fig.get("lines") or ""
    if fig.get("at"):  # the y measures are the points of one curve per arm: y[i] at x = at[i]
        column = series_column(fig)
        parts = [pd.DataFrame({"x": float(at), "line": [j.split(":", 1)[1] for j, _ in wide.index],
                               column: wide[m].to_numpy() if m in wide else float("nan")})
                 for at, m in zip(fig["at"], fig["y"], strict=True)]
        return pd.concat(parts, ignore_index=True)
    out = pd.DataFrame(index=wide.index)
    # the config's value first (a grid key is what the arm set), else the measure of that name (e.g. class_size);
    # a method may also report a measure named like a key (csr_v2's current k while it anneals)
    from_config = configs[x] if x in configs else pd.Series(float("nan"), index=wide.index)
    out["x"] = from_config.where(from_config.notna(), wide[x]) if x in wide else from_config
    out["line"] = (configs[lines].astype(str) if lines and lines in configs
                   else pd.Series([j.split(":", 1)[1] for j, _ in wide.index], index=wide.index))
    if lines and len(arms) > 1:  # several arms, each split by a grid key: the arm names the line too
        out["line"] = [f"{j.split(':', 1)[1]}: {v}" for (j, _), v in zip(wide.index, out["line"], strict=True)]
    for m in [*fig.get("y", []), *([fig["bound"]] if fig.get("bound") else [])]:
        out[m] = wide[m] if m in wide else float("nan")
    return out.reset_index(drop=True).dropna(subset=["x"])


def study_markdown(table: pd.DataFrame, measures: list[str], minimize: list[str]) -> str:
    gridded = "setting" in table and bool((table["setting"] != "").any())  # some arm trains a grid of points
    header = "| arm | " + ("setting | " if gridded else "") + "method | seeds | " + " | ".join(measures) + " |"
    lines = [header, "|" + "---|" * (3 + gridded + len(measures))]
    best = {}
    for m in measures:
        col = table[f"{m}_mean"].dropna()
        # a best only where at least two arms report the measure
        best[m] = None if len(col) < 2 else (col.idxmin() if m in minimize else col.idxmax())
    for i, row in table.iterrows():
        cells = []
        for m in measures:
            if pd.isna(row[f"{m}_mean"]):
                cells.append("-")
                continue
            text = f"{row[f'{m}_mean']:.4f} ± {row[f'{m}_std']:.4f}"
            cells.append(f"**{text}**" if best[m] == i else text)
        setting = f"{row['setting']} | " if gridded else ""
        lines.append(f"| {row['arm']} | {setting}{row['method']} | {row['seeds']} | " + " | ".join(cells) + " |")
    arrows = ", ".join(f"{m} ({'lower' if m in minimize else 'higher'} is better)" for m in measures)
    return ("\n".join(lines) + f"\n\nMean ± standard deviation over seeds; best in bold: {arrows}; "
            "- : the arm does not report the measure.")


def study_headline(rows: pd.DataFrame, measures: list[str], minimize: list[str]) -> tuple[list[str], list[str]]:
    """The study's measures with its arms' headline measures first (in the order the methods declare them);
    with no measures given, the headline measures themselves. A measure's direction: ``minimize`` if given,
    else the one its method declares."""
    heads: list[str] = []
    declared_min: set[str] = set()
    for method in dict.fromkeys(rows["method"]) if not rows.empty else []:
        try:
            spec = get_method(str(method))
        except ConfigError:
            continue
        for m in getattr(spec, "headline", ()):
            if m.name not in heads:
                heads.append(m.name)
            if m.mode == "min":
                declared_min.add(m.name)
    if measures:
        ordered = [m for m in heads if m in measures] + [m for m in measures if m not in heads]
    else:
        reported = set(rows["metric"]) if not rows.empty else set()
        ordered = [m for m in heads if m in reported]
    lower = list(minimize) if minimize else [m for m in ordered if m in declared_min]
    return ordered, lower


def write_study_report(store: ResultsStore, study_id: str, measures: list[str], minimize: list[str],
                       title: str = "", quarantine: bool = False,
                       figures: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """``reports/<study>/report.md`` and ``measures.png`` from the rows of every node of the study: the arms'
    headline measures first, mean ± sd over seeds per arm (and per point of an arm's grid); then the figures, each
    drawn from the rows as ``figure_<name>.png``: the study's (``figures``, ``FigureConfig`` as dicts: curve,
    tradeoff or bars) and those the arms' methods declare (``MethodSpec.figures``, bars); then each arm's first
    seed's pictures. ``figures.json`` beside the report records the figures drawn (the scheduler redraws a report
    whose study's figures changed)."""
    import tempfile

    experiments = store.experiments(prefix=f"{study_id}--")
    rows = read_rows(store, experiments, quarantine) if experiments else pd.DataFrame()
    measures, minimize = study_headline(rows, measures, minimize)
    out_dir = Path(tempfile.mkdtemp(prefix="raystudy-report-"))
    md, png = out_dir / "report.md", out_dir / "measures.png"
    text = [f"# Study {study_id}", "", title, ""] if title else [f"# Study {study_id}", ""]
    table = study_table(rows, measures, minimize) if not rows.empty and measures else pd.DataFrame()
    fig, drawn = None, {}
    if table.empty:
        text.append("No final result rows were found.")
    else:
        text += ["## Measures per arm", "", study_markdown(table, measures, minimize)]
        fig = reportfigs.study_figure(table, measures, minimize)
        if fig is not None:
            text += ["", f"![measures per arm]({png.name})"]
        wanted = {**method_figures(rows), **(figures or {})}  # the study's own win a name clash
        drawn = {name: draw_figure(rows, table, spec, name, minimize) for name, spec in wanted.items()}
        drawn = {name: f for name, f in drawn.items() if f is not None}
        if wanted:
            text += ["", "## Figures", ""]
            text += [f"![{wanted[name].get('title') or name}](figure_{name}.png)" for name in drawn]
            text += [f"- `{name}`: no final rows to draw" for name in wanted if name not in drawn]
        text += arm_files_section(store, study_id, rows, out_dir)
        sweeps = [e for e in store.experiments(prefix=f"{study_id}--sweep-")]
        if sweeps:
            text += ["", "Sweeps (each with its own comparison, table and figures):"]
            text += [f"- `reports/{e}/report.md`" for e in sweeps]
    text += damage_notes(store, experiments, rows)
    md.write_text("\n".join(text) + "\n")
    paths = {"report": store.put_file(md, "reports", study_id, md.name), "plot": ""}
    if fig is not None:
        reportfigs.save(fig, png)
        paths["plot"] = store.put_file(png, "reports", study_id, png.name)
    for local in sorted((out_dir / "files").rglob("*")) if (out_dir / "files").exists() else []:
        if local.is_file():
            store.put_file(local, "reports", study_id, *local.relative_to(out_dir).parts)
    for name, figure in drawn.items():
        path = out_dir / f"figure_{name}.png"
        reportfigs.save(figure, path)
        paths[f"figure_{name}"] = store.put_file(path, "reports", study_id, path.name)
    (out_dir / "figures.json").write_text(figures_fingerprint(figures))
    store.put_file(out_dir / "figures.json", "reports", study_id, "figures.json")
    shutil.rmtree(out_dir, ignore_errors=True)
    return paths


def method_figures(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The figures the methods of the study's rows declare (``MethodSpec.figures``), as bars figure specs."""
    out: dict[str, dict[str, Any]] = {}
    for method in dict.fromkeys(rows["method"]):
        try:
            spec = get_method(str(method))
        except ConfigError:
            continue
        for fig in getattr(spec, "figures", ()):
            out.setdefault(fig.name, {"kind": "bars", "title": fig.title, "y": list(fig.measures),
                                      "ylabel": fig.ylabel})
    return out


def draw_figure(rows: pd.DataFrame, table: pd.DataFrame, spec: dict[str, Any], name: str, minimize: list[str]
                ) -> Any:
    """One figure of a study report from its rows, by ``spec['kind']`` (``jobs.studyconfig.FigureConfig``); None
    when none of its arms has final rows of its measures."""
    kind, arms = spec.get("kind", "curve"), spec.get("arms") or []
    if kind == "curve":
        if spec.get("at"):  # one panel, its y the measures' common label
            return reportfigs.paper_figure(figure_points(rows, spec), {**spec, "y": [series_column(spec)]}, name)
        return reportfigs.paper_figure(figure_points(rows, spec), spec, name)
    measures = ([m for pair in spec["pairs"] for m in pair if isinstance(m, str)] if kind == "tradeoff"
                else list(spec["y"]))
    sub = study_table(rows, list(dict.fromkeys(measures)), minimize)
    if arms and not sub.empty:
        sub = sub[sub["arm"].isin(arms)]
    if sub.empty:
        return None
    if kind == "tradeoff":
        return reportfigs.tradeoff_points_figure(sub, spec, name, minimize)
    return reportfigs.bars_figure(sub, spec, name)


def arm_files_section(store: ResultsStore, study_id: str, rows: pd.DataFrame, out_dir: Path) -> list[str]:
    """Markdown showing each arm's pictures (``Evaluator.write_files``) of its first seed's trial, copied under
    ``out_dir/files/<arm>/`` (then to the report's folder); no lines when no arm kept any."""
    lines: list[str] = []
    seeds_rows = rows[rows["job"].str.startswith("seeds:")]
    for job, group in seeds_rows.groupby("job", sort=False):
        arm = job.split(":", 1)[1]
        experiment = f"{study_id}--{job.replace(':', '-')}"
        first = group.sort_values(["seed", "trial"]).iloc[0]
        names = store.names("results", experiment, str(first["trial"]), "files")
        for name in names:
            local = out_dir / "files" / arm / name
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(store.read_bytes("results", experiment, str(first["trial"]), "files", name))
            lines += [f"![{arm}, seed {int(first['seed'])}: {name}](files/{arm}/{name})", ""]
    if lines:
        lines = ["", "## Samples", "", "Each arm's pictures of its first seed's final model:", "", *lines[:-1]]
    return lines


def study_exists(store: ResultsStore, study_id: str) -> bool:
    """A study that was submitted (its scheduler state) or that wrote rows."""
    return store.exists("studies", study_id, "state.json") or bool(store.experiments(prefix=f"{study_id}--"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the report of a sweep or a study from its result rows.")
    parser.add_argument("experiment", nargs="?", type=name_arg, help="a sweep's experiment name")
    parser.add_argument("--study", type=name_arg, help="a study id: write the study's comparison instead")
    parser.add_argument("--measures", default="", help="with --study: comma-separated measures")
    parser.add_argument("--minimize", default="", help="with --study: measures where lower is better")
    parser.add_argument("--title", default="")
    parser.add_argument("--figures", default="", help="with --study: the study's figures as JSON (name -> spec)")
    parser.add_argument("--storage")
    parser.add_argument("--metric", default="linear_probe_acc", help="when the sweep's own record is missing")
    parser.add_argument("--mode", default="max", choices=["max", "min"])
    parser.add_argument("--quarantine", action="store_true",
                        help="move damaged (unreadable) result files to <root>/quarantine/ and report without them")
    args = parser.parse_args(argv)
    try:
        return _report(args, parser)
    except DamagedResultsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from types import SimpleNamespace

    store = ResultsStore(args.storage)
    if args.study:
        if not study_exists(store, args.study):
            print(f"error: no study {args.study!r} under {store.root} (no state, no result rows)", file=sys.stderr)
            return 2
        split = [m for m in args.measures.split(",") if m]
        try:
            figures = json.loads(args.figures) if args.figures else None
        except json.JSONDecodeError as err:
            print(f"error: --figures: not JSON ({err})", file=sys.stderr)
            return 2
        out = write_study_report(store, args.study, split, [m for m in args.minimize.split(",") if m], args.title,
                                 quarantine=args.quarantine, figures=figures)
        print(out["report"])
        return 0
    if not args.experiment:
        parser.error("name a sweep experiment or --study")
    rows = read_rows(store, [args.experiment], args.quarantine)
    if rows.empty:
        print(f"error: no results for {args.experiment} under {store.root}", file=sys.stderr)
        return 2
    saved = store.read_text("reports", args.experiment, "sweep.json")
    if saved is not None:
        meta = json.loads(saved)
        sweep = SimpleNamespace(search_space=meta["search_space"], metric=meta["metric"], mode=meta["mode"])
        measures = meta.get("measures")
    else:  # the swept keys are those whose value differs between trials
        configs = pd.DataFrame(list(rows.groupby("trial")["config"].last().map(json.loads)))
        space = {k: {"choice": []} for k in configs.columns if configs[k].astype(str).nunique() > 1}
        sweep, measures = SimpleNamespace(search_space=space, metric=args.metric, mode=args.mode), None
    out = write_sweep_report(store, args.experiment, sweep, measures, quarantine=args.quarantine)
    print(out["report"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
