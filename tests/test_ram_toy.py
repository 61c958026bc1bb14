"""The RAM toy's analytic tilt (shared/ram/toy.py): the closed-form mode masses equal the masses of reference samples
importance-weighted by exp(r / lambda), the reference's own masses are its weights, and lambda -> infinity keeps
the reference."""
import torch

from shared.ram.toy import Mixture, basin_reward, mode_masses, tilted_masses


def test_the_analytic_tilt_matches_importance_weighted_reference_samples():
    mixture, rewards, lam = Mixture(), torch.tensor([0.0, 1.0, 0.0]), 0.5
    x = mixture.sample(200_000, torch.Generator().manual_seed(0))
    weight = torch.exp(basin_reward(x, mixture, rewards) / lam)
    modes = mixture.mode_of(x)
    reweighted = torch.stack([weight[modes == i].sum() for i in range(3)]) / weight.sum()
    expected = tilted_masses(mixture.weights, rewards, lam)
    assert torch.allclose(reweighted, expected, atol=0.005)
    assert expected[1] > 0.7  # 0.3 e^2 / (0.7 + 0.3 e^2) = 0.760: the rewarded mode gains mass


def test_the_reference_masses_are_its_weights_and_a_large_lambda_keeps_them():
    mixture = Mixture()
    masses = mode_masses(mixture.sample(100_000, torch.Generator().manual_seed(1)), mixture)
    assert torch.allclose(masses[:3], mixture.weights, atol=0.006) and masses[3] < 1e-3
    assert torch.allclose(tilted_masses(mixture.weights, torch.tensor([0.0, 1.0, 0.0]), 1e6), mixture.weights)
