"""The sparse-embedding family's claims at small scale (``configs/reproduce/sparse_embeddings.yaml``): CSR, the SAE
without CL, CSR without AuxK, MRL and CSRv2 (annealed, direct) on the digits features, held-out seeds 2, 3 with
data.seed = seed (setting chosen on seeds 0, 1), one reproduce run shared by every test of the module. Margins are
below the figures of REPRODUCTION.md; the CSRv2 claim does not hold on digits and is a strict xfail (it holds on
MiniLM text: ``python jobs/reproduce.py csr_v2_text --seeds 2 3 4``, not in CI for its cold-cache encode)."""
from __future__ import annotations

import pytest

from jobs.reproduce import mean

SEEDS = [2, 3]


@pytest.fixture(scope="module")
def outcome(local_ray) -> dict:
    from jobs.reproduce import compare, table

    out = compare("sparse_embeddings", seeds=SEEDS)
    print(table(out))
    return out


@pytest.mark.slow
def test_csr_beats_pca_and_mrl_at_small_k(outcome):
    # seeds 0-3: nn_acc at k = 4: CSR 0.959 +- 0.013, PCA-4 0.751 +- 0.013, MRL-4 0.714 +- 0.056
    assert mean(outcome, "csr", "nn_acc") >= mean(outcome, "csr", "nn_acc_pca") + 0.1
    assert mean(outcome, "csr", "nn_acc") >= mean(outcome, "mrl", "nn_acc") + 0.1
    assert mean(outcome, "csr", "ndcg_at_10") >= mean(outcome, "mrl", "ndcg_at_10") + 0.1


@pytest.mark.slow
def test_csr_is_no_worse_than_the_sae_without_its_contrastive_term(outcome):
    # seeds 0-3: 0.959 +- 0.013 vs 0.954 +- 0.017 (the paper's direction, within the card's tolerance)
    assert mean(outcome, "csr", "nn_acc") >= mean(outcome, "sae_no_cl", "nn_acc") - 0.02


@pytest.mark.slow
def test_auxk_lowers_the_dead_fraction(outcome):
    # seeds 0-3: dead fraction 0.176 +- 0.028 with AuxK vs 0.537 +- 0.036 without
    assert mean(outcome, "csr", "dead_fraction") <= mean(outcome, "csr_no_auxk", "dead_fraction") - 0.15


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="does not hold on digits (64-d, 256 latents, 120 steps), with the official loss "
                                       "(plain MSE, SupCon over two identical views, AuxK idle counters per top-k "
                                       "pass): annealing from 64 leaves MORE dead latents (0.694 +- 0.047 vs 0.207 +- "
                                       "0.017 on held-out seeds 2, 3; 0.656 vs 0.204 on seeds 0-3) at equal 1-NN "
                                       "accuracy (0.962 vs 0.961): direct k = 2 with AuxK already keeps 80% of so "
                                       "few latents alive. On MiniLM text (1,536 latents, configs/reproduce/"
                                       "csr_v2_text.yaml, not in CI) it holds on held-out seeds 2-4: dead 0.416 vs "
                                       "0.641, 1-NN 0.246 vs 0.216")
def test_csr_v2_annealing_beats_direct_k2(outcome):
    assert mean(outcome, "csr_v2_annealed", "dead_fraction") < mean(outcome, "csr_v2_direct", "dead_fraction")
    assert mean(outcome, "csr_v2_annealed", "nn_acc") >= mean(outcome, "csr_v2_direct", "nn_acc")
