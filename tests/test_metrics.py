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
