"""SeqTopK: "Route Experts by Sequence, not by Token" (arXiv 2511.06494).

The decoder's dense MLPs become mixtures of E experts (:class:`shared.lm.moe.MoE`). TopK routing gives every
token its K best experts; SeqTopK takes the top T*K router scores over the whole sequence,
``Omega = argtop_{T K} {G_{t,e}}``, so each token t gets ``K_t = |{e : (t, e) in Omega}|`` experts with
``sum_t K_t = T K`` (the same expert-token budget as TopK) and bounds per token; ``seqtopk_online`` is the
causal variant for decoding (top-(t+1)K over rows <= t, past allocations fixed). TopK is this method with
``moe.routing=topk``: same experts, router, gates, data and loop, so the comparison is fair by construction.

Training and evaluation: ``seqtopk`` trains with offline routing over the whole teacher-forced sequence (the paper
fine-tunes with SeqTopK over full sequences and decodes with the online expert cache, prefilling a known prompt
offline). Offline routing is not causal: a later token can take a slot from an earlier one and so change earlier
logits. Every loss is therefore evaluated with causal routing (:func:`causal_routing`: ``seqtopk`` layers route as
``seqtopk_online``, which equals decoding token by token with the expert cache), so no target's prediction reads
the future; ``answer_loss_offline`` keeps the non-causal reading for comparison. K_t (where the experts go) is
measured under the training routing: it describes the router, it predicts nothing.

Measures: the LM evaluators, plus where the experts go (:class:`RoutingMeasures`): mean K_t on hard, easy and
other targets (the ``easy_hard`` task marks them), the spread of K_t, slot conservation and prefix overspend.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import torch
from torch import nn

from shared.lm.data import LMData, LMSplit, load_lm_data
from shared.lm.easy_hard import EASY, HARD, OTHER, target_kinds
from shared.lm.model import BlockFactory, token_losses
from shared.lm.moe import moe_factory, moe_layers
from shared.method import Evaluator
from shared.methods.llm.common import HeldOutLM, LMConfig, LMTrainer, heldout_measures, split_batches
from shared.methods.llm.config import SeqTopKConfig  # torch-free; re-exported
from shared.methods.llm.longppl_eval import LongPPLEval
from shared.methods.llm.specs import SEQTOPK as SPEC  # noqa: F401  (the registry's, torch-free)


class SeqTopKTrainer(LMTrainer):
    """The LM trainer with an MoE in place of every MLP; the load-balancing term (``moe.aux_weight``) enters the
    loss through the decoder's ``aux_loss``."""

    config: SeqTopKConfig

    def mlp_block(self) -> BlockFactory:
        return moe_factory(self.config.moe)


def target_kind_mask(config: LMConfig, split: LMSplit) -> torch.Tensor:
    """(N, L - 1) kind of every target: the easy_hard task's own kinds; other data: answers are hard, the rest other
    (no target is known to be easy)."""
    data = config.data
    if data.name == "easy_hard":
        return target_kinds(split.tokens, data.n_queries, data.n_values)
    return torch.where(split.answer_mask, HARD, OTHER)


