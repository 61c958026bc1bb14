"""Reports that answer a sweep's question: headline measures, per-value summaries at matched epochs, readable
figures, and per-trial statuses that tell the truth. Most tests write synthetic rows with ResultsStore (no Ray)."""
from __future__ import annotations

import pytest

from shared.method import Measure, headline_measures
from shared.registry import list_methods


def test_every_method_declares_headline_measures_it_reports_and_a_swept_comparison():
    from jobs.sweepconfig import load_sweep

    for spec in list_methods():
        assert spec.headline, spec.name
        reported = spec.metric_names()
        assert all(m.name in reported and m.mode in ("max", "min") for m in spec.headline), spec.name
        sweep = load_sweep(spec)
        assert spec.compare and all(key in sweep.search_space for key in spec.compare), spec.name


def test_care_leads_with_colour_class_and_equivariance_and_compares_lambda():
    from shared.registry import get_method

    care = get_method("care")
    assert care.headline == (Measure("colour_probe_acc"), Measure("linear_probe_acc"),
                             Measure("equiv_orth_residual", "min"))
    assert care.compare == ("lam",)


def test_a_spec_without_headline_falls_back_to_the_sweep_metric():
    class Bare:
        pass

    assert headline_measures(Bare(), "acc", "min") == (Measure("acc", "min"),)
    with pytest.raises(ValueError, match="mode"):
        Measure("acc", "up")


# ---- synthetic sweeps written with ResultsStore ------------------------------------------------------------------

import json  # noqa: E402
import statistics  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from jobs import report, reportfigs  # noqa: E402
from shared.results import ResultsStore, RunInfo  # noqa: E402

EXP = "care-synthetic"
SPACE = {"lam": {"grid": [0.0, 0.1, 0.3]}, "optim.lr": {"loguniform": [3e-4, 3e-3]}, "seed": {"grid": [0, 1]}}
SWEEP = SimpleNamespace(search_space=SPACE, metric="linear_probe_acc", mode="max")
# trial -> (lam, seed, lr, colour at epoch 0, class at epoch 0, equivariance error)
TRIALS = {"t0": (0.0, 0, 1e-3, 0.90, 0.40, 0.30), "t1": (0.0, 1, 2e-3, 0.70, 0.44, 0.34),
          "t2": (0.1, 0, 5e-4, 0.95, 0.38, 0.12), "t3": (0.1, 1, 1e-3, 0.80, 0.41, 0.16)}


def colour(trial: str, epoch: int) -> float:
    return TRIALS[trial][3] - 0.01 * epoch


def klass(trial: str, epoch: int) -> float:
    return TRIALS[trial][4] + 0.01 * epoch


def write_trial(store: ResultsStore, trial: str, lam: float, seed: int, lr: float, last: int, status: str,
                exp: str = EXP, evaluated: bool = True) -> None:
    """Epochs 1..last; headline measures every 5 epochs; ``status`` on the last epoch's rows."""
    config = {"lam": lam, "seed": seed, "optim.lr": lr, "epochs": 20, "temperature": 0.5}
    info = RunInfo(experiment=exp, method="care", paper="CARE", dataset="shapes", seed=seed, trial=trial,
                   config_json=RunInfo.config_to_json(config))
    for epoch in range(1, last + 1):
        metrics = {"loss": 5.0 - 0.1 * epoch, "lr": lr}
        if evaluated and epoch % 5 == 0:
            eq = TRIALS.get(trial, (0, 0, 0, 0.5, 0.5, 0.2))[5]
            metrics.update(colour_probe_acc=colour(trial, epoch) if trial in TRIALS else 0.5,
                           linear_probe_acc=klass(trial, epoch) if trial in TRIALS else 0.5,
                           equiv_orth_residual=eq, active_dims=128.0)
        store.write_epoch(info, epoch, metrics, status if epoch == last else "running", float(epoch))


