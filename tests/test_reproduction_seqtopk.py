"""SeqTopK's claim at small scale (``configs/reproduce/seqtopk_allocation.yaml``): a 2-layer MoE decoder (E = 8,
K = 2) trained from scratch on easy_hard, TopK vs SeqTopK at the same expert-token budget, on a local Ray. Losses
are evaluated with causal (online) routing; the setting was chosen on tuning seeds 0, 1 and the tests run on the
held-out seeds 2, 3 (the generated data is drawn from the seed too). None of the claims holds there: each is a strict
xfail with its figures (REPRODUCTION.md)."""
from __future__ import annotations

import pytest

from jobs.reproduce import mean

SEEDS = [2, 3]  # held out: the setting (steps, lr, bounds, gates) was chosen on seeds 0, 1
_cache: dict[str, dict] = {}


def outcome() -> dict:
    from jobs.reproduce import compare

    if "out" not in _cache:  # only the two arms the assertions read
        _cache["out"] = compare("seqtopk_allocation", seeds=SEEDS, arms=["topk", "seqtopk"])
    return _cache["out"]


@pytest.mark.slow
def test_topk_gives_every_token_k_experts_and_seqtopk_varies_them(local_ray):
    out = outcome()
    # the arms differ in the routing only: TopK exactly K everywhere; SeqTopK's K_t spreads (sd 1.05 +- 0.08, seeds
    # 0-4) at the same budget
    assert out["topk"]["kt_std"] == [0.0] * len(SEEDS) and min(out["seqtopk"]["kt_std"]) > 0.5
    assert mean(out, "seqtopk", "experts_hard") != mean(out, "topk", "experts_hard")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="does not hold on the held-out seeds: causal answer loss SeqTopK 0.015, 1.487 "
                                       "vs TopK 0.008, 0.630 (seeds 2, 3); it held on the tuning seeds (1.109, 1.358 "
                                       "vs 1.217, 1.913) and on seed 4 (0.081 vs 1.252). Whether a seed learns the "
                                       "sums within 400 steps is all or nothing for either routing")
def test_seqtopk_hard_token_loss_is_no_worse_than_topk(local_ray):
    out = outcome()
    assert mean(out, "seqtopk", "answer_loss") <= mean(out, "topk", "answer_loss") + 0.05


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="post hoc (the layer was chosen after seeing the layers), and not on every "
                                       "held-out seed: last-layer K_t on hard targets 2.89, 2.01 vs easy 2.61, 2.16 "
                                       "(seeds 2, 3; mean +0.06, under the +0.1 chosen post hoc); seeds 0-4: "
                                       "2.238 +- 0.439 vs 2.366 +- 0.754")
def test_seqtopk_gives_hard_tokens_more_experts_than_easy_ones_in_the_last_layer(local_ray):
    out = outcome()
    hard, easy = out["seqtopk"]["experts_hard_last"], out["seqtopk"]["experts_easy_last"]
    assert all(h > e for h, e in zip(hard, easy, strict=True))  # "higher on every seed", as first reported
    assert mean(out, "seqtopk", "experts_hard_last") >= mean(out, "seqtopk", "experts_easy_last") + 0.1
    # hard targets do beat the unpredictable ones averaged over layers (seeds 2, 3: 2.11 vs 1.69)
    assert mean(out, "seqtopk", "experts_hard") >= mean(out, "seqtopk", "experts_other") + 0.2


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="averaged over both MoE layers, hard targets get fewer experts than easy ones "
                                       "(seeds 2, 3: 2.27, 1.95 vs 2.18, 2.42; seeds 0-4: 2.040 +- 0.369 vs 2.379 +- "
                                       "0.232): the first layer's routers stay flattest on the copies and markers, "
                                       "and flat rows win slots")
def test_seqtopk_gives_hard_tokens_more_experts_than_easy_ones(local_ray):
    out = outcome()
    assert mean(out, "seqtopk", "experts_hard") > mean(out, "seqtopk", "experts_easy")
