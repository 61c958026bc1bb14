"""CSR: "Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation" (Wen, Wang, ..., Jegelka, You;
ICML 2025, arXiv 2503.01776). A tied top-k sparse autoencoder on frozen embeddings (``shared/sparse/sae.py``):

    L = nmse(x, x_hat_k) + 1/8 nmse(x, x_hat_4k) + auxk_coef * L_aux + cl_coef * L_CL

L_CL is in-batch InfoNCE (tau 0.2) on the sparse codes of two "views" that, as in the official code, are the same
input passed through the deterministic encoder twice: the positive similarity is 1 and the term repels the codes
of different samples. Departures: reconstruction is the per-sample normalised MSE of the top-k SAE code CSR
builds on (``recon: mse``: the official plain MSE, which CSRv2's config uses); hidden = 4 x input dimension and
auxk = hidden / 2 by default (official: auxk 512 of 8192).
``cl_coef: 0`` is the SAE without the contrastive term, ``auxk_coef: 0`` the SAE without dead-latent revival.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shared.methods.sparse.common import Coder, EmbeddingHeadTrainer
from shared.methods.sparse.config import CSRConfig  # torch-free; re-exported
from shared.methods.sparse.specs import CSR
from shared.models.sae import normalized_mse
from shared.sparse.losses import inbatch_infonce
from shared.sparse.sae import SAEOutput, TiedTopKSAE


class SAECoder(Coder):
    def __init__(self, sae: TiedTopKSAE, k: int) -> None:
        super().__init__()
        self.sae, self.k = sae, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sae.encode(x, self.k)


class CSRTrainer(EmbeddingHeadTrainer):
    config: CSRConfig

    def build_model(self) -> nn.Module:
        hidden = self.config.hidden or 4 * self.data.dim
        return TiedTopKSAE(self.data.dim, hidden, self.config.dead_threshold)

    def current_k(self) -> int:
        return self.config.k

    def contrastive(self, code: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return inbatch_infonce(code, code, self.config.temperature)  # identical views, as the official code

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, sae = self.config, self.model
        x, labels = batch
        k = self.current_k()
        out = sae(x, k)
        error = normalized_mse if cfg.recon == "nmse" else F.mse_loss
        recon, multi = error(out.recon, x), error(out.recon_multi, x)
        total = recon + cfg.multi_topk_coef * multi
        parts = {"recon": recon.item(), "k": float(k)}
        if cfg.auxk_coef:
            aux = sae.auxk_loss(x, out, cfg.auxk or sae.hidden // 2)
            total, parts["auxk"] = total + cfg.auxk_coef * aux, aux.item()
        if cfg.cl_coef:
            cl = self.contrastive(out.code, labels)
            total, parts["cl"] = total + cfg.cl_coef * cl, cl.item()
        self.record_firing(out, k)
        parts["dead_now"] = sae.dead_mask().float().mean().item()
        return total, parts

    def record_firing(self, out: SAEOutput, k: int) -> None:
        """Advance the idle counters of AuxK's dead mask by one training step."""
        self.model.update_idle(out.code)

    def artifact(self) -> SAECoder:
        return SAECoder(self.model, self.config.k)


SPEC = CSR  # the spec lives torch-free in shared/methods/sparse/specs.py (the registry's entry)
