"""The figures of sweep and study reports, each one a reader takes in at normal size: a title, axis labels and a
legend on every figure, categorical hyperparameters on categorical axes, constant measures left out.

Every ``*_figure`` function returns a matplotlib Figure (None when there is nothing to draw), so that tests check
what is drawn; :func:`save` writes it as PNG and closes it."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = 3  # panels per row: a figure stays about as wide as a page
PANEL_W, PANEL_H = 4.4, 3.2  # inches per panel
DPI = 100


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> None:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    _plt().close(fig)


def varies(values: pd.Series) -> bool:
    """More than one distinct finite value: a measure or hyperparameter worth a panel."""
    finite = pd.to_numeric(values, errors="coerce").dropna() if values.dtype != object else values.dropna()
    return finite.astype(str).nunique() > 1


def direction(mode: str) -> str:
    return "higher is better" if mode == "max" else "lower is better"


def group_colours(groups: list[str]) -> dict[str, str]:
    return {g: f"C{i % 10}" for i, g in enumerate(groups)}


def _grid(n: int) -> tuple[Any, list[Any]]:
    cols = min(COLUMNS, n)
    rows = math.ceil(n / cols)
    fig, axes = _plt().subplots(rows, cols, figsize=(PANEL_W * cols, PANEL_H * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def curves_figure(rows: pd.DataFrame, groups: pd.Series, group_title: str, measures: list[tuple[str, str]],
                  matched: int | None) -> Any:
    """Learning curves: one panel per headline measure (epoch on x), one line per trial coloured by its group
    (the compared hyperparameter's value). ``groups``: trial -> group label; ``measures``: (name, mode)."""
    shown = [(m, mode) for m, mode in measures if varies(rows.loc[rows["metric"] == m, "value"])]
    if not shown:
        return None
    order = sorted(groups.unique(), key=sort_key)
    colours = group_colours(order)
    from matplotlib.ticker import MaxNLocator

    fig, axes = _grid(len(shown))
    for ax, (measure, mode) in zip(axes, shown, strict=True):
        sub = rows[(rows["metric"] == measure) & rows["value"].notna()].sort_values("epoch")
        labelled: set[str] = set()
        for trial, curve in sub.groupby("trial"):
            group = groups.get(trial, "?")
            ax.plot(curve["epoch"], curve["value"], marker="o", ms=3, lw=1.2, alpha=0.85,
                    color=colours.get(group, "grey"), label=None if group in labelled else group)
            labelled.add(group)
        if matched is not None:
            ax.axvline(matched, color="grey", ls=":", lw=1, label=f"matched epoch {matched}")
        ax.set_title(f"{measure} ({direction(mode)})", fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_ylabel(measure)
        ax.grid(alpha=0.3)
        ax.legend(title=group_title, fontsize=8, title_fontsize=8)
    fig.suptitle("Learning curves of the headline measures, one line per trial", fontsize=11)
    fig.tight_layout()
    return fig


def tradeoff_figure(values: pd.DataFrame, groups: pd.Series, group_title: str, x: tuple[str, str],
                    y: tuple[str, str], when: str) -> Any:
    """One point per trial (``values``: trial -> measures), coloured by group, with each group's mean."""
    if x[0] not in values or y[0] not in values or not (varies(values[x[0]]) and varies(values[y[0]])):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(PANEL_W * 1.3, PANEL_H * 1.3))
    order = sorted(groups.reindex(values.index).dropna().unique(), key=sort_key)
    colours = group_colours(order)
    for group in order:
        members = values[groups.reindex(values.index) == group]
        ax.scatter(members[x[0]], members[y[0]], s=30, color=colours[group], alpha=0.7, label=group)
        ax.scatter(members[x[0]].mean(), members[y[0]].mean(), s=140, marker="X", color=colours[group],
                   edgecolors="black", linewidths=0.8)
    ax.scatter([], [], s=140, marker="X", color="white", edgecolors="black", label="mean of the group")
    ax.set_xlabel(f"{x[0]} ({direction(x[1])})")
    ax.set_ylabel(f"{y[0]} ({direction(y[1])})")
    ax.set_title(f"{y[0]} against {x[0]}, {when}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title=group_title, fontsize=8, title_fontsize=8)
    fig.tight_layout()
    return fig


def categorical(key: str, space: dict[str, Any], column: pd.Series) -> bool:
    """A hyperparameter drawn from a list (choice, grid) or with non-numeric values goes on a categorical axis."""
    spec = space.get(key)
    if isinstance(spec, dict) and next(iter(spec), None) in ("choice", "grid"):
        return True
    return not pd.api.types.is_numeric_dtype(column)


def measures_vs_hparams_figure(table: pd.DataFrame, space: dict[str, Any], measures: list[tuple[str, str]],
                               when: str) -> Any:
    """A grid: one row per headline measure that varies, one column per swept hyperparameter that varies; a
    point per trial (hollow: the trial did not finish)."""
    keys = [k for k in space if k in table and k != "seed" and varies(table[k].astype(str))][:4]
    shown = [(m, mode) for m, mode in measures if m in table and varies(table[m])][:4]
    if not keys or not shown:
        return None
    plt = _plt()
    fig, axes = plt.subplots(len(shown), len(keys), figsize=(PANEL_W * len(keys), PANEL_H * len(shown)),
                             squeeze=False)
    done = table["status"] == "finished"
    for i, (measure, mode) in enumerate(shown):
        for j, key in enumerate(keys):
            ax = axes[i][j]
            xs = _axis_values(ax, key, space, table[key])
            ax.scatter(xs[done], table.loc[done, measure], s=28, color="C0", label="finished")
            if (~done).any():  # hollow: measured before the trial's last epoch
                ax.scatter(xs[~done], table.loc[~done, measure], s=28, facecolors="none", edgecolors="C1",
                           label="stopped / incomplete")
            ax.set_title(f"{measure} vs {key}", fontsize=10)
            ax.set_xlabel(key)
            ax.set_ylabel(f"{measure} ({direction(mode)})", fontsize=9)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Headline measures against the swept hyperparameters\n{when}", fontsize=11)
    fig.tight_layout()
    return fig


def _axis_values(ax: Any, key: str, space: dict[str, Any], column: pd.Series) -> pd.Series:
    """x positions: categories at 0..k-1 (small offsets so that equal values stay visible), else the values."""
    if categorical(key, space, column):
        labels = column.map(str)
        order = sorted(labels.unique(), key=sort_key)
        ax.set_xticks(range(len(order)), order, rotation=30 if max(map(len, order)) > 6 else 0, fontsize=8)
        ax.set_xlim(-0.5, len(order) - 0.5)
        rank = labels.groupby(labels).cumcount()
        return labels.map(order.index) + (rank % 5 - 2) * 0.04
    spec = space.get(key)
    if isinstance(spec, dict) and "loguniform" in spec:
        ax.set_xscale("log")
    return column.astype(float)


def study_figure(table: pd.DataFrame, measures: list[str], minimize: list[str]) -> Any:
    """One bar chart per measure the arms report (and that differs between them): each arm's mean over seeds,
    its standard deviation as the error bar, coloured by method."""
    shown = [m for m in measures if f"{m}_mean" in table and varies(table[f"{m}_mean"])]
    if not shown and measures:  # a study of one arm, or arms that tie: still draw what was measured
        shown = [m for m in measures if f"{m}_mean" in table and table[f"{m}_mean"].notna().any()]
    if not shown:
        return None
    methods = list(dict.fromkeys(table["method"]))
    colours = group_colours(methods)
    fig, axes = _grid(len(shown))
    for ax, measure in zip(axes, shown, strict=True):
        # only the arms that report the measure: a study of several papers (`theory`) gives each its own panel
        rows = table[table[f"{measure}_mean"].notna()]
        arms = rows["arm"].astype(str)
        if "setting" in rows and (rows["setting"] != "").any():  # an arm's grid points: one bar each
            arms = arms + rows["setting"].map(lambda v: f"\n{v}" if v else "")
        ax.bar(range(len(arms)), rows[f"{measure}_mean"], yerr=rows[f"{measure}_std"].fillna(0), capsize=4,
               color=[colours[m] for m in rows["method"]])
        ax.set_xticks(range(len(arms)), arms, rotation=30 if max(map(len, arms)) > 8 else 0, fontsize=8)
        ax.set_title(f"{measure} ({direction('min' if measure in minimize else 'max')})", fontsize=10)
        ax.set_xlabel("arm")
        ax.set_ylabel("mean ± sd over seeds", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    handles = [_plt().Rectangle((0, 0), 1, 1, color=colours[m]) for m in methods]
    fig.suptitle("The study's measures per arm", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.legend(handles, methods, title="method", loc="lower center", ncol=min(len(methods), 6), fontsize=8,
               title_fontsize=8)  # one legend for every panel, below them
    return fig


def tradeoff_points_figure(table: pd.DataFrame, spec: dict[str, Any], name: str, minimize: list[str]) -> Any:
    """Quality against time per instance (log time), one panel (a study figure of kind ``tradeoff``): for each
    [quality, time] pair of ``spec['pairs']`` (measure names; a quality may be a number, e.g. 1.0 for an exact
    solver's ratio to itself) a point per arm and grid point of ``table`` (``study_table``), at its means over seeds
    with their standard deviations as error bars, coloured by arm (and grid point), shaped by pair."""
    pairs = spec["pairs"]
    points = []
    for k, (quality, time) in enumerate(pairs):
        for _, row in table.iterrows():
            x, dx = row.get(f"{time}_mean"), row.get(f"{time}_std")
            if isinstance(quality, str):
                y, dy = row.get(f"{quality}_mean"), row.get(f"{quality}_std")
            else:
                y, dy = float(quality), 0.0
            if x is None or y is None or pd.isna(x) or pd.isna(y) or x <= 0:
                continue
            label = str(row["arm"]) + (f" ({row['setting']})" if row.get("setting") else "")
            points.append((k, label, float(x), 0.0 if pd.isna(dx) else float(dx), float(y),
                           0.0 if pd.isna(dy) else float(dy)))
    if not points:
        return None
    plt = _plt()
    colours = group_colours(list(dict.fromkeys(p[1] for p in points)))
    markers = "osD^vP*X"
    fig, axes = _grid(1)
    ax = axes[0]
    for k, label, x, dx, y, dy in points:
        ax.errorbar(x, y, xerr=min(dx, 0.9 * x), yerr=dy, fmt=markers[k % len(markers)], ms=7, capsize=3,
                    color=colours[label], mec="black", mew=0.6)
    ax.set_xscale("log")
    quality = pairs[0][0]
    ax.set_xlabel(", ".join(dict.fromkeys(str(t) for _, t in pairs)) + " (log scale)")  # the time measures
    ax.set_ylabel(spec.get("ylabel") or f"{quality} ({direction('min' if quality in minimize else 'max')})",
                  fontsize=9)
    ax.grid(alpha=0.3, which="both")
    used_pairs = sorted({p[0] for p in points})
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours[c], mec="black") for c in colours]
    labels = list(colours)
    handles += [plt.Line2D([], [], ls="", marker=markers[k % len(markers)], mfc="white", mec="black")
                for k in used_pairs]  # hollow: the shape says the pair, the colour the arm
    labels += [f"{pairs[k][0]} vs {pairs[k][1]}" for k in used_pairs]
    ax.legend(handles, labels, fontsize=7)
    fig.suptitle((spec.get("title") or name) + "\n(each arm's mean ± sd over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def bars_figure(table: pd.DataFrame, spec: dict[str, Any], name: str) -> Any:
    """The ``spec['y']`` measures (on one scale) side by side, one bar each (mean ± sd over seeds), for every arm
    and grid point of ``table`` (``study_table`` over those measures) that reports them: a study figure of kind
    ``bars``, and the figures methods declare (``MethodSpec.figures``)."""
    measures = list(spec["y"])
    cols = [f"{m}_mean" for m in measures]
    rows = table[table[cols].notna().any(axis=1)] if set(cols) <= set(table.columns) else table.iloc[0:0]
    if rows.empty:
        return None
    arms = [str(a) + (f" ({s})" if s else "") for a, s in zip(rows["arm"], rows.get("setting", [""] * len(rows)),
                                                             strict=True)]
    width = 0.8 / len(measures)
    fig, ax = _plt().subplots(figsize=(max(PANEL_W, 1.6 * len(arms) + 2), PANEL_H + 0.6))
    for i, measure in enumerate(measures):
        xs = [k + (i - (len(measures) - 1) / 2) * width for k in range(len(arms))]
        ax.bar(xs, rows[f"{measure}_mean"], width, yerr=rows[f"{measure}_std"].fillna(0), capsize=3, label=measure,
               color=f"C{i % 10}")
    ax.set_xticks(range(len(arms)), arms, rotation=30 if max(map(len, arms)) > 8 else 0, fontsize=8)
    ax.set_xlabel("arm")
    ax.set_ylabel(spec.get("ylabel") or "mean ± sd over seeds", fontsize=9)
    ax.set_title(spec.get("title") or name, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def paper_figure(points: pd.DataFrame, spec: dict[str, Any], name: str) -> Any:
    """A paper's figure from a study's rows (``points``: x, line, the y measures and the bound, one row per seed and
    grid point): one panel per y measure, one line per ``line`` with its mean over seeds and a band of +- one sd
    (error bars where x is categorical), log axes as ``spec['log']`` says, and the bound overlaid: a measure drawn
    dashed per line in the first y measure's panel, and/or the reference c x^rate from the first point of
    ``rate_line`` (default: the first line)."""
    ys = [m for m in spec.get("y", []) if m in points and points[m].notna().any()]
    if points.empty or not ys:
        return None
    numeric = pd.api.types.is_numeric_dtype(points["x"])
    log, bound, rate = spec.get("log", ""), spec.get("bound", ""), float(spec.get("rate", 0.0) or 0.0)
    order = sorted(points["line"].unique(), key=sort_key)
    colours = group_colours(order)
    fig, axes = _grid(len(ys))
    for ax, measure in zip(axes, ys, strict=True):
        anchor = None
        for line in order:
            sub = points[(points["line"] == line) & points[measure].notna()]
            if sub.empty:  # this line's arm does not report the panel's measure
                continue
            stats = sub.groupby("x")[[measure, *([bound] if bound else [])]].agg(["mean", "std", "count"])
            xs = sorted(stats.index, key=sort_key)
            stats = stats.loc[xs]
            mean, sd = stats[(measure, "mean")], stats[(measure, "std")].fillna(0.0)
            seeds = int(stats[(measure, "count")].max())
            label = f"{line} (n={seeds} seed{'s' if seeds != 1 else ''})"
            if numeric:
                ax.plot(xs, mean, marker="o", ms=4, color=colours[line], label=label)
                low = (mean - sd).clip(lower=mean * 1e-3) if "y" in log else mean - sd
                ax.fill_between(xs, low, mean + sd, color=colours[line], alpha=0.2)
            else:
                ax.errorbar([str(x) for x in xs], mean, yerr=sd, marker="o", capsize=4, ls="", color=colours[line],
                            label=label)
            if bound and measure == spec["y"][0] and stats[(bound, "mean")].notna().any():
                ax.plot(xs if numeric else [str(x) for x in xs], stats[(bound, "mean")], ls="--", lw=1.2,
                        color=colours[line], label=f"bound: {bound} ({line})")
            if numeric and len(xs) and (anchor is None or line == spec.get("rate_line")):
                anchor = (float(xs[0]), float(mean.iloc[0]))
        if rate and anchor is not None and anchor[0] > 0:
            xs = sorted(float(x) for x in points["x"].unique())
            ref = [anchor[1] * (x / anchor[0]) ** rate for x in xs]
            ax.plot(xs, ref, ls=":", lw=1.5, color="black", label=spec.get("rate_label") or f"x^{rate:g} (reference)")
        if numeric and "x" in log:
            ax.set_xscale("log")
        if "y" in log:
            ax.set_yscale("log")
        ax.set_xlabel(spec.get("x", "x") + (" (log)" if numeric and "x" in log else ""))
        ax.set_ylabel(measure + (" (log)" if "y" in log else ""))
        ax.set_title(measure, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(spec.get("title") or name, fontsize=11)
    fig.tight_layout()
    return fig


def sort_key(label: Any) -> tuple[int, float, str]:
    """Numbers in numeric order, then the rest alphabetically."""
    try:
        return (0, float(label), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(label))
