"""unifl: "Learning to Approximate Uniform Facility Location via Graph Neural Networks" (Qian, Morris, Jegelka,
Sohler; arXiv 2602.13155, ICML 2026). No public code: the steps are a third-party note's (graph.md section 9),
unverified details named below.

Uniform facility location: choose F minimising |F| + sum_x d(x, F) (every facility costs 1). SimpleUniformFL opens
each x with p_x = min(1, c log n r_x), r_x the radius solving sum_{y in B(x, r)} (r - d(x, y)) = 1, then opens
every point left with no open facility within distance < 1. The MPNN neuralises it on the graph of pairs at
distance < 1: per bin a_i of (0, 1], t_x^(i) = min{1, sum_{y in N(x)} ReLU(a_i - d(x, y))} (a ReLU layer inside
one round of message passing), r_hat_x = sum_i a_i (t_x^(i) - t_x^(i-1)), and p_x = FNN(n, r_hat_x) initialised
at min{1, c log n r_hat_x}. It is trained without labels on the exact expected cost of sample-and-repair
(:func:`shared.graphs.facility.expected_cost`, log-space products) over generated instances; inference samples F
``samples`` times and reports the mean cost. The optimum comes from the MILP (scipy.optimize.milp, HiGHS).

Departures, all named because the source gives no sizes: ``bins`` evenly spaced bins; the FNN is
p_x = min(1, c log n r_hat_x exp(g(h_x))) with g an MLP whose last layer starts at zero (so the initial model *is*
SimpleUniformFL on r_hat), c learnt (log-parametrised). The note's FNN sees (n, r_hat_x) only; here h_x also holds
a second round of message passing over the same bins: per bin a_i, log r_hat_x minus the lowest and minus the mean
log r_hat of x's other neighbours at distance < a_i (0 where there are none), and log r_hat_x itself (n enters
through log n, as in SimpleUniformFL; a model trained at one n never sees n vary). That round is what lets the
MPNN open the locally densest points at each scale rather than coins in proportion to r_hat alone: with x's own
radius only (and x against its neighbours within distance 1 only, this repository's earlier model) the trained
model stayed within 1% of SimpleUniformFL's ratio (1.236 vs 1.244, REPRODUCTION.md), with it 1.06-1.09 at n = 200.
Instances are 2-D Gaussian mixtures (components of random spread, in a fixed box), so that a larger n is the same
distribution, denser: the size-generalisation check trains at ``data.n`` and tests at ``data.large_n``.

``model=simple`` is the baseline arm of a study: SimpleUniformFL itself (exact radii, c the grid's best on the training
instances, as the evaluator picks it), nothing trained, judged by the same evaluators.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from shared.graphs.facility import (
    FacilityInstance,
    cached_milp_optimum,
    expected_cost,
    gmm_points,
    make_instance,
    radii,
    repair_cost,
    sample_open,
    sampled_cost,
    simple_probabilities,
)
from shared.method import Evaluator, GradientTrainer
from shared.methods.graph.config import UniFLConfig
from shared.methods.graph.specs import UNIFL as SPEC  # noqa: F401  (the registry reads specs.py)


class RadiusMPNN(nn.Module):
    """Opening probabilities p_x from the radius bins of x's neighbourhood and how x's radius compares with its
    neighbours' at each bin's scale (module docstring)."""

    def __init__(self, bins: int, hidden: int, c: float) -> None:
        super().__init__()
        self.register_buffer("edges", torch.linspace(1.0 / bins, 1.0, bins))
        self.log_c = nn.Parameter(torch.tensor(math.log(c)))
        self.g = nn.Sequential(nn.Linear(3 * bins + 1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                               nn.Linear(hidden, 1))
        nn.init.zeros_(self.g[-1].weight)  # the initial model is SimpleUniformFL on r_hat
        nn.init.zeros_(self.g[-1].bias)

    def radius_bins(self, dist: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """t_x^(i) = min(1, sum_y ReLU(a_i - d(x, y))), (n, bins). Rows are sorted by distance, so the terms are the
        k_i nearest (d < a_i): k_i a_i minus the sum of their distances, read from a running sum (O(n width), not
        O(n width bins))."""
        dist = torch.where(mask > 0, dist, torch.ones_like(dist))  # padding at 1.0 never counts: a_i <= 1
        edges = self.edges.to(dist.dtype).expand(len(dist), -1).contiguous()
        k = torch.searchsorted(dist.contiguous(), edges)
        running = torch.cat([torch.zeros_like(dist[:, :1]), torch.cumsum(dist, dim=1)], dim=1)
        return (k * edges - running.gather(1, k)).clamp(max=1.0)

    def neighbour_gaps(self, log_r: torch.Tensor, dist: torch.Tensor, mask: torch.Tensor,
                       order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The second round: per bin a_i, log r_x - min and log r_x - mean of log r_y over x's other neighbours y
        with d(x, y) < a_i (0 where x has none), each (n, bins). Rows are sorted by distance with x first, so the
        neighbours within a_i are a prefix of the row: running minima and sums read at its end."""
        real = mask > 0
        others = real.clone()
        others[:, 0] = False  # the point itself is first in its row
        neighbours = log_r[order]
        lowest = torch.cummin(torch.where(others, neighbours, torch.inf), dim=1).values
        total = torch.cumsum(torch.where(others, neighbours, 0.0), dim=1)
        edges = self.edges.to(dist.dtype).expand(len(dist), -1).contiguous()
        end = torch.searchsorted(dist.contiguous(), edges) - 1  # (n, bins): padding is at 1.0, x's own column 0
        count = end.to(log_r.dtype)
        zero = torch.zeros_like(count)
        gap_lowest = torch.where(end > 0, log_r[:, None] - lowest.gather(1, end), zero)
        gap_mean = torch.where(end > 0, log_r[:, None] - total.gather(1, end) / count.clamp(min=1.0), zero)
        return gap_lowest, gap_mean

    def forward(self, instance: FacilityInstance) -> torch.Tensor:
        dist = torch.as_tensor(instance.dist, dtype=torch.float32)
        mask = torch.as_tensor(instance.mask, dtype=torch.float32)
        t = self.radius_bins(dist, mask)
        rise = t - torch.cat([torch.zeros_like(t[:, :1]), t[:, :-1]], dim=1)
        r_hat = (rise * self.edges).sum(dim=1).clamp(min=1e-6)
        log_r = torch.log(r_hat)
        gap_lowest, gap_mean = self.neighbour_gaps(log_r, dist, mask, torch.as_tensor(instance.order))
        features = torch.cat([t, gap_lowest, gap_mean, log_r[:, None]], dim=1)
        return (self.log_c.exp() * math.log(instance.n) * r_hat * torch.exp(self.g(features)[:, 0])).clamp(max=1.0)


