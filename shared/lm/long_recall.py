"""A generated long-dependency corpus for LongPPL / LongCE (Fang et al., ICLR 2025): the only tokens that need
long context are known, so detected key tokens can be checked against them.

A sequence of ``seq_len + 1`` tokens over ``n_values`` symbols, split at random per sequence into ``n_pairs``
keys, an ``n_filler``-symbol motif and a pool of values:

- **definitions**, positions ``0 .. 2 n_pairs - 1``: ``k_1 v_1 k_2 v_2 ...``, values drawn from the pool;
- **filler** everywhere else: the motif, repeated (period ``n_filler``) and continuing across the interruptions
  below, so a context that has seen one period predicts it;
- **queries**: ``n_queries`` distinct keys, each followed by its value, in random places at least ``gap`` tokens
  after the definitions.

The value after a query key (the answer) is predictable only from its definition, more than ``gap`` tokens back:
with ``gap`` at least LongPPL's short context (``trunc_len + sliding_window``) the answers are the long-dependency
tokens, and nothing else is (definitions, query keys and the first period are random in any context).
Why the motif: continuing it is an induction step (find the previous occurrence of the last token, copy what
followed), learned early from many filler tokens, and answering a query is the same step over a long distance.
With a counter as filler (nothing to copy) a 2-layer decoder had not learned the answers after 200 steps; with
the motif it does in ~100-150. Why the random part comes first and stays short: a decoder with learned positions
knows that the first ``head = 2 n_pairs + n_filler`` positions (definitions and the motif's first period) are
unpredictable; when ``head <= trunc_len`` no short window scores those positions of its own input, so the
short context does not look worse on filler than the long one (with ``head`` = 18 > ``trunc_len`` = 16, 12 of
every 15 detected key tokens were filler at positions 16-17 of a window). The answer mask marks the answers'
targets.
"""
from __future__ import annotations

import torch

from shared.config import ConfigError


def _layout(n: int, singles: int, blocks: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random order of ``blocks`` two-token events among ``singles`` filler tokens, for ``n`` sequences:
    (n, singles + 2 * blocks) bool masks of the events' first and second slots."""
    is_block = torch.argsort(torch.rand(n, singles + blocks, generator=generator), dim=1) < blocks
    width = 1 + is_block.long()
    start = width.cumsum(1) - width  # slot where each item begins
    slots = singles + 2 * blocks
    first = torch.zeros(n, slots + 1, dtype=torch.bool)  # filler items write into a spare last column
    first.scatter_(1, torch.where(is_block, start, slots), True)
    first = first[:, :slots]
    second = torch.zeros_like(first)
    second[:, 1:] = first[:, :-1]
    return first, second


def check_long_recall(seq_len: int, n_pairs: int, n_queries: int, n_values: int, n_filler: int, gap: int) -> None:
    if n_queries > n_pairs:
        raise ConfigError(f"data.n_queries ({n_queries}) cannot exceed data.n_pairs ({n_pairs}): queried keys "
                          "are distinct")
    if n_pairs + n_filler >= n_values:
        raise ConfigError(f"data.n_values ({n_values}) must exceed data.n_pairs + data.n_filler ({n_pairs} keys + "
                          f"{n_filler} motif symbols) to leave symbols for the values")
    need = 2 * n_pairs + n_filler + gap + 2 * n_queries - 1
    if seq_len < need:
        raise ConfigError(f"data.seq_len ({seq_len}) is too short for {n_pairs} pairs (data.n_pairs), a gap of "
                          f"{gap} (data.filler) and {n_queries} queries: need at least {need}")


def long_recall(n: int, seq_len: int, n_pairs: int, n_queries: int, n_values: int, n_filler: int, gap: int,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of ``seq_len + 1`` tokens and the answer mask over their targets (n, seq_len)."""
    check_long_recall(seq_len, n_pairs, n_queries, n_values, n_filler, gap)
    head = 2 * n_pairs + n_filler
    tail = seq_len + 1 - head - gap
    first, second = _layout(n, tail - 2 * n_queries, n_queries, generator)
    first = torch.cat([torch.zeros(n, head + gap, dtype=torch.bool), first], 1)
    second = torch.cat([torch.zeros(n, head + gap, dtype=torch.bool), second], 1)
    symbols = torch.argsort(torch.rand(n, n_values, generator=generator), dim=1)
    keys, motif, pool = symbols[:, :n_pairs], symbols[:, n_pairs:n_pairs + n_filler], symbols[:, n_pairs + n_filler:]
    values = pool.gather(1, torch.randint(0, pool.shape[1], (n, n_pairs), generator=generator))
    asked = torch.argsort(torch.rand(n, n_pairs, generator=generator), dim=1)[:, :n_queries]

    filler = ~(first | second)
    filler[:, :2 * n_pairs] = False
    tokens = motif.gather(1, (filler.long().cumsum(1) - 1).clamp_min(0) % n_filler)
    tokens[:, 0:2 * n_pairs:2] = keys
    tokens[:, 1:2 * n_pairs:2] = values
    tokens[first] = keys.gather(1, asked).flatten()  # row-major: query j of a row asks its key asked[:, j]
    tokens[second] = values.gather(1, asked).flatten()
    return tokens, second[:, 1:]  # target j is token j + 1
