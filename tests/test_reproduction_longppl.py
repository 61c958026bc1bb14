"""LongPPL's and LongCE's claims at small scale (``configs/reproduce/longppl.yaml``): on the long-dependency corpus
``long_recall``, a full-attention decoder (plain cross-entropy), the same decoder with 8-token sliding-window
attention, and the full decoder trained with LongCE; LongPPL's key tokens come from the reference evaluator
(``configs/methods/longppl.yaml``, trained once per seed). Margins were chosen on tuning seeds 0-1 (below the figures
over seeds 0-2); the tests assert on held-out seeds 2, 3, each drawing its own data from the run's seed
(REPRODUCTION.md)."""
from __future__ import annotations

import math

import pytest

from jobs.reproduce import mean

HELD_OUT = [2, 3]  # seeds no setting or threshold was chosen on (tuning seeds 0-1)
_cache: dict[str, dict] = {}


def outcome() -> dict:
    from jobs.reproduce import compare

    if "out" not in _cache:
        _cache["out"] = compare("longppl", seeds=HELD_OUT)
    return _cache["out"]


@pytest.mark.slow
def test_the_evaluators_key_tokens_are_the_long_dependency_answers(local_ray):
    out = outcome()
    # tuning seeds 0-2: precision 0.764 +- 0.048, recall 0.880 +- 0.027, 3.46 key tokens per sequence of 64
    # (3 answers): answers are 4.7% of the targets, so chance precision is 0.047; held-out seeds 2-3: 0.761, 0.889
    assert mean(out, "full", "key_precision") >= 0.6
    assert mean(out, "full", "key_recall") >= 0.75


@pytest.mark.slow
def test_longppl_separates_full_from_sliding_window_attention_far_more_than_perplexity(local_ray):
    out = outcome()
    longppl_gap = math.log(mean(out, "window", "longppl") / mean(out, "full", "longppl"))
    ppl_gap = math.log(mean(out, "window", "test_ppl") / mean(out, "full", "test_ppl"))
    # tuning seeds 0-2: LongPPL 2.23 (full) vs 70.9 (window), log gap 3.46; PPL 7.88 vs 9.78, log gap 0.22;
    # held-out seeds 2-3: LongPPL 2.18 vs 71.3 (log gap 3.49), PPL 7.49 vs 9.41 (0.23)
    assert ppl_gap > 0 and longppl_gap > 8 * ppl_gap
    assert longppl_gap > 2.0


@pytest.mark.slow
def test_longce_learns_the_long_dependency_tokens_faster_than_cross_entropy(local_ray):
    out = outcome()
    # tuning seeds 0-2 after 100 steps: answer loss 0.450 +- 0.014 (LongCE) vs 0.840 +- 0.002 (CE), accuracy 0.991
    # vs 0.959; held-out seeds 2-3: 0.447 +- 0.019 vs 0.823 +- 0.021, accuracy 0.997 vs 0.947
    assert mean(out, "longce", "answer_loss") <= mean(out, "full", "answer_loss") - 0.2
    assert mean(out, "longce", "recall_acc") >= mean(out, "full", "recall_acc")
    for seed in range(len(HELD_OUT)):  # on every seed, not only on the mean
        assert out["longce"]["answer_loss"][seed] < out["full"]["answer_loss"][seed]
