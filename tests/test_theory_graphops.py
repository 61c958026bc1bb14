"""graphops_transfer's pieces by hand (no Ray): the polynomial filter on a small graph, the normalisations, the
graph families, and W_1 of identical output distributions."""
import numpy as np
import pytest
import torch

from shared.registry import get_method


def config(*items: str):
    return get_method("graphops_transfer").load_config(list(items))


def test_polynomial_filter_layer_by_hand_on_a_triangle():
    """One layer, K = 1, width 1, weights w0 = 1, w1 = 2, readout 1: on the triangle with P = A / 2 and features
    x = (1, 2, 3), P x = ((2 + 3) / 2, (1 + 3) / 2, (1 + 2) / 2) = (2.5, 2, 1.5), so out = relu(x + 2 P x) =
    (6, 6, 6); with P = 0 it is x, so the graph adds |6 - x| = (5, 4, 3)."""
    from shared.methods.theory.graphops_transfer import aggregation, gnn

    adj = np.ones((3, 3)) - np.eye(3)
    weights = [torch.tensor([[[1.0]], [[2.0]]]), torch.tensor([[1.0]])]
    x = torch.tensor([[1.0], [2.0], [3.0]])
    p = aggregation(adj, "max_degree")
    torch.testing.assert_close(gnn(weights, p, x), torch.tensor([6.0, 6.0, 6.0]))
    torch.testing.assert_close(gnn(weights, None, x), torch.tensor([1.0, 2.0, 3.0]))
    # A / n: P x = (5, 4, 3) / 3
    by_size = torch.tensor([1 + 10 / 3, 2 + 8 / 3, 3 + 2.0])
    torch.testing.assert_close(gnn(weights, aggregation(adj, "size"), x), by_size)


def test_graph_families_have_the_stated_degrees_and_densities():
    from shared.methods.theory.graphops_transfer import adjacency, graphon

    rng = np.random.default_rng(0)
    regular = adjacency(config("degree=3"), 40, rng)
    assert (regular.sum(1) == 3).all() and (regular == regular.T).all() and np.trace(regular) == 0
    dense = adjacency(config("graph=graphon"), 400, rng)
    assert (dense == dense.T).all() and np.trace(dense) == 0
    # edge density = the integral of W(x, y) = 0.9 - 0.8|x - y| over the unit square = 0.9 - 0.8 / 3
    assert dense.sum() / (400 * 399) == pytest.approx(0.9 - 0.8 / 3, abs=0.01)
    assert graphon(np.array([0.0]), np.array([1.0]))[0] == pytest.approx(0.1)


def test_the_same_graph_twice_is_at_zero_w1_and_the_weights_do_not_depend_on_n():
    from scipy.stats import wasserstein_distance

    from shared.methods.theory.graphops_transfer import adjacency, aggregation, features, gnn, init_gnn

    cfg = config()
    weights = init_gnn(cfg, 0)
    assert all(torch.equal(a, b) for a, b in zip(weights, init_gnn(config("n=800"), 0), strict=True))
    rng = np.random.default_rng(1)
    adj, x = adjacency(cfg, 30, rng), features(30, rng)
    perm = torch.randperm(30)
    out = gnn(weights, aggregation(adj, "max_degree"), x)
    # relabelling the nodes permutes the outputs: the distribution, and so W_1, is unchanged
    permuted = gnn(weights, aggregation(adj[perm][:, perm], "max_degree"), x[perm])
    assert wasserstein_distance(out.numpy(), permuted.numpy()) < 1e-6


def test_graphops_runs_with_a_student_and_reports_its_measures():
    spec = get_method("graphops_transfer")
    cfg = spec.load_config(["n=20", "repeats=2", "n_train=10", "train_graphs=2", "student_steps=5", "n_test=30"])
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()
    out = spec.evaluate(cfg, trainer.artifact())
    assert out["w1"] >= 0 and out["rate"] == pytest.approx(20**-0.5) and out["transfer_mse"] >= 0


def test_graphops_rejects_a_regular_graph_that_cannot_exist():
    from shared.config import ConfigError

    with pytest.raises(ConfigError, match="^n:"):
        config("n=51")
    with pytest.raises(ConfigError, match="^n_test:"):
        config("n_test=3", "degree=3")
