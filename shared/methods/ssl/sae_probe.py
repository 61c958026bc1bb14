"""SAE probing, the post-hoc half of "Beyond Interpretability: The Gains of Feature Monosemanticity on Model
Robustness" (Zhang et al., arXiv 2410.21331): a top-k sparse autoencoder trained on the frozen projections
of a SimCLR encoder; its latents are probed instead of the raw projections.

    x = normalize(g(f(image)))                    (frozen)
    a = ReLU(TopK_k(W_enc (x - b_pre) + b_lat)),  x_hat = W_dec a + b_pre        (shared/models/sae.py)
    L_sae = mean_i ||x_hat_i - x_i||^2 / ||x_i||^2

One run has two phases, so that it resumes and reports like any other method: the first ``encoder_epochs``
epochs train the SimCLR encoder exactly as the `simclr` method does (same seed, same draws: the `simclr`
run with the same settings has the same encoder); the remaining epochs train the SAE on the frozen
projections of un-augmented train images with its own Adam. The artifact's projection space is the SAE
code, which the probes read with ``eval.feature: projection``.

Official defaults: width 2048 = input dimension, k = 256 (1/8), untied, decoder lr 0.3 under LARS.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shared.methods.ssl.common import EncoderArtifact, SimCLRTrainer, to_float
from shared.methods.ssl.config import SAEProbeConfig  # torch-free, for the driver
from shared.methods.ssl.specs import SAE_PROBE as SPEC  # noqa: F401  (the registry's entry; torch-free)
from shared.models.sae import TopKSAE, normalized_mse


class SAEEncoder(nn.Module):
    """A frozen SSL model followed by the SAE: forward -> (h, SAE code of normalize(z))."""

    def __init__(self, model: nn.Module, sae: TopKSAE) -> None:
        super().__init__()
        self.model, self.sae = model, sae

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, z = self.model(x)
        return h, self.sae.encode(F.normalize(z, dim=1))


class SAEProbeTrainer(SimCLRTrainer):
    config: SAEProbeConfig

    def setup(self) -> None:
        super().setup()
        # Built from its own generator so that the encoder phase draws exactly what `simclr` draws.
        cfg = self.config
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed + 1)
            self.sae = TopKSAE(cfg.model.proj_dim, cfg.sae_width, cfg.sae_k, tied=cfg.sae_tied)
        self.sae_optimizer = torch.optim.Adam(self.sae.parameters(), lr=cfg.sae_lr)
        self._inputs: torch.Tensor | None = None

    def fit_epoch(self) -> dict[str, float]:
        if self.epoch < self.config.encoder_epochs:
            return super().fit_epoch()
        return self._sae_epoch()

    @torch.no_grad()
    def _frozen_inputs(self) -> torch.Tensor:
        if self._inputs is None:
            artifact = EncoderArtifact(self.model, self.augment)
            self._inputs = artifact.embed(to_float(self.data.train.images), "projection", normalized=True)
        return self._inputs

    def _sae_epoch(self) -> dict[str, float]:
        x = self._frozen_inputs()
        b = self.config.sae_batch_size
        total, steps = 0.0, 0
        for _ in range(self.config.sae_passes):
            order = torch.randperm(x.shape[0], generator=self.generator)
            for start in range(0, x.shape[0] - b + 1, b):
                batch = x[order[start : start + b]]
                _, reconstruction = self.sae(batch)
                loss = normalized_mse(reconstruction, batch)
                self.sae_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.sae_optimizer.step()
                total, steps = total + loss.item(), steps + 1
        self.epoch += 1
        return {"loss": total / max(steps, 1), "sae_nmse": total / max(steps, 1)}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "sae": self.sae.state_dict(), "sae_optimizer": self.sae_optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.sae.load_state_dict(state["sae"])
        self.sae_optimizer.load_state_dict(state["sae_optimizer"])
        self._inputs = None

    def load_prefix_state(self, state: Mapping[str, Any]) -> None:
        """The final state of the `simclr` run ``config.prefix_run()`` names: the SAE starts from its initialisation."""
        super().load_state_dict(state)
        self._inputs = None

    def artifact(self) -> Any:
        if self.epoch <= self.config.encoder_epochs:  # no SAE yet: the raw projections
            return EncoderArtifact(self.model, self.augment)
        return EncoderArtifact(SAEEncoder(self.model, self.sae), self.augment)
