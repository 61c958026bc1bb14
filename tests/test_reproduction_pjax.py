"""PJAX's claim at small scale (configs/reproduce/pjax.yaml) on held-out seeds 2, 3 with the digits split drawn by the
seed: gradient-free projection training is well above chance on digits and fits XOR through a step activation.
Accuracy and time against Adam on the same network are reported in REPRODUCTION.md, not asserted."""
import pytest

from jobs.reproduce import compare

HELD_OUT = [2, 3]


@pytest.fixture(scope="module")
def outcome(local_ray):
    return compare("pjax", seeds=HELD_OUT)


@pytest.mark.slow
def test_pjax_trains_digits_well_above_chance_and_fits_xor_through_a_step_activation(outcome):
    assert min(outcome["pjax_relu"]["test_acc"]) >= 0.5  # chance 0.1; tuning seeds 0, 1: 0.607 +- 0.029
    assert min(outcome["pjax_xor"]["train_acc"]) == 1.0
