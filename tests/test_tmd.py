"""Tree Mover's Distance: the card's pseudometric checks (identity, permutation invariance, symmetry, the
triangle inequality on 200 random triples, 1-WL-equivalent graphs at 0, blank padding), a two-star example computed
by hand, and the three solvers (the per-pair programme, the official code's ot.emd2 form, the memoised data-set
cache) agreeing."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from shared.graphs.tmd import FeatureGraph, TreeCache, distance_matrix, feature_graph, tmd, tmd_pot


def from_nx(graph: nx.Graph, x: np.ndarray | None = None) -> FeatureGraph:
    graph = nx.convert_node_labels_to_integers(graph)
    n = graph.number_of_nodes()
    edges = np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2).T
    ei = np.concatenate([edges, edges[::-1]], axis=1)
    return feature_graph(np.ones((n, 1)) if x is None else x, ei)


def random_labelled_graph(rng: np.random.Generator) -> FeatureGraph:
    n = int(rng.integers(5, 13))
    graph = nx.gnm_random_graph(n, int(rng.integers(n - 1, 2 * n)), seed=int(rng.integers(2**31)))
    return from_nx(graph, np.eye(3)[rng.integers(0, 3, size=n)])


def permuted(g: FeatureGraph, perm: np.ndarray) -> FeatureGraph:
    inverse = np.argsort(perm)  # new index of old node i is inverse[i]
    return FeatureGraph(g.x[perm], [inverse[g.neighbours[old]] for old in perm])


def test_two_stars_by_hand():
    # S3 (centre + 3 leaves) vs S2, constant features 1, depth 2, w = 0.5. Depth-2 trees: centre_a-centre_b 0.5
    # (one child to a blank of cost 1, times w), leaf_a-leaf_b 0, blanks: leaf 1 + 0.5 = 1.5. Best graph transport:
    # centres 0.5, two leaf pairs 0, the third leaf of S3 to a blank 1.5 -> 2.0.
    a, b = from_nx(nx.star_graph(3)), from_nx(nx.star_graph(2))
    assert tmd(a, b, depth=2, w=0.5) == pytest.approx(2.0)
    assert tmd_pot(a, b, depth=2, w=0.5) == pytest.approx(2.0)
    # depth 1: features only, one unmatched node at cost ||x|| = 1
    assert tmd(a, b, depth=1) == pytest.approx(1.0)


def test_identity_permutation_invariance_and_symmetry():
    rng = np.random.default_rng(0)
    for _ in range(10):
        g, h = random_labelled_graph(rng), random_labelled_graph(rng)
        assert tmd(g, g, depth=3) == 0.0
        assert tmd(g, permuted(g, rng.permutation(g.num_nodes)), depth=3) == pytest.approx(0.0, abs=1e-12)
        assert tmd(g, h, depth=3) == pytest.approx(tmd(h, g, depth=3), abs=1e-12)


def test_triangle_inequality_on_200_random_triples():
    rng = np.random.default_rng(1)
    graphs = [random_labelled_graph(rng) for _ in range(30)]
    d = distance_matrix(graphs, depth=3, w=0.5)
    triples = rng.integers(0, len(graphs), size=(200, 3))
    slack = d[triples[:, 0], triples[:, 1]] + d[triples[:, 1], triples[:, 2]] - d[triples[:, 0], triples[:, 2]]
    assert slack.min() >= -1e-8


def test_one_wl_equivalent_graphs_are_at_zero_and_a_label_change_is_not():
    c6 = from_nx(nx.cycle_graph(6))
    two_triangles = from_nx(nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3)))
    assert tmd(c6, two_triangles, depth=4) == pytest.approx(0.0, abs=1e-12)
    relabelled = FeatureGraph(c6.x.copy(), c6.neighbours)
    relabelled.x[0] = 2.0
    assert tmd(c6, relabelled, depth=4) > 0.1


def test_an_isolated_zero_feature_node_is_a_blank_tree():
    g = from_nx(nx.path_graph(4), np.eye(3)[[0, 1, 2, 0]])
    padded = FeatureGraph(np.vstack([g.x, np.zeros((1, 3))]), [*g.neighbours, np.array([], dtype=np.int64)])
    assert tmd(g, padded, depth=3) == pytest.approx(0.0, abs=1e-12)  # a pseudometric, not a metric


def test_list_depth_weights_and_their_length_is_checked():
    a, b = from_nx(nx.star_graph(3)), from_nx(nx.star_graph(2))
    # depth 3 with w = [0.5, 2]: the programme and the emd2 transcription agree
    assert tmd(a, b, depth=3, w=[0.5, 2.0]) == pytest.approx(tmd_pot(a, b, depth=3, w=[0.5, 2.0]))
    with pytest.raises(ValueError, match="need 2 values"):
        tmd(a, b, depth=3, w=[0.5])


def test_assignment_emd2_and_the_memoised_cache_agree():
    rng = np.random.default_rng(2)
    graphs = [random_labelled_graph(rng) for _ in range(6)]
    graphs.append(from_nx(nx.path_graph(5), rng.normal(size=(5, 3))))  # continuous features, a different size
    graphs.append(from_nx(nx.star_graph(4), rng.normal(size=(5, 3))))
    cache = TreeCache(graphs, depth=4, w=[1 / 3, 1.0, 3.0])
    for i, j in [(0, 1), (2, 3), (4, 5), (6, 7), (1, 5)]:
        direct = tmd(graphs[i], graphs[j], depth=4, w=[1 / 3, 1.0, 3.0])
        assert tmd_pot(graphs[i], graphs[j], depth=4, w=[1 / 3, 1.0, 3.0]) == pytest.approx(direct, abs=1e-9)
        assert cache.graph_distance(i, j) == pytest.approx(direct, abs=1e-9)


def test_the_planted_motif_set_follows_the_card():
    # class 1 = a random tree plus a cycle labelled 0, 1, 2, ... joined by one edge; class 0 a tree; same node range
    from shared.graphs.motifs import planted_motif_set

    for motif, k in (("triangle", 3), ("hexagon", 6)):
        graphs, classes = planted_motif_set(60, 10, 20, 3, seed=7, motif=motif)
        assert classes.sum() == 30
        for g, label in zip(graphs, classes, strict=True):
            n = g.num_nodes
            assert 10 <= n <= 20
            edges = sum(len(nbrs) for nbrs in g.neighbours) // 2
            assert edges == n - 1 + label  # a tree, or a tree plus one cycle
            if label:
                assert (g.x[n - k:].argmax(axis=1) == np.arange(k) % 3).all()
                assert all(len(set(g.neighbours[v]) & set(range(n - k, n))) == 2 for v in range(n - k, n))
    with pytest.raises(ValueError, match="must exceed"):
        planted_motif_set(4, 3, 6, 3, seed=0)


def test_a_motif_that_does_not_fit_is_a_config_error():
    from shared.config import ConfigError
    from shared.registry import get_method

    with pytest.raises(ConfigError, match="data.min_nodes"):
        get_method("tmd").load_config(["data.min_nodes=6", "data.motif=hexagon"])


# -- TMD-SVM on the planted-motif set (configs/reproduce/tmd_svm.yaml): 150 graphs, class 1 with a triangle labelled
# 0, 1, 2 (the card's "labelled motif"); depth 3 chosen on tuning seeds 0, 1 (TMD-SVM 0.956 / 1.000; depth 4 1.000 /
# 1.000 at 3x the CPU); asserted on held-out seeds 2, 3, 4 with data.seed = seed (measured 0.956, 0.956, 0.933 vs the
# histogram SVM's 0.644, 0.467, 0.600). Figures in REPRODUCTION.md.
HELD_OUT_SEEDS = [2, 3, 4]
_svm: dict[str, dict] = {}


def svm_outcome() -> dict:
    from jobs.reproduce import compare

    if "out" not in _svm:
        _svm["out"] = compare("tmd_svm", seeds=HELD_OUT_SEEDS)
        import warnings

        warnings.warn(f"tmd_svm, held-out seeds {HELD_OUT_SEEDS}: {_svm['out']}", stacklevel=1)
    return _svm["out"]["tmd"]


@pytest.mark.slow
def test_tmd_svm_beats_the_label_histogram_svm_on_planted_motifs(local_ray):
    out = svm_outcome()
    # the histogram SVM is at chance by construction (same node-count law and mean label histogram in both classes)
    assert np.mean(out["tmd_svm_accuracy"]) >= np.mean(out["histogram_svm_accuracy"]) + 0.1
    assert all(t > h for t, h in zip(out["tmd_svm_accuracy"], out["histogram_svm_accuracy"], strict=True))


@pytest.mark.slow
def test_tmd_svm_reaches_the_cards_accuracy_on_planted_motifs(local_ray):
    assert min(svm_outcome()["tmd_svm_accuracy"]) >= 0.85


def test_the_benchmarks_recursive_transcription_gives_the_same_distances():
    from jobs.bench_graph_distance import recursive_tmd

    a, b = from_nx(nx.star_graph(3)), from_nx(nx.star_graph(2))
    assert recursive_tmd(a, b, depth=2, w=0.5) == pytest.approx(2.0)  # the two stars by hand
    rng = np.random.default_rng(5)
    g, h = random_labelled_graph(rng), random_labelled_graph(rng)
    assert recursive_tmd(g, h, depth=3, w=[0.5, 2.0]) == pytest.approx(tmd(g, h, depth=3, w=[0.5, 2.0]), abs=1e-9)


@pytest.mark.parametrize("seed", HELD_OUT_SEEDS)
def test_a_random_sum_gin_moves_with_tmd(seed):
    # The stability claim: Pearson r(||dh||, TMD) > 0.5 for a sum-GIN with depth - 1 layers (card). 40 planted-motif
    # graphs, depth 3, w = 1, all 780 pairs, GIN init and data both seeded by the held-out seed. Tuning
    # seeds 0, 1 gave r = 0.60, 0.76 (held-out seeds 2, 3: 0.64, 0.79).
    from shared.graphs.motifs import planted_motif_set
    from shared.methods.graph.tmd import stability_correlation

    graphs, _ = planted_motif_set(40, 10, 20, 3, seed)
    assert stability_correlation(graphs, depth=3, w=1.0, hidden=32, seed=seed) > 0.5


@pytest.mark.parametrize("seed", HELD_OUT_SEEDS)
def test_a_random_sum_gin_obeys_its_lipschitz_bound_in_tmd(seed):
    # ||h(G_a) - h(G_b)|| <= prod ||W_t||_2 (1 + 1/w)^L TMD_w^{L+1} for every pair (a bound, not a fitted claim; the
    # card: "the ratio is bounded above by the product of layer Lipschitz constants"). 30 planted-motif graphs, L = 2
    # layers at depth 3, two depth weights; the largest ratio must also come within 100x of C (measured 0.03-0.06 C).
    from shared.graphs.motifs import planted_motif_set
    from shared.methods.graph.tmd import gin_lipschitz_constant, sum_gin_embeddings, sum_gin_weights

    graphs, _ = planted_motif_set(30, 10, 20, 3, seed)
    embeddings = sum_gin_embeddings(graphs, 2, 32, seed)
    change = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=-1)
    constant_by_w = {}
    for w in (0.5, 2.0):
        distances = distance_matrix(graphs, depth=3, w=w)
        constant = gin_lipschitz_constant(sum_gin_weights(graphs[0].x.shape[1], 2, 32, seed), w)
        assert (change <= constant * distances + 1e-9).all()
        iu = np.triu_indices(len(graphs), k=1)
        constant_by_w[w] = float((change[iu] / distances[iu]).max() / constant)
        assert constant_by_w[w] > 0.01
