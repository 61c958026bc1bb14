"""PJAX's graph projections (idempotent, on the graph, optimal against brute force, commuting within a partition)
and the divide-and-concur solver (residual falls; XOR through a step activation; digits above chance; the batched
partition equals node-by-node projection)."""
import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from shared.pjax.projections import (
    activate,
    project_dot,
    project_linear,
    project_margin,
    project_sum_activation,
    quantize_levels,
)
from shared.pjax.solver import Network, initial_state, project_divide, solve_batch

GEN = torch.Generator().manual_seed(0)
LEVELS = quantize_levels(3)


def randn(*shape, scale=1.0):
    return torch.randn(*shape, generator=GEN, dtype=torch.float64) * scale


def sum_act_cases():
    return [(act, randn(200, 2, scale=1.5), randn(200, scale=1.5)) for act in ("identity", "relu", "quantize")]


@pytest.mark.parametrize("act,x0,h0", sum_act_cases())
def test_sum_activation_projection_is_idempotent_on_the_graph_and_optimal_by_grid_search(act, x0, h0):
    x, h = project_sum_activation(x0, h0, act, LEVELS)
    assert torch.allclose(h, activate(x.sum(-1), act, LEVELS), atol=1e-7)  # on the graph
    x2, h2 = project_sum_activation(x, h, act, LEVELS)
    assert torch.allclose(x2, x, atol=1e-8) and torch.allclose(h2, h, atol=1e-8)  # idempotent
    # brute force: the optimum over (x1, x2) moves both inputs equally, so a fine grid over u = x1 + x2 suffices
    # only if that reduction is right; check it on the full 2-D grid for a few nodes
    dist = ((x - x0) ** 2).sum(-1) + (h - h0) ** 2
    grid = torch.linspace(-6, 6, 481, dtype=torch.float64)
    g1, g2 = torch.meshgrid(grid, grid, indexing="ij")
    for i in range(0, 200, 20):
        brute = (g1 - x0[i, 0]) ** 2 + (g2 - x0[i, 1]) ** 2 + (activate(g1 + g2, act, LEVELS) - h0[i]) ** 2
        assert dist[i] <= brute.min() + 1e-9


def test_linear_projection_is_idempotent_on_the_graph_and_is_the_least_squares_solution():
    w0, z0, x = randn(50, 4), randn(50), randn(50, 4)
    w, z = project_linear(w0, z0, x)
    assert torch.allclose(z, (w * x).sum(-1))
    w2, z2 = project_linear(w, z, x)
    assert torch.allclose(w2, w) and torch.allclose(z2, z)
    for i in range(5):  # the closest point of the hyperplane {(w, z): w . x - z = 0}, by a least-norm solve
        normal = torch.cat([x[i], -torch.ones(1, dtype=torch.float64)])
        point = torch.cat([w0[i], z0[i:i + 1]])
        expected = point - normal * (normal @ point) / (normal @ normal)
        assert torch.allclose(torch.cat([w[i], z[i:i + 1]]), expected)


def test_dot_projection_is_idempotent_stationary_and_optimal_against_multistart_minimisation():
    a0, b0, z0 = randn(40, 2), randn(40, 2), randn(40, scale=2.0)
    a, b, z = project_dot(a0, b0, z0)
    assert torch.allclose(z, (a * b).sum(-1))
    t = (z0 - z).unsqueeze(-1)  # stationarity: a = a0 + t b, b = b0 + t a
    assert torch.allclose(a, a0 + t * b, atol=1e-9) and torch.allclose(b, b0 + t * a, atol=1e-9)
    a2, b2, _ = project_dot(a, b, z)
    assert torch.allclose(a2, a, atol=1e-9) and torch.allclose(b2, b, atol=1e-9)
    mine = ((a - a0) ** 2).sum(-1) + ((b - b0) ** 2).sum(-1) + (z - z0) ** 2
    starts = np.random.default_rng(0).normal(size=(20, 4)) * 2
    for i in range(0, 40, 4):
        p0 = np.concatenate([a0[i].numpy(), b0[i].numpy()])

        def dist(v, i=i, p0=p0):
            return float(((v - p0) ** 2).sum() + (v[:2] @ v[2:] - z0[i].item()) ** 2)

        best = min(minimize(dist, s, method="BFGS").fun for s in [p0, *starts])
        assert mine[i].item() <= best + 1e-8


def test_margin_projection_is_idempotent_and_is_clipping():
    h0, labels = randn(30, 3), torch.randint(0, 3, (30,), generator=GEN)
    h = project_margin(h0, labels, 1.0)
    assert torch.equal(project_margin(h, labels, 1.0), h)
    assert (h.gather(1, labels[:, None]) >= 1.0).all()
    assert ((h <= 0) | torch.nn.functional.one_hot(labels, 3).bool()).all()


