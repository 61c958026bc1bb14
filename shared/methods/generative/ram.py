"""ram: Reinforce Adjoint Matching, RL post-training of flow-matching models (arXiv 2605.10759; no public code).

Under KL-regularised reward maximisation, max E[r(X_0)] - lambda KL(p || p_ref), the optimal process tilts only
the clean endpoint, p*(x_0) ~ p_ref(x_0) exp(r(x_0) / lambda), and keeps the noising law. Adjoint matching's
optimality condition, with its adjoint replaced by a REINFORCE estimate through the linear-path bridge score,
gives the loss (the card's Eq. 17 as reproduced)

    L_RAM = E_{X_0 ~ p_theta, t, eps} || v_theta(X_t,t) - sg(v_ref(X_t,t) + R(X_0) ((eps - X_0) - v_theta(X_t,t))) ||^2

R = reward_scale * (r - baseline), reward_scale = 1 / lambda by default. One step: draw endpoints X_0 from the
current model with any sampler and no gradient (``sampler``: Euler ODE, or the memoryless SDE of adjoint matching,
``shared/ram/flow.py``), query the reward once per endpoint, then regress on ``noisings`` independent (t, eps)
per endpoint. As in the paper's main algorithm the path-cost correction is dropped (exact to first order in R).

Toy (the card's check): a small MLP flow pretrained (``pretrain_epochs``) on a 2-D three-mode mixture, reward 1 on
one mode's basin; the analytic answer reweights mode masses to w_i exp(r_i / lambda) / Z (``shared/ram/toy.py``).
``arm=rwfm`` is the baseline that differs only in the anchor: v_ref replaced by the current model, i.e.
reward-weighted flow matching on its own samples, which keeps tilting and overshoots the KL optimum.
The card's "rises monotonically" is checked on the trainer's reward curve (the rewarded share of its own samples per
quarter epoch, ``mass_drawdown``), and "better reward per query than rwfm" on the mode-level KL-regularised reward
(``regularised_reward``; on the raw reward rwfm wins by collapsing onto the basin).
``task=digits`` is the small image variant: a 64-d MLP flow on sklearn digits, reward = a frozen classifier's
probability of ``data.digit`` (``shared/ram/digits.py``), reported by the share of samples of that digit.
Departures: the baseline defaults to 0 (a mean baseline makes 1 + E[R | x_t] negative for small lambda, where the
regression's fixed point is unstable); the reward is a basin indicator, so no reward gradient exists or is used.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from shared.atomic import write_bytes
from shared.method import Evaluator, Trainer, seed_everything
from shared.methods.generative import save_greyscale_png
from shared.methods.generative.config import RAMConfig  # torch-free; re-exported
from shared.methods.generative.specs import RAM
from shared.ram.digits import ClassReward, digit_grid, load_digit_vectors
from shared.ram.flow import VelocityNet, flow_matching_loss, noised, ram_target, sample, unanchored_target
from shared.ram.toy import Mixture, basin_reward, mode_masses, tilted_masses

# The fine-tuning reward curve: the mean reward of the model's own samples (toy: the rewarded basin's mass) over each
# quarter of a fine-tuning epoch, i.e. over the reward queries already made, at no extra cost.
REWARD_BLOCKS = 4


class RAMTrainer(Trainer):
    config: RAMConfig

    def __init__(self, config: RAMConfig) -> None:
        super().__init__(config)
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        self.mixture = Mixture()
        self.rewards = torch.zeros(3, dtype=torch.float64)
        self.rewards[config.data.rewarded_mode] = 1.0
        self.class_reward: ClassReward | None = None
        if config.task == "digits":
            self.train_x, labels = load_digit_vectors(config.data.seed)
            self.class_reward = ClassReward.fit(self.train_x, labels, config.data.digit, config.data.seed,
                                                config.data.classifier_steps)
        else:
            self.train_x = self.mixture.sample(config.data.n_train,
                                               torch.Generator().manual_seed(config.data.seed)).float()
        self.dim = self.train_x.shape[1]
        self.generator = torch.Generator().manual_seed(config.seed)
        self.model = VelocityNet(dim=self.dim, width=config.width, depth=config.depth)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.reference: VelocityNet | None = None  # frozen at the end of pretraining
        self.reward_queries = 0
        self.reward_curve: list[float] = []  # mean reward of the model's own samples per REWARD_BLOCKS-th of an epoch

    @property
    def scale(self) -> float:
        return self.config.reward_scale or 1.0 / self.config.lam

    def reward(self, x: torch.Tensor) -> torch.Tensor:
        if self.class_reward is not None:
            return self.class_reward(x)
        return basin_reward(x, self.mixture, self.rewards).float()

    def fit_epoch(self) -> dict[str, float]:
        start = time.perf_counter()
        if self.epoch < self.config.pretrain_epochs:
            metrics = self.pretrain_epoch()
        else:
            if self.reference is None:
                self.start_finetuning()
            metrics = self.finetune_epoch()
        self.epoch += 1
        return {**metrics, "epoch_time_s": time.perf_counter() - start}

    def pretrain_epoch(self) -> dict[str, float]:
        c, total = self.config, 0.0
        for _ in range(c.pretrain_steps):
            idx = torch.randint(len(self.train_x), (c.batch_size,), generator=self.generator)
            loss = flow_matching_loss(self.model, self.train_x[idx], self.generator)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        return {"loss": total / c.pretrain_steps}

    def start_finetuning(self) -> None:
        self.reference = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.finetune_lr)

    def finetune_epoch(self) -> dict[str, float]:
        c, total, rewards = self.config, 0.0, 0.0
        block: list[float] = []
        for step in range(c.finetune_steps):
            loss, mean_reward = self.ram_step()
            total, rewards = total + loss, rewards + mean_reward
            block.append(mean_reward)
            if len(block) * REWARD_BLOCKS >= c.finetune_steps or step == c.finetune_steps - 1:
                self.reward_curve.append(sum(block) / len(block))
                block = []
        return {"loss": total / c.finetune_steps, "mean_reward": rewards / c.finetune_steps,
                "reward_queries": float(self.reward_queries)}

    def ram_step(self) -> tuple[float, float]:
        """One reward query per endpoint, ``noisings`` regressions per endpoint."""
        c = self.config
        x0 = sample(self.model, c.endpoints, c.sample_steps, self.generator, c.sampler, dim=self.dim)
        r = self.reward(x0)
        self.reward_queries += len(x0)
        scaled = self.scale * (r - r.mean() if c.baseline == "mean" else r)
        x0, scaled = x0.repeat(c.noisings, 1), scaled.repeat(c.noisings)
        t = torch.rand(len(x0), generator=self.generator)
        eps = torch.randn(x0.shape, generator=self.generator)
        xt = noised(x0, t, eps)
        v_theta = self.model(xt, t)
        if c.arm == "ram":
            with torch.no_grad():
                v_ref = self.reference(xt, t)
            target = ram_target(v_ref, v_theta, eps, x0, scaled)
        else:
            target = unanchored_target(v_theta, eps, x0, scaled)
        loss = (v_theta - target).pow(2).sum(-1).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item(), float(r.mean())

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "reference": None if self.reference is None else self.reference.state_dict(),
                "generator": self.generator.get_state(), "torch": torch.get_rng_state(),
                "reward_queries": self.reward_queries, "reward_curve": list(self.reward_curve)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch, self.reward_queries = int(state["epoch"]), int(state["reward_queries"])
        self.reward_curve = [float(v) for v in state.get("reward_curve", [])]
        self.model.load_state_dict(state["model"])
        if state["reference"] is not None:
            self.start_finetuning()
            self.reference.load_state_dict(state["reference"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch"])

    def artifact(self) -> RAMTrainer:
        return self


def mode_statistics(x: torch.Tensor, mixture: Mixture) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-mode sample means (3, 2) and covariances (3, 2, 2) of the samples assigned to each mode."""
    modes = mixture.mode_of(x)
    means, covs = [], []
    for i in range(len(mixture.weights)):
        xi = x[modes == i].double()
        means.append(xi.mean(0))
        covs.append(torch.cov(xi.T))
    return torch.stack(means), torch.stack(covs)


