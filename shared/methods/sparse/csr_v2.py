"""CSRv2: "CSRv2: Unlocking Ultra-Sparse Embeddings" (Guo, Wang, Wen, ..., Jegelka, You; ICLR 2026, arXiv
2602.05735). CSR (``csr.py``) with two changes (official ``Y-Research-SBU/CSRv2: text/CSR_training.py``):

1. k annealed linearly over global steps: k_t = round((1 - p) k_init + p k), p = t / floor(0.7 T), k from step
   floor(0.7 T) on; k_init clipped to [k, hidden / 4]; the multi-top-k term uses 4 k_t. ``k_init: 0`` trains at k
   directly (the ablation).
2. ``supervised_cl``: the supervised contrastive loss with the sum inside the log,
   -log sum_{same label} e^{s/tau} / sum_{a != i} e^{s/tau}, in place of in-batch InfoNCE, over the codes of
   two identical views as the official loop calls it (each anchor's own copy is a positive).

As the official loop, AuxK's idle counters (``stats_last_nonzero``) advance once per top-k pass, not once per
step: the k pass, the 4k pass and, with the contrastive term, the second k view (``idle_per_pass``); a latent in
the top 4k is alive, and dead_threshold 30 is 10 steps. Not ported: LoRA fine-tuning of the multi-billion-parameter
backbone (out of CPU scope).
"""
from __future__ import annotations

import torch

from shared.methods.sparse.config import CSRv2Config  # torch-free; re-exported
from shared.methods.sparse.csr import CSRTrainer
from shared.methods.sparse.specs import CSR_V2
from shared.sparse.losses import annealed_k, clipped_k_init, supcon_two_views
from shared.sparse.sae import SAEOutput, topk_relu


class CSRv2Trainer(CSRTrainer):
    config: CSRv2Config

    def current_k(self) -> int:
        cfg = self.config
        if not cfg.k_init:
            return cfg.k
        k_init = clipped_k_init(cfg.k_init, cfg.k, self.model.hidden)
        total = cfg.epochs * self.steps_per_epoch()
        return annealed_k(self.global_step, total, k_init, cfg.k, cfg.k_decay_ratio)

    def contrastive(self, code: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.config.supervised_cl:
            return supcon_two_views(code, labels, self.config.temperature)
        return super().contrastive(code, labels)

    def record_firing(self, out: SAEOutput, k: int) -> None:
        if not self.config.idle_per_pass:
            return super().record_firing(out, k)
        sae = self.model
        sae.update_idle(out.code)
        sae.update_idle(topk_relu(out.pre.detach(), 4 * k))
        if self.config.cl_coef:
            sae.update_idle(out.code)


SPEC = CSR_V2  # the spec lives torch-free in shared/methods/sparse/specs.py (the registry's entry)
