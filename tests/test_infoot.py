"""infoot: the kernel mutual information and its gradient by hand, Sinkhorn's marginals, the projections (also for
unseen points, where the official code crashes), resume, and the domain-adaptation claim on held-out seeds
(shared/ot/infoot.py, shared/methods/graph/infoot.py)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from shared.ot.infoot import (
    density_ratio,
    exact_ot,
    gaussian_kernel,
    mutual_information,
    mutual_information_gradient,
    relative_bandwidth,
    sinkhorn,
    solve_infoot,
)


def test_mutual_information_of_two_points_by_hand():
    # identity kernels: f_P = P, f(x) = f(y) = 1/2, so I(P) = sum P log 4P
    eye = np.eye(2)
    matched = np.diag([0.5, 0.5])
    independent = np.full((2, 2), 0.25)
    assert mutual_information(matched, eye, eye) == pytest.approx(math.log(2))
    assert mutual_information(independent, eye, eye) == pytest.approx(0.0, abs=1e-15)
    # gradient: log 4P + (I (P / P) I) = log 4P + 1 where P > 0
    assert np.allclose(mutual_information_gradient(independent, eye, eye), 1.0)
    assert mutual_information_gradient(matched, eye, eye)[0, 0] == pytest.approx(math.log(2) + 1)


def test_gradient_equals_finite_differences_with_gaussian_kernels():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 2)), rng.normal(size=(3, 2))
    kx = gaussian_kernel(np.linalg.norm(x[:, None] - x[None], axis=-1), 1.0)
    ky = gaussian_kernel(np.linalg.norm(y[:, None] - y[None], axis=-1), 1.0)
    plan = rng.random((4, 3))
    plan /= plan.sum()
    grad = mutual_information_gradient(plan, kx, ky)
    eps = 1e-6
    for i, j in [(0, 0), (1, 2), (3, 1)]:
        bump = np.zeros_like(plan)
        bump[i, j] = eps
        numeric = (mutual_information(plan + bump, kx, ky) - mutual_information(plan - bump, kx, ky)) / (2 * eps)
        assert grad[i, j] == pytest.approx(numeric, rel=1e-5)


def test_relative_bandwidth_and_density_ratio_by_hand():
    distances = np.array([[0.0, 2.0], [2.0, 0.0]])
    assert relative_bandwidth(distances, 0.5) == pytest.approx(0.5 * math.sqrt(2.0 / 2))  # mean(D^2) = 2
    k = gaussian_kernel(distances, 2.0)  # off-diagonal exp(-1/2)
    plan = np.diag([0.5, 0.5])
    f = (1 + math.exp(-0.5)) / 2
    joint00 = 0.5 * (1 + math.exp(-1.0))  # (K P K)_00 = 0.5 (K00^2 + K01^2)
    assert density_ratio(plan, k, k)[0, 0] == pytest.approx(joint00 / f**2)


def test_shifting_costs_by_row_and_column_constants_leaves_the_plan_unchanged():
    rng = np.random.default_rng(1)
    cost = rng.random((5, 4))
    p, q = np.full(5, 0.2), np.full(4, 0.25)
    plan = sinkhorn(p, q, cost, 0.1)
    shifted = sinkhorn(p, q, cost + 300 * rng.random((5, 1)) + 500 * rng.random((1, 4)), 0.1)
    assert np.allclose(plan, shifted, atol=1e-10)


def test_rounding_restores_the_marginals_and_moves_little_mass():
    from shared.ot.infoot import round_to_marginals

    rng = np.random.default_rng(3)
    p, q = np.full(4, 0.25), np.array([0.1, 0.2, 0.3, 0.4])
    plan = np.outer(p, q) * (1 + 0.05 * rng.normal(size=(4, 4)))  # marginals off by a few percent
    rounded = round_to_marginals(plan, p, q)
    assert np.allclose(rounded.sum(axis=1), p, atol=1e-15) and np.allclose(rounded.sum(axis=0), q, atol=1e-15)
    assert (rounded >= 0).all()
    off = np.abs(plan.sum(axis=1) - p).sum() + np.abs(plan.sum(axis=0) - q).sum()
    assert np.abs(rounded - plan).sum() <= 2 * off + 1e-15  # Altschuler et al.'s bound
    exact = np.outer(p, q)
    assert np.array_equal(round_to_marginals(exact, p, q), exact)


def gmm(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]])
    labels = np.arange(n) % 3
    return centres[labels] + 0.5 * rng.normal(size=(n, 2)), labels


def test_marginals_mutual_information_and_a_falling_objective_on_a_gmm():
    rng = np.random.default_rng(0)
    source, labels = gmm(rng, 60)
    target = gmm(rng, 60)[0] @ np.array([[0.8, -0.6], [0.6, 0.8]]) + 1.0
    result = solve_infoot(source, target, h=0.5, lam=10.0, reg=1.0, iterations=15)
    plan = result.plan
    assert np.abs(plan.sum(axis=1) - 1 / 60).max() < 1e-6 and np.abs(plan.sum(axis=0) - 1 / 60).max() < 1e-6
    assert mutual_information(plan, result.kx, result.ky) > mutual_information(exact_ot(source, target), result.kx,
                                                                              result.ky)
    steps = np.diff(result.objective)
    assert result.objective[-1] < result.objective[0] and steps.max() < 1e-3 * abs(result.objective[0])


def test_conditional_projection_maps_unseen_points_with_the_training_bandwidth():
    rng = np.random.default_rng(2)
    source, _ = gmm(rng, 45)
    target = gmm(rng, 45)[0] + np.array([10.0, 0.0])
    result = solve_infoot(source, target, lam=1.0, iterations=5)  # unlabelled: the in-sample kernel is the plain one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = result.conditional(source.copy())  # the official new-sample path raises NameError here
    assert np.allclose(again, result.conditional(), atol=1e-12)  # same bandwidth as in training, so the same map

    def error(mapped: np.ndarray, points: np.ndarray) -> float:
        return float(np.linalg.norm(mapped - (points + [10.0, 0.0]), axis=1).mean())

    unseen, _ = gmm(rng, 30)
    unseen_error = error(result.conditional(unseen), unseen)
    # as accurate as on the points it was solved on (seed 2: 1.56 vs 1.74; both blurred by reg = 1), and far better
    # than sending every point to the target's mean (2.5)
    assert unseen_error < 1.2 * error(result.conditional(), source)
    assert unseen_error < 0.8 * error(np.broadcast_to(target.mean(axis=0), unseen.shape), unseen)


def test_barycentric_projection_by_hand():
    from shared.ot.infoot import InfoOTPlan

    plan = InfoOTPlan(np.array([[0.5, 0.0], [0.1, 0.4]]), np.zeros((2, 1)), np.array([[1.0], [3.0]]), 1.0, 1.0,
                      np.eye(2), np.eye(2), [])
    assert np.allclose(plan.barycentric(), [[1.0], [(0.1 + 1.2) / 0.5]])


def test_the_method_resumes_exactly():
    from shared.methods.graph.infoot import SPEC

    cfg = SPEC.load_config(["epochs=3", "data.sources=30", "data.targets=30", "data.unseen=5"])
    straight = SPEC.make_trainer(cfg)
    while not straight.done:
        straight.fit_epoch()
    resumed = SPEC.make_trainer(cfg)
    resumed.fit_epoch()
    state = resumed.state_dict()
    fresh = SPEC.make_trainer(cfg)
    fresh.load_state_dict(state)
    while not fresh.done:
        fresh.fit_epoch()
    assert np.array_equal(fresh.solution.plan, straight.solution.plan)


# -- the claim (configs/reproduce/infoot_digits.yaml): lam 10 chosen over 100 on tuning seeds 0, 1 (cond accuracy
# 0.827 / 0.857 vs exact OT 0.804 / 0.836 vs none 0.796 / 0.789); asserted on held-out seeds 2, 3, data.seed = seed.
HELD_OUT_SEEDS = [2, 3]


@pytest.mark.slow
def test_infoot_conditional_projection_adapts_warped_digits_better_than_ot_and_no_adaptation(local_ray):
    from jobs.reproduce import compare

    out = compare("infoot_digits", seeds=HELD_OUT_SEEDS)["infoot"]
    warnings.warn(f"infoot_digits, held-out seeds {HELD_OUT_SEEDS}: {out}", stacklevel=1)
    for i in range(len(HELD_OUT_SEEDS)):
        assert out["acc_infoot_cond"][i] > out["acc_none"][i]
        assert out["acc_infoot_cond"][i] > out["acc_ot"][i]
        assert out["mi_infoot"][i] > out["mi_ot"][i]  # the same kernels for both couplings
        assert out["marginal_error"][i] < 1e-6
    # unseen source points (never in the solve) mapped by the conditional projection vs the same points unadapted;
    # tuning seeds 0, 1: +0.031, +0.082; a mean, as 50 points make one seed's accuracy coarse
    assert np.mean(out["acc_unseen_cond"]) > np.mean(out["acc_unseen_none"])


# -- the card's GMM checks: source 3-cluster GMM (150 points), target = the same mixture rotated by 0.5 rad and
# shifted (135 points) plus 10% far outliers (15 points). lam 10, reg 1, 20 mirror steps, unlabelled. Tuning seeds
# 0-4: mean map error OT-barycentric 3.79 vs InfoOT-conditional 3.21 (ratio 0.85; InfoOT-barycentric 2.59); cluster
# coherence 0.563 vs 0.833. Asserted on held-out seeds 5-9 (measured 3.89 vs 3.17, ratio 0.81; 0.544 vs 0.833).
CENTRES = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]])
ROTATION = np.array([[math.cos(0.5), -math.sin(0.5)], [math.sin(0.5), math.cos(0.5)]])


def true_map(points: np.ndarray) -> np.ndarray:
    return points @ ROTATION.T + np.array([6.0, 2.0])


def coherence(plan: np.ndarray, source_labels: np.ndarray, target_labels: np.ndarray) -> float:
    """Mean over source clusters of the largest share of its mass that one target cluster receives (outliers are a
    cluster of their own)."""
    mass = np.array([[plan[source_labels == a][:, target_labels == b].sum() for b in np.unique(target_labels)]
                     for a in np.unique(source_labels)])
    return float((mass.max(axis=1) / mass.sum(axis=1)).mean())


def gmm_with_outliers(seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    source_labels, target_labels = np.arange(150) % 3, np.concatenate([np.arange(135) % 3, np.full(15, 3)])
    source = CENTRES[source_labels] + 0.5 * rng.normal(size=(150, 2))
    inliers = true_map(CENTRES[target_labels[:135]] + 0.5 * rng.normal(size=(135, 2)))
    outliers = true_map(np.array([2.0, 1.2])) + np.array([15.0, 15.0]) + rng.uniform(-2, 2, size=(15, 2))
    target = np.vstack([inliers, outliers])
    result = solve_infoot(source, target, h=0.5, lam=10.0, reg=1.0, iterations=20)
    ot_plan = exact_ot(source, target)
    return {"error_ot": float(np.linalg.norm(ot_plan @ target * 150 - true_map(source), axis=1).mean()),
            "error_cond": float(np.linalg.norm(result.conditional() - true_map(source), axis=1).mean()),
            "coherence_ot": coherence(ot_plan, source_labels, target_labels),
            "coherence_infoot": coherence(result.plan, source_labels, target_labels)}


@pytest.mark.slow
def test_on_a_gmm_with_outliers_infoot_keeps_clusters_whole_and_maps_closer_than_ot():
    runs = [gmm_with_outliers(seed) for seed in range(5, 10)]
    mean = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
    warnings.warn(f"GMM with outliers, seeds 5-9: {mean}", stacklevel=1)
    assert mean["error_cond"] < 0.9 * mean["error_ot"]
    assert mean["coherence_infoot"] > mean["coherence_ot"] + 0.2
