"""LongPPL and LongCE: "What is Wrong with Perplexity for Long-context Language Modeling?" (Fang et al., ICLR
2025; official code PKU-ML/LongPPL: ``longppl/longppl.py``, ``perplexity/perplexity.py``, ``finetune/finetune.py``).

Perplexity averages over every token, and most tokens need no long context, so it barely moves when a model
loses its long context. The paper scores tokens by how much long context helps an **evaluator** model:

- per-token losses with the full context, ``l_full(i) = -log p(x_i | x_<i)``, and with a truncated one,
  ``l_short(i) = -log p(x_i | x_{i-s..i-1})``, computed with **sliding short windows** (:func:`short_windows`):
  windows start at 0, w, 2w, ...; window k feeds tokens ``[kw, kw + trunc_len + w)`` and scores only its last
  ``w`` tokens, so each token after ``trunc_len`` is scored once with ``trunc_len .. trunc_len + w - 1`` tokens
  of context, and the first ``trunc_len`` tokens never are (official: trunc_len 4096, w 1024);
- **key tokens** (Eq. 4-6): long-short difference ``LSD = l_short - l_full > alpha`` and long-context
  likelihood ``LCL = -l_full > beta``, alpha = 2, beta = -2 (:func:`key_token_mask`);
- **LongPPL** (Eq. 7) = exp(mean of the *evaluated* model's full-context loss over the key tokens); a data set's
  LongPPL is exp of the key-token-count-weighted mean of the documents' log LongPPL, documents without key
  tokens skipped (:func:`aggregate`);
- across tokenizers, key tokens travel as character intervals: the evaluator's key tokens' offsets, adjacent
  ones merged (:func:`merge_intervals`); an evaluated token that lies wholly inside one is key, at **loss
  position i - 1** (:func:`overlap_positions`), since the loss at position j predicts token j + 1. Offsets come
  from incremental decoding (:func:`char_offsets`, the official ``compute_offsets``);
- **LongCE** (Eq. 8): cross-entropy with per-token weights from the model being trained,
  ``w_i = min(exp(l_short(i) - l_full(i)), gamma)``, gamma = 5, weight 1 in the first ``trunc_len`` positions,
  computed without gradient (:func:`longce_weights`); the loss is ``mean_i w_i l_full(i)``.

Conventions: losses and masks are indexed by **loss position** j (B, L - 1): position j predicts token j + 1, as
everywhere in ``shared.lm``. Tokens before ``trunc_len`` (loss positions j < trunc_len - 1) have no short loss
(NaN). Nothing here imports Ray.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from shared.lm.config import ALPHA, BETA, GAMMA  # noqa: F401  (the paper's constants, torch-free; re-exported)
from shared.lm.model import token_losses
from shared.lm.tokenizer import Tokenizer


# -- per-token losses ------------------------------------------------------------------------------
def short_windows(length: int, trunc_len: int, sliding_window: int) -> list[tuple[int, int]]:
    """``(start, scored)`` of each short window over ``length`` tokens, as the official loop: the window feeds
    tokens ``[start, start + trunc_len + scored)`` and scores its last ``scored`` of them (the last window is
    shortened to fit)."""
    return [(start, min(sliding_window, length - start - trunc_len))
            for start in range(0, length - trunc_len, sliding_window)]


@torch.no_grad()
def full_context_losses(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """(B, L - 1) next-token losses with the whole sequence as context."""
    return token_losses(model(tokens[:, :-1]), tokens[:, 1:])


@torch.no_grad()
def short_context_losses(model: nn.Module, tokens: torch.Tensor, trunc_len: int, sliding_window: int) -> torch.Tensor:
    """(B, L - 1) next-token losses with a truncated context (sliding short windows); NaN at loss positions
    before ``trunc_len - 1`` (tokens that no window scores). Windows of one length run as one batch."""
    b, length = tokens.shape
    out = torch.full((b, length - 1), float("nan"), device=tokens.device)
    groups: dict[int, list[int]] = {}
    for start, scored in short_windows(length, trunc_len, sliding_window):
        groups.setdefault(scored, []).append(start)
    for scored, starts in groups.items():
        span = trunc_len + scored
        windows = torch.stack([tokens[:, s:s + span] for s in starts], dim=1).flatten(0, 1)  # (B * K, span)
        logits = model(windows[:, :-1])[:, trunc_len - 1:]
        losses = token_losses(logits, windows[:, trunc_len:]).view(b, len(starts), scored).float()
        for k, s in enumerate(starts):  # window tokens s+trunc .. are loss positions s+trunc-1 ..
            out[:, s + trunc_len - 1:s + trunc_len - 1 + scored] = losses[:, k]
    return out


# -- key tokens, LongPPL ---------------------------------------------------------------------------
def key_token_mask(full: torch.Tensor, short: torch.Tensor, alpha: float = ALPHA, beta: float = BETA) -> torch.Tensor:
    """Key tokens: LSD = short - full > alpha and LCL = -full > beta (positions without a short loss: never)."""
    return ((short - full) > alpha) & (-full > beta)


def document_log_longppl(losses: torch.Tensor, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per document (row): log LongPPL = mean loss over its key tokens (NaN without any), and the key count."""
    counts = key.sum(-1)
    means = torch.where(key, losses, torch.zeros_like(losses)).sum(-1) / counts.clamp_min(1)
    return means.masked_fill(counts == 0, float("nan")), counts


