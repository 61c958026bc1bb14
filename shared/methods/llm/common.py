"""What every method of the large-model family shares: the LM trainer and its evaluators (their config,
``LMConfig``, is torch-free in ``config.py``; ``specs.py`` names the evaluators for the specs).

A method of this family changes the decoder's attention or MLP block (``attention_block`` /
``mlp_block``), its loss (``loss``), or what is trainable (``build_model``); the data, the loop and the
measures stay the same, so methods are compared under one protocol. The trainer is a
:class:`~shared.method.GradientTrainer`, so the same ``build_model`` / ``batches`` / ``loss`` run as the plain
loop on one CPU and under Ray Train + DeepSpeed (``actors/distributed.py``) when the config asks for it.

Batches are ``(tokens, loss_mask, answer_mask)``: tokens (B, L); masks (B, L - 1) over the targets
``tokens[:, 1:]``. The loss is the loss-mask-weighted mean of the per-token cross-entropy.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator

import torch
from torch import nn

from shared.config import ConfigError
from shared.lm.data import LMData, LMSplit, is_task, load_lm_data, task_split
from shared.lm.model import GPT, MLP, BlockFactory, CausalSelfAttention, GPTConfig, token_losses
from shared.method import Evaluator, GradientTrainer
from shared.methods.llm.config import LMConfig  # torch-free (a driver validates it without torch); re-exported

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def weighted_mean(losses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum(w * l) / sum(w); 0 when no target is weighted (a batch with no answer tokens)."""
    return (losses * weights).sum() / weights.sum().clamp_min(1e-12)


class LMTrainer(GradientTrainer):
    """Next-token training of a GPT on an LM data set. Methods override the hooks below."""

    config: LMConfig
    data: LMData

    # -- hooks ----------------------------------------------------------------------------------
    def attention_block(self) -> BlockFactory:
        return CausalSelfAttention

    def mlp_block(self) -> BlockFactory:
        return MLP

    def token_loss_weights(self, batch: Batch, losses: torch.Tensor) -> torch.Tensor:
        """Weight of each target in the loss (B, L - 1); plain cross-entropy uses the data's loss mask."""
        return batch[1]

    # -- the contract ---------------------------------------------------------------------------
    def setup(self) -> None:
        self.data = load_lm_data(self.config.data, self.config.seed)
        cfg = self.config.model
        if self.data.seq_len - 1 > cfg.block_size:
            raise ConfigError(f"model.block_size={cfg.block_size} is shorter than the data's sequences "
                              f"({self.data.seq_len - 1} input tokens): raise model.block_size")
        self.model_config = GPTConfig(**{**cfg.__dict__, "vocab_size": cfg.vocab_size or self.data.vocab_size})

    def build_model(self) -> nn.Module:
        return GPT(self.model_config, attention=self.attention_block(), mlp=self.mlp_block())

    def steps_per_epoch(self) -> int:
        full = max(len(self.data.train) // self.config.batch_size, 1)
        return min(self.config.steps_per_epoch, full) if self.config.steps_per_epoch else full

    def batches(self) -> Iterator[Batch]:
        train, bs = self.data.train, self.config.batch_size
        if is_task(self.config.data) and self.config.data.fresh and self.epoch > 0:
            # New sequences every epoch (the first epoch uses the stored draw); drawn from the trainer's own
            # generator, so a resumed run draws the same ones.
            train = task_split(self.config.data, len(train), self.generator)
        order = torch.randperm(len(train), generator=self.generator)
        for step in range(self.steps_per_epoch()):
            idx = order[step * bs:(step + 1) * bs]
            yield train.tokens[idx], train.loss_mask[idx], train.answer_mask[idx]

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        tokens = batch[0]
        logits = self.model(tokens[:, :-1])
        losses = token_losses(logits, tokens[:, 1:])
        weights = self.token_loss_weights(batch, losses).detach()
        loss = weighted_mean(losses, weights)
        aux = self.model.aux_loss()
        parts = {"ce": float(weighted_mean(losses.detach(), batch[1]))}
        if isinstance(aux, torch.Tensor):
            parts["aux_loss"] = float(aux.detach())
            loss = loss + aux
        return loss, parts

    def batch_weight(self, batch: Batch) -> float:
        """What the loss's mean divides by: the loss-mask weight of the batch. The distributed path
        (shared/distributed.py) scales each rank's slice by it, so sharded training stays exact when slices hold
        different numbers of counted tokens. A method whose loss divides by something else overrides this."""
        return float(batch[1].sum())

    def artifact(self) -> nn.Module:
        return self.model


def split_batches(split: LMSplit, batch_size: int, limit: int = 0) -> Iterator[Batch]:
    n = len(split)
    for i, start in enumerate(range(0, n, batch_size)):
        if limit and i >= limit:
            return
        sl = slice(start, start + batch_size)
        yield split.tokens[sl], split.loss_mask[sl], split.answer_mask[sl]


@torch.no_grad()
def heldout_measures(model: nn.Module, split: LMSplit, batch_size: int = 64, limit: int = 0) -> dict[str, float]:
    """Mean next-token loss over every target, and loss and accuracy over the answer targets."""
    was_training = model.training
    model.eval()
    tot = tot_n = ans = ans_n = hits = 0.0
    for tokens, _, answers in split_batches(split, batch_size, limit):
        logits = model(tokens[:, :-1])
        targets = tokens[:, 1:]
        losses = token_losses(logits, targets)
        tot += float(losses.sum())
        tot_n += losses.numel()
        ans += float(losses[answers].sum())
        ans_n += int(answers.sum())
        hits += float((logits.argmax(-1) == targets)[answers].sum())
    model.train(was_training)
    nan = float("nan")
    return {"loss": tot / tot_n, "answer_loss": ans / ans_n if ans_n else nan,
            "recall_acc": hits / ans_n if ans_n else nan}


class HeldOutLM(Evaluator):
    """Held-out next-token loss and perplexity; on tasks with answers, the answer tokens' loss and accuracy
    (recall accuracy). Plain text has no answer tokens: those two are NaN there."""

    metrics = ("val_loss", "val_ppl", "test_loss", "test_ppl", "answer_loss", "recall_acc")

    def load_data(self) -> LMData:
        return load_lm_data(self.config.data, self.config.seed)

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        limit = self.config.eval_batches
        val = heldout_measures(artifact, self.data.val, limit=limit)
        test = heldout_measures(artifact, self.data.test, limit=limit)
        return {"val_loss": val["loss"], "val_ppl": math.exp(min(val["loss"], 50.0)), "test_loss": test["loss"],
                "test_ppl": math.exp(min(test["loss"], 50.0)), "answer_loss": test["answer_loss"],
                "recall_acc": test["recall_acc"]}


class Throughput(Evaluator):
    """Forward tokens per second of the trained model on held-out batches (eval mode, no gradient, the
    process's torch threads): the cost side of the efficiency studies. Median of 3 timed passes."""

    metrics = ("tokens_per_s",)

    def load_data(self) -> LMData:
        return load_lm_data(self.config.data, self.config.seed)

    @torch.no_grad()
    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        was_training = artifact.training
        artifact.eval()
        tokens = self.data.val.tokens[: min(len(self.data.val), 32), :-1]
        artifact(tokens)  # warm-up
        times = []
        for _ in range(3):
            start = time.perf_counter()
            artifact(tokens)
            times.append(time.perf_counter() - start)
        artifact.train(was_training)
        return {"tokens_per_s": tokens.numel() / sorted(times)[1]}
