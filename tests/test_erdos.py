"""The Erdős task generator and its verifiers (shared/lm/erdos.py, shared/lm/graph_verify.py), on graphs small
enough to check by hand."""
from __future__ import annotations

import itertools
import random

import networkx as nx
import pytest

from shared.lm.erdos import TASKS, TIERS, format_answer, generate, make_item, min_vertex_cover_size, real_subgraph
from shared.lm.graph_verify import last_boxed, reward, score_answer


def path_graph() -> nx.Graph:
    return nx.path_graph(4)  # 0 - 1 - 2 - 3


def tree() -> nx.Graph:
    return nx.Graph([(0, 1), (0, 2), (1, 3), (2, 4)])


def test_the_last_boxed_answer_is_extracted_with_nested_braces():
    assert last_boxed("first \\boxed{1}, then \\boxed{\\frac{1}{3}} done") == "\\frac{1}{3}"
    assert last_boxed("\\boxed{{0: 1, 1: 0}}") == "{0: 1, 1: 0}"
    assert last_boxed("no answer") is None and last_boxed("\\boxed{3") is None


def test_the_generator_is_reproducible_covers_every_tier_and_writes_the_papers_prompt():
    assert [t for t in TIERS if not any(s.tier == t for s in TASKS.values())] == []
    one, two = generate(["degree", "topological_sort"], 3, seed=7), generate(["degree", "topological_sort"], 3, seed=7)
    assert one == two and one != generate(["degree", "topological_sort"], 3, seed=8)
    item = make_item("degree", path_graph(), (1,))
    assert item.answer == 2 and item.prompt() == (
        "Here is an undirected graph containing nodes from 0 to 3. The edges are: (0, 1), (1, 2), (2, 3).\n"
        "Question: What is the degree of node 1?\n"
        "Let's think step by step and output the final answer within \\boxed{}.")
    g = real_subgraph("karate", 9, random.Random(0))
    assert sorted(g) == list(range(9)) and nx.is_connected(g)


def corrupt(gold, cls: str) -> str:
    if cls == "mapping":
        return format_answer({k: gold[(k + 1) % len(gold)] for k in gold}, cls)
    return {"int": str(gold + 1), "bool": format_answer(not gold, cls)}.get(cls) or format_answer(gold + 0.01, cls)


def test_every_task_accepts_its_gold_answer_and_rejects_a_corrupted_one():
    for item in generate(list(TASKS), 2, seed=0, nodes=(5, 8)):
        assert reward(item, f"so \\boxed{{{item.answer_text()}}}") == 1.0, item.task
        cls, gold = item.answer_class, item.answer
        if cls in ("int", "float", "bool", "mapping"):
            assert score_answer(item, corrupt(gold, cls)) == 0.0, item.task
        else:
            filled = "[(0, 1), (1, 2)]" if cls == "pair_set" else "[0, 1, 2, 3]"
            assert score_answer(item, "[]" if gold else filled) < 1.0, item.task


def test_float_tolerance_fractions_and_booleans():
    item = make_item("clustering_coefficient", nx.Graph([(0, 1), (0, 2), (0, 3), (1, 2)]), (0,))
    assert item.answer == pytest.approx(1 / 3)
    for ok in ("0.333", "0.3334", "1/3", "\\frac{1}{3}", "frac{1}{3}"):
        assert score_answer(item, ok) == 1.0, ok
    for bad in ("0.33", "0.3345", "1/0", "a third"):
        assert score_answer(item, bad) == 0.0, bad
    edge = make_item("edge_existence", path_graph(), (1, 2))
    assert [score_answer(edge, a) for a in ("Yes", "YES.", "true", "No", "maybe")] == [1, 1, 1, 0, 0]


