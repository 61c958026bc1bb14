"""A generated task that mixes easy and hard tokens, to see where a router spends its experts (SeqTopK).

A sequence is ``n_segments`` pairs of segments, a copy segment then a sum segment, over digits ``0..p-1`` and two
markers (``COPY = p``, ``SUM = p + 1``):

- copy segment ``COPY b_1 .. b_q b_1 .. b_q``: the second ``b_1 .. b_q`` are **easy** targets (a copy of the
  token q positions back);
- sum segment ``SUM a_1 .. a_q r`` with ``r = (a_1 + .. + a_q) mod p``: ``r`` is a **hard** target (it depends
  on q earlier tokens through modular arithmetic).

The markers are easy targets too (they sit at fixed places); the fresh digits b_i and a_i are **other** targets:
random, no model predicts them beyond chance. The layout is fixed, so a tiny decoder finds the copy source and the
operands by position (with segments in random order, a 2-layer GPT with learned positions did not learn even the
copies in 800 steps). The answer mask marks the hard targets; :func:`target_kinds` recovers all three kinds from
the tokens alone (the markers delimit the segments), so evaluators can split the loss and the routing by kind.
Through :class:`~shared.lm.data.LMDataConfig`: ``n_pairs`` = segments of each kind, ``n_queries`` = q (operands
and copy length), ``n_values`` = p.
"""
from __future__ import annotations

import torch

OTHER, EASY, HARD = 0, 1, 2


def sequence_length(n_segments: int, q: int) -> int:
    return n_segments * (2 * q + 1) + n_segments * (q + 2)


def easy_hard(n: int, n_segments: int, q: int, p: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences: tokens (n, L) and the answer (= hard target) mask (n, L - 1)."""
    if p < 2:
        raise ValueError(f"the modulus (data.n_values) must be at least 2, got {p}")
    copied = torch.randint(0, p, (n, n_segments, q), generator=generator)
    operands = torch.randint(0, p, (n, n_segments, q), generator=generator)
    copy = torch.cat([torch.full((n, n_segments, 1), p), copied, copied], 2)
    total = operands.sum(2, keepdim=True) % p
    summed = torch.cat([torch.full((n, n_segments, 1), p + 1), operands, total], 2)
    tokens = torch.cat([copy, summed], 2).flatten(1)  # copy, sum, copy, sum, ...
    return tokens, target_kinds(tokens, q, p) == HARD


def target_kinds(tokens: torch.Tensor, q: int, p: int) -> torch.Tensor:
    """(N, L - 1) kind of each target ``tokens[:, j + 1]``: OTHER (random), EASY (a copy or a marker) or HARD (a
    sum)."""
    n, length = tokens.shape
    pos = torch.arange(length).expand(n, length)
    is_marker = tokens >= p
    last = torch.where(is_marker, pos, -1).cummax(1).values  # position of the latest marker
    marker = tokens.gather(1, last.clamp_min(0))
    offset = pos - last
    kinds = torch.full_like(tokens, OTHER)
    kinds[((marker == p) & (offset > q) & (last >= 0)) | is_marker] = EASY
    kinds[(marker == p + 1) & (offset == q + 1) & (last >= 0)] = HARD
    return kinds[:, 1:]
