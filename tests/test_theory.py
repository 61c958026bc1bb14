"""The theory experiments' math on hand-computable cases (no Ray): exact risks and the minimax value, group
actions and orbit averaging, the invariant kernel's closed form, orbit-averaged Wasserstein, the trace of the
Hessian of a deep matrix factorisation."""
import numpy as np
import pytest

from shared.registry import get_method
from shared.theory.regression import GroupRegression


def test_group_risks_and_minimax_value_by_hand():
    """Two groups w = +-e1 in d = 2 with equal noise: OPT is at theta = 0, R = 1/d + a^2/3, both groups active."""
    prob = GroupRegression(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([0.3, 0.3]))
    assert prob.risks(np.array([1.0, 0.0])) == pytest.approx([0.03, 2.0 + 0.03])
    opt, theta = prob.minimax()
    assert opt == pytest.approx(0.5 + 0.03, abs=1e-6)
    assert np.abs(theta).max() < 1e-4


def test_group_dro_exact_risks_match_monte_carlo():
    """R_i(theta) = |theta - w_i|^2 / d + a_i^2 / 3 against the squared loss averaged over 200k samples."""
    prob = GroupRegression.draw(3, 4, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(4) * 0.5
    x = rng.choice([-1.0, 1.0], size=(200_000, 4)) / 2.0
    for i in range(3):
        y = x @ prob.weights[i] + rng.uniform(-1, 1, len(x)) * prob.noise[i]
        assert np.mean((x @ theta - y) ** 2) == pytest.approx(prob.risks(theta)[i], rel=0.02)


def test_capped_simplex_projection_maximum_and_minimax_by_hand():
    """Subpopulation fairness / CVaR: Q = {q in simplex, q <= caps}. KL projection of (0.7, 0.2, 0.1) onto caps 0.5:
    (0.5, 1/3, 1/6); max over Q of q . (3, 2, 1) with caps 0.5 = CVaR_{2/3} = (3 + 2) / 2; and OPT_Q of two groups
    w = +-1 in d = 1 (noise 0.5, 0.1) with p = (0.2, 0.8), alpha = 0.5 (q_1 <= 0.4): min_theta 0.4 R_1 + 0.6 R_2 at
    theta = -0.2, = 0.96 + 0.4 / 12 + 0.6 x 0.01 / 3."""
    from shared.theory.regression import capped_max, kl_project_capped

    half = np.full(3, 0.5)
    assert kl_project_capped(np.array([0.7, 0.2, 0.1]), half) == pytest.approx([0.5, 1 / 3, 1 / 6])
    assert kl_project_capped(np.array([0.2, 0.3, 0.5]), np.ones(3)) == pytest.approx([0.2, 0.3, 0.5])
    assert capped_max(np.array([3.0, 2.0, 1.0]), half) == pytest.approx(2.5)
    assert capped_max(np.array([3.0, 2.0, 1.0]), np.ones(3)) == pytest.approx(3.0)  # the simplex: the worst group
    prob = GroupRegression(np.array([[1.0], [-1.0]]), np.array([0.5, 0.1]))
    opt, theta = prob.capped_minimax(np.array([0.4, 1.0]))
    assert opt == pytest.approx(0.96 + 0.4 / 12 + 0.6 * 0.01 / 3, abs=1e-6)
    assert theta == pytest.approx([-0.2], abs=1e-4)


def test_group_dro_players_stay_in_the_capped_set():
    """Both q-players end in Q, EXP3P's exploration included; with alpha = 1 a subpopulation Q is {p}: ERM's risk."""
    from shared.methods.theory.group_dro import caps, population

    spec = get_method("group_dro")
    for algorithm in ("exp3p", "sagawa"):
        cfg = spec.load_config([f"algorithm={algorithm}", "ambiguity=subpopulation", "alpha=0.3", "steps=400"])
        trainer = spec.make_trainer(cfg)
        trainer.fit_epoch()
        q = np.asarray(trainer.artifact()["q"])
        assert q.sum() == pytest.approx(1.0) and (q <= caps(cfg) + 1e-12).all(), (algorithm, q)
    cfg = spec.load_config(["algorithm=erm", "ambiguity=subpopulation", "alpha=1.0", "steps=400"])
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()
    out = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    risks = trainer.data.risks(np.asarray(trainer.artifact()["theta"]))
    assert out["robust_risk"] == pytest.approx(float(population(cfg) @ risks))


@pytest.mark.parametrize("ambiguity", ["subpopulation", "cvar"])
def test_online_gdro_closes_most_of_erms_gap_on_subpopulation_and_cvar_objectives(ambiguity):
    """The generalised group DRO (Q capped, alpha = 0.2), held-out seeds 2, 3 with data.seed = seed: both online
    algorithms' gap to OPT_Q <= 0.3 x ERM's on every seed (the card's assertion 1 carried over to Q; tuning seeds 0, 1:
    the largest ratio was 0.19, REPRODUCTION.md)."""
    spec = get_method("group_dro")
    for seed in (2, 3):
        gaps = {}
        for algorithm in ("erm", "sagawa", "exp3p"):
            cfg = spec.load_config([f"algorithm={algorithm}", f"ambiguity={ambiguity}", "alpha=0.2", f"seed={seed}",
                                    f"data.seed={seed}"])
            trainer = spec.make_trainer(cfg)
            trainer.fit_epoch()
            gaps[algorithm] = spec.evaluate(cfg, trainer.artifact(), trainer.data)["robust_gap"]
        assert gaps["sagawa"] <= 0.3 * gaps["erm"] and gaps["exp3p"] <= 0.3 * gaps["erm"], (seed, gaps)


def test_the_sphere_kernel_averaged_over_coordinate_permutations_is_invariant():
    """K_G(x, g y) = K_G(x, y) for every permutation g, K_G is symmetric positive semi-definite, and the plain kernel
    is not invariant (the permutation case of invariant_krr)."""
    from shared.methods.theory.invariant_krr import sphere_kernels, sphere_points

    cfg = get_method("invariant_krr").load_config(["domain=sphere", "estimator=plain"])
    plain, invariant = sphere_kernels(cfg)
    x = sphere_points(5, 3, np.random.default_rng(0))
    gram = invariant(x, x)
    for perm in ([1, 0, 2], [2, 0, 1]):
        assert invariant(x, x[:, perm]) == pytest.approx(gram)
    assert gram == pytest.approx(gram.T) and np.linalg.eigvalsh(gram).min() > -1e-12
    assert np.abs(plain(x, x[:, [1, 0, 2]]) - plain(x, x)).max() > 1e-3


def test_group_dro_runs_and_resumes_from_its_state():
    spec = get_method("group_dro")
    cfg = spec.load_config(["steps=300", "groups=4"])
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()
    again = spec.make_trainer(cfg)
    again.load_state_dict(trainer.state_dict())
    assert again.done and spec.evaluate(cfg, again.artifact(), again.data) == spec.evaluate(cfg, trainer.artifact())


def test_c4_averaged_kernel_keeps_exactly_the_modes_divisible_by_four():
    """The closed form (modes k = 0 mod 4) equals the explicit orbit average (1/4) sum_g K(x, g y); both are
    C_4-invariant in each argument, and a hand case: K_G(0, 0) = 1 + sum_{k = 4, 8} 2 / (1 + k^2) at 8 modes."""
    from shared.theory.groups import circle_rotations, orbit_average_kernel
    from shared.theory.kernels import sobolev_circle_kernel

    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 2 * np.pi, 5), rng.uniform(0, 2 * np.pi, 7)
    explicit = orbit_average_kernel(sobolev_circle_kernel(8), circle_rotations(4))
    closed = sobolev_circle_kernel(8, keep_every=4)
    np.testing.assert_allclose(explicit(x, y), closed(x, y), atol=1e-12)
    np.testing.assert_allclose(closed(x, y + np.pi / 2), closed(x, y), atol=1e-12)
    assert closed(np.zeros(1), np.zeros(1))[0, 0] == pytest.approx(1 + 2 / 17 + 2 / 65)


