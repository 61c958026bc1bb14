"""SSR's claim at small scale (``configs/reproduce/ssr.yaml``): on held-out seeds 2, 3 with data.seed = seed (setting
and margins chosen on seeds 0, 1), sparse MaxSim over SSR's token codes retrieves about as well as dense MaxSim on
the same frozen MiniLM token vectors, better than MaxSim on k-means centroid codes of the same codebook size, and
the pruned multi-stage mode agrees with exact mode on the top document. One reproduce run for the module."""
from __future__ import annotations

import pytest

from jobs.reproduce import mean

SEEDS = [2, 3]


@pytest.fixture(scope="module")
def outcome(local_ray) -> dict:
    from jobs.reproduce import compare, table

    out = compare("ssr", seeds=SEEDS)
    print(table(out))
    return out


@pytest.mark.slow
def test_ssr_sparse_maxsim_is_close_to_dense_maxsim_and_beats_kmeans_codes(outcome):
    # seeds 0, 1 (2 epochs): nDCG@10 SSR 0.722 / 0.677, dense 0.751 / 0.710, k-means 0.687 / 0.654;
    # held-out seeds 2, 3: SSR 0.658 +- 0.038, dense 0.677 +- 0.040, k-means 0.616 +- 0.052
    assert mean(outcome, "ssr", "ndcg_at_10") >= mean(outcome, "ssr", "ndcg_at_10_dense") - 0.05
    assert mean(outcome, "ssr", "ndcg_at_10") >= mean(outcome, "ssr", "ndcg_at_10_kmeans") + 0.01


@pytest.mark.slow
def test_pruned_mode_agrees_with_exact_mode_on_the_top_document(outcome):
    # seeds 0, 1: 1.000 / 1.000 (8 latents per query token, 20 of 100 documents reranked); seeds 2, 3: 1.000
    assert mean(outcome, "ssr", "pruned_top1_agreement") >= 0.8
    assert mean(outcome, "ssr", "ndcg_at_10_pruned") >= mean(outcome, "ssr", "ndcg_at_10") - 0.02