class SimpleUniformFL(nn.Module):
    """p_x = min(1, c log n r_x) with the exact radii: the baseline as a model, so that the same evaluators judge it.
    ``log_c`` is a parameter only so that the optimizer and checkpoints treat it like the MPNN; it is never trained."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.log_c = nn.Parameter(torch.tensor(math.log(c), dtype=torch.float64))

    def forward(self, instance: FacilityInstance) -> torch.Tensor:
        return torch.as_tensor(simple_probabilities(radii(instance), self.log_c.exp().item()))


def instances(cfg: UniFLConfig, stream: int, n: int, count: int) -> list[FacilityInstance]:
    """``count`` instances of ``n`` points, drawn from the data seed's stream ``stream`` (0 train, 1 test, 2 large)."""
    d = cfg.data
    rng = np.random.default_rng([d.seed, stream])
    return [make_instance(gmm_points(rng, n, d.dim, d.components, d.side, d.spread)) for _ in range(count)]


class UniFLTrainer(GradientTrainer):
    config: UniFLConfig

    def setup(self) -> None:
        self.train_set = instances(self.config, 0, self.config.data.n, self.config.data.train_instances)

    def build_model(self) -> nn.Module:
        c = self.config
        if c.model == "simple":
            return SimpleUniformFL(best_simple_c(c, self.train_set))
        return RadiusMPNN(c.bins, c.hidden, c.c)

    def fit_epoch(self) -> dict[str, float]:
        if self.config.model == "mpnn":
            return super().fit_epoch()
        start = time.perf_counter()  # SimpleUniformFL: nothing to train; the loss is its expected cost per point
        with torch.no_grad():
            loss = float(np.mean([self.loss([inst]).item() for inst in self.train_set]))
        self.epoch += 1
        return {"loss": loss, "epoch_time_s": time.perf_counter() - start}

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_set) / self.config.batch_size)

    def batches(self) -> Iterator[list[FacilityInstance]]:
        perm = torch.randperm(len(self.train_set), generator=self.generator).tolist()
        size = self.config.batch_size
        for start in range(0, len(perm), size):
            yield [self.train_set[i] for i in perm[start:start + size]]

    def loss(self, batch: list[FacilityInstance]) -> torch.Tensor:
        """Mean over the batch of E[cost] / n (per point, so that instances of any size weigh alike)."""
        costs = [expected_cost(self.model(inst).double(), inst) / inst.n for inst in batch]
        return torch.stack(costs).mean().float()

    def artifact(self) -> RadiusMPNN:
        return self.model


