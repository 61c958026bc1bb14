"""The contrastive losses against values computed by hand and CARE's stated properties."""
import math

import pytest
import torch
import torch.nn.functional as F

from shared.losses.contrastive import equivariance_loss, gram_discrepancy, info_nce


def random_orthogonal(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def test_info_nce_two_samples_by_hand():
    # Two samples in 2-d, views: a1=(1,0), b1=(0,1); a2=(1,0), b2=(0,1) (perfectly aligned views).
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = z1.clone()
    t = 0.5
    # Anchor a1: positive a2 (sim 1), negatives b1, b2 (sim 0): l = -log(e^2 / (e^2 + 2)).
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * math.exp(0)))
    assert info_nce(z1, z2, t).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_matches_care_formula_on_random_inputs():
    g = torch.Generator().manual_seed(0)
    z1, z2 = F.normalize(torch.randn(6, 5, generator=g), dim=1), F.normalize(torch.randn(6, 5, generator=g), dim=1)
    t = 0.5
    out = torch.cat([z1, z2])
    sim = torch.exp(out @ out.T / t)
    n = 6
    total = 0.0
    for i in range(2 * n):
        pos_idx = (i + n) % (2 * n)
        neg = sum(sim[i, k] for k in range(2 * n) if k not in (i, pos_idx))
        total += -torch.log(sim[i, pos_idx] / (sim[i, pos_idx] + neg))
    assert info_nce(z1, z2, t).item() == pytest.approx((total / (2 * n)).item(), rel=1e-5)


def test_gram_discrepancy_by_hand():
    # b = 2: only the pair (0, 1) and (1, 0) count. <z1_0, z1_1> = 0, <z2_0, z2_1> = 1 (same point).
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    # (2/b) * sum_i sum_{j!=i} (0 - 1)^2 = (2/2) * 2 = 2
    assert gram_discrepancy(z1, z2).item() == pytest.approx(2.0)


def test_equivariance_loss_zero_for_orthogonal_map():
    g = torch.Generator().manual_seed(1)
    z1 = F.normalize(torch.randn(32, 8, generator=g, dtype=torch.float64), dim=1)
    z2 = z1 @ random_orthogonal(8, 2).T
    assert equivariance_loss(z1, z2, splits=4).item() == pytest.approx(0.0, abs=1e-10)


def test_equivariance_loss_positive_for_unrelated_views():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(32, 8, generator=g), torch.randn(32, 8, generator=g)
    assert equivariance_loss(z1, z2, splits=4).item() > 0.1


def test_equivariance_loss_invariant_to_a_common_rotation():
    g = torch.Generator().manual_seed(4)
    z1, z2 = torch.randn(16, 6, generator=g, dtype=torch.float64), torch.randn(16, 6, generator=g, dtype=torch.float64)
    q = random_orthogonal(6, 5)
    before = equivariance_loss(z1, z2, splits=2)
    after = equivariance_loss(z1 @ q, z2 @ q, splits=2)
    assert after.item() == pytest.approx(before.item(), rel=1e-10)


def test_equivariance_loss_single_chunk_equals_double_loop():
    g = torch.Generator().manual_seed(6)
    z1 = F.normalize(torch.randn(7, 3, generator=g, dtype=torch.float64), dim=1)
    z2 = F.normalize(torch.randn(7, 3, generator=g, dtype=torch.float64), dim=1)
    b = 7
    brute = sum((z1[i] @ z1[j] - z2[i] @ z2[j]) ** 2 for i in range(b) for j in range(b) if j != i) * 2 / b
    assert equivariance_loss(z1, z2, splits=1).item() == pytest.approx(brute.item(), rel=1e-10)


def test_equivariance_loss_averages_chunks():
    g = torch.Generator().manual_seed(7)
    z1, z2 = torch.randn(12, 4, generator=g), torch.randn(12, 4, generator=g)
    n1, n2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    per_chunk = [gram_discrepancy(a, b) for a, b in zip(n1.split(4), n2.split(4), strict=True)]
    assert equivariance_loss(z1, z2, 3).item() == pytest.approx(torch.stack(per_chunk).mean().item(), rel=1e-6)


def test_equivariance_gradient_vanishes_at_equivariant_configuration():
    g = torch.Generator().manual_seed(8)
    z1 = F.normalize(torch.randn(16, 5, generator=g, dtype=torch.float64), dim=1).requires_grad_(True)
    z2 = (z1 @ random_orthogonal(5, 9).T).detach()
    equivariance_loss(z1, z2, splits=2).backward()
    assert z1.grad.abs().max().item() < 1e-10


def test_equivariance_loss_rejects_uneven_chunks():
    with pytest.raises(ValueError, match="equal chunks"):
        equivariance_loss(torch.randn(10, 3), torch.randn(10, 3), splits=3)