def write_error(store: ResultsStore, trial: str, lam: float, seed: int, message: str, exp: str = EXP) -> None:
    info = RunInfo(experiment=exp, method="care", paper="CARE", dataset="shapes", seed=seed, trial=trial,
                   config_json=RunInfo.config_to_json({"lam": lam, "seed": seed, "optim.lr": 1e-3, "epochs": 20}))
    store.write_epoch(info, 1, {"error": float("nan")}, "error", 0.0)
    store.write_text(json.dumps({"message": message, "epoch": 1}), "results", exp, trial, "error.json")


@pytest.fixture
def synthetic(tmp_path: Path) -> ResultsStore:
    store = ResultsStore(tmp_path)
    write_trial(store, "t0", 0.0, 0, 1e-3, 20, "final")
    write_trial(store, "t1", 0.0, 1, 2e-3, 20, "final")
    write_trial(store, "t2", 0.1, 0, 5e-4, 10, "stopped")  # ASHA stopped it at epoch 10
    write_trial(store, "t3", 0.1, 1, 1e-3, 20, "final")
    write_error(store, "t4", 0.3, 0, "RuntimeError: out of memory in epoch 1")
    return store


def section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def test_report_leads_with_headline_measures_per_lambda_at_the_matched_epoch(synthetic: ResultsStore):
    paths = report.write_sweep_report(synthetic, EXP, SWEEP)
    text = Path(paths["report"]).read_text()
    assert text.index("## Headline measures per lam, at epoch 10") < text.index("## All trials")
    lead = section(text, "## Headline measures per lam, at epoch 10")
    header = next(line for line in lead.splitlines() if line.startswith("| lam"))
    assert header.split("|")[3:6] == [" colour_probe_acc (↑) ", " linear_probe_acc (↑) ", " equiv_orth_residual (↓) "]
    for lam, members in (("0.0", ["t0", "t1"]), ("0.1", ["t2", "t3"])):
        line = next(row for row in lead.splitlines() if row.startswith(f"| {lam} |"))
        cells = [c.strip().strip("*") for c in line.split("|")[1:-1]]
        assert cells[1] == "2"  # trials
        for cell, values in ((cells[2], [colour(t, 10) for t in members]),
                             (cells[3], [klass(t, 10) for t in members]),
                             (cells[4], [TRIALS[t][5] for t in members])):
            assert cell == f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (n=2)"
    assert "| 0.3 |" not in lead  # lambda 0.3's only trial failed: left out, and said so
    assert "Left out: 1 trial(s) that failed (t4)" in lead
    assert "Matched epoch 10" in lead
    best_colour = next(row for row in lead.splitlines() if row.startswith("| 0.1 |")).split("|")[3]
    assert best_colour.strip().startswith("**")  # lambda 0.1 keeps more colour at epoch 10


def test_every_trial_shows_its_status_and_constant_measures_are_said_once(synthetic: ResultsStore, tmp_path: Path):
    write_trial(synthetic, "t5", 0.3, 1, 1e-3, 3, "running")  # its run died: incomplete
    text = Path(report.write_sweep_report(synthetic, EXP, SWEEP)["report"]).read_text()
    table = section(text, "## All trials")
    status = {row.split("|")[1].strip().replace("**", "").replace(" (best)", ""): row.split("|")[6].strip()
              for row in table.splitlines() if row.startswith("| ") and not row.startswith("| trial")}
    assert status == {"t0": "finished", "t1": "finished", "t2": "stopped", "t3": "finished",
                      "t4": "error: RuntimeError: out of memory in epoch 1", "t5": "incomplete"}
    assert "6 trial(s): 3 finished, 1 stopped, 1 error, 1 incomplete." in text
    assert "1 trial(s) without any evaluation of a headline measure (t5)" in text  # and the matched epoch stays 10
    assert "## Headline measures per lam, at epoch 10" in text
    assert "active_dims" not in table.split("The same in every trial")[0]
    assert "`active_dims` = 128" in table


def test_a_search_where_every_trial_failed_still_reports(tmp_path: Path):
    store = ResultsStore(tmp_path)
    write_error(store, "a", 0.0, 0, "ValueError: bad data")
    write_error(store, "b", 0.1, 0, "ValueError: bad data")
    paths = report.write_sweep_report(store, EXP, SWEEP)
    text = Path(paths["report"]).read_text()
    assert "2 trial(s): 2 error." in text and text.count("error: ValueError: bad data") == 2
    assert "No trial reported a headline measure." in text and paths["plot"] == ""