@torch.no_grad()
def probabilities(model: RadiusMPNN, instance: FacilityInstance) -> np.ndarray:
    return model(instance).double().numpy()


def best_simple_c(cfg: UniFLConfig, train: list[FacilityInstance]) -> float:
    """SimpleUniformFL's c with the lowest mean expected cost on (up to 10) training instances."""
    def mean_expected(c: float) -> float:
        return float(np.mean([expected_cost(torch.as_tensor(simple_probabilities(radii(inst), c)), inst).item()
                              / inst.n for inst in train[:10]]))
    return min(cfg.simple_cs, key=mean_expected)


class FacilityQuality(Evaluator):
    """Mean sampled cost / MILP optimum on held-out instances at ``data.n`` and, untrained there, ``data.large_n``;
    the same for SimpleUniformFL at its best c; the analytic expected cost / optimum; seconds per instance:
    ``solution_seconds`` is what one solution costs (probabilities, one draw and its repair; its expected quality is
    the mean over draws, ``cost_ratio``), ``mpnn_seconds_large`` the probabilities and all ``samples`` draws."""

    metrics = ("cost_ratio", "cost_ratio_large", "simple_ratio", "simple_ratio_large", "expected_ratio",
               "simple_expected_ratio", "simple_c", "milp_seconds", "milp_seconds_large", "mpnn_seconds_large",
               "solution_seconds", "solution_seconds_large")

    def evaluate(self, model: RadiusMPNN) -> dict[str, float]:
        cfg = self.config
        c = best_simple_c(cfg, instances(cfg, 0, cfg.data.n, min(10, cfg.data.train_instances)))
        out: dict[str, float] = {"simple_c": c}
        rng = np.random.default_rng([cfg.data.seed, cfg.seed, 3])
        for suffix, stream, n in (("", 1, cfg.data.n), ("_large", 2, cfg.data.large_n)):
            rows = [self.instance_figures(model, inst, c, rng) for inst in instances(cfg, stream, n,
                                                                                     cfg.data.test_instances)]
            means = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
            out[f"cost_ratio{suffix}"] = means["cost"] / means["optimum"]
            out[f"simple_ratio{suffix}"] = means["simple"] / means["optimum"]
            out[f"milp_seconds{suffix}"] = means["milp_seconds"]
            out[f"solution_seconds{suffix}"] = means["solution_seconds"]
            if suffix:
                out["mpnn_seconds_large"] = means["mpnn_seconds"]
            else:
                out["expected_ratio"] = means["expected"] / means["optimum"]
                out["simple_expected_ratio"] = means["simple_expected"] / means["optimum"]
        return out

    def instance_figures(self, model: RadiusMPNN, inst: FacilityInstance, c: float,
                         rng: np.random.Generator) -> dict[str, float]:
        cfg = self.config
        optimum = cached_milp_optimum(inst, cfg.milp_time_limit)
        start = time.perf_counter()
        sampled_cost(np.random.default_rng(0), inst, probabilities(model, inst), 1)  # rng: not the figures' stream
        solution_seconds = time.perf_counter() - start
        start = time.perf_counter()
        p = probabilities(model, inst)
        cost = sampled_cost(rng, inst, p, cfg.samples)
        mpnn_seconds = time.perf_counter() - start
        simple = simple_probabilities(radii(inst), c)
        return {"optimum": optimum.cost, "milp_seconds": optimum.seconds, "cost": cost, "mpnn_seconds": mpnn_seconds,
                "solution_seconds": solution_seconds,
                "expected": expected_cost(torch.as_tensor(p), inst).item(),
                "simple": sampled_cost(rng, inst, simple, cfg.samples),
                "simple_expected": expected_cost(torch.as_tensor(simple), inst).item()}


class ExpectedCostCheck(Evaluator):
    """|analytic E[repair cost] - mean repair cost of ``mc_samples`` draws| / the analytic value, for the trained
    model's probabilities on the first held-out instance: the loss is the expectation it claims to be."""

    metrics = ("expected_cost_mc_gap",)

    def evaluate(self, model: RadiusMPNN) -> dict[str, float]:
        cfg = self.config
        inst = instances(cfg, 1, cfg.data.n, 1)[0]
        p = probabilities(model, inst)
        analytic = expected_cost(torch.as_tensor(p), inst).item()
        sampled = repair_cost(inst, sample_open(np.random.default_rng([cfg.data.seed, cfg.seed, 4]), p,
                                                cfg.mc_samples)).mean()
        return {"expected_cost_mc_gap": abs(analytic - sampled) / analytic}
