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

import torch

from shared.config import ConfigError
from shared.lm.longppl import longce_weights, short_context_losses
from shared.lm.model import token_losses
from shared.methods.llm.common import Batch, LMTrainer, weighted_mean
from shared.methods.llm.config import LongCEConfig, LongCESettings  # noqa: F401  (torch-free; re-exported)
from shared.methods.llm.specs import LONGCE as SPEC  # noqa: F401  (the registry's, torch-free)


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