def figures_of(store: ResultsStore) -> dict:
    rows = store.read(EXP).to_pandas()
    table = report.summary_table(rows, SPACE, "linear_probe_acc", "max")
    heads, compare = report._headline(rows, "linear_probe_acc", "max")
    heads = (*heads, ("active_dims", "max"))  # a constant measure: never a panel
    _, info = report.comparison_section(rows, table, SPACE, heads, compare)
    return report._sweep_figures(rows, table, SPACE, heads, info)


def test_figures_have_titles_labels_legends_and_no_constant_panels(synthetic: ResultsStore):
    figs = figures_of(synthetic)
    curves = figs["curves"]
    shown = [ax for ax in curves.axes if ax.get_visible()]
    assert [ax.get_ylabel() for ax in shown] == ["colour_probe_acc", "linear_probe_acc", "equiv_orth_residual"]
    for ax in shown:
        assert ax.get_title() and ax.get_xlabel() == "epoch" and ax.get_legend() is not None
        assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"0.0", "0.1"}
    trade = figs["tradeoff"].axes[0]
    assert trade.get_xlabel().startswith("linear_probe_acc") and trade.get_ylabel().startswith("colour_probe_acc")
    assert trade.get_legend().get_title().get_text() == "lam" and trade.get_title()
    grid = figs["measures_vs_hparams"]
    panels = [ax for ax in grid.axes if ax.get_visible()]
    assert {ax.get_xlabel() for ax in panels} == {"lam", "optim.lr"}  # the seed is not a panel
    assert not any("active_dims" in ax.get_ylabel() for ax in panels) and panels[0].get_legend() is not None
    assert {t.get_text() for t in panels[0].get_legend().get_texts()} == {"finished", "stopped / incomplete"}
    assert all(ax.get_title() and ax.get_ylabel() for ax in panels) and grid.get_suptitle()
    lam_ax = next(ax for ax in panels if ax.get_xlabel() == "lam")
    assert [t.get_text() for t in lam_ax.get_xticklabels()] == ["0.0", "0.1"]  # categorical: one tick per value
    assert next(ax for ax in panels if ax.get_xlabel() == "optim.lr").get_xscale() == "log"


def test_pngs_are_readable_at_normal_size(synthetic: ResultsStore):
    from PIL import Image

    paths = report.write_sweep_report(synthetic, EXP, SWEEP)
    for name in ("curves", "tradeoff", "measures_vs_hparams"):
        width, height = Image.open(paths[name]).size
        assert height <= 1200 and width <= 1500, (name, width, height)
    text = Path(paths["report"]).read_text()
    assert text.index("![curves](curves.png)") < text.index("## All trials")


def test_report_cli_refuses_a_study_or_experiment_that_does_not_exist(tmp_path: Path, capsys):
    assert report.main(["--study", "nonexistent", "--storage", str(tmp_path)]) == 2
    assert "no study 'nonexistent'" in capsys.readouterr().err
    assert report.main(["nothing-here", "--storage", str(tmp_path)]) == 2
    assert not (tmp_path / "reports").exists()