def small_problem(activation="relu"):
    net = Network.init([3, 4, 2], activation, torch.Generator().manual_seed(1), LEVELS)
    x, labels = randn(5, 3), torch.randint(0, 2, (5,), generator=GEN)
    state = {k: v + 0.3 * randn(*v.shape) for k, v in initial_state(net, x).items()}  # off every graph
    return net, x, labels, state


@pytest.mark.parametrize("activation", ["relu", "quantize"])
def test_the_batched_partition_equals_projecting_node_by_node_in_any_order(activation):
    net, x, labels, state = small_problem(activation)
    batched = project_divide(state, net, x, labels, 1.0)
    nodes = [(n, j) for n in range(5) for j in range(4)]
    for order in (nodes, nodes[::-1]):  # the nodes of layer 2's dot partition one at a time, two orders
        seq = {k: v.clone() for k, v in state.items()}
        for n, j in order:
            seq["w1"][n, j % 2], seq["x1"][n, j % 2], seq["zd1"][n, j % 2] = project_dot(
                seq["w1"][n, j % 2], seq["x1"][n, j % 2], seq["zd1"][n, j % 2])
            inputs = torch.stack([seq["b0"][n, j], seq["za0"][n, j]])
            inputs, seq["h0"][n, j] = project_sum_activation(inputs, seq["h0"][n, j], activation, LEVELS)
            seq["b0"][n, j], seq["za0"][n, j] = inputs
        for key in ("w1", "x1", "zd1", "b0", "za0", "h0"):
            assert torch.allclose(seq[key], batched[key], atol=1e-10), key


def test_douglas_rachford_fits_xor_through_a_step_activation_and_the_residual_falls():
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0])
    for seed in (0, 1):
        net = Network.init([2, 8, 2], "quantize", torch.Generator().manual_seed(seed), quantize_levels(2))
        residuals = solve_batch(net, x, y, 200, "dr")
        assert residuals[-1] < 0.2 * residuals[0]  # seeds 0, 1: 5e-5 and 0.13 of the first
        assert net.accuracy(x, y) == 1.0


def test_douglas_rachford_beats_chance_on_digits_and_each_update_starts_closer_to_feasible():
    """The residual of the forward state (only the margin violated) falls from update to update; within one
    update DR's residual may rise first (it leaves the forward state). Alternating projections stall here
    (train accuracy 0.15 after the same 4 updates, seed 0): not asserted, reported."""
    from shared.pjax.data import load_split

    data = load_split("digits", 100, 0)
    net = Network.init([64, 8, 10], "relu", torch.Generator().manual_seed(0))
    starts = [solve_batch(net, data.train_x, data.train_y, 10, "dr")[0] for _ in range(4)]
    assert all(later < earlier for earlier, later in zip(starts, starts[1:], strict=False))
    assert net.accuracy(data.train_x, data.train_y) >= 0.35  # seed 0: 0.41; chance 0.1


@pytest.mark.parametrize("seed", [2, 3])
def test_douglas_rachford_beats_chance_on_digits_through_a_quantised_activation(seed):
    """The issue's "above-chance training accuracy on digits with quantised activations": a 4-level quantiser (zero
    gradient almost everywhere) in the hidden layer, 4 updates of 10 DR iterations on 100 digits (data.seed = seed).
    Held-out seeds 2, 3: 0.35, 0.29 (tuning seeds 0, 1 on data seed 0: 0.37, 0.36; 2 levels 0.26, 0.37); chance 0.1,
    one binomial sd 0.03."""
    from shared.pjax.data import load_split

    data = load_split("digits", 100, seed)
    net = Network.init([64, 8, 10], "quantize", torch.Generator().manual_seed(seed), quantize_levels(4))
    for _ in range(4):
        solve_batch(net, data.train_x, data.train_y, 10, "dr")
    accuracy = net.accuracy(data.train_x, data.train_y)
    print(f"seed {seed}: train accuracy {accuracy:.3f}")
    assert accuracy >= 0.15


def test_pjax_resumes_exactly():
    from shared.registry import get_method

    spec = get_method("pjax")
    cfg = spec.load_config(["n_train=40", "hidden=4", "steps_per_update=2", "batch_size=20", "epochs=2"])
    whole = spec.make_trainer(cfg)
    whole.fit_epoch(), whole.fit_epoch()
    half = spec.make_trainer(cfg)
    half.fit_epoch()
    resumed = spec.make_trainer(cfg)
    resumed.load_state_dict(half.state_dict())
    resumed.fit_epoch()
    for a, b in zip([*whole.net.weights, *whole.net.biases], [*resumed.net.weights, *resumed.net.biases], strict=True):
        assert torch.equal(a, b)


def test_a_partition_split_into_chunks_of_examples_as_ray_tasks_equals_the_vectorised_projection(local_ray):
    from jobs.bench_pjax import divide_on_workers

    net, x, labels, state = small_problem("relu")
    whole = project_divide(state, net, x, labels, 1.0)
    for workers in (1, 2):
        parts = divide_on_workers(net, state, x, labels, workers)
        for key in whole:
            assert torch.equal(parts[key], whole[key]), key
