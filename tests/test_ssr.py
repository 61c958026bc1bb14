"""SSR's math on hand-computable cases: dense MaxSim (the sparse index's reference), the pruned multi-stage mode,
the mean pooling and dropout views of the contrastive term, the sentence batches, the k-means baseline, and one
tiny end-to-end run of the registered method on cached MiniLM token vectors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.methods.sparse.ssr import kmeans_codes, sentence_mean
from shared.sparse.losses import inbatch_infonce
from shared.sparse.maxsim import MaxSimIndex, dense_maxsim
from shared.sparse.sae import topk_relu


def random_codes(n: int, latents: int, k: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return topk_relu(torch.randn(n, latents, generator=g), k)


def test_dense_maxsim_by_hand_keeps_negative_maxima_and_scores_a_document_without_tokens_zero():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # query 0: tokens 0, 1; query 1: token 2
    token_query = torch.tensor([0, 0, 1])
    d = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, -1.0]])  # document 0: tokens 0, 1; document 2: token 2
    token_doc = torch.tensor([0, 0, 2])  # document 1 has no tokens
    # q0: max(1, .6) + max(0, .8) = 1.8 on doc 0; 0 + (-1) = -1 on doc 2.  q1: max(-1, -.6) = -.6; 0 on doc 2
    expected = torch.tensor([[1.8, 0.0, -1.0], [-0.6, 0.0, 0.0]])
    torch.testing.assert_close(dense_maxsim(q, token_query, d, token_doc), expected)
    torch.testing.assert_close(dense_maxsim(q, token_query, d, token_doc, block=1), expected)  # blocks split queries


def test_sparse_maxsim_in_query_blocks_equals_dense_maxsim_on_the_same_codes():
    rng = np.random.default_rng(0)
    token_doc = np.repeat(np.arange(40), rng.integers(1, 6, size=40))
    token_query = np.repeat(np.arange(9), rng.integers(1, 5, size=9))
    docs, queries = random_codes(len(token_doc), 48, 3, 1), random_codes(len(token_query), 48, 3, 2)
    index = MaxSimIndex.build(docs, token_doc)
    index.query_block = 2  # several blocks, the last one short
    dense = dense_maxsim(queries, torch.as_tensor(token_query), docs, torch.as_tensor(token_doc))
    np.testing.assert_allclose(index.scores(queries, token_query), dense.numpy(), rtol=1e-5, atol=1e-6)


def test_pruned_maxsim_is_exact_when_nothing_is_pruned_and_mostly_agrees_on_top1_when_pruned():
    rng = np.random.default_rng(3)
    token_doc = np.repeat(np.arange(300), rng.integers(2, 8, size=300))
    token_query = np.repeat(np.arange(40), rng.integers(2, 6, size=40))
    docs, queries = random_codes(len(token_doc), 128, 8, 4), random_codes(len(token_query), 128, 8, 5)
    index = MaxSimIndex.build(docs, token_doc)
    exact = index.scores(queries, token_query)
    ids, vals = index.search_pruned(queries, token_query, 5, prune=8, candidates=300)  # keeps all: exact
    np.testing.assert_allclose(vals, np.sort(exact, axis=1)[:, ::-1][:, :5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.take_along_axis(exact, ids, axis=1), vals, rtol=1e-5, atol=1e-6)
    ids, vals = index.search_pruned(queries, token_query, 5, prune=3, candidates=30)
    np.testing.assert_allclose(np.take_along_axis(exact, ids, axis=1), vals, rtol=1e-5, atol=1e-6)  # exact rerank
    assert (ids[:, 0] == exact.argmax(1)).mean() >= 0.8


def test_sentence_mean_by_hand_and_identical_views_give_positive_similarity_one():
    codes = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0]])
    pooled = sentence_mean(codes, torch.tensor([0, 0, 1]), 2)
    torch.testing.assert_close(pooled, torch.tensor([[2.0, 1.0], [0.0, 4.0]]))
    # with view_dropout 0 the two views coincide: InfoNCE with cos(i, i) = 1 (CSR's identical-view case)
    tau = 0.2
    cos01 = 1.0 / 5**0.5  # cos((2, 1), (0, 4))
    expected = -1 / tau + np.log(np.exp(1 / tau) + np.exp(cos01 / tau))
    assert inbatch_infonce(pooled, pooled, tau).item() == pytest.approx(expected, rel=1e-5)


def test_kmeans_baseline_replaces_each_token_by_one_of_its_centroids():
    x = torch.nn.functional.normalize(torch.randn(200, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    coded, seconds = kmeans_codes(x, 5, seed=0)
    assert coded.shape == x.shape and seconds >= 0
    assert len(torch.unique(coded, dim=0)) <= 5
    nearest = (x @ torch.unique(coded, dim=0).T).argmax(1)  # spherical k-means: the most similar centroid
    torch.testing.assert_close(coded, torch.unique(coded, dim=0)[nearest])


@pytest.fixture(scope="module")
def tiny_run():
    from shared.registry import get_method

    spec = get_method("ssr")
    cfg = spec.load_config(["epochs=1", "threads=1", "data.n_docs=12", "batch_size=16", "k=8", "hidden=256",
                            "kmeans_centroids=64", "candidates=4"])
    trainer = spec.make_trainer(cfg)
    return spec, cfg, trainer


def test_sentence_batches_hold_whole_sentences_of_the_documents(tiny_run):
    _, _, trainer = tiny_run
    d = trainer.data
    x, sentence = next(trainer.batches())
    assert int(sentence.max()) + 1 == 16 and (sentence[1:] >= sentence[:-1]).all()
    lengths = torch.bincount(d.sentence_of_doc_token)
    assert len(x) == len(sentence)
    first = x[sentence == 0]  # the tokens of one training sentence, in order
    match = [s for s in range(d.n_sentences) if lengths[s] == len(first)
             and torch.equal(d.doc_x[d.sentence_of_doc_token == s], first)]
    assert len(match) == 1
    # every query's tokens come from held-out sentences: none of them is a document token
    assert not (d.query_x[:5, None, :] == d.doc_x[None, :, :]).all(-1).any()


def test_ssr_trains_and_reports_sparse_dense_and_kmeans_maxsim(tiny_run):
    spec, cfg, trainer = tiny_run
    metrics = trainer.fit_epoch()
    assert {"recon", "auxk", "cl"} <= set(metrics)
    out = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert set(out) == set(spec.metric_names()) - {"loss"}
    assert out["active_dims"] <= 8 and 0 <= out["ndcg_at_10"] <= 1 and 0 <= out["ndcg_at_10_kmeans"] <= 1
    assert out["ndcg_at_10_dense"] > 0.5  # 12 documents: chance nDCG@10 is about 0.38