def test_study_report_leads_with_the_arms_headline_measures(tmp_path: Path):
    store = ResultsStore(tmp_path)
    for arm, method, values in (("simclr", "simclr", {"colour_probe_acc": 0.5, "linear_probe_acc": 0.4,
                                                      "equiv_orth_residual": 0.3, "knn_acc": 0.2}),
                                ("care", "care", {"colour_probe_acc": 0.7, "linear_probe_acc": 0.41,
                                                  "equiv_orth_residual": 0.1, "knn_acc": 0.25})):
        for seed in (0, 1):
            info = RunInfo(experiment=f"s1--seeds-{arm}", method=method, paper="", dataset="shapes", seed=seed,
                           trial=f"{arm}{seed}", config_json="{}", study="s1", job=f"seeds:{arm}")
            store.write_epoch(info, 2, {k: v + 0.01 * seed for k, v in values.items()}, "final", 1.0)
    measures, lower = report.study_headline(store.read().to_pandas(), ["knn_acc", "equiv_orth_residual"], [])
    assert measures == ["equiv_orth_residual", "knn_acc"] and lower == ["equiv_orth_residual"]
    text = Path(report.write_study_report(store, "s1", [], [])["report"]).read_text()
    header = next(line for line in text.splitlines() if line.startswith("| arm"))
    # care's rows first
    assert header == "| arm | method | seeds | colour_probe_acc | linear_probe_acc | equiv_orth_residual |"
    care = next(line for line in text.splitlines() if line.startswith("| care"))
    assert "**0.1050 ± 0.0071**" in care  # equivariance error: lower is better, from the spec
    rows = store.read().to_pandas()
    table = report.study_table(rows, ["colour_probe_acc"], [])
    fig = reportfigs.study_figure(table, ["colour_probe_acc"], [])
    ax = fig.axes[0]
    assert ax.get_title().startswith("colour_probe_acc") and ax.get_ylabel() and ax.get_xlabel() == "arm"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["care", "simclr"]



def test_a_study_of_several_papers_draws_each_measure_over_the_arms_that_report_it():
    """The `theory` study: each paper's arms report its own measure; a panel shows only those arms."""
    import pandas as pd

    nan = float("nan")
    table = pd.DataFrame({"arm": ["dro_erm", "dro_exp3p", "krr_invariant", "krr_plain"],
                          "method": ["group_dro", "group_dro", "invariant_krr", "invariant_krr"],
                          "worst_group_gap_mean": [0.07, 0.004, nan, nan],
                          "worst_group_gap_std": [0.01, 0.01, nan, nan],
                          "l2_error_mean": [nan, nan, 0.02, 0.05], "l2_error_std": [nan] * 4})
    fig = reportfigs.study_figure(table, ["worst_group_gap", "l2_error"], ["worst_group_gap", "l2_error"])
    ticks = [[t.get_text() for t in ax.get_xticklabels()] for ax in fig.axes[:2]]
    assert ticks == [["dro_erm", "dro_exp3p"], ["krr_invariant", "krr_plain"]]
    assert [round(bar.get_height(), 3) for bar in fig.axes[1].patches] == [0.02, 0.05]


def test_a_tradeoff_figure_draws_quality_against_log_time_from_the_rows_and_the_measures_it_names(
        tmp_path: Path):
    """A tradeoff figure (graph_combinatorial): a point per arm and [quality, time] pair at the arm's means
    over seeds, time on a log axis; a number as quality is a reference solver's ratio to itself."""
    store = ResultsStore(tmp_path)
    for arm, ratio, seconds in (("fast", 1.25, 0.01), ("slow", 1.2, 0.1)):
        for seed in (0, 1):
            info = RunInfo(experiment=f"q1--seeds-{arm}", method="unifl", paper="", dataset="gmm", seed=seed,
                           trial=f"{arm}{seed}", config_json="{}", study="q1", job=f"seeds:{arm}")
            store.write_epoch(info, 1, {"cost_ratio_large": ratio + 0.02 * seed, "solution_seconds_large": seconds,
                                        "milp_seconds_large": 2.0 + seed}, "final", 1.0)
    spec = {"kind": "tradeoff", "title": "facility",
            "pairs": [["cost_ratio_large", "solution_seconds_large"], [1.0, "milp_seconds_large"]]}
    paths = report.write_study_report(store, "q1", ["cost_ratio_large", "solution_seconds_large",
                                                    "milp_seconds_large"], ["cost_ratio_large"],
                                      figures={"facility": spec})
    assert Path(paths["figure_facility"]).stat().st_size > 1000
    assert "![facility](figure_facility.png)" in Path(paths["report"]).read_text()
    table = report.study_table(store.read().to_pandas(), ["cost_ratio_large", "solution_seconds_large",
                                                           "milp_seconds_large"], [])
    fig = reportfigs.tradeoff_points_figure(table, spec, "facility", ["cost_ratio_large"])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and fig._suptitle.get_text().startswith("facility")
    assert ax.get_ylabel() == "cost_ratio_large (lower is better)"
    points = sorted((round(line.get_xdata()[0], 4), round(line.get_ydata()[0], 4)) for line in ax.lines
                    if len(line.get_xdata()) == 1 and line.get_marker() not in (None, "None", "", "|", "_"))
    assert points == [(0.01, 1.26), (0.1, 1.21), (2.5, 1.0), (2.5, 1.0)]  # both arms report the MILP's time
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["fast", "slow", "cost_ratio_large vs solution_seconds_large", "1.0 vs milp_seconds_large"]
    assert reportfigs.tradeoff_points_figure(table, {"pairs": [["cost_ratio_large", "gw_seconds"]]}, "none",
                                             []) is None
    # the report records the figures it drew (the scheduler redraws when the study's figures change)
    assert json.loads(Path(store.path("reports", "q1", "figures.json")).read_text()) == {"facility": spec}
    # without figures nothing is drawn
    assert not any(k.startswith("figure_") for k in report.write_study_report(store, "q1", ["cost_ratio_large"], []))


