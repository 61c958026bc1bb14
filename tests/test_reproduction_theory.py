"""The theory papers' findings at small scale (configs/reproduce/*.yaml), on a local Ray, on held-out seeds 2 and 3
with the problem drawn by the seed too (data.seed = seed). Settings and margins come from the spec card's
re-implementation and were checked on tuning seeds 0 and 1 (REPRODUCTION.md gives both)."""
import pytest

from jobs.reproduce import compare, mean

HELD_OUT = [2, 3]
_cache: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def ray_session(local_ray):
    return local_ray


def outcome(name: str, arms: list[str] | None = None) -> dict:
    if name not in _cache:
        _cache[name] = compare(name, seeds=HELD_OUT, arms=arms)
    return _cache[name]


@pytest.mark.slow
def test_group_dro_online_algorithms_close_most_of_erms_worst_group_gap():
    out = outcome("group_dro_m8")
    for algorithm in ("sagawa", "exp3p"):
        for gdro, erm in zip(out[algorithm]["worst_group_gap"], out["erm"]["worst_group_gap"], strict=True):
            assert gdro <= 0.3 * erm, (algorithm, gdro, erm)
    assert mean(out, "exp3p", "worst_group_gap") < mean(out, "exp3p_short", "worst_group_gap")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="held-out seeds 2, 3: EXP3P 7.3e-3 vs Sagawa 4.5e-3 with the card's fixed "
                                       "tunings (it held on tuning seeds 0, 1: 4.4e-3 vs 1.1e-2; REPRODUCTION.md)")
def test_group_dro_tuned_exp3p_is_competitive_with_tuned_sagawa_at_32_groups():
    out = outcome("group_dro_m32", arms=["sagawa", "exp3p"])
    assert mean(out, "exp3p", "worst_group_gap") <= 1.1 * mean(out, "sagawa", "worst_group_gap")


@pytest.mark.slow
def test_invariant_krr_error_at_n_is_that_of_plain_krr_at_about_four_n():
    out = outcome("invariant_krr")
    for n in (32, 64):
        invariant = mean(out, f"invariant_{n}", "l2_error")
        assert invariant <= 0.8 * mean(out, f"plain_{n}", "l2_error")
        assert invariant <= 1.6 * mean(out, f"plain_{4 * n}", "l2_error")


@pytest.mark.slow
def test_invariant_krr_gains_under_coordinate_permutations_on_the_sphere():
    """The permutation case: S^2 with G = S_3, orbit-averaged vs plain dot-product kernel (margin from tuning seeds
    0, 1: largest ratio 0.65)."""
    out = outcome("invariant_krr_sphere")
    for n in (32, 64):
        assert mean(out, f"invariant_{n}", "l2_error") <= 0.8 * mean(out, f"plain_{n}", "l2_error")


@pytest.mark.slow
def test_orbit_averaged_wasserstein_at_n_matches_plain_at_six_n():
    out = outcome("invariant_divergence")
    for n in (50, 100):
        orbit = mean(out, f"orbit_{n}", "w1_error")
        assert orbit <= 0.7 * mean(out, f"plain_{n}", "w1_error")
        assert 0.6 <= orbit / mean(out, f"plain_{6 * n}", "w1_error") <= 1.4


@pytest.mark.slow
def test_flatness_regularisation_recovers_the_low_rank_matrix_and_gd_does_not():
    out = outcome("flat_mf")
    for depth in (2, 3):
        assert mean(out, f"trace_{depth}", "rel_error") < 0.1
        assert mean(out, f"gd_{depth}", "rel_error") > 0.3
        assert mean(out, f"trace_{depth}", "nuclear_ratio") <= 1.05
    assert mean(out, "min_frobenius", "rel_error") > 0.3


@pytest.mark.slow
def test_orbit_parities_are_orthonormal_and_a_gradient_carries_at_most_one_over_f_of_information():
    out = outcome("symmetry_hardness")
    for arm in ("n8", "n10", "n12", "n14"):
        assert max(out[arm]["gram_error"]) < 1e-9
        assert max(out[arm]["bessel_ratio"]) <= 1.0
        assert max(out[arm]["informative_fraction"]) <= min(out[arm]["informative_bound"])
    assert mean(out, "n14", "informative_fraction") < mean(out, "n8", "informative_fraction")


