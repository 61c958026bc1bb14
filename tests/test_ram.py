"""ram: the RAM target's algebra, its exactness on a Gaussian with a linear reward (computed by hand), the memoryless
SDE sampler, reward queries per endpoint, and exact resume (shared/ram/flow.py, shared/methods/generative/ram.py)."""
from __future__ import annotations

import copy
import math
import statistics

import pytest
import torch

from shared.methods.generative.ram import SPEC
from shared.ram.flow import VelocityNet, noised, ram_target, sample, unanchored_target

MU, S2 = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.25  # a Gaussian N(MU, S2 I) as the data


def gaussian_velocity(mu: torch.Tensor, s2: float):
    """E[eps - X_0 | X_t = x] for X_0 ~ N(mu, s2 I), by hand: (t - (1-t) s2) / V (x - (1-t) mu) - mu,
    V = (1-t)^2 s2 + t^2 the variance of X_t."""
    def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.reshape(-1, 1).to(x.dtype)
        var = (1 - t) ** 2 * s2 + t ** 2
        return (t - (1 - t) * s2) / var * (x - (1 - t) * mu) - mu
    return v


def test_with_zero_reward_the_target_is_the_reference_and_the_unanchored_target_the_model():
    v_ref, v, eps, x0 = (torch.randn(5, 2) for _ in range(4))
    assert torch.equal(ram_target(v_ref, v, eps, x0, torch.zeros(5)), v_ref)
    assert torch.equal(unanchored_target(v, eps, x0, torch.zeros(5)), v)


