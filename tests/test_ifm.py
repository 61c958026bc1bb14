"""IFM's closed-form adversarial InfoNCE (Robinson et al., 2021): the spec card's four unit checks and
the trainer's reduction to SimCLR at epsilon = 0."""
import math

import pytest
import torch
import torch.nn.functional as F

from shared.losses.contrastive import info_nce
from tests.helpers import tiny
from tests.test_care import train


def unit_views(n: int = 4, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


def test_epsilon_zero_is_info_nce():
    z1, z2 = unit_views()
    assert info_nce(z1, z2, 0.5, epsilon=0.0).item() == info_nce(z1, z2, 0.5).item()


def test_adversarial_loss_strictly_increases_with_epsilon():
    z1, z2 = unit_views()
    values = [info_nce(z1, z2, 0.2, epsilon=e).item() for e in (0.0, 0.05, 0.1, 0.2, 0.5)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False)), values


def test_logits_are_shifted_before_the_temperature_by_hand():
    """Two samples, two views: anchors 0..3 = (z1_0, z1_1, z2_0, z2_1); positive of a is a +/- 2."""
    z1, z2 = unit_views(n=2, d=3, seed=1)
    z = F.normalize(torch.cat([z1, z2]), dim=1).tolist()
    tau, eps = 0.3, 0.15
    total = 0.0
    for a in range(4):
        pos = (a + 2) % 4
        sims = {k: sum(x * y for x, y in zip(z[a], z[k], strict=True)) for k in range(4) if k != a}
        logits = {k: (s - eps if k == pos else s + eps) / tau for k, s in sims.items()}
        total += -logits[pos] + math.log(sum(math.exp(v) for v in logits.values()))
    assert info_nce(z1, z2, tau, epsilon=eps).item() == pytest.approx(total / 4, rel=1e-5)


def test_closed_form_is_the_worst_case_perturbation():
    """Maximise the loss over perturbations of every key, per anchor, within the eps-ball by projected
    gradient ascent: the optimum is delta+ = -eps q and delta- = +eps q, with the closed form's value."""
    z1, z2 = unit_views(n=3, d=4, seed=2)
    tau, eps, n = 0.5, 0.1, 3
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    delta = (0.01 * torch.randn(2 * n, 2 * n, 4, generator=torch.Generator().manual_seed(3))).requires_grad_()
    off_self = ~torch.eye(2 * n, dtype=torch.bool)

    def loss(d: torch.Tensor) -> torch.Tensor:
        keys = z.unsqueeze(0) + d  # keys[a, k] = z_k + delta_{a,k}, a perturbation chosen per anchor a
        logits = (keys * z.unsqueeze(1)).sum(-1) / tau
        return F.cross_entropy(logits.masked_fill(~off_self, float("-inf")), positive)

    for _ in range(300):
        grad, = torch.autograd.grad(loss(delta), delta)
        with torch.no_grad():
            delta += 0.05 * grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            delta *= (eps / delta.norm(dim=-1, keepdim=True).clamp_min(eps))  # project onto the ball
    assert loss(delta).item() == pytest.approx(info_nce(z1, z2, tau, epsilon=eps).item(), rel=1e-4)
    sign = torch.ones(2 * n, 2 * n)
    sign[torch.arange(2 * n), positive] = -1.0
    expected = sign.unsqueeze(-1) * eps * z.unsqueeze(1)
    assert torch.allclose(delta.detach()[off_self], expected[off_self], atol=1e-3)


def test_ifm_at_epsilon_zero_trains_exactly_like_simclr():
    # the same temperature for both (IFM's default is the paper's 0.2, SimCLR's 0.5): epsilon is the only difference
    ifm_hist, ifm_state = train("ifm", tiny("epsilon=0", "temperature=0.2", method="simclr"))
    simclr_hist, simclr_state = train("simclr", tiny("temperature=0.2", method="simclr"))
    assert [h["loss"] for h in ifm_hist] == pytest.approx([h["loss"] for h in simclr_hist], abs=1e-6)
    for key, value in simclr_state["model"].items():
        assert torch.allclose(value, ifm_state["model"][key], atol=1e-5), key


def test_ifm_mixes_the_plain_and_adversarial_losses():
    hist, _ = train("ifm", tiny("epsilon=0.2", "alpha=3", "epochs=1", method="simclr"))
    h = hist[0]
    assert h["ifm_adv"] > h["info_nce"]
    assert h["loss"] == pytest.approx((h["info_nce"] + 3 * h["ifm_adv"]) / 4, rel=1e-4)
