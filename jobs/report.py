"""Reports made from result rows: a Markdown summary table and PNG plots.

    python jobs/report.py EXPERIMENT [--storage ROOT] [--metric NAME --mode max] [--quarantine]

For a sweep: one row per trial with its swept hyperparameters and final measures (best marked), and a
grid of plots of each measure against each swept hyperparameter.
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

from jobs.damage_notes import damage_notes, read_rows  # noqa: E402
from shared.names import name_arg  # noqa: E402
from shared.results import DamagedResultsError, ResultsStore  # noqa: E402

# Training diagnostics that are not measures of the result; left out of tables and plots.
DIAGNOSTICS = {"lr", "epoch_time_s", "checkpoint_fallback"}


def final_measures(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per trial: for every metric its value at the trial's last epoch that reported it."""
    if rows.empty:
        return pd.DataFrame()
    ok = rows[rows["status"] != "error"].sort_values("epoch")
    last = ok.groupby(["trial", "metric"]).tail(1)
    wide = last.pivot(index="trial", columns="metric", values="value")
    epochs = ok.groupby("trial")["epoch"].max().rename("epochs")
    status = rows.groupby("trial")["status"].agg(
        lambda s: "error" if (s == "error").any() else ("finished" if (s == "final").any() else "stopped")
    ).rename("status")
    configs = rows.groupby("trial")["config"].last().map(json.loads)
    out = wide.join(epochs).join(status)
    out["config"] = configs
    return out.reset_index()


def _swept_keys(table: pd.DataFrame, search_space: dict[str, Any]) -> list[str]:
    return [k for k in search_space if k in table.columns]


def summary_table(rows: pd.DataFrame, search_space: dict[str, Any], metric: str, mode: str,
                  measures: list[str] | None = None) -> pd.DataFrame:
    """One row per trial, sorted best first. ``measures``: the columns to keep (default: every metric)."""
    table = final_measures(rows)
    if table.empty:
        return table
    for key in search_space:
        table[key] = table["config"].map(lambda c, k=key: c.get(k))
    reported = [m for m in rows["metric"].unique() if m not in DIAGNOSTICS and m in table.columns]
    measures = [m for m in (measures or sorted(reported)) if m in reported]
    if metric in measures:
        measures = [metric] + [m for m in measures if m != metric]
    cols = ["trial", *search_space, "epochs", "status", *measures]
    table = table[cols]
    if metric in table.columns:
        table = table.sort_values(metric, ascending=(mode == "min"), na_position="last")
    return table.reset_index(drop=True)


