"""RAM's claim on the card's toy (configs/reproduce/ram_tilt.yaml) on held-out seeds 2, 3 with the data seed varied:
the anchored fine-tuning moves the rewarded mode's mass to the analytic KL-optimal tilt, rising monotonically (within
the noise of its reward curve) while keeping every mode's shape and putting no mass outside the modes; the same loss
without the v_ref anchor (reward-weighted flow matching on its own samples) overshoots and leaves the modes. The tests
share one set of runs."""
import pytest

from jobs.reproduce import compare

HELD_OUT = [2, 3]  # thresholds chosen on seeds 0, 1: RAM mass 0.546 +- 0.008 (mixture's tilt 0.538, the pretrained
# flow's own tilt 0.553 +- 0.014, its mass 0.309), gap to the flow's tilt 0.007 +- 0.007, tilt error 0.042 vs 0.510
# unanchored, outside 0.017 +- 0.011, mean shift 0.23 std, covariance error 0.17 std^2, drawdown of the reward curve
# 0.023, 0.013, regularised reward 0.423, 0.416 vs rwfm -1.793, -0.161. The gap is measured against the tilt of the
# pretrained flow's own mode masses (the KL optimum relative to p_ref): a first version measured it against the
# mixture's weights and failed on seed 2, whose pretrained flow put 0.25 (not 0.3) on the rewarded mode. Fresh seeds
# 4, 5 confirmed the changed measure (REPRODUCTION.md).


@pytest.fixture(scope="module")
def runs(local_ray):
    out = compare("ram_tilt", seeds=HELD_OUT)
    print(out)
    return out


@pytest.mark.slow
def test_ram_reaches_the_analytic_tilt_keeps_the_modes_and_beats_the_unanchored_baseline(runs):
    ram, rwfm = runs["ram"], runs["rwfm"]
    for i in range(len(HELD_OUT)):
        assert ram["tilt_gap"][i] <= 0.04  # |mass - w_ref exp(r / lambda) / Z| with w_ref the pretrained flow's masses
        assert ram["mass_rewarded"][i] >= ram["ref_mass_rewarded"][i] + 0.15  # it moved, from 0.3 towards 0.538
        assert ram["mass_outside"][i] <= 0.05  # no reward hacking: the mass stays on the modes
        assert ram["mean_shift"][i] <= 0.5 and ram["cov_error"][i] <= 0.5  # in reference std (std^2) units
        assert ram["tilt_error"][i] <= rwfm["tilt_error"][i] - 0.2


@pytest.mark.slow
def test_the_rewarded_mass_rises_monotonically_within_the_noise_of_its_reward_curve(runs):
    """The card's (i): the rewarded basin's share of the model's own samples per quarter epoch (3,200 samples: sd
    about 0.009) never falls more than 0.04 below its running peak (tuning seeds: 0.023, 0.013), and ends at the
    tilt (the first test)."""
    assert all(d <= 0.04 for d in runs["ram"]["mass_drawdown"])


@pytest.mark.slow
def test_ram_has_the_higher_kl_regularised_reward_at_the_same_reward_queries(runs):
    """E[r] - lambda KL(p || p_ref) on the mode level (an upper bound of the objective; the tilt maximises it, at
    lambda log Z = 0.42 for the mixture's weights): the objective RAM fine-tunes for."""
    ram, rwfm = runs["ram"], runs["rwfm"]
    for i in range(len(HELD_OUT)):
        assert ram["reward_queries"][i] == rwfm["reward_queries"][i] == 38_400
        assert ram["regularised_reward"][i] >= rwfm["regularised_reward"][i] + 0.3


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="the issue's 'better reward per reward query than reward-weighted flow matching "
                   "without the anchor' holds the other way on the raw reward: at 38,400 queries each, held-out seeds "
                   "2, 3 mean reward RAM 0.495, 0.540 vs rwfm 0.991, 0.996 (tuning 0.564, 0.544 vs 0.993, 0.994): "
                   "rwfm collapses onto the rewarded basin (reward hacking); RAM stops at the KL optimum by design")
def test_ram_gets_more_raw_reward_per_query_than_the_unanchored_baseline(runs):
    ram, rwfm = runs["ram"], runs["rwfm"]
    assert all(a >= b for a, b in zip(ram["mean_reward"], rwfm["mean_reward"], strict=True))