def test_oracle_krr_recovers_a_function_in_the_kernel_span():
    """Noiseless data from f = K(., z) c: KRR with a tiny ridge interpolates it, so the grid error is ~0."""
    from shared.theory.kernels import oracle_krr_error, sobolev_circle_kernel

    kernel = sobolev_circle_kernel(4)
    rng = np.random.default_rng(0)
    x, grid = rng.uniform(0, 2 * np.pi, 40), np.linspace(0, 2 * np.pi, 100)
    truth = lambda t: kernel(t, np.array([1.0, 2.0])) @ np.array([1.0, -0.5])  # noqa: E731
    err, lam = oracle_krr_error(kernel(x, x), kernel(grid, x), truth(x), truth(grid), np.logspace(-10, 0, 11))
    assert err < 1e-8 and lam < 1e-6


def test_orbit_averaged_wasserstein_by_hand():
    """S_3 orbits: the orbit of (1, 0, 0) is the three unit vectors; the orbit-averaged measures of (1, 0, 0) and
    (0, 1, 0) are equal (W_1 = 0), while their plain W_1 is sqrt(2); a point and its own orbit average differ by
    the mean distance to the orbit, (0 + 2 sqrt(2)) / 3."""
    from shared.methods.theory.invariant_divergence import invariant_sample, wasserstein1
    from shared.theory.groups import coordinate_permutations, orbit_points

    act = coordinate_permutations(3)
    a, b = np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])
    orbit_a = orbit_points(a, act)
    assert orbit_a.shape == (6, 3) and {tuple(p) for p in orbit_a} == {(1, 0, 0), (0, 1, 0), (0, 0, 1)}
    assert wasserstein1(a, b) == pytest.approx(np.sqrt(2))
    assert wasserstein1(orbit_a, orbit_points(b, act)) == pytest.approx(0.0, abs=1e-12)
    assert wasserstein1(a, orbit_a) == pytest.approx(2 * np.sqrt(2) / 3)
    sample = invariant_sample(6000, np.random.default_rng(0))  # mu is S_3-invariant: every coordinate has one law
    assert np.ptp(sample.mean(axis=0)) < 0.02