def test_alternative_valid_answers_are_accepted_and_invalid_ones_rejected():
    dag = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)])
    topo = make_item("topological_sort", dag, ())
    orders = ("[0, 2, 1, 3]", "[0, 1, 2, 3]", "[1, 0, 2, 3]", "[0, 1, 3]")
    assert [score_answer(topo, a) for a in orders] == [1, 1, 0, 0]
    dom = make_item("dominating_set", path_graph(), ())
    assert [score_answer(dom, a) for a in ("[1, 2]", "[0, 3]", "[0, 1]")] == [1, 1, 0]
    cover = make_item("min_vertex_cover", path_graph(), ())
    assert [score_answer(cover, a) for a in ("[1, 2]", "[0, 2]", "[1, 3]", "[0, 1, 2]", "[1]")] == [1, 1, 1, 0, 0]
    mis = make_item("maximal_independent_set", path_graph(), ())
    assert [score_answer(mis, a) for a in ("[0, 2]", "[0, 3]", "[1, 3]", "[0]", "[0, 1]")] == [1, 1, 1, 0, 0]
    triangle = nx.Graph()
    triangle.add_weighted_edges_from([(0, 1, 1), (1, 2, 2), (0, 2, 2)])
    mst = make_item("mst", triangle, ())
    assert [score_answer(mst, a) for a in ("[(0, 1), (1, 2)]", "[(1, 0), (0, 2)]", "[(1, 2), (0, 2)]")] == [1, 1, 0]
    sp = make_item("shortest_path", triangle, (1, 2))
    assert [score_answer(sp, a) for a in ("[1, 2]", "[1, 0, 2]", "[2, 1]")] == [1, 0, 0]  # 1-0-2 weighs 3, 1-2 2
    ham = make_item("hamiltonian_path", nx.Graph([(0, 1), (1, 2), (2, 3), (0, 2)]), ())
    assert [score_answer(ham, a) for a in ("[3, 2, 1, 0]", "[1, 0, 2, 3]", "[0, 1, 2]", "[0, 3, 2, 1]")] == [1, 1, 0, 0]


def test_traversals_accept_any_neighbour_order_but_only_their_own_discipline():
    bfs, dfs = make_item("bfs", tree(), (0,)), make_item("dfs", tree(), (0,))
    breadth = ["[(0, 1), (0, 2), (1, 3), (2, 4)]", "[(0, 2), (0, 1), (2, 4), (1, 3)]"]
    depth = ["[(0, 1), (1, 3), (0, 2), (2, 4)]", "[(0, 2), (2, 4), (0, 1), (1, 3)]"]
    assert [score_answer(bfs, a) for a in breadth + depth] == [1, 1, 0, 0]
    assert [score_answer(dfs, a) for a in breadth + depth] == [0, 0, 1, 1]
    assert score_answer(dfs, "[(0, 1), (1, 3), (0, 2)]") == 0  # node 4 never reached


def test_set_answers_without_a_checker_get_jaccard_partial_credit():
    star = nx.Graph([(0, 1), (0, 2), (0, 3), (3, 4)])
    neighbours = make_item("neighbor", star, (0,))
    assert score_answer(neighbours, "[1, 2, 4]") == pytest.approx(2 / 4)
    assert score_answer(neighbours, "[3, 2, 1]") == 1.0
    bridges = make_item("bridges", star, ())
    assert score_answer(bridges, "[(1, 0), (4, 3)]") == pytest.approx(2 / 4)  # 4 bridges, 2 named, order-free


def test_isomorphism_mapping_and_the_exact_minimum_cover():
    g = nx.Graph([(0, 1), (1, 2)])
    g.graph["perm"] = ((0, 2), (1, 0), (2, 1))  # G2 has edges (2, 0), (0, 1)
    iso = make_item("isomorphic_mapping", g, (), g.graph["perm"])
    assert score_answer(iso, "{0: 2, 1: 0, 2: 1}") == 1.0
    assert score_answer(iso, "{0: 1, 1: 0, 2: 2}") == 1.0  # another isomorphism: 0-1-2 -> 1-0-2
    assert score_answer(iso, "{0: 0, 1: 1, 2: 2}") == 0.0 and score_answer(iso, "{0: 2, 1: 0}") == 0.0
    rng = random.Random(0)
    for _ in range(20):
        h = nx.gnp_random_graph(7, 0.4, seed=rng.randrange(1000))
        brute = min(len(c) for r in range(8) for c in itertools.combinations(h, r)
                    if all(u in c or v in c for u, v in h.edges))
        assert min_vertex_cover_size(h) == brute
