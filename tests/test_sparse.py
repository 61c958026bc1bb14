"""The sparse-embedding family's math on hand-computable cases: top-k, the tied SAE, AuxK on a dead latent, the
contrastive terms, CSRv2's k schedule, and the inverted index against dense scoring."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from shared.sparse.index import InvertedIndex, keep_largest_per_row, to_csr
from shared.sparse.losses import (
    annealed_k,
    clipped_k_init,
    inbatch_infonce,
    supcon_sum_inside_log,
    supcon_two_views,
)
from shared.sparse.sae import TiedTopKSAE, batch_nmse, topk_relu


def test_topk_relu_by_hand():
    h = torch.tensor([[3.0, -1.0, 2.0, 0.5], [-3.0, -1.0, -2.0, 4.0]])
    assert topk_relu(h, 2).tolist() == [[3.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 4.0]]  # -1 is in row 2's top 2: ReLU


def test_tied_sae_codes_are_sparse_non_negative_and_decoded_by_the_transpose():
    torch.manual_seed(0)
    sae = TiedTopKSAE(dim=6, hidden=24)
    x = torch.randn(10, 6)
    out = sae(x, k=3)
    assert ((out.code > 0).sum(1) <= 3).all() and (out.code >= 0).all()
    assert ((out.code > 0).sum(1) <= (topk_relu(out.pre, 12) > 0).sum(1)).all()
    torch.testing.assert_close(out.recon, out.code @ sae.weight + sae.pre_bias)
    torch.testing.assert_close(out.recon_multi, topk_relu(out.pre, 12) @ sae.weight + sae.pre_bias)


def test_batch_nmse_uses_the_batch_mean_baseline():
    x = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # mean (2, 0): ||mean - x||^2 = 2
    assert batch_nmse(torch.tensor([[2.0, 0.0], [2.0, 0.0]]), x).item() == pytest.approx(1.0)
    assert batch_nmse(torch.tensor([[1.0, 1.0], [3.0, 0.0]]), x).item() == pytest.approx(0.5)


def test_auxk_revives_only_latents_idle_longer_than_the_threshold():
    sae = TiedTopKSAE(dim=2, hidden=3, dead_threshold=2)
    with torch.no_grad():
        sae.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.5]]))
    for _ in range(3):  # latent 0 fires every step; latents 1 and 2 idle for 3 > 2 steps
        sae.update_idle(torch.tensor([[1.0, 0.0, 0.0]]))
    assert sae.steps_idle.tolist() == [0, 3, 3] and sae.dead_mask().tolist() == [False, True, True]
    x = torch.tensor([[2.0, 1.0], [0.0, 1.0]])
    out = sae(x, k=1)
    # pre = x W^T = [[2, 1, 2.5], [0, 1, 0.5]]; top-1 codes: latent 2 (2.5), latent 1 (1)
    # x_hat = [2.5 * (1, .5), 1 * (0, 1)] = [(2.5, 1.25), (0, 1)];  e = x - x_hat = [(-.5, -.25), (0, 0)]
    # dead latents 1, 2 only: top-1 of [1, 2.5] and [1, .5] -> e_hat = [(2.5, 1.25), (0, 1)]
    # ||e_hat - e||^2 = 3^2 + 1.5^2 + 0 + 1 = 12.25;  mean(e) = (-.25, -.125): ||e - mean||^2 = 2 (.0625 + .015625)
    assert sae.auxk_loss(x, out, auxk=1).item() == pytest.approx(12.25 / 0.15625)
    sae.update_idle(torch.ones(1, 3))
    assert sae.auxk_loss(x, out, auxk=1).item() == 0.0  # none dead: no auxiliary loss


def test_auxk_gradient_reaches_only_dead_latents():
    torch.manual_seed(0)
    sae = TiedTopKSAE(dim=4, hidden=8, dead_threshold=0)
    sae.update_idle(F.one_hot(torch.tensor([0, 1]), 8).float())  # latents 2..7 idle once > 0: dead
    x = torch.randn(16, 4)
    loss = sae.auxk_loss(x, sae(x, k=2), auxk=2)
    loss.backward()
    assert loss.item() > 0
    assert sae.latent_bias.grad[:2].abs().sum() == 0 and sae.latent_bias.grad[2:].abs().sum() > 0


def test_identical_view_infonce_has_positive_similarity_one():
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    tau = 0.2
    zn = F.normalize(z, dim=1)
    sims = zn @ zn.T
    expected = np.mean([-(1 / tau) + math.log(sum(math.exp(s / tau) for s in row)) for row in sims.tolist()])
    assert inbatch_infonce(z, z, tau).item() == pytest.approx(expected, rel=1e-5)


def test_supcon_is_a_sum_inside_the_log_by_hand():
    z = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 0, 1])
    tau = 0.5
    zn = F.normalize(z, dim=1)
    s = (zn @ zn.T / tau).tolist()
    terms = []
    for i in range(3):  # sample 3 has no positive: skipped
        pos = sum(math.exp(s[i][p]) for p in range(3) if p != i)
        every = sum(math.exp(s[i][a]) for a in range(4) if a != i)
        terms.append(-math.log(pos / every))
    assert supcon_sum_inside_log(z, labels, tau).item() == pytest.approx(sum(terms) / 3, rel=1e-5)
    mean_of_logs = np.mean([-np.mean([s[i][p] - math.log(sum(math.exp(s[i][a]) for a in range(4) if a != i))
                                      for p in range(3) if p != i]) for i in range(3)])
    assert supcon_sum_inside_log(z, labels, tau).item() != pytest.approx(mean_of_logs, rel=1e-3)


def test_supcon_over_two_identical_views_by_hand():
    # the official loop stacks the codes with an identical second view: anchor i's positives are its copy (cosine
    # 1) and both copies of each same-label sample; every anchor has a positive (sample 3 too)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.5]])
    labels = torch.tensor([0, 0, 1, 2])
    tau = 0.5
    zn = F.normalize(z, dim=1)
    s = (zn @ zn.T / tau).tolist()
    terms = []
    for i in range(4):
        same = [p for p in range(4) if labels[p] == labels[i] and p != i]
        pos = math.exp(1 / tau) + 2 * sum(math.exp(s[i][p]) for p in same)
        every = math.exp(1 / tau) + 2 * sum(math.exp(s[i][a]) for a in range(4) if a != i)
        terms.append(-math.log(pos / every))
    assert supcon_two_views(z, labels, tau).item() == pytest.approx(sum(terms) / 4, rel=1e-5)


def test_csr_v2_idle_counters_advance_per_top_k_pass_as_the_official_loop():
    from shared.registry import get_method

    spec = get_method("csr_v2")
    trainer = spec.make_trainer(spec.load_config(["data.source=digits", "k=2", "k_init=0", "hidden=64", "threads=1"]))
    sae = trainer.model
    x = trainer.data.train_x[:8]
    out = sae(x, 2)
    trainer.record_firing(out, 2)
    in_k = (out.code > 0).any(0)
    in_4k = (topk_relu(out.pre, 8) > 0).any(0)
    idle = sae.steps_idle
    assert in_k.any() and (in_4k & ~in_k).any() and (~in_4k).any()
    assert (idle[in_k] == 0).all()  # fired in the last pass (the second k view)
    assert (idle[in_4k & ~in_k] == 1).all()  # fired in the 4k pass: alive, one pass since
    assert (idle[~in_4k] == 3).all()  # k, 4k and the CL view: three passes per step


def test_k_schedule_anneals_over_global_steps_then_stays():
    ks = [annealed_k(t, 100, 32, 2, 0.7) for t in range(101)]
    assert ks[0] == 32 and ks[70] == 2 and set(ks[70:]) == {2}
    assert all(a >= b for a, b in zip(ks, ks[1:], strict=False))
    assert ks[35] == round(0.5 * 32 + 0.5 * 2)
    ks = [annealed_k(t, 15, 32, 2, 0.7) for t in range(16)]  # floor(0.7 * 15) = 10 decay steps, as the official
    assert ks[5] == round(0.5 * 32 + 0.5 * 2) and ks[9] > 2 and set(ks[10:]) == {2}
    assert clipped_k_init(64, 2, hidden=128) == 32 and clipped_k_init(1, 4, hidden=128) == 4


def random_codes(n: int, latents: int, k: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return topk_relu(torch.randn(n, latents, generator=g), k)


def test_exact_index_equals_dense_scores_on_sparse_codes():
    docs, queries = random_codes(500, 64, 4, 0), random_codes(40, 64, 4, 1)
    ids, vals = InvertedIndex.build(docs, block=16).search(queries, 10)
    dense = (queries @ docs.T).numpy()
    dense_top = np.sort(dense, axis=1)[:, ::-1][:, :10]
    np.testing.assert_allclose(vals, dense_top, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.take_along_axis(dense, ids, axis=1), vals, rtol=1e-5, atol=1e-6)


def test_index_by_hand():
    docs = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.0, 3.0]])
    ids, vals = InvertedIndex.build(docs).search(torch.tensor([[0.0, 1.0, 1.0]]), 2)
    assert ids.tolist() == [[2, 1]] and vals.tolist() == [[3.0, 2.0]]


def test_pruned_search_keeps_largest_latents_and_mostly_agrees_on_top1():
    m = keep_largest_per_row(to_csr(torch.tensor([[0.1, -3.0, 2.0, 0.0], [5.0, 0.0, 0.0, 1.0]])), 1)
    assert m.toarray().tolist() == [[0.0, -3.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0]]
    docs, queries = random_codes(2000, 256, 16, 2), random_codes(100, 256, 16, 3)
    index = InvertedIndex.build(docs)
    exact_ids, _ = index.search(queries, 10)
    pruned_ids, pruned_vals = index.search_pruned(queries, 10, prune=8, candidates=100)
    dense = (queries @ docs.T).numpy()
    np.testing.assert_allclose(np.take_along_axis(dense, pruned_ids, axis=1), pruned_vals, rtol=1e-5, atol=1e-6)
    assert (pruned_ids[:, 0] == exact_ids[:, 0]).mean() >= 0.8


def test_sparse_maxsim_equals_dense_maxsim_on_the_same_codes():
    from shared.sparse.maxsim import MaxSimIndex

    rng = np.random.default_rng(0)
    doc_tokens, query_tokens = rng.integers(1, 6, size=30), rng.integers(1, 4, size=5)
    token_doc, token_query = np.repeat(np.arange(30), doc_tokens), np.repeat(np.arange(5), query_tokens)
    docs = random_codes(len(token_doc), 48, 3, 4)
    queries = random_codes(len(token_query), 48, 3, 5)
    got = MaxSimIndex.build(docs, token_doc).scores(queries, token_query)
    dense = np.zeros((5, 30), dtype=np.float32)
    for qi in range(5):
        for di in range(30):
            sims = queries[token_query == qi] @ docs[token_doc == di].T
            dense[qi, di] = sims.max(dim=1).values.sum().item()
    np.testing.assert_allclose(got, dense, rtol=1e-5, atol=1e-6)
    ids, _ = MaxSimIndex.build(docs, token_doc).search(queries, token_query, 3)
    assert (ids[:, 0] == dense.argmax(1)).all()