class TiltedTarget(Evaluator):
    """Samples of the fine-tuned flow against the analytic KL-optimal tilt and against the reference flow."""

    metrics = ("mass_rewarded", "tilt_mass", "tilt_error", "mass_outside", "mean_reward", "mean_shift", "cov_error",
               "ref_mass_rewarded", "ref_tilt_error", "ref_tilt_mass", "tilt_gap", "reward_queries", "mass_drawdown",
               "regularised_reward")

    @torch.no_grad()
    def evaluate(self, trainer: RAMTrainer) -> dict[str, float]:
        c, mixture = self.config, trainer.mixture
        if c.task != "toy":
            return {**dict.fromkeys(self.metrics, math.nan), "reward_queries": float(trainer.reward_queries)}
        reference = trainer.reference or trainer.model  # before fine-tuning the model is the reference
        ours = sample(trainer.model, c.n_eval, c.eval_steps, torch.Generator().manual_seed(10_000 + c.seed))
        ref = sample(reference, c.n_eval, c.eval_steps, torch.Generator().manual_seed(10_000 + c.seed))
        tilt = torch.cat([tilted_masses(mixture.weights, trainer.rewards, c.lam), torch.zeros(1, dtype=torch.float64)])
        masses, ref_masses = mode_masses(ours, mixture), mode_masses(ref, mixture)
        (mu, cov), (ref_mu, ref_cov) = mode_statistics(ours, mixture), mode_statistics(ref, mixture)
        k = c.data.rewarded_mode
        # the KL optimum is relative to the pretrained flow, whose mode masses differ from the mixture's weights
        ref_tilt = tilted_masses(ref_masses[:3] / ref_masses[:3].sum(), trainer.rewards, c.lam)[k]
        return {"mass_rewarded": float(masses[k]), "tilt_mass": float(tilt[k]),
                "tilt_error": float(0.5 * (masses - tilt).abs().sum()), "mass_outside": float(masses[-1]),
                "mean_reward": float(trainer.reward(ours).mean()),
                "mean_shift": float((mu - ref_mu).norm(dim=-1).max() / mixture.std),
                "cov_error": float((cov - ref_cov).flatten(1).norm(dim=-1).max() / mixture.std ** 2),
                "ref_mass_rewarded": float(ref_masses[k]),
                "ref_tilt_error": float(0.5 * (ref_masses - tilt).abs().sum()),
                "ref_tilt_mass": float(ref_tilt), "tilt_gap": float(abs(masses[k] - ref_tilt)),
                "reward_queries": float(trainer.reward_queries), "mass_drawdown": drawdown(trainer.reward_curve),
                "regularised_reward": regularised_reward(masses, ref_masses, trainer.rewards, c.lam, c.n_eval)}

    @torch.no_grad()
    def write_files(self, trainer: RAMTrainer, out_dir: Path) -> list[Path]:
        """task=toy: a scatter of 2,000 samples of the reference and of the fine-tuned flow over the mixture's modes."""
        if self.config.task != "toy":
            return []
        c, reference = self.config, trainer.reference or trainer.model
        drawn = [sample(model, 2000, c.eval_steps, torch.Generator().manual_seed(20_000 + c.seed))
                 for model in (reference, trainer.model)]
        path = out_dir / "toy_samples.png"
        save_scatter(drawn, trainer.mixture, c.data.rewarded_mode, path)
        return [path]


