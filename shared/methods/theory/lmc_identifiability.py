"""lmc_identifiability: "Beyond Structural Symmetries: Linear Mode Connectivity via Neuron Identifiability"
(Bürgin, Herbst, Lin, Jegelka; ICML 2026, arXiv 2606.04754), the synthetic coherence experiment of the official
code (``Vuenc/neuron-identifiability``: ``configs/synthetic_coherence.yaml``, ``run_synthetic_coherence_*``).

A one-hidden-layer ReLU net whose hidden weights are multiplied by a fixed Bernoulli(0.15) mask (shared by both
models of a pair), trainable bias, output = the *sum* of the hidden activations, learns y = relu(z1 + z2) with
z ~ N(0, I_2) embedded in R^20: k "active copies" (coordinates (2j, 2j+1), j < k) carry z / sqrt(k) (exact_copy).
Coherence = 1/k. With one copy (k = 1) the masks decide which neuron can compute what: neurons are identifiable and
two independently trained models interpolate linearly without alignment; as k grows the data spreads over more
coordinates, neurons become interchangeable and the unaligned midpoint barrier rises.
Barrier = test MSE at lambda = 0.5 - max(endpoint test MSEs), raw parameters interpolated (no alignment).
``aligned_barrier``: the same after weight matching (the official code's aligned comparison; here weight matching in
the style of Ainsworth et al.'s git re-basin): the second model's hidden neurons permuted by the Hungarian assignment
(``scipy.optimize.linear_sum_assignment``) that maximises sum_i <(w_i * m_i, b_i)_A, (w_pi(i) * m_pi(i), b_pi(i))_B>,
then the *effective* weights w * m interpolated (a permutation moves a neuron's mask with it, so the permuted model is
the same function, and the path is one of functions of this architecture without the shared-mask constraint).
``data.seed`` draws the data and the mask, ``seed`` the pair's inits.
"""
from __future__ import annotations

from typing import Any

import torch
from scipy.optimize import linear_sum_assignment

from shared.methods.theory.config import LMC_DIM, LMCConfig  # torch-free (the sweep driver validates with it)
from shared.methods.theory.specs import LMC_IDENTIFIABILITY as SPEC  # noqa: F401  (torch-free; the registry's entry)
from shared.theory.experiment import ExperimentTrainer, ReportedNumbers


def draw_data(cfg: LMCConfig, count: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.randn(count, 2, generator=gen)
    x = torch.zeros(count, LMC_DIM)
    for j in range(cfg.copies):
        x[:, 2 * j:2 * j + 2] = z / cfg.copies**0.5
    return x, torch.relu(z.sum(1))


def forward(params: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    weight, bias = params
    return torch.relu(x @ (weight * mask).T + bias).sum(1)


def train_one(cfg: LMCConfig, mask: torch.Tensor, x: torch.Tensor, y: torch.Tensor, seed: int):
    gen = torch.Generator().manual_seed(seed)
    weight = (0.05 * torch.randn(cfg.width, LMC_DIM, generator=gen)).requires_grad_()
    bias = torch.zeros(cfg.width, requires_grad=True)
    opt = torch.optim.AdamW([{"params": [weight], "weight_decay": cfg.weight_decay},
                             {"params": [bias], "weight_decay": 0.0}], lr=cfg.lr)
    for _ in range(cfg.train_epochs):
        for rows in torch.randperm(len(x), generator=gen).split(cfg.batch_size):
            opt.zero_grad()
            torch.mean((forward((weight, bias), mask, x[rows]) - y[rows]) ** 2).backward()
            opt.step()
    return weight.detach(), bias.detach()


def weight_matching(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """The permutation of ``second``'s rows (neurons: effective incoming weights and bias) that best matches
    ``first``'s by inner product (Hungarian): ``second[perm]`` aligns with ``first``."""
    _, perm = linear_sum_assignment((first @ second.T).numpy(), maximize=True)
    return torch.as_tensor(perm)


def midpoint_barrier(first: tuple[torch.Tensor, torch.Tensor], second: tuple[torch.Tensor, torch.Tensor],
                     mask: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(test MSE at lambda = 0.5 - the worse endpoint's, the worse endpoint's test MSE) of the linear path."""
    def mse(t: float) -> float:
        params = tuple((1 - t) * a + t * b for a, b in zip(first, second, strict=True))
        return float(torch.mean((forward(params, mask, x) - y) ** 2))

    ends = max(mse(0.0), mse(1.0))
    return mse(0.5) - ends, ends


class LMCTrainer(ExperimentTrainer):
    config: LMCConfig

    def run(self) -> dict[str, Any]:
        cfg = self.config
        data_gen = torch.Generator().manual_seed(cfg.data.seed * 7919 + 5)
        mask = (torch.rand(cfg.width, LMC_DIM, generator=data_gen) < cfg.density).float()
        x, y = draw_data(cfg, cfg.n_train, data_gen)
        x_test, y_test = draw_data(cfg, cfg.n_test, data_gen)
        first = train_one(cfg, mask, x, y, 2 * cfg.seed)
        second = train_one(cfg, mask, x, y, 2 * cfg.seed + 1)

        barrier, ends = midpoint_barrier(first, second, mask, x_test, y_test)
        effective = [(w * mask, b) for w, b in (first, second)]
        perm = weight_matching(*(torch.cat([w, b[:, None]], 1) for w, b in effective))
        aligned = (effective[1][0][perm], effective[1][1][perm])
        aligned_barrier, _ = midpoint_barrier(effective[0], aligned, torch.ones_like(mask), x_test, y_test)
        return {"barrier": barrier, "aligned_barrier": aligned_barrier, "endpoint_mse": ends,
                "coherence": 1.0 / cfg.copies}


class Barrier(ReportedNumbers):
    """Midpoint barrier of the pair unaligned and after weight matching, the worse endpoint's test MSE, and the
    coherence 1/k."""

    metrics = ("barrier", "aligned_barrier", "endpoint_mse", "coherence")