def test_a_study_report_shows_each_arms_first_seed_pictures_and_the_methods_declared_figures(tmp_path: Path):
    """Pictures an evaluator kept with a trial's rows (``Evaluator.write_files``) are embedded per arm (the first
    seed's), and a figure the method declares (``MethodSpec.figures``; ram: mode masses) is drawn over its arms."""
    store = ResultsStore(tmp_path)
    masses = {"ram": (0.30, 0.54, 0.55, 0.538), "rwfm": (0.30, 0.98, 0.55, 0.538)}
    measures = ("ref_mass_rewarded", "mass_rewarded", "ref_tilt_mass", "tilt_mass")
    for arm, values in masses.items():
        for seed in (1, 0):
            trial = f"{arm}{seed}"
            info = RunInfo(experiment=f"s1--seeds-{arm}", method="ram", paper="", dataset="", seed=seed, trial=trial,
                           config_json="{}", study="s1", job=f"seeds:{arm}")
            store.write_epoch(info, 6, {**dict(zip(measures, values, strict=True)), "tilt_error": 0.1}, "final", 1.0)
            picture = tmp_path / f"{trial}.png"
            picture.write_bytes(f"png of seed {seed}".encode())
            store.put_file(picture, "results", f"s1--seeds-{arm}", trial, "files", "toy_samples.png")
    paths = report.write_study_report(store, "s1", [], [])
    text = Path(paths["report"]).read_text()
    for arm in masses:
        assert f"![{arm}, seed 0: toy_samples.png](files/{arm}/toy_samples.png)" in text
        copied = Path(store.path("reports", "s1", "files", arm, "toy_samples.png"))
        assert copied.read_bytes() == b"png of seed 0"
    assert "(figure_mode_mass.png)" in text and Path(paths["figure_mode_mass"]).stat().st_size > 1000
    spec = report.method_figures(store.read().to_pandas())["mode_mass"]
    assert spec["kind"] == "bars" and spec["y"] == list(measures)
    fig = reportfigs.bars_figure(report.study_table(store.read().to_pandas(), spec["y"], []), spec, "mode_mass")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ram", "rwfm"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(measures)
    assert [round(bar.get_height(), 3) for bar in ax.patches[2:4]] == [0.54, 0.98]  # mass_rewarded per arm


def test_a_sweep_over_the_epochs_key_keeps_both_the_swept_and_the_reached_epochs(tmp_path: Path):
    """A sweep over `epochs` once crashed the report: the config key and the report's own column had one name."""
    store = ResultsStore(tmp_path)
    for trial, epochs in (("short", 5), ("long", 10)):
        info = RunInfo(experiment=EXP, method="care", paper="CARE", dataset="shapes", seed=0, trial=trial,
                       config_json=RunInfo.config_to_json({"epochs": epochs, "lam": 0.1}))
        for epoch in range(1, epochs + 1):
            store.write_epoch(info, epoch, {"loss": 1.0 / epoch, "linear_probe_acc": 0.1 * epoch},
                              "final" if epoch == epochs else "running", 1.0)
    table = report.summary_table(store.read().to_pandas(), {"epochs": {"grid": [5, 10]}}, "linear_probe_acc", "max")
    assert list(table["epochs"]) == [10, 5] and list(table["epochs_reached"]) == [10, 5]
    assert report.compare_keys(("epochs",), table, {"epochs": {"grid": [5, 10]}}) == ["epochs"]