def test_at_the_reference_the_ram_gradient_is_reward_weighted_flow_matching():
    torch.manual_seed(0)
    model = VelocityNet(width=16, depth=2)
    reference = copy.deepcopy(model).requires_grad_(False)
    x0, eps, t, reward = torch.randn(32, 2), torch.randn(32, 2), torch.rand(32), torch.rand(32) * 2
    xt = noised(x0, t, eps)
    v = model(xt, t)
    ram = (v - ram_target(reference(xt, t), v, eps, x0, reward)).pow(2).sum(-1).mean()
    ram_grad = torch.autograd.grad(ram, list(model.parameters()))
    weighted_fm = (reward * (model(xt, t) - (eps - x0)).pow(2).sum(-1)).mean()
    fm_grad = torch.autograd.grad(weighted_fm, list(model.parameters()))
    for a, b in zip(ram_grad, fm_grad, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_the_tilted_gaussian_is_a_fixed_point_of_the_ram_target_for_a_linear_reward():
    """p_ref = N(MU, S2 I), r(x) = c.x: the tilt is N(MU + S2 c / lambda, S2 I) and, by hand,
    v* - v_ref = -t/V S2 c/lambda = Cov*(R, eps - X_0 | X_t): the RAM target's posterior mean under the tilt equals
    the tilt's velocity."""
    c, lam = torch.tensor([0.8, 0.4], dtype=torch.float64), 2.0
    tilted_mu = MU + S2 * c / lam
    v_ref, v_star = gaussian_velocity(MU, S2), gaussian_velocity(tilted_mu, S2)
    gen = torch.Generator().manual_seed(0)
    for t_value, x in ((0.3, [0.5, -1.0]), (0.8, [-0.4, 0.9])):
        t, x = torch.tensor([t_value], dtype=torch.float64), torch.tensor([x], dtype=torch.float64)
        var = (1 - t_value) ** 2 * S2 + t_value ** 2  # X_0 | X_t under the tilt: Gaussian regression, by hand
        post_mean = tilted_mu + (1 - t_value) * S2 / var * (x - (1 - t_value) * tilted_mu)
        post_var = S2 * t_value ** 2 / var
        n = 400_000
        x0 = post_mean + post_var ** 0.5 * torch.randn(n, 2, generator=gen, dtype=torch.float64)
        eps = (x - (1 - t_value) * x0) / t_value
        target = ram_target(v_ref(x, t).expand(n, 2), v_star(x, t).expand(n, 2), eps, x0, x0 @ c / lam)
        assert torch.allclose(target.mean(0), v_star(x, t)[0], atol=0.01)
        assert (v_star(x, t) - v_ref(x, t)).norm() > 0.1  # the tilt moves the velocity: the check has teeth


def test_the_ode_and_the_memoryless_sde_reach_the_gaussian_and_only_the_sde_forgets_its_start():
    v = gaussian_velocity(MU.float(), S2)
    gen = torch.Generator().manual_seed(1)
    x1 = torch.randn(4000, 2, generator=gen)
    for sampler in ("ode", "sde"):
        x0 = sample(v, len(x1), 200, gen, sampler, x1=x1)
        assert torch.allclose(x0.mean(0), MU.float(), atol=0.03), sampler
        assert torch.allclose(x0.var(0), torch.full((2,), S2), atol=0.03), sampler
        start_end = torch.corrcoef(torch.stack([x1[:, 0], x0[:, 0]]))[0, 1]
        assert (start_end > 0.99) if sampler == "ode" else (start_end.abs() < 0.06), (sampler, start_end)


def test_each_endpoint_is_one_reward_query_shared_by_its_noisings_on_the_sde_sampler():
    cfg = SPEC.load_config(["epochs=2", "pretrain_epochs=1", "pretrain_steps=2", "finetune_steps=3", "endpoints=16",
                            "noisings=5", "n_eval=100", "eval_steps=5", "sampler=sde"])
    trainer = SPEC.make_trainer(cfg)
    calls = []
    reward = trainer.reward
    trainer.reward = lambda x: calls.append(len(x)) or reward(x)
    trainer.fit_epoch()
    assert trainer.reference is None and calls == []
    metrics = trainer.fit_epoch()
    assert calls == [16, 16, 16] and metrics["reward_queries"] == 48 == trainer.reward_queries
    assert torch.isfinite(torch.tensor(metrics["loss"]))  # the memoryless SDE as the fine-tuning sampler


def test_the_arms_share_the_pretraining_run_and_the_run_resumes_exactly_across_it():
    cfg = SPEC.load_config(["epochs=3", "pretrain_epochs=1", "pretrain_steps=3", "finetune_steps=2", "endpoints=8",
                            "arm=rwfm", "sample_steps=4"])
    assert cfg.prefix_run() == ("ram", SPEC.load_config(["epochs=1", "pretrain_epochs=1", "pretrain_steps=3",
                                                         "finetune_steps=2", "endpoints=8", "sample_steps=4"]))
    straight = SPEC.make_trainer(cfg)
    straight.fit_epoch()
    straight.fit_epoch()
    resumed = SPEC.make_trainer(cfg)
    resumed.load_state_dict(copy.deepcopy(straight.state_dict()))
    a, b = straight.fit_epoch(), resumed.fit_epoch()
    a.pop("epoch_time_s"), b.pop("epoch_time_s")
    assert a == b and straight.reward_curve == resumed.reward_curve and len(straight.reward_curve) == 4
    for p, q in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_the_digits_variant_rewards_a_class_probability_and_saves_before_and_after_grids(tmp_path):
    cfg = SPEC.load_config(["task=digits", "epochs=2", "pretrain_epochs=1", "pretrain_steps=2", "finetune_steps=1",
                            "endpoints=8", "sample_steps=2", "n_eval=50", "eval_steps=2", f"grid_dir={tmp_path}",
                            "data.classifier_steps=5"])
    trainer = SPEC.make_trainer(cfg)
    assert trainer.train_x.shape[1] == 64 and trainer.train_x.min() >= -1 and trainer.train_x.max() <= 1
    reward = trainer.reward(trainer.train_x[:20])
    assert reward.shape == (20,) and 0 <= reward.min() and reward.max() <= 1
    trainer.fit_epoch()
    trainer.fit_epoch()
    metrics = SPEC.evaluate(cfg, trainer.artifact())
    assert 0 <= metrics["digit_fraction"] <= 1 and metrics["reward_queries"] == 8
    assert torch.isnan(torch.tensor(metrics["tilt_error"]))  # the toy's measures do not apply
    assert [p.name for p in tmp_path.iterdir()] == ["ram_digits_ram_seed0.png"]
    toy, digits = SPEC.make_evaluators(cfg)
    assert toy.write_files(trainer, tmp_path / "kept") == []  # the toy's scatter does not apply
    kept = digits.write_files(trainer, tmp_path / "kept")
    assert [p.name for p in kept] == ["digit_samples.png"] and kept[0].read_bytes().startswith(b"\x89PNG")


@pytest.mark.filterwarnings("ignore:cov\\(\\)")  # an untrained flow leaves a mode (nearly) empty
def test_the_reward_curve_is_recorded_per_quarter_epoch_and_its_drawdown_is_the_largest_fall_below_its_peak(tmp_path):
    from shared.methods.generative.ram import drawdown

    assert drawdown([0.3, 0.4, 0.35, 0.45, 0.41, 0.5]) == pytest.approx(0.05)
    assert drawdown([0.3, 0.4, 0.5]) == 0.0 and math.isnan(drawdown([0.3]))
    cfg = SPEC.load_config(["epochs=2", "pretrain_epochs=1", "pretrain_steps=2", "finetune_steps=8", "endpoints=16",
                            "sample_steps=2", "n_eval=200", "eval_steps=4"])
    trainer = SPEC.make_trainer(cfg)
    trainer.fit_epoch()
    assert trainer.reward_curve == []  # pretraining makes no reward queries
    metrics = trainer.fit_epoch()
    assert len(trainer.reward_curve) == 4 and statistics.mean(trainer.reward_curve) == pytest.approx(
        metrics["mean_reward"])  # four blocks of two steps: their means average to the epoch's
    toy = SPEC.make_evaluators(cfg)[0]
    assert toy.evaluate(trainer)["mass_drawdown"] == drawdown(trainer.reward_curve)
    kept = toy.write_files(trainer, tmp_path)
    assert [p.name for p in kept] == ["toy_samples.png"] and kept[0].read_bytes().startswith(b"\x89PNG")


def test_the_analytic_tilt_maximises_the_mode_level_regularised_reward():
    from shared.methods.generative.ram import regularised_reward
    from shared.ram.toy import tilted_masses

    ref = torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64)
    rewards, lam = torch.tensor([0.0, 1.0, 0.0]), 1.0
    tilt = torch.cat([tilted_masses(ref[:3], rewards, lam), torch.zeros(1, dtype=torch.float64)])
    best = regularised_reward(tilt, ref, rewards, lam, 1000)
    assert best == pytest.approx(lam * math.log(0.7 + 0.3 * math.e))  # lambda log Z at the optimum
    assert regularised_reward(ref, ref, rewards, lam, 1000) == pytest.approx(0.3)  # no KL, the reference's reward
    collapsed = torch.tensor([0.01, 0.98, 0.01, 0.0], dtype=torch.float64)  # reward hacking: more reward, less value
    assert regularised_reward(collapsed, ref, rewards, lam, 1000) < best
    for shift in (-0.05, 0.05):
        moved = tilt + torch.tensor([-shift, shift, 0.0, 0.0], dtype=torch.float64)
        assert regularised_reward(moved, ref, rewards, lam, 1000) < best
