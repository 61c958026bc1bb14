"""CSRv2: "CSRv2: Unlocking Ultra-Sparse Embeddings" (Guo, Wang, Wen, ..., Jegelka, You; ICLR 2026, arXiv
2602.05735). CSR (``csr.py``) with two changes (official ``Y-Research-SBU/CSRv2: text/CSR_training.py``):

1. k annealed over global steps: k_t = round((1 - p) k_init + p k), p = min(1, t / (0.7 T)); k_init clipped to
   [k, hidden / 4]; the multi-top-k term uses 4 k_t. ``k_init: 0`` trains at k directly (the ablation).
2. ``supervised_cl``: the supervised contrastive loss with the sum inside the log,
   -log sum_{same label} e^{s/tau} / sum_{a != i} e^{s/tau}, in place of in-batch InfoNCE.

Not ported: LoRA fine-tuning of the multi-billion-parameter backbone (out of CPU scope).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from shared.config import bounded
from shared.method import Measure, MethodSpec, Resources
from shared.methods.sparse.common import SPARSE_EVALUATORS
from shared.methods.sparse.csr import CSRConfig, CSRTrainer
from shared.sparse.losses import annealed_k, clipped_k_init, supcon_sum_inside_log


@dataclass
class CSRv2Config(CSRConfig):
    k_init: int = bounded(64, ge=0, help="k at step 0, annealed to k; 0 = no annealing")
    k_decay_ratio: float = bounded(0.7, gt=0.0, le=1.0, help="share of the steps over which k anneals")
    supervised_cl: bool = bounded(True, help="SupCon (sum inside the log) on labels instead of in-batch InfoNCE")


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
            return supcon_sum_inside_log(code, labels, self.config.temperature)
        return super().contrastive(code, labels)


SPEC = MethodSpec(
    name="csr_v2",
    paper="CSRv2: Unlocking Ultra-Sparse Embeddings (ICLR 2026)",
    family="sparse",
    config=CSRv2Config,
    trainer=CSRv2Trainer,
    evaluators=SPARSE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("nn_acc"), Measure("ndcg_at_10"), Measure("dead_fraction", "min")),
    compare=("k",),
    description="CSR with k annealed over global steps and the supervised sum-inside-log contrastive term",
)
