"""The RAM toy with an analytic answer: a 2-D mixture of three Gaussian modes and a reward constant on each mode's
basin. The KL-regularised optimum p*(x) ~ p_ref(x) exp(r(x) / lambda) then keeps each mode's shape and reweights
its mass to w_i exp(r_i / lambda) / Z (when the basins separate the modes), which a fine-tuned flow's samples are
checked against (mode masses, per-mode means and covariances, mass outside the modes)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Mixture:
    means: torch.Tensor = field(default_factory=lambda: torch.tensor([[-4.0, 0.0], [4.0, 0.0], [0.0, 4.0]],
                                                                     dtype=torch.float64))
    weights: torch.Tensor = field(default_factory=lambda: torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64))
    std: float = 0.5

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        modes = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, 2, generator=generator, dtype=torch.float64) * self.std
        return self.means[modes] + noise

    def mode_of(self, x: torch.Tensor, radius: float = 4.0) -> torch.Tensor:
        """The nearest mode's index, or -1 beyond ``radius`` standard deviations of every mode (outside the modes)."""
        dist = torch.cdist(x.double(), self.means)
        nearest = dist.argmin(-1)
        return torch.where(dist.min(-1).values <= radius * self.std, nearest, -1)


def basin_reward(x: torch.Tensor, mixture: Mixture, rewards: torch.Tensor) -> torch.Tensor:
    """r(x) = rewards[i] on the basin (Voronoi cell) of mode i."""
    return rewards.to(torch.float64)[torch.cdist(x.double(), mixture.means).argmin(-1)]


def tilted_masses(weights: torch.Tensor, rewards: torch.Tensor, lam: float) -> torch.Tensor:
    """w_i exp(r_i / lambda) / Z: the mode masses of the KL-optimal tilt."""
    logits = torch.log(weights) + rewards.to(weights.dtype) / lam
    return torch.softmax(logits, dim=0)


def mode_masses(x: torch.Tensor, mixture: Mixture) -> torch.Tensor:
    """Fraction of samples per mode, and last the fraction outside every mode."""
    modes = mixture.mode_of(x)
    counts = torch.stack([(modes == i).sum() for i in range(len(mixture.weights))] + [(modes == -1).sum()])
    return counts.double() / len(x)
