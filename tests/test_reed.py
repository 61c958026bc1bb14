"""reed: the interpolant and its target, the alignment loss, the curriculum by hand, per-patch vs pooled alignment,
the captions, the Fréchet distance, and which parameters each arm trains (shared/reed/model.py,
shared/methods/generative/reed.py)."""
from __future__ import annotations

import copy

import pytest
import torch

from shared.config import ConfigError
from shared.methods.generative.reed import SPEC
from shared.reed.model import Captions, TinyDiT, alignment_loss, diffusion_weight, frechet_distance, interpolant

TINY = ["steps_per_epoch=2", "batch_size=8", "encoder_steps=2", "width=16", "projector_width=16", "heads=2",
        "data.n_test=50", "sample_steps=2"]


def test_the_interpolant_is_clean_at_zero_noise_at_one_and_its_target_is_eps_minus_x():
    x, eps = torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)
    xt, target = interpolant(x, torch.tensor([0.0, 1.0, 0.25]), eps)
    assert torch.equal(xt[0], x[0]) and torch.equal(xt[1], eps[1])
    assert torch.allclose(xt[2], 0.75 * x[2] + 0.25 * eps[2]) and torch.equal(target, eps - x)


def test_the_alignment_loss_is_minus_one_when_aligned_and_plus_one_when_opposite():
    z = torch.randn(4, 16, 32)
    assert alignment_loss(z, 3.0 * z).item() == pytest.approx(-1.0, abs=1e-6)
    assert alignment_loss(z, -z).item() == pytest.approx(1.0, abs=1e-6)


def test_the_diffusion_weight_ramps_linearly_after_the_alignment_only_start():
    assert [diffusion_weight(s, 100) for s in (0, 25, 50, 100, 400)] == [0.0, 0.25, 0.5, 1.0, 1.0]
    assert diffusion_weight(0, 0) == 1.0  # no curriculum
    assert [diffusion_weight(s, 100, start_steps=10) for s in (5, 10, 60)] == [0.0, 0.0, 0.5]


def test_image_targets_are_per_patch_and_the_caption_target_is_on_the_token_mean():
    trainer = SPEC.make_trainer(SPEC.load_config(TINY))
    x, y = trainer.data.train_x[:5], trainer.data.train_y[:5]
    v, hidden = trainer.model.dit(x, torch.rand(5), y)
    patches = trainer.encoder.patches(x)
    assert v.shape == x.shape and len(hidden) == 4
    assert patches.shape == (5, 16, 32) and hidden[1].shape[:2] == (5, 16)  # one encoder feature per DiT patch
    assert trainer.model.image_projector(hidden[1]).shape == patches.shape
    assert trainer.model.text_projector(hidden[2].mean(1)).shape == trainer.captions.embed(x, y).shape == (5, 32)


def test_a_caption_names_the_class_and_two_attributes_and_its_embedding_is_fixed():
    x = torch.full((2, 1, 8, 8), -1.0)
    x[1, :, :, 2:6] = 1.0  # the second image: more ink, four columns wide
    captions = Captions.fit(torch.cat([x, x]), dim=8)
    assert torch.equal(captions.tokens(x, torch.tensor([3, 7]))[:, 0], torch.tensor([3, 7]))
    again = Captions.fit(torch.cat([x, x]), dim=8)
    assert torch.equal(captions.embed(x, torch.tensor([3, 7])), again.embed(x, torch.tensor([3, 7])))
    ink, width = Captions.attributes(x)
    assert ink[0] == 0 and width.tolist() == [0.0, 4.0]


def test_the_frechet_distance_is_zero_on_itself_and_the_squared_shift_of_a_translate():
    a = torch.randn(2000, 3, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + torch.tensor([1.0, 2.0, 0.0])) == pytest.approx(5.0, abs=1e-6)


def grads_after_one_step(overrides: list[str]) -> dict[str, bool]:
    trainer = SPEC.make_trainer(SPEC.load_config([*TINY, *overrides]))
    loss, _ = trainer.loss(next(iter(trainer.batches())))
    loss.backward()
    m = trainer.model
    has = {name: any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
           for name, module in (("head", m.dit.head), ("image", m.image_projector), ("text", m.text_projector))}
    return has


def test_each_arm_trains_what_it_claims_and_the_warm_up_starts_with_alignment_alone():
    assert grads_after_one_step(["alignment=none", "warmup_steps=0"]) == {"head": True, "image": False, "text": False}
    assert grads_after_one_step(["alignment=image", "warmup_steps=0"]) == {"head": True, "image": True, "text": False}
    # step 0 of the curriculum: lambda_diff = 0, so the output head (denoising only) gets no gradient
    assert grads_after_one_step(["alignment=both", "warmup_steps=10"]) == {"head": False, "image": True, "text": True}


def test_bad_alignment_depths_are_refused_and_the_run_resumes_exactly():
    with pytest.raises(ConfigError, match="exceed the DiT's depth=4"):
        SPEC.load_config([*TINY, "image_depth=5"])
    cfg = SPEC.load_config([*TINY, "epochs=2"])
    straight = SPEC.make_trainer(cfg)
    straight.fit_epoch()
    resumed = SPEC.make_trainer(cfg)
    resumed.load_state_dict(copy.deepcopy(straight.state_dict()))
    a, b = straight.fit_epoch(), resumed.fit_epoch()
    assert a.pop("epoch_time_s") and b.pop("epoch_time_s") and a == b


def test_the_sample_grid_has_one_row_of_digits_per_class_and_the_evaluator_saves_it(tmp_path):
    from shared.methods.generative.reed import sample_grid

    cfg = SPEC.load_config([*TINY, f"grid_dir={tmp_path}"])
    trainer = SPEC.make_trainer(cfg)
    grid = sample_grid(trainer.model, per_class=3, steps=2)
    assert grid.shape == (80, 24) and grid.min() >= 0 and grid.max() <= 1
    metrics = SPEC.evaluate(cfg, trainer.artifact(), trainer.data)
    assert set(metrics) == {"heldout_denoise", "frechet"}
    assert [p.name for p in tmp_path.iterdir()] == ["reed_both_seed0.png"]
    kept = SPEC.make_evaluators(cfg, trainer.data)[0].write_files(trainer.artifact(), tmp_path / "kept")
    assert [p.name for p in kept] == ["samples.png"] and kept[0].read_bytes().startswith(b"\x89PNG")
    assert trainer.model.training  # the evaluator leaves the model as it found it


def test_the_dit_is_a_patch_two_transformer():
    dit = TinyDiT(width=16, depth=2, heads=2)
    assert dit.embed.kernel_size == (2, 2) and dit.position.shape == (1, 16, 16)


def test_an_evaluator_without_the_trainers_data_rebuilds_the_same_frozen_encoder():
    cfg = SPEC.load_config(TINY)
    trainer = SPEC.make_trainer(cfg)
    trainer.fit_epoch()
    with_data = SPEC.evaluate(cfg, trainer.artifact(), trainer.data)
    assert SPEC.evaluate(cfg, trainer.artifact()) == with_data  # e.g. an EvaluatorActor given only the model
