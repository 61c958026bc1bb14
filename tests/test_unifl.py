"""unifl: the radius, the expected cost of sample-and-repair and the MILP checked exactly on instances small enough
to enumerate (shared/graphs/facility.py), and the paper's claims on held-out seeds with the data seed varied
(configs/reproduce/unifl.yaml; 40 epochs, the per-bin neighbour features and the thresholds were looked at on seeds 0,
1 only)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from shared.graphs.facility import (
    completed,
    expected_cost,
    facility_cost,
    make_instance,
    milp_optimum,
    radii,
    repair_cost,
)

HELD_OUT = [2, 3]


def small_instance(seed: int, n: int = 7):
    return make_instance(np.random.default_rng(seed).uniform(0.0, 1.6, size=(n, 2)))


def test_radius_solves_its_equation_by_hand():
    inst = make_instance(np.array([[0.0, 0.0], [0.5, 0.0], [5.0, 0.0]]))
    # two points 0.5 apart: (r - 0) + (r - 0.5) = 1 gives r = 0.75; the isolated point: r - 0 = 1
    assert np.allclose(radii(inst), [0.75, 0.75, 1.0])
    r = radii(small_instance(0))
    d = np.where(small_instance(0).mask, small_instance(0).dist, np.inf)
    assert np.allclose(np.maximum(r[:, None] - d, 0.0).sum(axis=1), 1.0)


def test_expected_cost_of_two_points_by_hand():
    inst = make_instance(np.array([[0.0, 0.0], [0.5, 0.0]]))
    p0, p1 = 0.3, 0.6
    # open by coin + both opened by repair when neither coin opens + each connects to the other at 0.5
    by_hand = p0 + p1 + 2 * (1 - p0) * (1 - p1) + 0.5 * p1 * (1 - p0) + 0.5 * p0 * (1 - p1)
    assert expected_cost(torch.tensor([p0, p1], dtype=torch.float64), inst).item() == pytest.approx(by_hand)


@pytest.mark.parametrize("seed", [0, 1])
def test_expected_cost_equals_the_enumerated_expectation_of_the_repair_cost(seed):
    inst = small_instance(seed)
    p = np.random.default_rng(seed).uniform(0.0, 1.0, size=inst.n)
    p[0] = 1.0  # a certain coin: the log-space products must still give 0, not NaN
    outcomes = np.array(list(itertools.product([False, True], repeat=inst.n)))
    weights = np.prod(np.where(outcomes, p, 1.0 - p), axis=1)
    exact = float(weights @ repair_cost(inst, outcomes))
    assert expected_cost(torch.tensor(p), inst).item() == pytest.approx(exact, rel=1e-9)
    # the true cost of F_1 + F_2 never exceeds the repair cost the loss counts
    assert (facility_cost(inst, completed(inst, outcomes)) <= repair_cost(inst, outcomes) + 1e-12).all()


def test_expected_cost_gradient_is_finite_when_a_coin_is_certain():
    inst = small_instance(0)
    p = torch.full((inst.n,), 0.5, dtype=torch.float64)
    p[2] = 1.0
    p.requires_grad_(True)
    expected_cost(p, inst).backward()
    assert torch.isfinite(p.grad).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_milp_optimum_equals_brute_force(seed):
    inst = small_instance(seed, n=8)
    subsets = np.array([s for s in itertools.product([False, True], repeat=inst.n) if any(s)])
    brute = facility_cost(inst, completed(inst, subsets)).min()
    solution = milp_optimum(inst)
    assert solution.optimal and solution.cost == pytest.approx(brute, abs=1e-6)
    assert facility_cost(inst, solution.opened[None])[0] == pytest.approx(brute, abs=1e-6)


def test_milp_optimum_is_cached_per_instance_and_a_damaged_entry_is_solved_again(tmp_path, monkeypatch):
    import shared.graphs.facility as facility
    from shared.graphs.solver_cache import SolverCacheWarning

    inst = small_instance(3, n=8)
    first = facility.cached_milp_optimum(inst, 10.0, root=tmp_path)
    (entry,) = tmp_path.glob("*.parquet")

    def no_solve(*args, **kwargs):
        raise AssertionError("solved again although the optimum is cached")

    monkeypatch.setattr(facility, "milp_optimum", no_solve)
    again = facility.cached_milp_optimum(inst, 10.0, root=tmp_path)
    assert again.cost == first.cost and np.array_equal(again.opened, first.opened) and again.optimal
    monkeypatch.undo()
    entry.write_bytes(b"PAR1 truncated")
    with pytest.warns(SolverCacheWarning, match="is damaged"):
        assert facility.cached_milp_optimum(inst, 10.0, root=tmp_path).cost == pytest.approx(first.cost)
    assert facility.cached_milp_optimum(inst, 10.0, root=tmp_path).opened.shape == (inst.n,)
    assert len(list(tmp_path.glob("*.parquet"))) == 1  # replaced whole, no temporary left behind
    assert len(list(tmp_path.iterdir())) == 1


def test_untrained_mpnn_is_simple_uniform_fl_on_its_radius_estimate():
    from shared.methods.graph.unifl import SPEC

    cfg = SPEC.load_config(["data.n=50", "data.train_instances=2"])
    trainer = SPEC.make_trainer(cfg)
    inst = trainer.train_set[0]
    model = trainer.artifact()
    with torch.no_grad():
        p = model(inst)
        t = model.radius_bins(torch.as_tensor(inst.dist, dtype=torch.float32),
                              torch.as_tensor(inst.mask, dtype=torch.float32))
    assert (t[:, -1] == 1.0).all()  # at a_k = 1 the point itself already contributes 1
    r_hat = (torch.diff(t, prepend=torch.zeros_like(t[:, :1])) * model.edges).sum(dim=1)
    assert torch.allclose(p, (cfg.c * np.log(50) * r_hat).clamp(max=1.0), atol=1e-6)


def test_second_round_compares_log_radii_with_the_other_neighbours_per_bin_by_hand():
    from shared.methods.graph.unifl import RadiusMPNN

    inst = make_instance(np.array([[0.0], [0.3], [0.9]]))  # from point 0: 0.3 and 0.9 away
    model = RadiusMPNN(bins=4, hidden=4, c=0.1)  # a_i = 0.25, 0.5, 0.75, 1
    log_r = torch.tensor([0.0, 1.0, 2.0])
    lowest, mean = model.neighbour_gaps(log_r, torch.as_tensor(inst.dist, dtype=torch.float32),
                                        torch.as_tensor(inst.mask, dtype=torch.float32), torch.as_tensor(inst.order))
    assert lowest[0].tolist() == [0.0, -1.0, -1.0, -1.0]  # none within 0.25 (0); then point 1; then 1 and 2
    assert mean[0].tolist() == [0.0, -1.0, -1.0, -1.5]
    assert lowest[2].tolist() == [0.0, 0.0, 1.0, 2.0]  # point 2: point 1 at 0.6, then point 0 at 0.9
    assert mean[2].tolist() == [0.0, 0.0, 1.0, 1.5]


def test_simple_arm_is_simple_uniform_fl_at_the_evaluators_c_and_trains_nothing(tmp_path, monkeypatch):
    from shared.graphs.facility import simple_probabilities
    from shared.methods.graph.unifl import SPEC, FacilityQuality, best_simple_c

    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path))  # the MILP optima of these instances stay here
    cfg = SPEC.load_config(["model=simple", "epochs=1", "data.n=40", "data.large_n=60", "data.train_instances=3",
                            "data.test_instances=1", "samples=20"])
    trainer = SPEC.make_trainer(cfg)
    before = trainer.artifact().log_c.item()
    assert trainer.fit_epoch()["loss"] > 0 and trainer.done and trainer.artifact().log_c.item() == before
    c = best_simple_c(cfg, trainer.train_set)
    inst = trainer.train_set[0]
    assert np.allclose(trainer.artifact()(inst).numpy(), simple_probabilities(radii(inst), c))
    figures = FacilityQuality(cfg).evaluate(trainer.artifact())
    assert figures["expected_ratio"] == pytest.approx(figures["simple_expected_ratio"], rel=1e-9)


_cache: dict[str, dict] = {}


@pytest.fixture(scope="module")
def outcome(local_ray):
    from jobs.reproduce import compare

    if "out" not in _cache:
        _cache["out"] = compare("unifl", seeds=HELD_OUT)["mpnn"]
        print("unifl held-out", _cache["out"])
    return _cache["out"]


@pytest.mark.slow
def test_analytic_expected_cost_is_the_monte_carlo_mean_within_2_percent(outcome):
    assert max(outcome["expected_cost_mc_gap"]) < 0.02


@pytest.mark.slow
def test_sampled_cost_within_1_3_of_the_milp_optimum_and_below_simple_uniform_fl(outcome):
    assert max(outcome["cost_ratio"]) <= 1.3
    assert np.mean(outcome["expected_ratio"]) < np.mean(outcome["simple_expected_ratio"])


@pytest.mark.slow
def test_ratio_at_three_times_the_training_size_stays_within_10_percent(outcome):
    for small, large in zip(outcome["cost_ratio"], outcome["cost_ratio_large"], strict=True):
        assert large <= 1.1 * small


@pytest.mark.slow
def test_trained_mpnn_beats_simple_uniform_fl_by_two_points_of_the_ratio(outcome):
    for suffix in ("", "_large"):
        assert np.mean(outcome[f"cost_ratio{suffix}"]) <= np.mean(outcome[f"simple_ratio{suffix}"]) - 0.02
