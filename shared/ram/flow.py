"""A small flow-matching model in 2-D and the RAM loss (no Ray).

Convention (the RAM card's): X_0 clean, X_1 noise, X_t = (1 - t) X_0 + t eps, velocity target eps - X_0, so
sampling integrates dx/dt = v(x, t) from t = 1 (noise) down to t = 0 (data).

Samplers: the ODE (Euler), or the memoryless SDE of adjoint matching, which has the same marginals and whose
noise makes the endpoint X_0 independent of the starting noise: with the score s = -((1 - t) v + x) / t of this
path, going backwards in t with tau = 1 - t,

    dx = (-v + g^2 / 2 s) dtau + g dW,   g(t)^2 = 2 t / (1 - t)   =>   drift -2 v - x / (1 - t),

the drift "2 v - kappa x" of Domingo-Enrich et al. written in this time direction.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


class VelocityNet(nn.Module):
    """v(x, t): an MLP on x and sinusoidal features of t."""

    def __init__(self, dim: int = 2, width: int = 128, depth: int = 3, frequencies: int = 8) -> None:
        super().__init__()
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(frequencies, dtype=torch.float32) / 4)
        layers: list[nn.Module] = []
        size = dim + 2 * frequencies
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.SiLU()]
            size = width
        self.body = nn.Sequential(*layers, nn.Linear(size, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        angles = t.reshape(-1, 1) * self.freqs
        return self.body(torch.cat([x, angles.sin(), angles.cos()], dim=-1))


def noised(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """X_t = (1 - t) X_0 + t eps (t broadcast over the feature dimension)."""
    t = t.reshape(-1, 1)
    return (1 - t) * x0 + t * eps


def flow_matching_loss(model: nn.Module, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Conditional flow matching: mean ||v(X_t, t) - (eps - X_0)||^2."""
    t = torch.rand(len(x0), generator=generator)
    eps = torch.randn(x0.shape, generator=generator)
    return (model(noised(x0, t, eps), t) - (eps - x0)).pow(2).sum(-1).mean()


def score_from_velocity(v: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """grad log p_t(x) = -E[eps | x] / t, and E[eps | x] = (1 - t) v + x on this path."""
    t = t.reshape(-1, 1)
    return -((1 - t) * v + x) / t


def memoryless_drift(v: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """d x / d tau of the memoryless SDE (tau = 1 - t): -v + g^2/2 s = -2 v - x / (1 - t)."""
    g2 = 2 * t.reshape(-1, 1) / (1 - t.reshape(-1, 1))
    return -v + g2 / 2 * score_from_velocity(v, x, t)


@torch.no_grad()
def sample(model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], n: int, steps: int,
           generator: torch.Generator, sampler: str = "ode", dim: int = 2, x1: torch.Tensor | None = None
           ) -> torch.Tensor:
    """n endpoints X_0 from noise ``x1`` (drawn when None): Euler on the ODE, or Euler-Maruyama on the memoryless SDE
    (its first step, from t = 1 where its noise scale is infinite, is the ODE's: the marginal there is N(0, I))."""
    x = torch.randn(n, dim, generator=generator) if x1 is None else x1.clone()
    grid = torch.linspace(1.0, 0.0, steps + 1)
    for t_now, t_next in zip(grid[:-1], grid[1:], strict=True):
        t = torch.full((n,), float(t_now))
        v = model(x, t)
        dtau = float(t_now - t_next)
        if sampler == "ode" or t_now >= 1.0:
            x = x - dtau * v
        else:
            g = math.sqrt(2 * float(t_now) / (1 - float(t_now)))
            x = x + dtau * memoryless_drift(v, x, t) + g * math.sqrt(dtau) * torch.randn(x.shape, generator=generator)
    return x


def ram_target(v_ref: torch.Tensor, v_theta: torch.Tensor, eps: torch.Tensor, x0: torch.Tensor,
               scaled_reward: torch.Tensor) -> torch.Tensor:
    """The RAM regression target v_ref + R (eps - X_0 - v_theta), stop-gradient (card, Eq. 17 as reproduced)."""
    return (v_ref + scaled_reward.reshape(-1, 1) * ((eps - x0) - v_theta)).detach()


def unanchored_target(v_theta: torch.Tensor, eps: torch.Tensor, x0: torch.Tensor,
                      scaled_reward: torch.Tensor) -> torch.Tensor:
    """The same target with v_ref replaced by the current model: its gradient is reward-weighted flow matching on
    the model's own samples, R grad ||v_theta - (eps - X_0)||^2 / 2, with no pull back to the reference."""
    return ram_target(v_theta, v_theta, eps, x0, scaled_reward)
