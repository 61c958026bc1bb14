"""Study validation (with line numbers) and graph construction."""
import re
from pathlib import Path

import pytest

from jobs.studyconfig import build_graph, find_cycle, load_study, study_id
from shared.config import ConfigError

STUDY = """\
name: t
data: {name: shapes, n_train: 256, n_test: 128}
seeds: [0, 1]
measures: [colour_probe_acc, equiv_error]
minimize: [equiv_error]
arms:
  simclr:
    method: simclr
  care:
    method: care
    overrides: {lam: 0.1}
    sweep: false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def test_shipped_studies_load():
    for path in Path(__file__).resolve().parents[1].glob("configs/studies/*.yaml"):
        for smoke in (False, True):
            study = load_study(path, smoke=smoke)
            assert build_graph(study)[-1].name == "report"


def test_graph_sweeps_then_seeds_then_report(tmp_path: Path):
    study = load_study(write(tmp_path, STUDY))
    graph = {n.name: n for n in build_graph(study)}
    assert set(graph) == {"sweep:simclr", "seeds:simclr", "seeds:care", "report"}
    assert graph["seeds:simclr"].deps == ("sweep:simclr",)
    assert graph["seeds:care"].deps == ()  # sweep: false starts at the seeds
    assert set(graph["report"].deps) == {"seeds:simclr", "seeds:care"}
    names = [n.name for n in build_graph(study)]
    for node in build_graph(study):
        assert all(names.index(d) < names.index(node.name) for d in node.deps)


def test_after_orders_arms(tmp_path: Path):
    text = STUDY + "    after: [simclr]\n"
    graph = {n.name: n for n in build_graph(load_study(write(tmp_path, text)))}
    assert graph["seeds:care"].deps == ("seeds:simclr",)


@pytest.mark.parametrize(
    "old, new, line, message",
    [
        ("    method: care\n", "    method: carre\n", 10, "unknown method 'carre'"),
        ("measures: [colour_probe_acc, equiv_error]", "measures: [colour_probe_acc, bleu]", 4,
         "'bleu' is not reported"),
        ("    overrides: {lam: 0.1}", "    overrides: {lam: -0.1}", 11, "lam: must be >= 0.0"),
        ("    overrides: {lam: 0.1}", "    overrides: {lam: 0.1}\n    colour: red", 12, "colour"),
        ("seeds: [0, 1]", "seeds: [zero]", 3, "seeds"),
        ("minimize: [equiv_error]", "minimize: [knn_acc]", 5, "'knn_acc' is not one of the measures"),
        ("    overrides: {lam: 0.1}", "    overrides: {lam: 0.1}\n    measures: [transform_acc]", 12,
         "'transform_acc' is not reported by care"),
    ],
)
def test_invalid_study_names_the_line(tmp_path: Path, old, new, line, message):
    path = write(tmp_path, STUDY.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_study(path)
    text = str(err.value)
    assert text.startswith(f"{path}:{line}:"), text
    assert message in text, text


def test_cycle_is_refused_with_its_path(tmp_path: Path):
    text = STUDY.replace("    method: simclr\n", "    method: simclr\n    after: [care]\n") + "    after: [simclr]\n"
    with pytest.raises(ConfigError, match="cycle: (care -> simclr -> care|simclr -> care -> simclr)"):
        load_study(write(tmp_path, text))


def test_find_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["a"]}) in (["a", "b", "a"], ["b", "a", "b"])


def test_study_id_is_stable_and_content_addressed(tmp_path: Path):
    a = study_id(load_study(write(tmp_path, STUDY)), False)
    assert a == study_id(load_study(write(tmp_path, STUDY)), False)
    assert a != study_id(load_study(write(tmp_path, STUDY.replace("[0, 1]", "[0, 1, 2]"))), False)
    assert a != study_id(load_study(write(tmp_path, STUDY)), True)


def test_arm_measures_are_compared_among_the_arms_that_report_them(tmp_path: Path):
    from jobs.report import study_markdown, study_table
    from jobs.studyconfig import all_measures, arm_measures

    text = STUDY.replace("    method: simclr\n", "    method: essl\n    measures: [transform_acc]\n")
    study = load_study(write(tmp_path, text))
    assert arm_measures(study, "simclr") == ["colour_probe_acc", "equiv_error", "transform_acc"]
    assert arm_measures(study, "care") == ["colour_probe_acc", "equiv_error"]
    assert all_measures(study) == ["colour_probe_acc", "equiv_error", "transform_acc"]
    import pandas as pd

    rows = pd.DataFrame([
        {"job": f"seeds:{arm}", "method": method, "seed": seed, "status": "final", "metric": m, "value": v + seed}
        for arm, method, values in (("simclr", "essl", {"colour_probe_acc": 0.5, "equiv_error": 0.2,
                                                         "transform_acc": 0.9}),
                                    ("care", "care", {"colour_probe_acc": 0.7, "equiv_error": 0.1}))
        for seed in (0, 1) for m, v in values.items()])
    table = study_table(rows, all_measures(study), ["equiv_error"])
    md = study_markdown(table, all_measures(study), ["equiv_error"])
    care_line = next(line for line in md.splitlines() if line.startswith("| care"))
    assert care_line.endswith("| - |") and "**1.2000" in care_line  # colour: care's 0.7 + mean seed 0.5
    essl_line = next(line for line in md.splitlines() if line.startswith("| simclr"))
    assert "**" not in essl_line.split("|")[-2]  # a measure of one arm only has no "best"


def test_a_tradeoff_figure_names_the_studys_measures(tmp_path: Path):
    fig = '  pv:\n    kind: tradeoff\n    pairs: {}\n'
    ok = STUDY + "figures:\n" + fig.format("[[colour_probe_acc, equiv_error], [1.0, equiv_error]]")
    assert load_study(write(tmp_path, ok)).figures["pv"].pairs == [["colour_probe_acc", "equiv_error"],
                                                                   [1.0, "equiv_error"]]
    for bad, message in (("[[colour_probe_acc, seconds]]", "time 'seconds' is not one of the measures"),
                         ("[[bleu, equiv_error]]", "quality 'bleu' is neither a number nor one of the measures"),
                         ("[[colour_probe_acc]]", "must be a [quality measure, time measure] pair"),
                         ("[]", "lists [quality measure, time measure] pairs")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_study(write(tmp_path, STUDY + "figures:\n" + fig.format(bad)))
    with pytest.raises(ConfigError, match="kind"):
        load_study(write(tmp_path, STUDY + "figures:\n  pv: {kind: pie, y: [equiv_error]}\n"))


def test_figures_are_not_part_of_the_study_id(tmp_path: Path):
    """Editing a figure must not make a finished study run again under a new id (the report is redrawn instead)."""
    plain = load_study(write(tmp_path, STUDY))
    drawn = load_study(write(tmp_path, STUDY + "figures:\n  bars: {kind: bars, y: [equiv_error]}\n"))
    assert study_id(plain, smoke=False) == study_id(drawn, smoke=False)


def test_a_study_without_any_measure_is_refused(tmp_path: Path):
    text = STUDY.replace("measures: [colour_probe_acc, equiv_error]\nminimize: [equiv_error]\n", "")
    with pytest.raises(ConfigError, match="no measure to compare"):
        load_study(write(tmp_path, text))


def test_sweep_items_pick_on_seed_0_unless_the_arm_sets_or_searches_seed(tmp_path: Path):
    """The items validation loads are the ones the scheduler submits (one function builds both): a sweep
    node picks its configuration on seed 0 unless the arm fixes or searches the seed itself."""
    from jobs.studyconfig import arm_items, arm_sweep_items

    study = load_study(write(tmp_path, STUDY + "    search_space: {lam: {choice: [0.01, 0.1]}}\n"
                                                "  seeded:\n    method: simclr\n    overrides: {seed: 3}\n"))
    assert "seed=0" in arm_sweep_items(study, "simclr", smoke=False)
    assert "seed=0" not in arm_sweep_items(study, "seeded", smoke=False)
    assert all(not item.startswith("sweep.search_space") for item in arm_items(study, "simclr", smoke=False))
    seed_grid = "    method: simclr\n    search_space: {seed: {grid: [0, 1]}}\n"
    searched = load_study(write(tmp_path, STUDY.replace("    method: simclr\n", seed_grid)))
    assert "seed=0" not in arm_sweep_items(searched, "simclr", smoke=False)


CURVE = """\
name: curves
seeds: [0, 1]
arms:
  krr:
    method: invariant_krr
    grid: {estimator: [invariant, plain], n: [16, 32]}
    measures: [l2_error]
    sweep: false