def regularised_reward(masses: torch.Tensor, ref_masses: torch.Tensor, rewards: torch.Tensor, lam: float,
                       n: int) -> float:
    """The fine-tuning objective E[r] - lambda KL(p || p_ref) on the mode level: bins = the three modes and
    outside, r constant on each (outside counted unrewarded), reference masses floored at 1 / n. The mode-level KL
    is a lower bound of the full one (data processing), so this is an upper bound of the objective; the analytic tilt
    maximises it."""
    r = torch.cat([rewards.double(), torch.zeros(1, dtype=torch.float64)])
    ref = ref_masses.clamp_min(1.0 / n)
    kl = torch.where(masses > 0, masses * torch.log(masses.clamp_min(1e-300) / ref), torch.zeros_like(masses)).sum()
    return float((masses * r).sum() - lam * kl)


def drawdown(curve: list[float]) -> float:
    """The largest fall of a curve below its running maximum (0: it never fell; a monotone rise within a tolerance
    has a drawdown below it); NaN below 2 points."""
    if len(curve) < 2:
        return math.nan
    peak, worst = curve[0], 0.0
    for value in curve[1:]:
        peak, worst = max(peak, value), max(worst, peak - value)
    return worst


class DigitClass(Evaluator):
    """task=digits: the share of samples the frozen classifier assigns to the rewarded digit and their mean reward,
    for the fine-tuned and the reference flow (the same noise), and optionally a PNG grid (reference rows on top)."""

    metrics = ("digit_fraction", "digit_reward", "ref_digit_fraction", "ref_digit_reward")

    @torch.no_grad()
    def evaluate(self, trainer: RAMTrainer) -> dict[str, float]:
        c, reward = self.config, trainer.class_reward
        if reward is None:
            return dict.fromkeys(self.metrics, math.nan)
        reference = trainer.reference or trainer.model
        ours, ref = (sample(model, c.n_eval, c.eval_steps, torch.Generator().manual_seed(10_000 + c.seed), dim=64)
                     for model in (trainer.model, reference))
        if c.grid_dir:
            save_grid(before_after(ref, ours), Path(c.grid_dir) / f"ram_digits_{c.arm}_seed{c.seed}.png")
        return {"digit_fraction": reward.fraction(ours), "digit_reward": float(reward(ours).mean()),
                "ref_digit_fraction": reward.fraction(ref), "ref_digit_reward": float(reward(ref).mean())}


    @torch.no_grad()
    def write_files(self, trainer: RAMTrainer, out_dir: Path) -> list[Path]:
        """task=digits: 50 samples of the reference flow (top five rows) and 50 of the fine-tuned one (the same
        noise) as a PNG."""
        if trainer.class_reward is None:
            return []
        c, reference = self.config, trainer.reference or trainer.model
        ref, ours = (sample(model, 50, c.eval_steps, torch.Generator().manual_seed(10_000 + c.seed), dim=64)
                     for model in (reference, trainer.model))
        path = out_dir / "digit_samples.png"
        save_grid(before_after(ref, ours), path)
        return [path]


