"""sas's pieces on hand-computable cases (no Ray): the written-out SGD step against autograd, the series
Wasserstein distance by hand, the perturbed datasets, and the coupling (identical data give beta-hat exactly 0)."""
import pytest
import torch
import torch.nn.functional as F

from shared.registry import get_method


def small_config(*items: str):
    return get_method("sas").load_config(["dim=3", "width=5", "n_train=8", "n_test=6", "batch_size=4", "steps=40",
                                          "burn_in=20", "record_every=5", "replaced=2", *items])


def test_written_out_sgd_step_equals_autograd_on_the_mean_bce():
    from shared.methods.theory.sas import init_params, logits, sgd_step

    cfg = small_config()
    gen = torch.Generator().manual_seed(0)
    params = [p + 0.3 * torch.randn(p.shape, generator=gen) for p in init_params(cfg, 3, gen)]  # copies differ
    x, y = torch.randn(3, 4, 3, generator=gen), torch.randint(0, 2, (3, 4), generator=gen).float()
    leaves = [p.clone().requires_grad_() for p in params]
    loss = F.binary_cross_entropy_with_logits(logits(leaves, x), y, reduction="none").mean(1).sum()
    grads = torch.autograd.grad(loss, leaves)
    sgd_step(params, x, y, lr=0.5)
    for p, leaf, g in zip(params, leaves, grads, strict=True):
        torch.testing.assert_close(p, leaf.detach() - 0.5 * g, atol=1e-6, rtol=1e-5)


def test_series_wasserstein_by_hand():
    """Laws {0, 1, 2} and {1, 2, 3}: W_1 = 1 (a shift); {0, 0, 3} vs {1, 1, 1}: sorted differences 1, 1, 2 -> 4/3;
    a time series and its reversal have the same law: 0."""
    from shared.methods.theory.sas import series_wasserstein

    first = torch.tensor([[0.0, 0.0, 2.0], [1.0, 3.0, 0.0], [2.0, 0.0, 1.0]])
    second = torch.tensor([[3.0, 1.0, 1.0], [2.0, 1.0, 0.0], [1.0, 1.0, 2.0]])
    torch.testing.assert_close(series_wasserstein(first, second), torch.tensor([1.0, 4 / 3, 0.0]))


def test_each_perturbed_dataset_differs_from_s_in_exactly_its_own_example():
    from shared.methods.theory.sas import perturbed_datasets

    cfg = small_config("replaced=3")
    xs, ys = perturbed_datasets(cfg, torch.Generator().manual_seed(1))
    assert xs.shape == (4, 8, 3) and ys.shape == (4, 8)
    for i in range(3):
        changed = (xs[1 + i] != xs[0]).any(1)
        assert changed.tolist() == [j == i for j in range(8)]


def test_coupled_runs_on_identical_data_have_zero_beta_hat_and_different_seeds_do_not():
    """beta-hat measures sensitivity to one example, not SGD noise: with the replacement equal to the original
    point (no label noise, the same draw), the coupled copies follow the same trajectory."""
    from shared.methods.theory.sas import draw_mixture, series_wasserstein, train_coupled

    cfg = small_config()
    x, y = draw_mixture(8, 3, 0.0, torch.Generator().manual_seed(2))
    x_test, y_test = draw_mixture(6, 3, 0.0, torch.Generator().manual_seed(3))
    test_series, train_series = train_coupled(cfg, x.repeat(3, 1, 1), y.repeat(3, 1), x_test, y_test)
    assert test_series.shape == (4, 3, 6) and train_series.shape == (4, 3)
    assert series_wasserstein(test_series[:, 0], test_series[:, 2]).max() == 0
    other, _ = train_coupled(small_config("seed=1"), x.repeat(3, 1, 1), y.repeat(3, 1), x_test, y_test)
    assert series_wasserstein(test_series[:, 0], other[:, 0]).max() > 0


def test_sas_runs_and_reports_its_measures():
    spec = get_method("sas")
    cfg = small_config("noise=0.3")
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()
    out = spec.evaluate(cfg, trainer.artifact())
    assert out["gap"] == pytest.approx(out["test_loss"] - out["train_loss"]) and out["beta_hat"] > 0


@pytest.mark.parametrize("overrides, key", [(["burn_in=4000"], "burn_in"), (["n_train=3", "batch_size=2"], "replaced"),
                                            (["batch_size=300"], "batch_size")])
def test_sas_config_rejects_inconsistent_sizes_naming_the_key(overrides, key):
    from shared.config import ConfigError

    with pytest.raises(ConfigError, match=f"^{key}:"):
        get_method("sas").load_config(overrides)