# ---- statuses recorded by the sweep's driver ---------------------------------------------------------------------

def test_a_trial_that_failed_before_writing_a_row_gets_an_error_row_and_its_message(tmp_path: Path):
    from ray.tune import Result

    from jobs.trialstatus import record_trial_statuses
    from shared.registry import get_method

    store = ResultsStore(tmp_path)
    write_trial(store, "ok", 0.0, 0, 1e-3, 20, "final")
    write_trial(store, "cut", 0.1, 0, 1e-3, 7, "running")  # Ctrl-C during epoch 8: Tune's result is not done
    failed = Result(metrics={}, checkpoint=None, path=str(tmp_path / "tune" / "bad01"),
                    error=RuntimeError("Traceback ...\nValueError: setup failed: no data"))
    finished = Result(metrics={"trial_id": "ok", "epoch": 20, "done": True}, checkpoint=None, error=None,
                      path=str(tmp_path))
    interrupted = Result(metrics={"trial_id": "cut", "epoch": 7, "done": False}, checkpoint=None, error=None,
                         path=str(tmp_path))
    done = record_trial_statuses(store, EXP, [failed, finished, interrupted], get_method("hold"), {"hold_s": 0.5})
    assert done == {"bad01": "error"}  # the interrupted trial will resume: not "stopped"
    rows = store.read(EXP).to_pandas()
    bad = rows[rows["trial"] == "bad01"]
    assert list(bad["status"]) == ["error"] and list(bad["epoch"]) == [1]
    assert json.loads(bad["config"].iloc[0])["hold_s"] == 0.5  # the full config, as the trial would have written
    text = Path(report.write_sweep_report(store, EXP, SWEEP)["report"]).read_text()
    assert "| bad01 |" in text and "error: ValueError: setup failed: no data" in text


def test_trials_stopped_by_asha_end_with_a_stopped_row(local_ray, tmp_path: Path):
    """A real ASHA sweep of the `hold` tool, trials one at a time in decreasing hold time: ASHA stops the later,
    worse ones at its first rung. Each trial's last row then says final or stopped (before the driver's pass,
    a stopped trial kept only "running" rows)."""
    from jobs.sweep import plan_sweep, run_sweep

    items = ["epochs=4", "eval_every=1", "sweep.scheduler.name=asha", "sweep.scheduler.grace_period=1",
             "sweep.max_concurrent=1", "sweep.search_space.hold_s={grid: [0.04, 0.03, 0.02, 0.01]}"]
    plan = plan_sweep("hold", items, storage=str(tmp_path))
    out = run_sweep(plan)
    rows = ResultsStore(tmp_path).read(plan.experiment).to_pandas()
    last = rows.sort_values("epoch").groupby("trial").tail(1)
    assert set(last["status"]) <= {"final", "stopped"} and len(last) == 4
    stopped = last[last["status"] == "stopped"]
    assert len(stopped) >= 1 and (stopped["epoch"] < 4).all()
    assert (last.loc[last["status"] == "final", "epoch"] == 4).all()
    assert set(rows.loc[rows["status"].isin(["final", "stopped"]), "trial"]) == set(rows["trial"])
    text = Path(out["report"]).read_text()
    assert f"{len(stopped)} stopped" in text and "## Headline measures per hold_s" in text