def before_after(ref: torch.Tensor, ours: torch.Tensor) -> torch.Tensor:
    """Five rows of ten reference samples over five rows of ten fine-tuned ones."""
    return torch.cat([digit_grid(ref[:50]), digit_grid(ours[:50])])


def save_scatter(samples: list[torch.Tensor], mixture: Mixture, rewarded: int, path: Path) -> None:
    """Reference and fine-tuned samples side by side, the modes' 4-std circles drawn (the rewarded one in red);
    written atomically."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
    for ax, x, title in zip(axes, samples, ("reference flow", "fine-tuned"), strict=True):
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, color="C0")
        for i, mean in enumerate(mixture.means):
            ax.add_patch(plt.Circle(tuple(mean.tolist()), 4 * mixture.std, fill=False,
                                    color="C3" if i == rewarded else "0.5"))
        masses = mode_masses(x, mixture)
        ax.set_title(f"{title}: rewarded-mode mass {float(masses[rewarded]):.3f}", fontsize=10)
        ax.set_xlabel("x1")
        ax.set_aspect("equal")
    axes[0].set_ylabel("x2")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, buffer.getvalue())


def save_grid(grid: torch.Tensor, path: Path) -> None:
    """A greyscale PNG, written atomically."""
    save_greyscale_png(grid.numpy(), path)


SPEC = RAM  # the spec lives torch-free in shared/methods/generative/specs.py (the registry's entry)
