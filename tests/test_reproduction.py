"""CARE's qualitative claim at small scale, per image set, on held-out seeds (about 5 minutes per set on 2 cores).

Settings (lambda 0.1, hue jitter 0.5, 20 epochs) and thresholds were chosen on the tuning seeds 0-1 on `shapes`
(REPRODUCTION.md); the tests assert on seeds 2-3, which nothing was tuned on, and each seed sets the data's seed
too (``data_seed`` in configs/reproduce/care*.yaml). The thresholds are the same on every set; a claim that does
not hold on a set is a strict xfail with its figures, never a looser threshold.

Orthogonality is asserted with the Procrustes residual over the variance of z2 (``equiv_orth_residual``) and the
held-out Gram discrepancy; the relative residual (``equiv_error``, over ||z1 - z2||^2) is about 1 for any nearly
invariant encoder and is only reported.
"""
import warnings

import pytest

from jobs.reproduce import compare, load_reproduction, mean, seed_overrides, table
from shared.registry import get_method

HELD_OUT_SEEDS = [2, 3]
SETS = {"shapes": "care", "digits": "care_digits"}  # image set -> reproduction (configs/reproduce/)


@pytest.fixture(scope="module")
def outcomes(local_ray):
    measured: dict = {}
    yield measured
    # The held-out figures, for REPRODUCTION.md, in the run's warnings summary (passing tests print nothing).
    for image_set, out in measured.items():
        warnings.warn(f"CARE on {image_set}, held-out seeds {HELD_OUT_SEEDS} (data.seed = seed):\n{table(out)}",
                      stacklevel=1)


def outcome_of(outcomes: dict, image_set: str) -> dict:
    """One compare() per set and module, shared by every assertion on that set."""
    if image_set not in outcomes:
        outcomes[image_set] = compare(SETS[image_set], seeds=HELD_OUT_SEEDS)
    return outcomes[image_set]


def on(*image_sets: str, xfail: dict[str, str] | None = None) -> pytest.MarkDecorator:
    """Parametrise a claim over image sets; ``xfail``: {set: the figures that fail it} (strict)."""
    xfail = xfail or {}
    params = [pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=xfail[s])) if s in xfail else s
              for s in image_sets]
    return pytest.mark.parametrize("image_set", params)


def gap(out: dict, measure: str) -> float:
    return mean(out, "care", measure) - mean(out, "simclr", measure)


def figures(out: dict, measure: str) -> str:
    return f"{measure}: CARE {out['care'][measure]} vs SimCLR {out['simclr'][measure]}"


@pytest.mark.parametrize("name", list(SETS.values()))
def test_a_care_reproduction_seed_seeds_the_data_too(name):
    repro = load_reproduction(name)
    cfg = get_method("care").load_config([*repro.setting, *seed_overrides(repro, 3)])
    assert (cfg.seed, cfg.data.seed) == (3, 3)


# On digits the outcome depends on the machine's floating-point kernels (torch's CPU capability): the same code and
# seeds gave +0.010 on the earlier sessions' machines and +0.039 (CARE 0.879 vs SimCLR 0.840) on an AMD EPYC with AVX2
# kernels (2026-12-03). A margin that moves with the kernels is not a robust finding: not strict there, figures in
# REPRODUCTION.md.
@pytest.mark.slow
@pytest.mark.parametrize("image_set", [
    pytest.param("shapes", marks=pytest.mark.xfail(strict=True, reason="held-out seeds 2, 3: colour probe 0.759 ± "
                                                   "0.052 vs SimCLR 0.775 ± 0.061 (tuning seeds: +0.038)")),
    pytest.param("digits", marks=pytest.mark.xfail(strict=False, reason="machine-dependent: held-out seeds 2, 3 "
                                                   "colour probe 0.871 vs SimCLR 0.861 (+0.010 < 0.02) on the earlier "
                                                   "machines, 0.879 vs 0.840 (+0.039) with AVX2 kernels"))])
def test_care_keeps_more_colour_than_simclr(outcomes, image_set):
    out = outcome_of(outcomes, image_set)
    assert gap(out, "colour_probe_acc") >= 0.02, figures(out, "colour_probe_acc")


@pytest.mark.slow
@on("shapes", "digits")
def test_care_class_accuracy_stays_within_a_few_points(outcomes, image_set):
    out = outcome_of(outcomes, image_set)
    assert abs(gap(out, "linear_probe_acc")) <= 0.05, figures(out, "linear_probe_acc")


@pytest.mark.slow
@on("shapes", "digits", xfail={
    "shapes": "held-out seeds 2, 3: orthogonal-map residual 0.439 ± 0.032 vs SimCLR 0.545 ± 0.009 (0.80 x)",
    "digits": "held-out seeds 2, 3: orthogonal-map residual 0.605 ± 0.083 vs SimCLR 0.637 ± 0.024 (0.95 x)"})
def test_care_augmentations_act_closer_to_orthogonal_maps(outcomes, image_set):
    # The residual of the best orthogonal map over z2's variance: its denominator does not move with how far
    # the embedding moves, unlike equiv_error's (tests/test_metrics.py checks this by hand).
    out = outcome_of(outcomes, image_set)
    assert mean(out, "care", "equiv_orth_residual") <= 0.75 * mean(out, "simclr", "equiv_orth_residual"), \
        figures(out, "equiv_orth_residual")


@pytest.mark.slow
@on("shapes", "digits")
def test_care_gram_discrepancy_is_lower(outcomes, image_set):
    out = outcome_of(outcomes, image_set)
    assert mean(out, "care", "gram_discrepancy") <= 0.75 * mean(out, "simclr", "gram_discrepancy"), \
        figures(out, "gram_discrepancy")


@pytest.mark.slow
@on("shapes")
def test_care_knn_accuracy_stays_within_a_few_points(outcomes, image_set):
    # kNN (k = 200) only on shapes: on digits k = 200 exceeds a class's ~144 train images. Tuning seeds 0-2 (data
    # seed 0): 0.661 vs 0.712, 5 points lower; held-out seeds 2, 3 (data seed = seed): 0.685 vs 0.680.
    out = outcome_of(outcomes, image_set)
    assert abs(gap(out, "knn_acc")) <= 0.05, figures(out, "knn_acc")


@pytest.mark.slow
@on("shapes", xfail={"shapes": "hue sensitivity 0.019 vs SimCLR 0.021 on held-out seeds 2, 3 (tuning: 0.018 vs 0.019)"})
def test_care_embedding_moves_more_under_a_hue_rotation(outcomes, image_set):
    # If CARE keeps colour equivariantly, rotating every image's hue by half the circle moves its embedding more.
    out = outcome_of(outcomes, image_set)
    assert mean(out, "care", "hue_sensitivity") >= 1.25 * mean(out, "simclr", "hue_sensitivity"), \
        figures(out, "hue_sensitivity")
