"""neural_sfe: the extensions' properties (F(1_S) = f(S), level-set weights, the Lovasz extension equal to the
convex closure of a submodular f against a brute-force LP at n = 6 and 8, and not for a non-submodular one), the
neural SFE's weights against the pairwise double sum, clique_v4 and level-set edge counts by hand, decoding, resume,
and the card's max-clique claim on held-out seeds (shared/methods/graph/neural_sfe.py)."""
from __future__ import annotations

import copy
import itertools

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from shared.graphs.set_extensions import (
    clique_objective,
    edges_of_level_sets,
    level_set_weights,
    lovasz_extension,
    neural_weights,
)
from shared.graphs.solvers import is_clique
from shared.methods.graph.neural_sfe import SPEC, build_network, decode_cliques, dense_graphs


def cut_function(graph: nx.Graph):
    return lambda s: float(nx.cut_size(graph, s)) if 0 < len(s) < graph.number_of_nodes() else 0.0


def clique_v4(graph: nx.Graph):
    def f(s: frozenset[int]) -> float:
        edges = graph.subgraph(s).number_of_edges()
        pairs = len(s) * (len(s) - 1) / 2
        return -((edges / pairs) ** 2) * edges if pairs else 0.0
    return f


def convex_closure(x: np.ndarray, f) -> float:
    """min sum_S lambda_S f(S) s.t. sum_S lambda_S 1_S = x, sum lambda = 1, lambda >= 0, over all 2^n sets."""
    n = len(x)
    sets = [frozenset(c) for k in range(n + 1) for c in itertools.combinations(range(n), k)]
    indicators = np.array([[i in s for s in sets] for i in range(n)], dtype=float)
    a_eq = np.vstack([indicators, np.ones(len(sets))])
    res = linprog([f(s) for s in sets], A_eq=a_eq, b_eq=np.append(x, 1.0), bounds=(0, None), method="highs")
    assert res.status == 0
    return float(res.fun)


def test_the_lovasz_extension_at_an_indicator_is_the_set_function():
    graph = nx.gnp_random_graph(7, 0.5, seed=0)
    rng = np.random.default_rng(0)
    for f in (cut_function(graph), clique_v4(graph)):
        for _ in range(20):
            s = frozenset(np.flatnonzero(rng.random(7) < 0.5).tolist())
            assert lovasz_extension(np.isin(np.arange(7), list(s)).astype(float), f) == pytest.approx(f(s))


def test_level_set_weights_are_non_negative_and_sum_to_the_largest_entry():
    x = torch.rand(5, 9)
    order, p = level_set_weights(x)
    assert torch.all(p >= 0)
    assert torch.allclose(p.sum(-1), x.max(-1).values)
    assert torch.equal(x.gather(1, order), x.sort(-1, descending=True).values)


@pytest.mark.parametrize("n", [6, 8])
def test_lovasz_is_the_convex_closure_of_a_submodular_function_by_brute_force(n):
    rng = np.random.default_rng(n)
    graph = nx.gnp_random_graph(n, 0.5, seed=n)
    sqrt_size = lambda s: float(np.sqrt(len(s)))  # noqa: E731  concave of the cardinality: submodular
    for f in (cut_function(graph), sqrt_size):
        for _ in range(5):
            x = rng.random(n)
            assert lovasz_extension(x, f) == pytest.approx(convex_closure(x, f), abs=1e-7)


def test_for_a_non_submodular_function_lovasz_lies_above_the_convex_closure():
    graph = nx.gnp_random_graph(6, 0.5, seed=1)
    f = clique_v4(graph)  # not submodular: the check above would fail for it
    rng = np.random.default_rng(1)
    gaps = [lovasz_extension(x, f) - convex_closure(x, f) for x in rng.random((10, 6))]
    assert min(gaps) >= -1e-7 and max(gaps) > 1e-3


def test_neural_weights_by_hand_and_as_the_pairwise_intersection_sum():
    p = torch.tensor([[0.5, 0.3, 0.2]])
    # w_k = p_k^2 + 2 p_k sum_{j>k} p_j: 0.25 + 2(0.5)(0.5), 0.09 + 2(0.3)(0.2), 0.04
    assert torch.allclose(neural_weights(p), torch.tensor([[0.75, 0.21, 0.04]]))
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.random((1, 6)))
    order, p = level_set_weights(x)
    f = torch.tensor(rng.normal(size=6))  # any values f(S_1), ..., f(S_6) of the nested level sets
    pairwise = sum(p[0, a] * p[0, b] * f[min(a, b)] for a in range(6) for b in range(6))  # f(S_a cap S_b)
    assert (neural_weights(p)[0] * f).sum().item() == pytest.approx(pairwise.item())
    assert neural_weights(p).sum().item() == pytest.approx(x.max().item() ** 2)
    indicator = torch.tensor([[1.0, 0.0, 1.0, 1.0]])  # at 1_S the extension is f(S): all weight on |S| = 3
    assert neural_weights(level_set_weights(indicator)[1]).tolist() == [[0.0, 0.0, 1.0, 0.0]]


