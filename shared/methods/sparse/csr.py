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

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from shared.config import bounded
from shared.method import Measure, MethodSpec, Resources
from shared.methods.sparse.common import SPARSE_EVALUATORS, Coder, EmbeddingHeadTrainer, SparseHeadConfig
from shared.models.sae import normalized_mse
from shared.sparse.losses import inbatch_infonce
from shared.sparse.sae import SAEOutput, TiedTopKSAE


@dataclass
class CSRConfig(SparseHeadConfig):
    hidden: int = bounded(0, ge=0, help="latents; 0 = 4 x the embedding dimension")
    auxk: int = bounded(0, ge=0, help="dead latents that reconstruct the residual; 0 = hidden / 2")
    auxk_coef: float = bounded(1 / 32, ge=0.0)
    dead_threshold: int = bounded(30, ge=0, help="steps without firing after which a latent is dead")
    multi_topk_coef: float = bounded(1 / 8, ge=0.0, help="weight of the top-4k reconstruction")
    cl_coef: float = bounded(0.1, ge=0.0, help="weight of the contrastive term; 0 = the plain SAE")
    temperature: float = bounded(0.2, gt=0.0)
    recon: str = bounded("nmse", choices=("nmse", "mse"),
                         help="reconstruction loss: per-sample normalised MSE, or the official plain MSE (mean over "
                              "elements)")


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


SPEC = MethodSpec(
    name="csr",
    paper="Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation (CSR, ICML 2025)",
    family="sparse",
    config=CSRConfig,
    trainer=CSRTrainer,
    evaluators=SPARSE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("nn_acc"), Measure("ndcg_at_10"), Measure("dead_fraction", "min")),
    compare=("k",),
    description="tied top-k SAE on frozen embeddings + multi-top-k + AuxK + in-batch contrastive term",
)
