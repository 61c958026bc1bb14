"""LongCE: the long-context cross-entropy of "What is Wrong with Perplexity for Long-context Language Modeling?"
(Fang et al., ICLR 2025), Eq. 8; official ``finetune/finetune.py`` (``loss_weight``).

Plain cross-entropy weighs every token alike, and most tokens need no long context. LongCE weighs each token by
how much the long context helps the model being trained, right now:

    L_LongCE = mean_i  w_i * l_full(i),     w_i = min(exp(l_short(i) - l_full(i)), gamma),   gamma = 5,

where l_full is the loss with the whole sequence (one forward with gradient) and l_short the loss with a
truncated context, from sliding short windows of ``trunc_len + sliding_window`` tokens under ``no_grad``
(:func:`shared.lm.longppl.short_context_losses`). The first ``trunc_len`` tokens have no short loss and weight
1; the weights carry no gradient, and they are not normalised: tokens the long context does not help keep weights
near (or below) 1, so LongCE with gamma = 1 is still not cross-entropy; plain cross-entropy is the ``gpt`` method.
The mean runs over the data's loss-mask targets, as ``torch.mean(loss * weight)`` does over every token in the
official code. Cost per step: one forward and backward plus ceil((L - trunc_len) / sliding_window) no-grad window
forwards (batched by window length).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from shared.config import ConfigError, bounded
from shared.lm.longppl import GAMMA, longce_weights, short_context_losses
from shared.lm.model import token_losses
from shared.method import Measure, MethodSpec, Resources
from shared.methods.llm.common import LM_EVALUATORS, Batch, LMConfig, LMTrainer, weighted_mean


@dataclass
class LongCESettings:
    trunc_len: int = bounded(16, ge=1, help="short context: tokens before the scored window (official 4096)")
    sliding_window: int = bounded(8, ge=1, help="tokens scored per short window (official 1024)")
    gamma: float = bounded(GAMMA, gt=0.0, help="cap on the weights (official --threshold 5)")


@dataclass
class LongCEConfig(LMConfig):
    longce: LongCESettings = field(default_factory=LongCESettings)

    def check(self) -> None:
        super().check()
        span = self.longce.trunc_len + self.longce.sliding_window
        if span - 1 > self.model.block_size:
            raise ConfigError(f"longce.trunc_len + longce.sliding_window ({span}) exceeds model.block_size + 1 "
                              f"({self.model.block_size + 1}): a short window must fit the model")


class LongCETrainer(LMTrainer):
    config: LongCEConfig

    def setup(self) -> None:
        super().setup()
        if self.config.longce.trunc_len >= self.data.seq_len:
            raise ConfigError(f"longce.trunc_len ({self.config.longce.trunc_len}) must be shorter than the data's "
                              f"sequences ({self.data.seq_len} tokens): otherwise no token has a short context and "
                              "LongCE is plain cross-entropy")

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        tokens, mask = batch[0], batch[1]
        s = self.config.longce
        # Short windows first: a block that records an auxiliary loss (MoE balance) keeps the full forward's.
        short = short_context_losses(self.model, tokens, s.trunc_len, s.sliding_window)
        losses = token_losses(self.model(tokens[:, :-1]), tokens[:, 1:])
        weights = longce_weights(losses, short, s.gamma)
        loss = (losses * weights * mask).sum() / mask.sum().clamp_min(1.0)
        scored = mask.bool() & ~torch.isnan(short)
        parts = {"ce": float(weighted_mean(losses.detach(), mask)),
                 "longce_weight": float(weights[scored].mean()) if scored.any() else 1.0,
                 "longce_capped": float((weights[scored] >= s.gamma).float().mean()) if scored.any() else 0.0}
        aux = self.model.aux_loss()
        if isinstance(aux, torch.Tensor):
            parts["aux_loss"] = float(aux)
            loss = loss + aux
        return loss, parts


SPEC = MethodSpec(
    name="longce",
    paper="What is Wrong with Perplexity for Long-context Language Modeling? (Fang et al., ICLR 2025): LongCE",
    family="llm",
    config=LongCEConfig,
    trainer=LongCETrainer,
    evaluators=LM_EVALUATORS,
    resources=Resources(cpu=1, distributed="deepspeed"),
    headline=(Measure("answer_loss", "min"), Measure("recall_acc"), Measure("longppl", "min")),
    compare=("longce.gamma",),
    description="cross-entropy weighted by min(exp(l_short - l_full), gamma) from the model being trained",
)
