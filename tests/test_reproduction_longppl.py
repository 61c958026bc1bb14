"""LongPPL's and LongCE's claims at small scale (``configs/reproduce/longppl.yaml``): on the long-dependency corpus
``long_recall``, a full-attention decoder (plain cross-entropy), the same decoder with 8-token sliding-window
attention, and the full decoder trained with LongCE; LongPPL's key tokens come from the reference evaluator
(``configs/methods/longppl.yaml``, trained once per seed). Seeds 0 and 1 on a local Ray; margins are below the
figures measured over seeds 0-2 (REPRODUCTION.md)."""
from __future__ import annotations

import math

import pytest

from jobs.reproduce import mean

SEEDS = [0, 1]
_cache: dict[str, dict] = {}


def outcome() -> dict:
    from jobs.reproduce import compare

    if "out" not in _cache:
        _cache["out"] = compare("longppl", seeds=SEEDS)
    return _cache["out"]


@pytest.mark.slow
def test_the_evaluators_key_tokens_are_the_long_dependency_answers(local_ray):
    out = outcome()
    # measured over seeds 0-2: precision 0.764 +- 0.048, recall 0.880 +- 0.027, 3.46 key tokens per sequence of
    # 64 (3 answers): answers are 4.7% of the targets, so chance precision is 0.047
    assert mean(out, "full", "key_precision") >= 0.6
    assert mean(out, "full", "key_recall") >= 0.75


@pytest.mark.slow
def test_longppl_separates_full_from_sliding_window_attention_far_more_than_perplexity(local_ray):
    out = outcome()
    longppl_gap = math.log(mean(out, "window", "longppl") / mean(out, "full", "longppl"))
    ppl_gap = math.log(mean(out, "window", "test_ppl") / mean(out, "full", "test_ppl"))
    # measured over seeds 0-2: LongPPL 2.23 (full) vs 70.9 (window), log gap 3.46; PPL 7.88 vs 9.78, log gap 0.22
    assert ppl_gap > 0 and longppl_gap > 8 * ppl_gap
    assert longppl_gap > 2.0


@pytest.mark.slow
def test_longce_learns_the_long_dependency_tokens_faster_than_cross_entropy(local_ray):
    out = outcome()
    # measured over seeds 0-2 after 100 steps: answer loss 0.450 +- 0.014 (LongCE) vs 0.840 +- 0.002 (CE),
    # accuracy 0.991 vs 0.959
    assert mean(out, "longce", "answer_loss") <= mean(out, "full", "answer_loss") - 0.2
    assert mean(out, "longce", "recall_acc") >= mean(out, "full", "recall_acc")
    for seed in range(len(SEEDS)):  # on every seed, not only on the mean
        assert out["longce"]["answer_loss"][seed] < out["full"]["answer_loss"][seed]
