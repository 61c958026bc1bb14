"""longppl: the key-token finder of "What is Wrong with Perplexity for Long-context Language Modeling?" (Fang et
al., ICLR 2025, Eq. 4-7; official ``longppl/longppl.py``) as a tool.

It trains the **evaluator** (a small dense decoder, plain cross-entropy) on a data set and reports what it finds
on the test split: key tokens are those with LSD = l_short - l_full > alpha and LCL = -l_full > beta, with
l_short from sliding short windows of ``trunc_len + sliding_window`` tokens (:mod:`shared.lm.longppl`). On a
long-dependency data set (``long_recall``) the ground truth is known, so the tool reports the key tokens'
precision and recall against the answer tokens, and the evaluator's own LongPPL next to its perplexity.

Its default configuration is also the reference evaluator of the ``longppl`` measure that every LM method reports
on long-dependency data (:mod:`shared.methods.llm.longppl_eval`).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from shared.config import ConfigError
from shared.lm.model import token_losses
from shared.method import Evaluator
from shared.methods.llm.common import Batch, LMTrainer, weighted_mean
from shared.methods.llm.config import LongPPLToolConfig  # torch-free; re-exported
from shared.methods.llm.longppl_eval import detect_key_tokens, detection_scores, longppl
from shared.methods.llm.specs import LONGPPL as SPEC  # noqa: F401  (the registry's, torch-free)


class EvaluatorTrainer(LMTrainer):
    """Trains the evaluator model with plain cross-entropy on whole sequences and, with weight ``longppl.crops``,
    on random crops of ``trunc_len + sliding_window`` tokens. The paper's evaluators are LLMs pretrained on
    documents of every length, so a truncated context is a normal input for them; a tiny model trained only on
    whole generated sequences meets its first truncated one at evaluation, and errs there on tokens that need no
    long context (without crops, 0.5 false key tokens per true one, measured)."""

    config: LongPPLToolConfig

    def setup(self) -> None:
        super().setup()
        if self.config.longppl.trunc_len >= self.data.seq_len:
            raise ConfigError(f"longppl.trunc_len ({self.config.longppl.trunc_len}) must be shorter than the data's "
                              f"sequences ({self.data.seq_len} tokens): otherwise no token has a short context")

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        loss, parts = super().loss(batch)
        share = self.config.longppl.crops
        if not share:
            return loss, parts
        tokens, mask = batch[0], batch[1]
        span = min(self.config.longppl.trunc_len + self.config.longppl.sliding_window, tokens.shape[1])
        starts = torch.randint(0, tokens.shape[1] - span + 1, (tokens.shape[0], 1), generator=self.generator)
        idx = starts + torch.arange(span)
        crops, crop_mask = tokens.gather(1, idx), mask.gather(1, idx[:, :-1])
        crop_loss = weighted_mean(token_losses(self.model(crops[:, :-1]), crops[:, 1:]), crop_mask)
        parts["crop_ce"] = float(crop_loss.detach())
        return (1 - share) * loss + share * crop_loss, parts


class KeyTokens(Evaluator):
    """On the test split, with the trained evaluator: ``key_tokens`` per sequence, ``key_precision`` and
    ``key_recall`` against the ground-truth long-dependency tokens (the answers; NaN on plain text),
    ``self_longppl`` and ``self_ppl`` (the evaluator's own LongPPL and perplexity) and ``mean_lsd_key`` (mean
    l_short - l_full over the key tokens)."""

    metrics = ("key_tokens", "key_precision", "key_recall", "self_longppl", "self_ppl", "mean_lsd_key")

    def load_data(self):
        from shared.lm.data import load_lm_data

        return load_lm_data(self.config.data, self.config.seed)

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        split = self.data.test
        found = detect_key_tokens(artifact, split, self.config.longppl)
        key, full, short = found["key"], found["full"], found["short"]
        scores = detection_scores(key, split.answer_mask)
        lsd = (short - full)[key]
        return {**scores, "self_longppl": longppl(full, key), "self_ppl": math.exp(float(full.double().mean())),
                "mean_lsd_key": float(lsd.mean()) if len(lsd) else math.nan}
