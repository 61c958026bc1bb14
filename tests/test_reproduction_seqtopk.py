"""SeqTopK's claim at small scale (``configs/reproduce/seqtopk_allocation.yaml``): a 2-layer MoE decoder (E = 8,
K = 2) trained from scratch on easy_hard, TopK vs SeqTopK at the same expert-token budget, seeds 0 and 1 on a local
Ray. Margins are below the figures measured over seeds 0-2 (REPRODUCTION.md); the layer-mean allocation claim
does not hold at this scale and is a strict xfail with its figures."""
from __future__ import annotations

import pytest

from jobs.reproduce import mean

SEEDS = [0, 1]
_cache: dict[str, dict] = {}


def outcome() -> dict:
    from jobs.reproduce import compare

    if "out" not in _cache:  # only the two arms the assertions read
        _cache["out"] = compare("seqtopk_allocation", seeds=SEEDS, arms=["topk", "seqtopk"])
    return _cache["out"]


@pytest.mark.slow
def test_seqtopk_hard_token_loss_is_no_worse_than_topk(local_ray):
    out = outcome()
    # measured over seeds 0-2: answer_loss 0.463 +- 0.503 (SeqTopK) vs 0.857 +- 0.752 (TopK), lower on every seed
    # (seeds 0, 1: 0.321, 1.022 vs 1.119, 1.442)
    assert mean(out, "seqtopk", "answer_loss") <= mean(out, "topk", "answer_loss") + 0.05
    assert mean(out, "topk", "kt_std") == 0 and mean(out, "seqtopk", "kt_std") > 0.5  # TopK: exactly K everywhere


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="post hoc (the layer was chosen after seeing the layers), and it does not "
                                       "hold on this machine: last-layer K_t on hard targets 1.997 vs easy 2.034 "
                                       "(mean of seeds 0, 1, 2026-12-02; the same at the commit the figures of "
                                       "REPRODUCTION.md were measured at, so the machine, not the code, moved them)")
def test_seqtopk_gives_hard_tokens_more_experts_than_easy_ones_in_the_last_layer(local_ray):
    out = outcome()
    # measured over seeds 0-2 (found after looking at the layers, see REPRODUCTION.md): last-layer K_t on hard
    # targets 2.451 +- 0.410 vs easy 2.175 +- 0.342, higher on every seed (seeds 0, 1: 2.34, 2.11 vs 1.91, 2.06);
    # hard targets also beat the unpredictable ones averaged over layers (2.15 vs 1.55)
    assert mean(out, "seqtopk", "experts_hard_last") >= mean(out, "seqtopk", "experts_easy_last") + 0.1
    assert mean(out, "seqtopk", "experts_hard") >= mean(out, "seqtopk", "experts_other") + 0.2


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="averaged over both MoE layers, hard targets get fewer experts than easy ones "
                                       "(seeds 0-2: 2.152 +- 0.426 vs 2.437 +- 0.090; seeds 0, 1: 1.97, 1.84 vs "
                                       "2.54, 2.39): the first layer's routers stay flattest on the copies and markers "
                                       "(entropy 1.71 vs 0.87 on hard targets, seed 0), and flat rows win slots")
def test_seqtopk_gives_hard_tokens_more_experts_than_easy_ones(local_ray):
    out = outcome()
    assert mean(out, "seqtopk", "experts_hard") > mean(out, "seqtopk", "experts_easy")