def test_clique_objective_and_level_set_edges_by_hand():
    # a 4-clique: -(1^2) 6 = -6; a path on 3 nodes: density 2/3, -(4/9) 2
    assert clique_objective(torch.tensor([6.0, 2.0]), torch.tensor([4.0, 3.0])).tolist() == pytest.approx([-6, -8 / 9])
    assert clique_objective(torch.tensor([0.0]), torch.tensor([1.0])).item() == 0.0
    # triangle 0-1-2 plus pendant 3 on node 2; order 3, 2, 0, 1: level sets {3}, {3,2}, {3,2,0}, all
    graph = nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3)])
    adjacency, _ = dense_graphs([graph])
    edges = edges_of_level_sets(adjacency, torch.tensor([[3, 2, 0, 1]]))
    assert edges.tolist() == [[0, 1, 2, 4]]


def test_batched_lovasz_of_clique_v4_equals_the_reference_form():
    graphs = [nx.gnp_random_graph(n, 0.5, seed=n) for n in (5, 7)]
    adjacency, mask = dense_graphs(graphs)
    x = torch.rand(2, 7, generator=torch.Generator().manual_seed(0)) * mask
    order, p = level_set_weights(x)
    sizes = torch.arange(1, 8, dtype=x.dtype).expand_as(p)
    batched = (p * clique_objective(edges_of_level_sets(adjacency, order), sizes)).sum(-1)
    for b, g in enumerate(graphs):
        n = g.number_of_nodes()
        assert batched[b].item() == pytest.approx(lovasz_extension(x[b, :n].numpy(), clique_v4(g)), abs=1e-5)


def test_decoded_sets_are_cliques_and_training_resumes_exactly():
    cfg = SPEC.load_config(["epochs=2", "data.train_graphs=16", "batch_size=8", "hidden=16", "layers=2"])
    straight = SPEC.make_trainer(cfg)
    straight.fit_epoch()
    resumed = SPEC.make_trainer(cfg)
    resumed.load_state_dict(copy.deepcopy(straight.state_dict()))
    assert straight.fit_epoch() == resumed.fit_epoch()
    graphs = straight.graphs[:8]
    for g, found in zip(graphs, decode_cliques(build_network(cfg), graphs, cfg.columns), strict=True):
        assert len(found) >= 1 and is_clique(g, found)


# -- the card's claim (configs/reproduce/neural_sfe_clique.yaml): 300 planted-clique graphs, 30 epochs, lr 3e-4
# (chosen on seeds 0, 1 over 1e-3, where the neural SFE stalled at the all-ones point on one seed of two); asserted on
# held-out seeds 2, 3 with data.seed = seed. Figures in REPRODUCTION.md.
HELD_OUT = [2, 3]


@pytest.fixture(scope="module")
def clique_outcome(local_ray):
    from jobs.reproduce import compare

    out = compare("neural_sfe_clique", seeds=HELD_OUT)
    print(out)
    return out


@pytest.mark.slow
def test_sfe_finds_near_maximum_cliques_above_straight_through_and_random_init(clique_outcome):
    out = clique_outcome
    for arm in ("neural", "lovasz"):
        for s in range(len(HELD_OUT)):
            ratio = out[arm]["approx_ratio"][s]
            assert ratio >= 0.8
            assert ratio > out[arm]["random_init_ratio"][s]
            assert out[arm]["clique_share"][s] == 1.0
    for s in range(len(HELD_OUT)):
        assert out["neural"]["approx_ratio"][s] > out["straight_through"]["approx_ratio"][s]


# Straight-through's outcome depends on the machine's floating-point kernels: on seed 2 it reached 0.683 on the
# earlier sessions' machines and 0.903 on an AMD EPYC with AVX2 kernels (2026-12-03), above Lovasz's 0.872 there
# (neural 0.940 stays above it): not strict (REPRODUCTION.md).
@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="machine-dependent: seed 2 Lovasz 0.902 vs straight-through 0.683 on the "
                                        "earlier machines, 0.872 vs 0.903 with AVX2 kernels")
def test_lovasz_decodes_larger_cliques_than_straight_through_on_every_seed(clique_outcome):
    out = clique_outcome
    for s in range(len(HELD_OUT)):
        assert out["lovasz"]["approx_ratio"][s] > out["straight_through"]["approx_ratio"][s]
