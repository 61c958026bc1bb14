"""SFA: Sparse Feature Attention, "Scaling Attention via Feature Sparsity" (Xie et al., ICLR 2026, arXiv 2603.22300).

Every head of the decoder keeps, in each query and key row, the ``sfa.k`` coordinates of largest magnitude
(``q~ = Topk_k(q)``, ``k~ = Topk_k(k)``; V stays dense), and attends with the exact softmax of
``q~ k~^T / sqrt(d)`` under the usual causal mask: the scores sum only over coordinates active in both rows,
``s_ij = (1/sqrt d) sum_{u in S_i cap T_j} q~_iu k~_ju`` (the paper's sparse score). The top-k choice gets no
gradient; q and k get the straight-through one, ``dL/dq = dL/dq~`` on the support and 0 off it (``x * mask``).
``sfa.k = 0`` keeps the whole head: dense attention exactly.

Options: ``sfa.topk_at`` (after_rope: sparsify the q, k that enter the product, the default; before_rope: before
the rotary embedding, which then spreads each kept coordinate over its pair; with learned positions, which are
added to the input, the two are the same); ``sfa.kernel`` (reference: SDPA on the masked q~, k~; overlap: the
shared-coordinate products only, full score matrix; tiled: the same per tile with an online softmax, as FlashSFA
does; all three compute the same function, see ``shared/lm/sparse_attention.py``); ``sfa.distill_lambda``: the
paper's conversion loss (README "Eq. 8") ``lambda (1/H) sum_h ||O~_h - stopgrad(O_h)||^2`` between each layer's
sparse head outputs and the same layer's dense ones, per token (mean over batch and positions), summed over
layers; ``sfa.dense_epochs``: the first epochs train dense attention (a dense model to convert), then SFA.

Measures: the LM evaluators, plus :class:`SFACost`: counted score multiply-adds against dense on the test split
(``score_flop_ratio``, the model's real supports; ``score_flop_ratio_iid = (k/d)^2``, i.i.d. supports) and the
KV-cache bytes ratio (fp16 values, int16 coordinate ids).
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn

from shared.config import ConfigError
from shared.lm.data import LMData, load_lm_data
from shared.lm.model import BlockFactory, CausalSelfAttention, GPTConfig, rope
from shared.lm.sparse_attention import (
    dense_count,
    interaction_count,
    kv_cache_bytes,
    overlap_attention,
    sparsify,
    tiled_overlap_attention,
)
from shared.method import Evaluator
from shared.methods.llm.common import Batch, LMTrainer, split_batches
from shared.methods.llm.config import SFAConfig, SFAParams  # torch-free; re-exported
from shared.methods.llm.specs import SFA as SPEC  # noqa: F401  (the registry's, torch-free)


class SFAAttention(CausalSelfAttention):
    """Causal self-attention whose q and k keep their top-k coordinates per row (see the module docstring).
    ``dense`` switches sparsification off (the conversion's dense phase); ``record`` keeps the supports of the
    last forward (``last_supports``) for the cost counts."""

    def __init__(self, cfg: GPTConfig, layer: int, params: SFAParams) -> None:
        super().__init__(cfg, layer)
        self.params = params
        self.k_active = params.k or cfg.qk_head
        self.dense = False
        self.record = False
        self.last_supports: tuple[torch.Tensor, torch.Tensor] | None = None
        self.aux_loss: torch.Tensor | None = None
        self._dense_qk: tuple[torch.Tensor, torch.Tensor] | None = None

    def _rope_after_topk(self) -> bool:
        return self.cfg.pos == "rope" and self.params.topk_at == "before_rope"

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not self._rope_after_topk():
            return super().project(x)
        b, t, _ = x.shape  # the base projection without its rotary embedding: transform_qk applies it after top-k
        h = self.cfg.n_head
        return tuple(lin(x).view(b, t, h, -1).transpose(1, 2) for lin in (self.q, self.k, self.v))

    def transform_qk(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        late_rope = self._rope_after_topk()
        dense_q, dense_k = (rope(q), rope(k)) if late_rope else (q, k)
        if self.dense:
            qs, ks = dense_q, dense_k
        else:
            qs, ks = sparsify(q, self.k_active), sparsify(k, self.k_active)
            if late_rope:
                qs, ks = rope(qs), rope(ks)
        distill = self.training and self.params.distill_lambda > 0 and not self.dense
        self._dense_qk = (dense_q, dense_k) if distill else None
        if self.record:
            self.last_supports = (qs.detach() != 0, ks.detach() != 0)
        return qs, ks

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        kernel = "reference" if self.dense else self.params.kernel
        if kernel == "reference":
            y = super().attend(q, k, v, mask)
        elif mask is not None:
            raise ConfigError("sfa.kernel=overlap|tiled supports plain causal attention only")
        elif kernel == "overlap":
            y = overlap_attention(q, k, v, causal=True)
        else:
            y = tiled_overlap_attention(q, k, v, causal=True, block=self.params.block)
        self.aux_loss = None
        if self._dense_qk is not None:
            with torch.no_grad():  # stopgrad(O_h): the same layer's dense attention output
                target = super().attend(*self._dense_qk, v, mask)
            # (1/H) sum_h ||O~_h - O_h||^2, per token: sum over the value dimension, mean over batch, heads, positions
            self.aux_loss = self.params.distill_lambda * (y - target).pow(2).sum(-1).mean()
            self._dense_qk = None
        return y


def sfa_modules(model: nn.Module) -> list[SFAAttention]:
    return [m for m in model.modules() if isinstance(m, SFAAttention)]


class SFATrainer(LMTrainer):
    """The LM trainer with SFA attention in every layer; the distillation term reaches the loss through the
    decoder's ``aux_loss`` (logged as ``aux_loss``)."""

    config: SFAConfig

    def attention_block(self) -> BlockFactory:
        return partial(SFAAttention, params=self.config.sfa)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        # The phase is set here, not in fit_epoch: the distributed loop calls batches() and loss() only.
        dense = self.epoch < self.config.sfa.dense_epochs
        for module in sfa_modules(self.model):
            module.dense = dense
        return super().loss(batch)


@torch.no_grad()
def sfa_cost(model: nn.Module, tokens: torch.Tensor, batch_size: int = 64) -> tuple[int, int]:
    """(E, dense count) of the score multiply-adds of every SFA layer and head over ``tokens`` (N, L), from the
    supports the model really picks (causal)."""
    modules = sfa_modules(model)
    was_training = model.training
    model.eval()
    sparse = dense = 0
    try:
        for m in modules:
            m.record = True
        for start in range(0, len(tokens), batch_size):
            model(tokens[start:start + batch_size])
            for m in modules:
                qm, km = m.last_supports
                b, h, t, d = qm.shape
                sparse += interaction_count(qm, km, causal=True)
                dense += dense_count(t, d, causal=True, heads=b * h)
    finally:
        for m in modules:
            m.record, m.last_supports = False, None
        model.train(was_training)
    return sparse, dense


class SFACost(Evaluator):
    """``score_flop_ratio``: counted score multiply-adds E / dense ``n (n + 1) / 2 * d`` (causal) over the test
    split's sequences, every layer and head; ``score_flop_ratio_iid``: (k/d)^2, what i.i.d. uniform supports give
    (a trained model's supports are not uniform: coordinates used by many tokens make E larger);
    ``kv_bytes_ratio``: KV-cache bytes per token against dense (fp16 values, int16 coordinate ids)."""

    metrics = ("score_flop_ratio", "score_flop_ratio_iid", "kv_bytes_ratio")

    def load_data(self) -> LMData:
        return load_lm_data(self.config.data, self.config.seed)

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        model_cfg = artifact.cfg
        d, dv = model_cfg.qk_head, model_cfg.v_head
        k = self.config.sfa.k  # 0: dense attention, whose cache is the dense one
        limit = self.config.eval_batches
        tokens = torch.cat([batch[0][:, :-1] for batch in split_batches(self.data.test, 64, limit)])
        sparse, dense = sfa_cost(artifact, tokens)
        return {"score_flop_ratio": sparse / dense, "score_flop_ratio_iid": ((k or d) / d) ** 2,
                "kv_bytes_ratio": kv_cache_bytes(d, dv, k or None) / kv_cache_bytes(d, dv)}
