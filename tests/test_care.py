"""CARE and SimCLR trainers: lambda = 0 is exactly SimCLR, runs are deterministic, resume is exact."""
from pathlib import Path

import torch

from shared.checkpoint import load_trainer, save_checkpoint
from shared.registry import get_method
from tests.helpers import tiny


def train(method: str, overrides: list[str]) -> tuple[list[dict], dict]:
    spec = get_method(method)
    cfg = spec.load_config(overrides)
    trainer = spec.make_trainer(cfg)
    history = [trainer.fit_epoch() for _ in range(cfg.epochs)]
    return history, trainer.state_dict()


def test_care_with_lambda_zero_is_exactly_simclr():
    care_hist, care_state = train("care", tiny("lam=0"))
    simclr_hist, simclr_state = train("simclr", tiny(method="simclr"))
    assert [h["loss"] for h in care_hist] == [h["loss"] for h in simclr_hist]
    for key, value in simclr_state["model"].items():
        assert torch.equal(value, care_state["model"][key]), key


def test_care_adds_the_equivariance_term():
    hist, _ = train("care", tiny("lam=0.5", "epochs=1"))
    h = hist[0]
    assert h["equivariance"] > 0
    assert abs(h["loss"] - (h["info_nce"] + 0.5 * h["equivariance"])) < 1e-4


def test_same_seed_same_metrics_twice():
    spec = get_method("care")
    results = []
    for _ in range(2):
        cfg = spec.load_config(tiny("seed=3"))
        trainer = spec.make_trainer(cfg)
        hist = [trainer.fit_epoch() for _ in range(cfg.epochs)]
        metrics = spec.evaluate(cfg, trainer.artifact(), trainer.data)
        results.append(([h["loss"] for h in hist], metrics))
    assert results[0] == results[1]
    other = spec.make_trainer(spec.load_config(tiny("seed=4")))
    assert other.fit_epoch()["loss"] != results[0][0][0]


def test_resume_from_checkpoint_is_exact(tmp_path: Path):
    spec = get_method("care")
    cfg = spec.load_config(tiny("epochs=3"))
    straight = spec.make_trainer(cfg)
    losses = [straight.fit_epoch()["loss"] for _ in range(3)]

    first = spec.make_trainer(cfg)
    first.fit_epoch()
    save_checkpoint(tmp_path / "ckpt", spec, cfg, first)
    del first
    _, _, resumed = load_trainer(tmp_path / "ckpt")  # weights_only load
    assert resumed.epoch == 1
    assert [resumed.fit_epoch()["loss"] for _ in range(2)] == losses[1:]
    assert resumed.done


def test_evaluators_report_their_declared_metrics():
    spec = get_method("care")
    cfg = spec.load_config(tiny("epochs=1"))
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()
    metrics = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert set(metrics) == set(spec.metric_names()) - {"loss"}
    assert 0.0 <= metrics["linear_probe_acc"] <= 1.0 and 0.0 <= metrics["colour_probe_acc"] <= 1.0