@contextmanager
def causal_routing(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block, every offline ``seqtopk`` layer of ``model`` routes online (``seqtopk_online``: token t's
    experts come from the top-((t+1) K) over rows <= t), so a teacher-forced forward is causal and equals decoding
    with the expert cache; ``topk`` and ``seqtopk_online`` layers are causal already and stay as they are."""
    layers = [layer for layer in moe_layers(model) if layer.cfg.routing == "seqtopk"]
    trained = [layer.cfg for layer in layers]
    for layer in layers:
        layer.cfg = replace(layer.cfg, routing="seqtopk_online")
    try:
        yield model
    finally:
        for layer, cfg in zip(layers, trained, strict=True):
            layer.cfg = cfg


@torch.no_grad()
def routing_records(model: nn.Module, split: LMSplit, batch_size: int = 64,
                    limit: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """K_t of every MoE layer (layers, N, L - 1) under the training routing, and the per-target loss (N, L - 1)
    under causal routing, on a held-out split."""
    was_training = model.training
    model.eval()
    counts, losses = [], []
    for tokens, _, _ in split_batches(split, batch_size, limit):
        model(tokens[:, :-1])
        counts.append(torch.stack([layer.last_counts for layer in moe_layers(model)]))
        with causal_routing(model):
            losses.append(token_losses(model(tokens[:, :-1]), tokens[:, 1:]))
    model.train(was_training)
    return torch.cat(counts, 1), torch.cat(losses)


class CausalHeldOutLM(HeldOutLM):
    """The held-out losses under causal routing (:func:`causal_routing`), plus ``answer_loss_offline``: the answer
    loss with the training routing, which lets later tokens change earlier logits (reported, not a measure of the
    model: a prediction that read its future)."""

    metrics = (*HeldOutLM.metrics, "answer_loss_offline")

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        offline = heldout_measures(artifact, self.data.test, limit=self.config.eval_batches)["answer_loss"]
        with causal_routing(artifact):
            return {**super().evaluate(artifact), "answer_loss_offline": offline}


class CausalLongPPL(LongPPLEval):
    """LongPPL of the model under causal routing."""

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        with causal_routing(artifact):
            return super().evaluate(artifact)


def expert_histogram(counts: torch.Tensor) -> dict[int, float]:
    """Share of (layer, token) positions that use each number of experts."""
    values, freq = torch.unique(counts, return_counts=True)
    return {int(v): float(f) / counts.numel() for v, f in zip(values, freq, strict=True)}


def _mean_where(x: torch.Tensor, mask: torch.Tensor) -> float:
    return float(x[mask].float().mean()) if mask.any() else math.nan


class RoutingMeasures(Evaluator):
    """Where the experts go on the test split. ``experts_{hard,easy,other}``: mean K_t (over layers) at the positions
    that predict a hard / easy / other target, and ``experts_{hard,easy}_last`` in the last MoE layer alone;
    ``{easy,other}_loss``: the loss there under causal routing (the hard loss is
    CausalHeldOutLM's ``answer_loss``); ``loss_experts_corr``: Pearson correlation of a target's loss with its K_t;
    ``kt_*``: the distribution of K_t over (layer, token); ``slot_error``: largest |sum_t K_t - T K| of a sequence
    and layer (0 for topk and seqtopk); ``prefix_overspend``: share of prefixes t whose sum_{s<=t} K_s exceeds
    (t + 1) K (the online variant aims at 0)."""

    metrics = ("experts_hard", "experts_easy", "experts_other", "experts_hard_last", "experts_easy_last",
               "easy_loss", "other_loss", "loss_experts_corr", "kt_mean", "kt_std", "kt_min", "kt_max",
               "kt_frac_zero", "kt_frac_below_k", "kt_frac_above_k", "slot_error", "prefix_overspend")

    def load_data(self) -> LMData:
        return load_lm_data(self.config.data, self.config.seed)

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        split, k = self.data.test, self.config.moe.k
        counts, losses = routing_records(artifact, split, limit=self.config.eval_batches)
        kinds = target_kind_mask(self.config, split)[: losses.shape[0]]
        per_token = counts.float().mean(0)  # (N, T): experts per position, averaged over layers
        t = counts.shape[-1]
        cumulative = counts.cumsum(-1)
        allowed = k * torch.arange(1, t + 1)
        corr = torch.corrcoef(torch.stack([losses.flatten(), per_token.flatten()]))[0, 1]
        return {
            "experts_hard": _mean_where(per_token, kinds == HARD),
            "experts_easy": _mean_where(per_token, kinds == EASY),
            "experts_other": _mean_where(per_token, kinds == OTHER),
            "experts_hard_last": _mean_where(counts[-1], kinds == HARD),
            "experts_easy_last": _mean_where(counts[-1], kinds == EASY),
            "easy_loss": _mean_where(losses, kinds == EASY),
            "other_loss": _mean_where(losses, kinds == OTHER),
            "loss_experts_corr": float(corr) if torch.isfinite(corr) else math.nan,  # NaN when K_t is constant
            "kt_mean": float(counts.float().mean()), "kt_std": float(counts.float().std()),
            "kt_min": float(counts.min()), "kt_max": float(counts.max()),
            "kt_frac_zero": float((counts == 0).float().mean()),
            "kt_frac_below_k": float((counts < k).float().mean()),
            "kt_frac_above_k": float((counts > k).float().mean()),
            "slot_error": float((cumulative[..., -1] - k * t).abs().max()),
            "prefix_overspend": float((cumulative > allowed).float().mean()),
        }