def test_trace_of_gauss_newton_hessian_is_twice_d_times_the_factor_norms_for_gaussian_measurements():
    """L = 2, iid N(0, 1) A_i: E |W_2^T A|_F^2 = d |W_2|_F^2 and E |A W_1^T|_F^2 = d |W_1|_F^2, so
    tr_GN -> 2d (|W_1|^2 + |W_2|^2) (within 3% at n = 20,000); and it is the trace of the Gauss-Newton matrix
    (2/n) J^T J by autograd."""
    import torch

    from shared.methods.theory.flat_mf import chain, trace_gn

    gen = torch.Generator().manual_seed(0)
    d = 8
    w1, w2 = (torch.randn(d, d, generator=gen, dtype=torch.float64) / np.sqrt(d) for _ in range(2))
    sensing = torch.randn(20_000, d, d, generator=gen, dtype=torch.float64)
    expected = 2 * d * (w1.pow(2).sum() + w2.pow(2).sum())
    assert float(trace_gn([w1, w2], sensing)) == pytest.approx(float(expected), rel=0.03)
    small = sensing[:5]
    jac = torch.autograd.functional.jacobian(
        lambda a, b: torch.einsum("nij,ij->n", small, chain([a, b], d)), (w1, w2))
    gauss_newton_trace = 2 / 5 * sum(j.pow(2).sum() for j in jac)
    assert float(trace_gn([w1, w2], small)) == pytest.approx(float(gauss_newton_trace), rel=1e-10)