def to_markdown(table: pd.DataFrame, metric: str) -> str:
    """A GitHub table; the best trial (first row after sorting, if finite) is marked."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "" if pd.isna(v) else f"{v:.4g}"
        return str(v)

    header = "| " + " | ".join(table.columns) + " |"
    sep = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [header, sep]
    for i, row in table.iterrows():
        cells = [fmt(v) for v in row]
        if i == 0 and metric in table.columns and pd.notna(row[metric]):
            cells[0] = f"**{cells[0]}** (best)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_measures(table: pd.DataFrame, search_space: dict[str, Any], path: Path) -> None:
    """A grid: one row per measure, one column per swept hyperparameter, a point per trial."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Only hyperparameters that took more than one value carry information.
    keys = [k for k in search_space if k in table.columns and table[k].astype(str).nunique() > 1] or ["trial"]
    skip = {"trial", "epochs", "status", *search_space}
    measures = [c for c in table.columns if c not in skip and table[c].notna().any()]
    fig, axes = plt.subplots(len(measures), len(keys), figsize=(3.2 * len(keys), 2.4 * len(measures)),
                             squeeze=False)
    for i, measure in enumerate(measures):
        for j, key in enumerate(keys):
            ax = axes[i][j]
            x = table[key]
            numeric = pd.api.types.is_numeric_dtype(x) and x.nunique() > 1
            if numeric:
                xs = x
                spec = search_space.get(key)
                if isinstance(spec, dict) and "loguniform" in spec:
                    ax.set_xscale("log")
                    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            else:
                labels = [str(v) for v in x]
                order = sorted(set(labels))
                xs = pd.Series([order.index(v) for v in labels], index=x.index)
                ax.set_xticks(range(len(order)), order, rotation=30, fontsize=7)
            # Trials stopped early (ASHA) were measured at an earlier epoch: hollow markers.
            done = table["status"] == "finished"
            ax.scatter(xs[done], table.loc[done, measure], s=18, label="finished")
            ax.scatter(xs[~done], table.loc[~done, measure], s=18, facecolors="none", edgecolors="C1",
                       label="stopped early / failed")
            if i == 0 and j == 0:
                ax.legend(fontsize=6)
            if i == len(measures) - 1:
                ax.set_xlabel(key)
            if j == 0:
                ax.set_ylabel(measure, fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_sweep_report(store: ResultsStore, experiment: str, sweep: Any,
                       measures: list[str] | None = None, quarantine: bool = False) -> dict[str, str]:
    """Write ``report.md`` and ``measures_vs_hparams.png`` under ``reports/<experiment>/``. Damaged result files
    raise DamagedResultsError, or with ``quarantine`` are moved aside and listed in the report as missing rows."""
    import tempfile

    rows = read_rows(store, [experiment], quarantine)
    out_dir = Path(tempfile.mkdtemp(prefix="raystudy-report-"))  # then copied whole to the store
    space = dict(sweep.search_space)
    table = summary_table(rows, space, sweep.metric, sweep.mode, measures)
    md = out_dir / "report.md"
    png = out_dir / "measures_vs_hparams.png"
    source = store.path("results", experiment)
    text = [f"# Sweep {experiment}", "",
            f"Metric: `{sweep.metric}` ({sweep.mode}); {len(table)} trial(s); rows from {source}", ""]
    if table.empty:
        text.append("No results were written.")
    else:
        text.append(to_markdown(table, sweep.metric))
        if set(space) - {"seed"}:  # a seeds run's plot would be measures against the seed: noise
            plot_measures(table, space, png)
            text += ["", f"![measures against hyperparameters]({png.name})"]
    notes = damage_notes(store, [experiment], rows)
    text += notes
    md.write_text("\n".join(text) + "\n")
    spec_file = out_dir / "sweep.json"  # lets `report.py EXPERIMENT` redraw with the sweep's own axes
    spec_file.write_text(json.dumps({"search_space": space, "metric": sweep.metric, "mode": sweep.mode,
                                     "measures": measures}, indent=1, default=str))
    store.put_file(spec_file, "reports", experiment, spec_file.name)
    paths = {"report": store.put_file(md, "reports", experiment, md.name), "plot": ""}
    if png.exists():
        paths["plot"] = store.put_file(png, "reports", experiment, png.name)
    shutil.rmtree(out_dir, ignore_errors=True)
    if not table.empty:
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(table.drop(columns=["trial"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if notes:
        print("\n".join(notes[1:]))
    return paths


def study_table(rows: pd.DataFrame, measures: list[str], minimize: list[str]) -> pd.DataFrame:
    """Per arm (the study's ``seeds:<arm>`` nodes) and measure: mean, standard deviation and seeds,
    from each seed's final row."""
    final = rows[(rows["status"] == "final") & rows["job"].str.startswith("seeds:")]
    out = []
    for job, group in final.groupby("job"):
        row: dict[str, Any] = {"arm": job.split(":", 1)[1], "method": group["method"].iloc[0],
                               "seeds": group["seed"].nunique()}
        for m in measures:  # a measure this arm does not report stays NaN ("-" in the table)
            values = group.loc[group["metric"] == m, "value"]
            row[f"{m}_mean"] = values.mean() if len(values) else float("nan")
            row[f"{m}_std"] = values.std(ddof=1) if len(values) > 1 else (0.0 if len(values) else float("nan"))
        out.append(row)
    return pd.DataFrame(out)


def study_markdown(table: pd.DataFrame, measures: list[str], minimize: list[str]) -> str:
    header = "| arm | method | seeds | " + " | ".join(measures) + " |"
    lines = [header, "|" + "---|" * (3 + len(measures))]
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
        lines.append(f"| {row['arm']} | {row['method']} | {row['seeds']} | " + " | ".join(cells) + " |")
    arrows = ", ".join(f"{m} ({'lower' if m in minimize else 'higher'} is better)" for m in measures)
    return ("\n".join(lines) + f"\n\nMean ± standard deviation over seeds; best in bold: {arrows}; "
            "- : the arm does not report the measure.")


def plot_study(table: pd.DataFrame, measures: list[str], path: Path) -> None:
    """One bar chart per measure: the arms, with the standard deviation over seeds as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(measures), figsize=(3.2 * len(measures), 3.0), squeeze=False)
    for ax, m in zip(axes[0], measures, strict=True):
        ax.bar(table["arm"], table[f"{m}_mean"], yerr=table[f"{m}_std"], capsize=4,
               color=[f"C{i}" for i in range(len(table))])
        ax.set_title(m, fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_study_report(store: ResultsStore, study_id: str, measures: list[str], minimize: list[str],
                       title: str = "", quarantine: bool = False) -> dict[str, str]:
    """``reports/<study>/report.md`` and ``measures.png`` from the rows of every node of the study."""
    import tempfile

    experiments = store.experiments(prefix=f"{study_id}--")
    rows = read_rows(store, experiments, quarantine) if experiments else pd.DataFrame()
    out_dir = Path(tempfile.mkdtemp(prefix="raystudy-report-"))
    md, png = out_dir / "report.md", out_dir / "measures.png"
    text = [f"# Study {study_id}", "", title, ""]
    table = study_table(rows, measures, minimize) if not rows.empty else pd.DataFrame()
    if table.empty:
        text.append("No final result rows were found.")
    else:
        text.append(study_markdown(table, measures, minimize))
        plot_study(table, measures, png)
        text += ["", f"![measures]({png.name})"]
        sweeps = [e for e in store.experiments(prefix=f"{study_id}--sweep-")]
        if sweeps:
            text += ["", "Sweeps (each with its own table and plot of measures against hyperparameters):"]
            text += [f"- `reports/{e}/report.md`" for e in sweeps]
    text += damage_notes(store, experiments, rows)
    md.write_text("\n".join(text) + "\n")
    paths = {"report": store.put_file(md, "reports", study_id, md.name), "plot": ""}
    if png.exists():
        paths["plot"] = store.put_file(png, "reports", study_id, png.name)
    shutil.rmtree(out_dir, ignore_errors=True)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the report of a sweep or a study from its result rows.")
    parser.add_argument("experiment", nargs="?", type=name_arg, help="a sweep's experiment name")
    parser.add_argument("--study", type=name_arg, help="a study id: write the study's comparison instead")
    parser.add_argument("--measures", default="", help="with --study: comma-separated measures")
    parser.add_argument("--minimize", default="", help="with --study: measures where lower is better")
    parser.add_argument("--title", default="")
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
        split = [m for m in args.measures.split(",") if m]
        out = write_study_report(store, args.study, split, [m for m in args.minimize.split(",") if m], args.title,
                                 quarantine=args.quarantine)
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
