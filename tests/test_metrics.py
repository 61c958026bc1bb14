"""Shared measures on cases small enough to check by hand."""
import pytest
import torch

from shared.metrics import knn_accuracy, linear_probe, procrustes, procrustes_residual


def test_knn_weighted_vote_by_hand():
    # Bank: two points of class 0 near (1,0), one of class 1 at (0,1). The query (0.6, 0.8) is more similar
    # to the class-1 point (0.8) than to the class-0 points (0.6 each); with k = 3 and tau = 0.1 the votes
    # are 2*exp(6) = 807 for class 0 and exp(8) = 2981 for class 1.
    bank = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    q = torch.tensor([[0.6, 0.8]])
    assert knn_accuracy(bank, labels, q, torch.tensor([1]), k=3, temperature=0.1) == 1.0
    # With a large temperature the weights flatten and the majority (class 0) wins.
    assert knn_accuracy(bank, labels, q, torch.tensor([0]), k=3, temperature=100.0) == 1.0


def test_linear_probe_separable_and_chance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 5, generator=g)
    y = (x[:, 0] > 0).long()
    assert linear_probe(x[:300], y[:300], x[300:], y[300:]) > 0.95
    noise_labels = torch.randint(0, 2, (400,), generator=g)
    assert 0.3 < linear_probe(x[:300], noise_labels[:300], x[300:], noise_labels[300:]) < 0.7


def test_procrustes_recovers_rotation_and_residual_zero():
    g = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    a = torch.randn(50, 4, generator=g, dtype=torch.float64)
    b = a @ q
    assert torch.allclose(procrustes(a, b), q, atol=1e-8)
    fit = procrustes_residual(a[:25], b[:25], a[25:], b[25:])
    assert fit["relative_residual"] < 1e-12 and fit["residual"] < 1e-12


def test_procrustes_residual_of_unrelated_sets_is_large():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(200, 8, generator=g), torch.randn(200, 8, generator=g)
    fit = procrustes_residual(a[:100], b[:100], a[100:], b[100:])
    assert fit["relative_residual"] > 0.5


def test_procrustes_identity_has_zero_angle():
    a = torch.randn(30, 3, dtype=torch.float64)
    fit = procrustes_residual(a, a, a, a + 1e-9)
    assert fit["rotation_angle"] == pytest.approx(0.0, abs=1e-6)


def test_normalized_procrustes_residual_of_an_exact_rotation_is_zero():
    g = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    a = torch.randn(80, 6, generator=g, dtype=torch.float64)
    fit = procrustes_residual(a[:40], (a @ q)[:40], a[40:], (a @ q)[40:])
    assert fit["normalized_residual"] < 1e-12
    assert fit["moved"] > 0.5  # the points did move: a rotation, not the identity


def test_normalized_residual_reads_orthogonality_where_the_relative_one_reads_invariance():
    # "invariant + noise" (b = a + n) and "rotated + noise" (b = (a + n) Q) leave exactly the same absolute
    # residual (min_R ||a R - b|| is unchanged when b is rotated) and the same variance of b: the normalised
    # residual must agree; the relative residual (over ||a - b||^2) calls the first about 1, the second small.
    g = torch.Generator().manual_seed(4)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    a = torch.randn(200, 6, generator=g, dtype=torch.float64)
    invariant = a + 0.3 * torch.randn(200, 6, generator=g, dtype=torch.float64)
    rotated = invariant @ q
    fits = [procrustes_residual(a, b, a, b) for b in (invariant, rotated)]
    assert fits[0]["residual"] == pytest.approx(fits[1]["residual"], rel=1e-9)
    assert fits[0]["normalized_residual"] == pytest.approx(fits[1]["normalized_residual"], rel=1e-9)
    assert 0.0 < fits[0]["normalized_residual"] < 0.2  # by hand: about 0.3^2 / (1 + 0.3^2)
    assert fits[0]["relative_residual"] > 0.8 and fits[1]["relative_residual"] < 0.1
    assert fits[0]["moved"] < 0.2 < fits[1]["moved"]


def test_normalized_residual_by_hand_on_two_points():
    # a = [[1, 0], [-1, 0]], b = [[0, 2], [0, -2]]: the best rotation takes a to [[0, 1], [0, -1]]; the residual
    # is 2 x 1^2 = 2, the spread of b about its mean 2 x 2^2 = 8: 2 / 8 = 0.25 (a scaling, not an orthogonal map).
    a = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 2.0], [0.0, -2.0]], dtype=torch.float64)
    assert procrustes_residual(a, b, a, b)["normalized_residual"] == pytest.approx(0.25)
