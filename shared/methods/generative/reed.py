"""reed: "Learning Diffusion Models with Flexible Representation Guidance" (REED; official code ChenyuWang-Monica/REED).

A SiT-style diffusion transformer on the linear interpolant x_t = (1 - t) x + t eps, v-prediction of eps - x, with
representation alignment of its hidden states to pretrained targets:

    L = lambda_diff(step) L_den + proj_coeff sum_j c_j L_align_j,   L_align_j = -mean cos(z_j, h_j(hidden^(d_j))),

the image target per patch at depth ``image_depth``, the synthetic second modality on the token mean at the deeper
``text_depth``; lambda_diff ramps from 0 to 1 over ``warmup_steps`` (the curriculum: representations first). REPA is
the special case ``alignment=image``, no warm-up.

Toy (the card's check): sklearn digits (8 x 8 in [-1, 1]), a 4-block DiT of patch 2; the image target is a small
CNN trained on the training digits' labels inside the run and then frozen; the "caption" is a fixed random
projection of the class and two attribute words (``shared/reed/model.py``). Measures: held-out denoising loss
(fixed t and eps draws) and the Fréchet distance between samples and the test digits in the frozen CNN's pooled
features. Departures: adaLN shift/scale without gates, no CFG at sampling (dropout 0.1 in training as the paper),
an Euler ODE sampler instead of the SDE, a learning rate for 1,000 steps instead of 1e-4 for 1M.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shared.method import Evaluator, GradientTrainer, seed_everything
from shared.methods.generative import save_greyscale_png
from shared.methods.generative.config import REEDConfig  # torch-free; re-exported
from shared.methods.generative.specs import REED
from shared.reed.model import (
    Captions,
    TinyDiT,
    alignment_loss,
    diffusion_weight,
    frechet_distance,
    interpolant,
    projector,
    train_encoder,
)


class REEDModel(nn.Module):
    """The DiT and its alignment projectors (trained together; the projectors are dropped at sampling)."""

    def __init__(self, c: REEDConfig, image_dim: int) -> None:
        super().__init__()
        self.dit = TinyDiT(width=c.width, depth=c.depth, heads=c.heads)
        self.image_projector = projector(c.width, c.projector_width, image_dim)
        self.text_projector = projector(c.width, c.projector_width, c.caption_dim)


@dataclass
class DigitsData:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    encoder: Any = None  # the frozen image encoder and the captions, set by the trainer
    captions: Any = None


def load_digits_split(seed: int, n_test: int) -> DigitsData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = torch.randperm(len(digits.target), generator=torch.Generator().manual_seed(seed))
    x = (torch.tensor(digits.images, dtype=torch.float32)[order] / 8.0 - 1.0).unsqueeze(1)
    y = torch.tensor(digits.target)[order]
    return DigitsData(x[n_test:], y[n_test:], x[:n_test], y[:n_test])


class REEDTrainer(GradientTrainer):
    config: REEDConfig

    def setup(self) -> None:
        c = self.config
        self.data = load_digits_split(c.data.seed, c.data.n_test)
        # the targets come from the data alone: the same frozen encoder and captions for every arm of one seed
        self.encoder = train_encoder(self.data.train_x, self.data.train_y, c.encoder_steps,
                                     torch.Generator().manual_seed(c.data.seed))
        self.captions = Captions.fit(self.data.train_x, c.caption_dim)
        self.data.encoder, self.data.captions = self.encoder, self.captions

    def build_model(self) -> nn.Module:
        return REEDModel(self.config, image_dim=self.encoder.classifier.in_features)

    def steps_per_epoch(self) -> int:
        return self.config.steps_per_epoch

    def batches(self) -> Iterator[torch.Tensor]:
        n = len(self.data.train_y)
        for _ in range(self.config.steps_per_epoch):
            yield torch.randint(n, (self.config.batch_size,), generator=self.generator)

    def loss(self, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        c, model = self.config, self.model
        x, y = self.data.train_x[idx], self.data.train_y[idx]
        drop = torch.rand(len(y), generator=self.generator) < c.label_dropout
        t = torch.rand(len(y), generator=self.generator)
        eps = torch.randn(x.shape, generator=self.generator)
        xt, target = interpolant(x, t, eps)
        v, hidden = model.dit(xt, t, torch.where(drop, 10, y))
        denoise = (v - target).pow(2).mean()
        weight = diffusion_weight(self.global_step, c.warmup_steps, c.start_steps)
        loss, parts = weight * denoise, {"denoise": denoise.item(), "lambda_diff": weight}
        if c.alignment != "none":
            with torch.no_grad():
                z_image = self.encoder.patches(x)
            image = alignment_loss(z_image, model.image_projector(hidden[c.image_depth - 1]))
            loss = loss + c.proj_coeff * c.image_coeff * image
            parts["align_image"] = image.item()
        if c.alignment == "both":
            z_text = self.captions.embed(x, y)
            text = alignment_loss(z_text, model.text_projector(hidden[c.text_depth - 1].mean(1)))
            loss = loss + c.proj_coeff * c.text_coeff * text
            parts["align_text"] = text.item()
        return loss, parts

    def artifact(self) -> REEDModel:
        return self.model


@torch.no_grad()
def sample_digits(dit: TinyDiT, y: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Euler on dx/dt = v from t = 1 (noise) to t = 0, class-conditional without guidance."""
    x = torch.randn(len(y), 1, dit.size, dit.size, generator=generator)
    grid = torch.linspace(1.0, 0.0, steps + 1)
    for t_now, t_next in zip(grid[:-1], grid[1:], strict=True):
        x = x - float(t_now - t_next) * dit(x, torch.full((len(y),), float(t_now)), y)[0]
    return x