def test_orbit_parity_class_by_hand():
    """n = 8: the 21 supports of size 3 containing 0 form 7 orbits, all aperiodic; the 35 of size 4 form 10, two
    periodic ({0, 2, 4, 6}: orbit size 2, norm^2 4; {0, 1, 4, 5}: orbit size 4, norm^2 2), the other 8 of norm 1."""
    from shared.theory.parities import orbit_parity, support_orbits

    assert [size for _, size in support_orbits(8, 3)] == [8] * 7
    orbits = support_orbits(8, 4)
    assert len(orbits) == 10 and sorted(size for _, size in orbits) == [2, 4] + [8] * 8
    norms = {support: float(np.mean(orbit_parity(support, 8) ** 2)) for support, _ in orbits}
    assert norms[(0, 2, 4, 6)] == pytest.approx(4.0) and norms[(0, 1, 4, 5)] == pytest.approx(2.0)
    assert sorted(norms.values())[:8] == pytest.approx([1.0] * 8)


def test_cnn_gradients_in_closed_form_match_finite_differences():
    from shared.methods.theory.symmetry_hardness import invariant_cnn_gradients
    from shared.theory.parities import cube_inputs

    x = cube_inputs(5)[:7]
    grads = invariant_cnn_gradients(x, channels=3, seed=0)
    assert grads.shape == (7, 3 * 5 + 3 + 3)
    # model(x) is linear in the readout: its gradient there is the pooled activation, which sums to model / r
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 5)) / np.sqrt(5)
    bias = rng.standard_normal(3) * 0.1
    readout = rng.standard_normal(3) / np.sqrt(3)
    windows = np.stack([np.roll(x, -i, axis=1) for i in range(5)], axis=1)
    model = np.maximum(windows @ kernel.T + bias, 0).sum(1) @ readout
    np.testing.assert_allclose(grads[:, -3:] @ readout, model)
    eps = 1e-6
    bumped = np.maximum(windows @ kernel.T + bias + eps * np.eye(3)[0], 0).sum(1) @ readout
    np.testing.assert_allclose((bumped - model) / eps, grads[:, 15], atol=1e-4)


@pytest.mark.parametrize("method, overrides, key", [
    ("symmetry_hardness", ["n=6", "k=7"], "k"),
    ("flat_mf", ["dim=4", "rank=5"], "rank"),
    ("invariant_krr", ["modes=3", "group_order=4"], "group_order"),
    ("group_dro", ["groups=1"], "groups"),
])
def test_theory_configs_reject_inconsistent_sizes_naming_the_key(method, overrides, key):
    from shared.config import ConfigError

    with pytest.raises(ConfigError, match=f"^{key}:"):
        get_method(method).load_config(overrides)


def test_lmc_interpolating_a_model_with_itself_has_no_barrier():
    """The barrier of a pair of identical models is exactly 0 (same seed twice); the data are k equal copies of
    z / sqrt(k), so their squared norm is |z|^2 and the target is relu(z1 + z2)."""
    import torch

    from shared.methods.theory.lmc_identifiability import draw_data, forward, train_one

    cfg = get_method("lmc_identifiability").load_config(["copies=3", "train_epochs=2", "n_train=64"])
    x, y = draw_data(cfg, 64, torch.Generator().manual_seed(0))
    assert torch.equal(x[:, 0:2], x[:, 4:6]) and torch.all(x[:, 6:] == 0)
    z = x[:, 0:2] * 3**0.5
    assert torch.allclose(x.pow(2).sum(1), z.pow(2).sum(1)) and torch.allclose(y, torch.relu(z.sum(1)))
    mask = torch.ones(cfg.width, 20)
    a, b = train_one(cfg, mask, x, y, 5), train_one(cfg, mask, x, y, 5)
    mid = tuple(0.5 * p + 0.5 * q for p, q in zip(a, b, strict=True))
    assert torch.equal(forward(mid, mask, x), forward(a, mask, x))