figures:
  krr: {x: n, y: [l2_error], lines: estimator, log: xy, rate: -0.5}
"""


def test_an_arm_grid_is_trained_once_per_seed_by_its_seeds_node(tmp_path: Path):
    """The seeds node's items carry the grid; ``sweep.py --seeds`` keeps it beside the seeds (a plain seeds node does
    not search the sweep's own space)."""
    from jobs.studyconfig import arm_seeds_items
    from jobs.sweepconfig import load_sweep
    from shared.registry import get_method

    study = load_study(write(tmp_path, CURVE))
    items = arm_seeds_items(study, "krr", smoke=False)
    space = load_sweep(get_method("invariant_krr"), items, seeds=[0, 1]).search_space
    assert space == {"estimator": {"grid": ["invariant", "plain"]}, "n": {"grid": [16, 32]}, "seed": {"grid": [0, 1]}}
    assert load_sweep(get_method("invariant_krr"), [], seeds=[3]).search_space == {"seed": {"grid": [3]}}
    with pytest.raises(ConfigError, match="only a grid"):
        load_sweep(get_method("invariant_krr"), ["sweep.search_space.n={choice: [16, 32]}"], seeds=[0])


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("n: [16, 32]}", "n: [16, -4]}", "grid.n"),  # a value the method's config refuses
        ("    sweep: false", "    overrides: {n: 16}\n    sweep: false", "also fixed by the arm's overrides"),
        ("x: n,", "x: depth,", "neither a measure of arm 'krr' nor a key of its grid"),
        ("y: [l2_error]", "y: [bleu]", "no arm reports \\['bleu'\\]"),
        ("{x: n,", "{arms: [krr], x: n, bound: bleu,", "'bleu' is not reported by arm 'krr'"),
        ("lines: estimator", "lines: ridge", "'ridge' is not a key of arm 'krr'"),
        ("log: xy", "log: z", "log"),
        ("{x: n,", "{arms: [svm], x: n,", "unknown arm 'svm'"),
    ],
)
def test_a_bad_grid_or_figure_is_refused_naming_the_key(tmp_path: Path, old, new, message):
    path = write(tmp_path, CURVE.replace(old, new))
    with pytest.raises(ConfigError, match=message) as err:
        load_study(path)
    assert str(err.value).startswith(f"{path}:")


def test_the_theory_study_declares_one_figure_per_paper():
    from jobs.studyconfig import all_measures

    study = load_study(Path(__file__).resolve().parents[1] / "configs" / "studies" / "theory.yaml", smoke=True)
    methods = {arm.method for arm in study.arms.values()}
    drawn = {study.arms[a].method for fig in study.figures.values() for a in fig.arms}
    assert len(methods) == 9 and drawn == methods and len(study.figures) == 9
    assert all(set(fig.y) <= set(all_measures(study)) for fig in study.figures.values())
