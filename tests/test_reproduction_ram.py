"""RAM's claim on the card's toy (configs/reproduce/ram_tilt.yaml) on held-out seeds 2, 3 with the data seed varied:
the anchored fine-tuning moves the rewarded mode's mass to the analytic KL-optimal tilt while keeping every mode's
shape and putting no mass outside the modes; the same loss without the v_ref anchor (reward-weighted flow matching
on its own samples) overshoots and leaves the modes."""
import pytest

from jobs.reproduce import compare

HELD_OUT = [2, 3]  # thresholds chosen on seeds 0, 1: RAM mass 0.546 +- 0.008 (mixture's tilt 0.538, the pretrained
# flow's own tilt 0.553 +- 0.014, its mass 0.309), gap to the flow's tilt 0.007 +- 0.007, tilt error 0.042 vs 0.510
# unanchored, outside 0.017 +- 0.011, mean shift 0.23 std, covariance error 0.17 std^2. The gap is measured against
# the tilt of the pretrained flow's own mode masses (the KL optimum relative to p_ref): a first version measured it
# against the mixture's weights and failed on seed 2, whose pretrained flow put 0.25 (not 0.3) on the rewarded mode.


@pytest.mark.slow
def test_ram_reaches_the_analytic_tilt_keeps_the_modes_and_beats_the_unanchored_baseline(local_ray):
    out = compare("ram_tilt", seeds=HELD_OUT)
    print(out)
    ram, rwfm = out["ram"], out["rwfm"]
    for i in range(len(HELD_OUT)):
        assert ram["tilt_gap"][i] <= 0.04  # |mass - w_ref exp(r / lambda) / Z| with w_ref the pretrained flow's masses
        assert ram["mass_rewarded"][i] >= ram["ref_mass_rewarded"][i] + 0.15  # it moved, from 0.3 towards 0.538
        assert ram["mass_outside"][i] <= 0.05  # no reward hacking: the mass stays on the modes
        assert ram["mean_shift"][i] <= 0.5 and ram["cov_error"][i] <= 0.5  # in reference std (std^2) units
        assert ram["tilt_error"][i] <= rwfm["tilt_error"][i] - 0.2
