"""Generated tasks for language models whose answers are known, so accuracy and key tokens can be checked.

``kv_recall`` (multi-query associative recall, as in the Zoology/MQAR benchmarks): a sequence lists
``n_pairs`` key-value pairs ``k1 v1 k2 v2 ...``, optionally ``filler`` random filler tokens, then
``n_queries`` queries ``k v`` whose keys were listed before. The answer tokens are the values after the
query keys; they can only be predicted by looking back to the pair list. ``assoc_recall`` is the
one-query case. Vocabulary: keys, then values, then filler tokens (disjoint ranges), so a key is never
mistaken for a value.
"""
from __future__ import annotations

import torch


def kv_recall(n: int, n_pairs: int, n_queries: int, n_keys: int, n_values: int, filler: int, n_filler: int,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences; returns tokens (n, L) and the answer mask over targets (n, L - 1)."""
    if n_pairs > n_keys:
        raise ValueError(f"n_pairs ({n_pairs}) cannot exceed the number of distinct keys ({n_keys})")
    keys = torch.argsort(torch.rand(n, n_keys, generator=generator), dim=1)[:, :n_pairs]
    values = n_keys + torch.randint(0, n_values, (n, n_pairs), generator=generator)
    pairs = torch.stack([keys, values], dim=2).flatten(1)
    asked = torch.randint(0, n_pairs, (n, n_queries), generator=generator)
    queries = torch.stack([keys.gather(1, asked), values.gather(1, asked)], dim=2).flatten(1)
    parts = [pairs]
    if filler:
        parts.append(n_keys + n_values + torch.randint(0, max(n_filler, 1), (n, filler), generator=generator))
    parts.append(queries)
    tokens = torch.cat(parts, dim=1)
    answers = torch.zeros(n, tokens.shape[1] - 1, dtype=torch.bool)
    start = 2 * n_pairs + filler
    # The value of query q is token start + 2q + 1; it is the target of position start + 2q.
    answers[:, start::2] = True
    return tokens, answers