@pytest.mark.slow
def test_a_trained_invariant_network_fails_as_the_orbit_parity_class_grows():
    """Fixed budget of 3,000 samples in batches of 8 (the card: small batches expose the CSQ tolerance); thresholds
    from tuning seeds 0, 1 (correlation 0.995 at |F| = 8, 0.116 at |F| = 440)."""
    out = outcome("symmetry_training")
    corr = [mean(out, f"n{n}", "test_corr") for n in (8, 12, 16, 20, 24)]
    assert corr[0] > 0.9 and corr[-1] < 0.3, corr
    assert all(a >= b for a, b in zip(corr, corr[1:], strict=False)), corr
    assert min(out["n24"]["class_size"]) == 440


@pytest.mark.slow
def test_identifiable_neurons_connect_linearly_and_interchangeable_ones_do_not():
    out = outcome("lmc_identifiability")
    assert mean(out, "k1", "barrier") < 0.02 < 0.1 < mean(out, "k10", "barrier")


@pytest.mark.slow
def test_weight_matching_removes_most_of_the_barrier_of_interchangeable_neurons():
    """Hungarian weight matching before interpolation (the official code's aligned comparison); margin from tuning
    seeds 0, 1 (aligned / unaligned at k = 10: 0.05)."""
    out = outcome("lmc_identifiability")
    assert mean(out, "k10", "aligned_barrier") < 0.25 * mean(out, "k10", "barrier")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="held-out seeds 2, 3: barrier 0.015 at k = 1 vs 0.012 at k = 2 (one k = 1 model "
                                       "trained badly: endpoint MSE 0.14); monotone on tuning seeds 0, 1")
def test_lmc_barrier_rises_monotonically_with_the_number_of_interchangeable_copies():
    out = outcome("lmc_identifiability")
    barriers = [mean(out, f"k{k}", "barrier") for k in (1, 2, 5, 10)]
    assert all(a <= b for a, b in zip(barriers, barriers[1:], strict=False))


@pytest.mark.slow
def test_sas_stability_estimate_ranks_the_generalisation_gap():
    from scipy.stats import spearmanr

    out = outcome("sas")
    arms = [f"rho{k}" for k in range(5)]
    beta = [mean(out, arm, "beta_hat") for arm in arms]
    gap = [mean(out, arm, "gap") for arm in arms]
    assert spearmanr(beta, gap).statistic >= 0.8, (beta, gap)
    assert beta[-1] > 2 * beta[0]


@pytest.mark.slow
def test_graphop_gnn_outputs_converge_in_distribution_as_graphs_grow():
    out = outcome("graphops_transfer")
    assert mean(out, "regular_800", "w1") < 0.5 * mean(out, "regular_50", "w1")
    assert mean(out, "graphon_400", "w1") < 0.5 * mean(out, "graphon_50", "w1")
    # the normalisation decides the limit: A / n on bounded-degree graphs sends P to 0, A / deg_max does not
    assert mean(out, "regular_800", "graph_effect_by_size") < 0.1 * mean(out, "regular_50", "graph_effect_by_size")
    assert mean(out, "regular_800", "graph_effect") > 0.5 * mean(out, "regular_50", "graph_effect")


@pytest.mark.slow
def test_graphop_output_distance_falls_at_least_near_the_reference_rate_in_log_log():
    """The log-log slope of W_1(n, 2n) against n, against the reference n^-1/2 (the empirical-measure rate; the
    paper's bound is in d_M, not computed, and the card states no rate [derived]). Margin from tuning seeds 0, 1:
    slopes -0.41 (3-regular, 50 -> 800) and -0.63 (graphon, 50 -> 400); asserted: <= -0.35 for both."""
    import math

    out = outcome("graphops_transfer")
    for small, large in (("regular_50", "regular_800"), ("graphon_50", "graphon_400")):
        sizes = int(small.split("_")[1]), int(large.split("_")[1])
        slope = math.log(mean(out, large, "w1") / mean(out, small, "w1")) / math.log(sizes[1] / sizes[0])
        assert slope <= -0.35, (small, large, slope)


@pytest.mark.slow
def test_graphop_student_trained_on_larger_graphs_transfers_better():
    out = outcome("graphops_transfer")
    assert mean(out, "student_160", "transfer_mse") < mean(out, "student_20", "transfer_mse")


@pytest.mark.slow
def test_tetris_detector_finds_the_direction_and_maps_the_source():
    out = outcome("tetris_detector")
    assert mean(out, "J", "median_error_deg") < 10
    assert mean(out, "J", "val_emd") < 0.5 * mean(out, "J", "uniform_emd")
    assert mean(out, "J", "contrast_padded") > mean(out, "J", "contrast_bare")
    assert max(out["J"]["map_error_cells"]) <= 2.5
