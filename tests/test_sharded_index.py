"""Corpus coding and index building as Ray tasks over shards (``jobs/sharded_index.py``): the stacked shards give
the same index and the same search results as coding the whole corpus in one process; the bench uses it. And the
index's exact top-k selection (group maxima bound which documents can enter the top k) by hand and at scale."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from jobs.sharded_index import encode_sharded, shard_sizes, synthetic_sharded
from shared.methods.sparse.csr import SAECoder
from shared.sparse.index import InvertedIndex
from shared.sparse.sae import TiedTopKSAE


def test_shard_sizes_by_hand():
    assert shard_sizes(10, 3) == [4, 3, 3] and shard_sizes(2, 4) == [1, 1] and sum(shard_sizes(1001, 8)) == 1001


def test_sharded_coding_equals_coding_in_one_process(local_ray):
    torch.manual_seed(0)
    coder = SAECoder(TiedTopKSAE(16, 64), k=4)
    x = torch.randn(503, 16)
    sharded = encode_sharded(coder, x, shards=4)
    with torch.no_grad():
        whole = InvertedIndex.build(F.normalize(coder(x), dim=1))
    assert sharded.n_docs == 503 and (sharded.postings != whole.postings).nnz == 0
    with torch.no_grad():
        queries = F.normalize(coder(torch.randn(20, 16)), dim=1)
    ids_a, vals_a = sharded.search(queries, 5)
    ids_b, vals_b = whole.search(queries, 5)
    np.testing.assert_array_equal(ids_a, ids_b)
    np.testing.assert_allclose(vals_a, vals_b)


def test_synthetic_codes_in_shards_have_k_non_zeros_per_row(local_ray):
    codes = synthetic_sharded(1000, 64, 8, seed=0, shards=3)
    assert codes.shape == (1000, 64) and (np.diff(codes.indptr) == 8).all()
    assert (codes != synthetic_sharded(1000, 64, 8, seed=0, shards=3)).nnz == 0  # seeded per shard


def test_bench_builds_its_corpus_in_ray_tasks(local_ray):
    from jobs.bench_retrieval import main

    rows = main(["--docs", "400", "--latents", "64", "--queries", "8", "--ks", "8", "--repeats", "1", "--shards", "2"])
    assert rows[0]["same_scores"]


def test_top_k_columns_by_hand_ties_negatives_and_padding():
    from shared.sparse.index import top_k_columns

    scores = np.array([[0.0, -1.0, 0.0], [3.0, -2.0, 0.0], [0.0, -0.5, 0.0], [1.0, -3.0, 0.0], [2.0, -4.0, 0.0]],
                      dtype=np.float32)  # columns: positives, all negative (the best is -0.5), all tied
    ids, vals = top_k_columns(scores, 2, group=2)  # 5 documents in groups of 2: the last group padded
    assert ids[0].tolist() == [1, 4] and vals[0].tolist() == [3.0, 2.0]
    assert ids[1].tolist() == [2, 0] and vals[1].tolist() == [-0.5, -1.0]
    assert vals[2].tolist() == [0.0, 0.0] and len(set(ids[2].tolist())) == 2


def test_search_over_a_large_corpus_equals_dense_scoring_with_signed_codes_and_ties():
    from shared.sparse.sae import topk_relu

    g = torch.Generator().manual_seed(0)
    docs = topk_relu(torch.randn(5000, 256, generator=g), 4)
    docs[::3] *= -1  # signed values: untouched documents (score 0) can outrank touched ones
    docs[4000:4100] = docs[0]  # 100 identical documents: tied scores across groups
    queries = topk_relu(torch.randn(30, 256, generator=g), 4)
    queries[1] = docs[0]
    ids, vals = InvertedIndex.build(docs, block=16).search(queries, 10)
    dense = (queries @ docs.T).numpy()
    np.testing.assert_allclose(vals, np.sort(dense, axis=1)[:, ::-1][:, :10], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.take_along_axis(dense, ids, axis=1), vals, rtol=1e-5, atol=1e-6)
    assert all(len(set(row)) == 10 for row in ids.tolist())  # distinct documents