def aggregate(log_values: torch.Tensor | Sequence[float], counts: torch.Tensor | Sequence[int]) -> float:
    """exp of the count-weighted mean of per-document log values (``perplexity.py``): documents with no key
    tokens are skipped; NaN when none has any."""
    logs = torch.as_tensor(log_values, dtype=torch.float64)
    n = torch.as_tensor(counts, dtype=torch.float64)
    keep = n > 0
    if not keep.any():
        return float("nan")
    return math.exp(float((logs[keep] * n[keep]).sum() / n[keep].sum()))


def longce_weights(full: torch.Tensor, short: torch.Tensor, gamma: float = GAMMA) -> torch.Tensor:
    """LongCE's weights w = min(exp(l_short - l_full), gamma), 1 where there is no short loss (the first
    trunc_len tokens); detached: the weights carry no gradient (the official computes them under no_grad)."""
    with torch.no_grad():
        diff = short.detach() - full.detach()
        return torch.where(torch.isnan(diff), torch.ones_like(diff), diff.exp().clamp(max=gamma))


# -- across tokenizers -----------------------------------------------------------------------------
def merge_intervals(intervals: torch.Tensor) -> torch.Tensor:
    """(n, 2) character intervals in text order -> the same with touching neighbours (end == next start)
    merged, as the official ``merge_intervals`` (overlapping ones are not: key tokens never overlap)."""
    intervals = torch.as_tensor(intervals).reshape(-1, 2)
    if len(intervals) == 0:
        return intervals
    touching = intervals[1:, 0] == intervals[:-1, 1]
    keep_start = torch.cat([torch.tensor([True]), ~touching])
    keep_end = torch.cat([~touching, torch.tensor([True])])
    return torch.stack([intervals[keep_start, 0], intervals[keep_end, 1]], dim=1)


def overlap_positions(offsets: Sequence[Sequence[int]], intervals: Sequence[Sequence[int]]) -> list[int]:
    """Loss positions of the tokens (character ``offsets``, text order) that lie wholly inside one of the
    ``intervals``: token i is predicted at loss position i - 1 (the official ``cal_overlap``). Token 0 has no
    loss position and is dropped."""
    positions, i, j = [], 0, 0
    while i < len(offsets) and j < len(intervals):
        (a_start, a_end), (b_start, b_end) = offsets[i], intervals[j]
        if a_start >= b_start and a_end <= b_end:
            if i > 0:
                positions.append(i - 1)
            i += 1
        elif a_start < b_start:
            i += 1
        else:
            j += 1
    return positions


def char_offsets(tokenizer: Tokenizer, ids: Sequence[int]) -> list[tuple[int, int]]:
    """Character interval of each token by incremental decoding (the official ``compute_offsets``, for
    tokenizers without an offset mapping): token i spans len(decode(ids[i-1:i+1])) - len(decode(ids[i-1:i]))
    characters. Exact when tokens decode to whole characters (any ASCII text); a character split across tokens
    goes to its first token."""
    offsets, pointer = [], 0
    for i in range(len(ids)):
        if i == 0:
            width = len(tokenizer.decode(list(ids[:1])))
        else:
            width = len(tokenizer.decode(list(ids[i - 1:i + 1]))) - len(tokenizer.decode(list(ids[i - 1:i])))
        offsets.append((pointer, pointer + width))
        pointer += width
    return offsets


def key_intervals(offsets: Sequence[Sequence[int]], key: torch.Tensor) -> torch.Tensor:
    """The evaluator's key tokens (a loss-position mask over one document) as merged character intervals."""
    tokens = (torch.nonzero(key).flatten() + 1).tolist()  # loss position j scores token j + 1
    return merge_intervals(torch.tensor([list(offsets[t]) for t in tokens], dtype=torch.long).reshape(-1, 2))


def compute_longppl(text: str, model: nn.Module, tokenizer: Tokenizer, evaluator: nn.Module,
                    evaluator_tokenizer: Tokenizer, trunc_len: int, sliding_window: int, alpha: float = ALPHA,
                    beta: float = BETA) -> dict[str, float]:
    """LongPPL of ``model`` on one text, key tokens found by ``evaluator`` (any two tokenizers): the official
    ``compute_longppl``. Returns longppl (NaN without key tokens), n_key, ppl, n_tokens."""
    eval_ids = torch.tensor([evaluator_tokenizer.encode(text)])
    key = key_token_mask(full_context_losses(evaluator, eval_ids),
                         short_context_losses(evaluator, eval_ids, trunc_len, sliding_window), alpha, beta)[0]
    intervals = key_intervals(char_offsets(evaluator_tokenizer, eval_ids[0].tolist()), key).tolist()
    ids = torch.tensor([tokenizer.encode(text)])
    positions = overlap_positions(char_offsets(tokenizer, ids[0].tolist()), intervals)
    losses = full_context_losses(model, ids)[0].double()
    longppl = math.exp(float(losses[positions].mean())) if positions else float("nan")
    return {"longppl": longppl, "n_key": float(len(positions)), "ppl": math.exp(float(losses.mean())),
            "n_tokens": float(ids.shape[1])}
