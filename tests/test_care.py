"""CARE and SimCLR trainers: lambda = 0 is exactly SimCLR, runs are deterministic, resume is exact."""
import math
from pathlib import Path

import pytest
import torch

from shared.checkpoint import load_trainer, save_checkpoint
from shared.config import ConfigError
from shared.losses.contrastive import info_nce
from shared.methods.ssl.care import alignment_uniformity
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


def test_alignment_and_uniformity_by_hand():
    # Two samples on the unit circle: views of sample 0 at angles 0 and 90 degrees, of sample 1 at 180 and 270.
    # Anchor 0 (angle 0): positive 90 degrees (s = 0), negatives 180 and 270 (s = -1, 0).
    z1 = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    z2 = torch.tensor([[0.0, 1.0], [0.0, -1.0]], dtype=torch.float64)
    tau = 0.5
    alignment, uniformity = alignment_uniformity(z1, z2, tau)
    assert alignment.item() == pytest.approx(0.0, abs=1e-12)  # every positive pair is orthogonal
    # every anchor has one opposite negative (s = -1) and one orthogonal (s = 0)
    assert uniformity.item() == pytest.approx(math.log(math.exp(-1 / tau) + 1.0))
    # InfoNCE is alignment + log(exp(s+ / tau) + sum of negatives), per anchor
    assert info_nce(z1, z2, tau).item() == pytest.approx(math.log(1.0 + math.exp(-1 / tau) + 1.0))


def test_alignment_uniformity_reassemble_info_nce_on_random_embeddings():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 5, generator=g, dtype=torch.float64), torch.randn(8, 5, generator=g, dtype=torch.float64)
    alignment, uniformity = alignment_uniformity(z1, z2, 0.5)
    # per anchor, InfoNCE = -s+/tau + log(exp(s+/tau) + sum_neg) > -s+/tau + log(sum_neg): the positive in the sum
    assert (alignment + uniformity).item() < info_nce(z1, z2, 0.5).item()


@pytest.mark.parametrize("subtype", ["alignment", "uniformity"])
def test_loss_subtype_trains_on_that_part_of_info_nce_plus_the_equivariance_term(subtype: str):
    hist, _ = train("care", tiny("lam=0.5", "epochs=1", f"loss_subtype={subtype}"))
    full, _ = train("care", tiny("lam=0.5", "epochs=1"))
    h = hist[0]
    assert abs(h["loss"] - (h["info_nce"] + 0.5 * h["equivariance"])) < 1e-4
    assert h["info_nce"] != full[0]["info_nce"]


def test_loss_subtype_is_checked():
    with pytest.raises(ConfigError, match="loss_subtype"):
        get_method("care").load_config(tiny("loss_subtype=equivariance"))