def test_a_study_arm_with_a_grid_gets_a_row_per_point_and_its_paper_figure(tmp_path: Path):
    """The `theory` study's figures: per point of an arm's grid and per seed a final row; the table gets a row per
    point, the figure a line per grid value with its mean over seeds, log axes, the band, the bound and the rate."""
    store = ResultsStore(tmp_path)
    for estimator, scale in (("invariant", 0.5), ("plain", 1.0)):
        for n in (16, 64):
            for seed in (0, 1):
                # data_seed: data.seed follows the seed; it is the seed, not a grid point of its own
                config = RunInfo.config_to_json({"estimator": estimator, "n": n, "seed": seed, "data": {"seed": seed}})
                info = RunInfo(experiment="s2--seeds-krr", method="invariant_krr", paper="", dataset="", seed=seed,
                               trial=f"{estimator}{n}{seed}", config_json=config, study="s2", job="seeds:krr")
                store.write_epoch(info, 1, {"l2_error": scale * n**-0.5 * (1 + 0.1 * seed), "ridge": 0.1}, "final",
                                  1.0)
    rows = store.read().to_pandas()
    table = report.study_table(rows, ["l2_error"], ["l2_error"])
    assert list(table["setting"]) == ["estimator=invariant, n=16", "estimator=invariant, n=64",
                                      "estimator=plain, n=16", "estimator=plain, n=64"]
    assert table["l2_error_mean"].iloc[0] == pytest.approx(0.5 * 16**-0.5 * 1.05)
    spec = {"x": "n", "y": ["l2_error"], "lines": "estimator", "log": "xy", "bound": "ridge", "rate": -0.5,
            "rate_label": "n^-1/2", "title": "KRR"}
    points = report.figure_points(rows, spec)
    assert len(points) == 8 and set(points["line"]) == {"invariant", "plain"}
    fig = reportfigs.paper_figure(points, spec, "krr")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and fig._suptitle.get_text() == "KRR"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["invariant (n=2 seeds)", "bound: ridge (invariant)", "plain (n=2 seeds)", "bound: ridge (plain)",
                      "n^-1/2"]
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [16, 64]
    assert list(line.get_ydata()) == pytest.approx([0.5 * 16**-0.5 * 1.05, 0.5 * 64**-0.5 * 1.05])
    assert len(ax.collections) == 2  # one band per line
    text = Path(report.write_study_report(store, "s2", ["l2_error"], ["l2_error"],
                                          figures={"krr": spec})["report"]).read_text()
    assert "| krr | estimator=plain, n=64 | invariant_krr | 2 |" in text and "![KRR](figure_krr.png)" in text
    assert (tmp_path / "reports" / "s2" / "figure_krr.png").stat().st_size > 1000


def test_a_curve_whose_points_are_measures_draws_each_measure_at_its_x(tmp_path: Path):
    """`at`: ICRM reports its accuracy at context lengths 0, 5, 50 as three measures; the figure draws them as one
    curve per arm, acc_context_c at x = c, mean over seeds."""
    store = ResultsStore(tmp_path)
    for arm, base in (("icrm", 0.6), ("erm", 0.5)):
        for seed in (0, 1):
            info = RunInfo(experiment=f"s3--seeds-{arm}", method="icrm", paper="", dataset="", seed=seed,
                           trial=f"{arm}{seed}", config_json=RunInfo.config_to_json({"seed": seed}), study="s3",
                           job=f"seeds:{arm}")
            values = {f"acc_context_{c}": base + (c / 100 if arm == "icrm" else 0) + 0.01 * seed for c in (0, 5, 50)}
            store.write_epoch(info, 1, values, "final", 1.0)
    rows = store.read().to_pandas()
    spec = {"kind": "curve", "x": "context length", "y": ["acc_context_0", "acc_context_5", "acc_context_50"],
            "at": [0, 5, 50], "ylabel": "held-out accuracy", "title": "ICRM"}
    fig = report.draw_figure(rows, rows.iloc[:0], spec, "context", [])
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and ax.get_ylabel() == "held-out accuracy" and ax.get_xlabel() == "context length"
    curves = {t.get_text(): line for t, line in zip(ax.get_legend().get_texts(), ax.get_lines(), strict=True)}
    assert list(curves["icrm (n=2 seeds)"].get_xdata()) == [0, 5, 50]
    assert list(curves["icrm (n=2 seeds)"].get_ydata()) == pytest.approx([0.605, 0.655, 1.105])
    assert list(curves["erm (n=2 seeds)"].get_ydata()) == pytest.approx([0.505] * 3)
