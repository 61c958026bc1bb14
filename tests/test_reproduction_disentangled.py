"""DisentangledSSL's two small-scale claims (Wang et al., ICLR 2025), over two held-out seeds (about 2 minutes
on 2 cores).

Measured first over seeds 0 1 (``jobs/reproduce.py disentangled_beta|disentangled_orth --seeds 0 1``):
- step 1: mean y_s accuracy of the shared representation 0.636 at beta = 0, 0.535 at beta = 300 (-0.10, each seed
  -0.10); y_c 0.768 at beta = 0 and 0.669 at beta = 300, 0.13 above y_s there;
- step 2 (beta = 0.1): y_c read from z_s^1 0.632 at lambda = 0, 0.577 at lambda = 1 (-0.055; z_s^2: -0.091);
  z_s^1 reads y_s1 at 0.674 (lambda = 1) against 0.623 from the shared representation.
The margins asserted here are the card's thresholds or below the measured differences on those tuning seeds; the
tests assert on held-out seeds 2, 3 with data.seed = seed (2026-12-02):
- step 1: y_s 0.603 (beta 0) -> 0.579 (beta 10) -> 0.537 (beta 300): -0.066, short of -0.08 (strict xfail);
  y_c 0.770 at beta 0, 0.676 at beta 300, 0.14 above y_s there;
- step 2: y_c from z_s^1 0.656 (lambda 0) -> 0.562 (lambda 1), from z_s^2 0.660 -> 0.577; z_s^1 reads y_s1 at
  0.679 against 0.595 from the shared representation.
"""
import statistics

import pytest

from jobs.reproduce import compare, mean


@pytest.fixture(scope="module")
def beta(local_ray):
    return compare("disentangled_beta", seeds=[2, 3])


@pytest.fixture(scope="module")
def orth(local_ray):
    return compare("disentangled_orth", seeds=[2, 3])


def ys(out, arm: str) -> float:
    return statistics.mean([mean(out, arm, "shared_acc_ys1"), mean(out, arm, "shared_acc_ys2")])


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="held-out seeds 2, 3: mean y_s accuracy 0.603 (beta 0) -> 0.537 (beta 300), "
                   "-0.066, short of the -0.08 chosen on tuning seeds 0, 1 (-0.10 there)")
def test_a_large_beta_drops_the_specific_labels_from_the_shared_representation(beta):
    assert ys(beta, "beta300") <= ys(beta, "beta0") - 0.08


@pytest.mark.slow
def test_a_small_beta_already_lowers_the_specific_labels_of_the_shared_representation(beta):
    assert ys(beta, "beta10") < ys(beta, "beta0")


@pytest.mark.slow
def test_the_shared_label_stays_readable_at_large_beta(beta):
    assert mean(beta, "beta0", "shared_acc_yc") > 0.7
    assert mean(beta, "beta300", "shared_acc_yc") >= ys(beta, "beta300") + 0.08


@pytest.mark.slow
def test_orthogonality_lowers_the_shared_label_leaking_into_the_specific_representation(orth):
    assert mean(orth, "lam1", "specific1_acc_yc") <= mean(orth, "lam0", "specific1_acc_yc") - 0.03
    assert mean(orth, "lam1", "specific2_acc_yc") <= mean(orth, "lam0", "specific2_acc_yc") - 0.03


@pytest.mark.slow
def test_the_specific_representation_reads_its_own_label_better_than_the_shared_one(orth):
    assert mean(orth, "lam1", "specific1_acc_ys1") >= mean(orth, "lam1", "shared_acc_ys1") + 0.03
