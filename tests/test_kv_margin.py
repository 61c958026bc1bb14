"""kv_margin: k-variance and the margin scores by hand, and the mini-PGDL claim (Kendall tau against the gap) on
held-out seeds (shared/ot/kvariance.py, shared/methods/graph/kv_margin.py)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from shared.ot.kvariance import k_variance, kv_margin_scores, margins_and_gradient_norms, score_taus, wasserstein1


def test_identical_clouds_are_at_zero_and_a_point_mass_has_no_k_variance():
    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(10, 3))
    assert wasserstein1(cloud, cloud[::-1].copy()) == pytest.approx(0.0, abs=1e-12)
    assert k_variance(np.ones((8, 3)), rng, draws=5) == 0.0


def test_k_variance_by_hand_on_two_points_and_four_points():
    rng = np.random.default_rng(1)
    assert k_variance(np.array([[0.0], [1.0]]), rng) == pytest.approx(1.0)  # k = 1: the two points, always
    # {0, 0, 1, 1}, k = 2: of the three pairings into halves, {0,0}|{1,1} gives W1 = 1 and the other two give 0
    assert k_variance(np.array([[0.0], [0.0], [1.0], [1.0]]), rng, draws=6000) == pytest.approx(1 / 3, abs=0.02)
    with pytest.raises(ValueError, match="2k <= n"):
        k_variance(np.zeros((3, 1)), rng, k=2)


def test_k_variance_scales_with_spread_and_falls_with_k():
    points = np.random.default_rng(2).normal(size=(400, 2))
    tight = k_variance(0.1 * points, np.random.default_rng(3), k=20, draws=20)
    spread = k_variance(points, np.random.default_rng(3), k=20, draws=20)
    assert tight == pytest.approx(0.1 * spread, rel=1e-9)  # the same splits: W1 is 1-homogeneous
    small_k = k_variance(points, np.random.default_rng(4), k=5, draws=200)
    large_k = k_variance(points, np.random.default_rng(4), k=100, draws=200)
    assert large_k < 0.6 * small_k  # empirical measures converge: E W1 shrinks with k


def test_margins_and_gradients_of_a_linear_head_by_hand():
    head = torch.nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]]))
    features = torch.tensor([[3.0, 1.0], [1.0, 1.0]])  # logits (3, 2, -4) and (1, 2, -2)
    margins, norms = margins_and_gradient_norms(head, features, torch.tensor([0, 0]))
    assert np.allclose(margins, [1.0, -1.0])  # 3 - 2; 1 - 2 (misclassified: negative)
    assert np.allclose(norms, [np.sqrt(5.0), np.sqrt(5.0)])  # ||w_0 - w_1|| = ||(1, -2)||


def test_the_three_scores_by_hand():
    features = np.array([[0.0], [1.0], [0.0], [3.0]])
    labels = np.array([0, 0, 1, 1])
    margins = np.array([1.0, 2.0, 3.0, 4.0])
    norms = np.array([1.0, 1.0, 2.0, 2.0])
    # k = 1: Var_1(class 0) = 1, Var_1(class 1) = 3; w = 1/2 each; Lip = 1 and 2
    scores = kv_margin_scores(features, labels, margins, norms, np.random.default_rng(0))
    assert scores["margin_score"] == pytest.approx(-2.5)
    assert scores["kv_margin_score"] == pytest.approx(-2.5 / (0.5 * 1 * 1 + 0.5 * 3 * 2))
    # normalised margins 1, 2, 1.5, 2 (up to the 1e-6): median 1.75, over 0.5 x 1 + 0.5 x 3
    assert scores["kv_gn_margin_score"] == pytest.approx(-1.75 / 2.0, rel=1e-5)
    assert scores["k_variance"] == pytest.approx(2.0)


def test_training_stops_at_the_target_accuracy_and_the_tool_reports_its_measures():
    from shared.methods.graph.kv_margin import SPEC

    cfg = SPEC.load_config(["target_train_acc=0.5", "width=16", "depth=1", "data.train_size=100", "per_class=5"])
    trainer = SPEC.make_trainer(cfg)
    while not trainer.done:
        trainer.fit_epoch()
    assert trainer.epoch < cfg.epochs and trainer.train_accuracy() >= 0.5
    out = SPEC.evaluate(cfg, trainer.artifact(), trainer.data)
    assert out["gap"] == pytest.approx(out["train_acc"] - out["test_acc"])
    assert set(out) == set(SPEC.metric_names()) - {"loss"}


def test_ranking_a_sweeps_rows_by_hand(tmp_path):
    import pandas as pd

    from jobs.rank_generalisation import final_measures, main

    rows = []
    for trial, (gap, margin, kv, kv_gn) in {"a": (0.1, 1.0, 3.0, 1.0), "b": (0.2, 2.0, 2.0, 2.0),
                                             "c": (0.3, 3.0, 1.0, 0.5)}.items():
        rows += [{"trial": trial, "epoch": 5, "metric": m, "value": v, "status": "final"}
                 for m, v in zip(("gap", "margin_score", "kv_margin_score", "kv_gn_margin_score"),
                                 (gap, margin, kv, kv_gn), strict=True)]
        rows.append({"trial": trial, "epoch": 4, "metric": "gap", "value": 9.0, "status": "running"})
    rows.append({"trial": "d", "epoch": 1, "metric": "gap", "value": 0.5, "status": "running"})  # unfinished
    models = final_measures(pd.DataFrame(rows))
    assert sorted(m["gap"] for m in models) == [0.1, 0.2, 0.3]
    # concordant pairs minus discordant over 3 pairs: margin +1, kV -1, kV-GN (ab +, ac -, bc -) -1/3
    assert score_taus(models) == pytest.approx({"margin_score": 1.0, "kv_margin_score": -1.0,
                                                "kv_gn_margin_score": -1 / 3})
    assert main(["no-such-sweep", "--storage", str(tmp_path)]) == 2


# -- the claim (configs/reproduce/kv_margin_family.yaml): 24 MLPs per seed (depth {1, 2} x width {64, 128, 256} x
# weight decay {0, 1e-3} x label noise {0, 0.2}, 200 training digits); widths, lr and the 200 digits chosen on tuning
# seeds 0, 1, where Kendall tau against the gap was margin 0.25 / 0.34, kV-Margin 0.72 / 0.55, kV-GN-Margin
# 0.48 / 0.36. Asserted on held-out seeds 2, 3 with data.seed = seed (which digits train, which labels flip).
HELD_OUT_SEEDS = [2, 3]
_family: dict[str, dict[str, list[float]]] = {}


def family_taus(local_ray) -> dict[str, list[float]]:
    from jobs.reproduce import compare

    if not _family:
        out = compare("kv_margin_family", seeds=HELD_OUT_SEEDS)
        per_seed = [score_taus([{m: arm[m][i] for m in arm} for arm in out.values()])
                    for i in range(len(HELD_OUT_SEEDS))]
        _family.update({score: [taus[score] for taus in per_seed] for score in per_seed[0]})
        warnings.warn(f"kv_margin_family, held-out seeds {HELD_OUT_SEEDS}: Kendall tau {_family}; "
                      f"gaps {[[round(g, 3) for g in arm['gap']] for arm in out.values()]}", stacklevel=1)
    return _family


@pytest.mark.slow
def test_kv_gn_margin_ranks_the_gap_at_least_as_well_as_the_plain_margin(local_ray):
    taus = family_taus(local_ray)
    assert min(taus["kv_gn_margin_score"]) > 0
    assert np.mean(taus["kv_gn_margin_score"]) >= np.mean(taus["margin_score"])
    assert np.mean(taus["kv_margin_score"]) >= np.mean(taus["margin_score"])