class DenoisingAndFrechet(Evaluator):
    """Held-out denoising loss at fixed (t, eps) draws (four per test digit), and the Fréchet distance in the frozen
    encoder's features between class-conditional samples (the test set's labels) and the test digits."""

    metrics = ("heldout_denoise", "frechet")

    def load_data(self) -> DigitsData:
        """The split, the frozen encoder and the captions exactly as the trainer made them (same seeding order)."""
        trainer = REEDTrainer.__new__(REEDTrainer)
        trainer.config = self.config
        with torch.random.fork_rng():
            seed_everything(self.config.seed)
            trainer.setup()
        return trainer.data

    @torch.no_grad()
    def evaluate(self, model: REEDModel) -> dict[str, float]:
        data, model = self.data, model.eval()
        gen = torch.Generator().manual_seed(99)  # the same draws for every arm
        x, y = data.test_x.repeat(4, 1, 1, 1), data.test_y.repeat(4)  # four (t, eps) draws per test digit
        t = torch.rand(len(y), generator=gen)
        eps = torch.randn(x.shape, generator=gen)
        xt, target = interpolant(x, t, eps)
        denoise = float((model.dit(xt, t, y)[0] - target).pow(2).mean())
        samples = sample_digits(model.dit, data.test_y, self.config.sample_steps, gen).clamp(-1, 1)
        fd = frechet_distance(data.encoder.pooled(samples), data.encoder.pooled(data.test_x))
        if self.config.grid_dir:
            c = self.config
            save_sample_grid(model, Path(c.grid_dir) / f"reed_{c.alignment}_seed{c.seed}.png", steps=c.sample_steps)
        model.train()
        return {"heldout_denoise": denoise, "frechet": fd}

    def write_files(self, model: REEDModel, out_dir: Path) -> list[Path]:
        """The grid of class-conditional samples (a row per class) as a PNG."""
        path = out_dir / "samples.png"
        save_sample_grid(model.eval(), path, steps=self.config.sample_steps)
        model.train()
        return [path]


def sample_grid(model: REEDModel, per_class: int = 8, steps: int = 20, seed: int = 0) -> Any:
    """A (10 * 8) x (per_class * 8) array in [0, 1] of samples, one row per class (for reports)."""
    y = torch.arange(10).repeat_interleave(per_class)
    x = sample_digits(model.dit, y, steps, torch.Generator().manual_seed(seed)).clamp(-1, 1)
    grid = ((x + 1) / 2).reshape(10, per_class, 8, 8).permute(0, 2, 1, 3).reshape(80, per_class * 8)
    return grid.numpy()


def save_sample_grid(model: REEDModel, path: Path, per_class: int = 8, steps: int = 20) -> None:
    """The grid as a greyscale PNG, written atomically."""
    save_greyscale_png(sample_grid(model, per_class, steps), path)


SPEC = REED  # the spec lives torch-free in shared/methods/generative/specs.py (the registry's entry)
