"""Verifiers of the Erdős graph tasks: the reward of an answer, in [0, 1] (G1, arXiv 2505.18499; the official
``utils/reward_score/graph.py``).

The answer is the content of the response's last ``\\boxed{...}`` (braces nested inside it are kept). By answer
class: ``int`` exact; ``float`` within 1e-3 (``a/b`` and ``\\frac{a}{b}`` are parsed); ``bool`` letters only,
case-insensitive (yes = true, no = false). Tasks with many valid answers are checked for validity on the rebuilt
graph (dominating set, maximal independent set, minimum vertex cover, Hamiltonian path, topological sort, shortest
path, BFS and DFS edge sequences, spanning tree of minimum weight, maximum weight matching, minimum edge cover,
isomorphism); other sets score the Jaccard similarity with the gold set (partial credit). The difficulty-scaled
reward of the official code is commented out there and is not used here.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import networkx as nx

from shared.lm.erdos import ErdosItem, min_vertex_cover_size, second_graph

FLOAT_TOL = 1e-3


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``, nested braces included; None when there is none or it is unclosed."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip()
    return None


def parse_float(text: str) -> float | None:
    """``0.25``, ``1/4``, ``\\frac{1}{4}``, ``frac{1}{4}`` -> 0.25; None when it is none of these."""
    text = text.strip().replace(" ", "")
    frac = re.fullmatch(r"\\?[dt]?frac\{(-?[\d.]+)\}\{(-?[\d.]+)\}", text) or re.fullmatch(r"(-?[\d.]+)/(-?[\d.]+)",
                                                                                          text)
    try:
        if frac:
            return float(frac.group(1)) / float(frac.group(2))
        return float(text)
    except (ValueError, ZeroDivisionError):
        return None


def parse_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else None


def parse_bool(text: str) -> bool | None:
    letters = re.sub(r"[^a-z]", "", text.lower())
    return {"yes": True, "true": True, "no": False, "false": False}.get(letters)


def parse_nodes(text: str) -> list[int]:
    return [int(v) for v in re.findall(r"-?\d+", text)]


def parse_pairs(text: str) -> list[tuple[int, int]]:
    return [(int(u), int(v)) for u, v in re.findall(r"\(\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,[^)]*)?\)", text)]


def parse_mapping(text: str) -> dict[int, int]:
    pairs = re.findall(r"(-?\d+)\s*:\s*(-?\d+)", text)
    return {int(k): int(v) for k, v in pairs} if len({k for k, _ in pairs}) == len(pairs) else {}


def jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b|; 1 for two empty sets."""
    return len(a & b) / len(a | b) if a | b else 1.0


def _edge_set(pairs: Any, directed: bool = False) -> set[tuple[int, int]]:
    return {(u, v) if directed else (min(u, v), max(u, v)) for u, v in pairs}


# -- validity checkers: (graph, item, parsed answer) -> bool ------------------------------------------------------
def _is_path(g: nx.Graph, path: list[int]) -> bool:
    return all(g.has_edge(u, v) for u, v in zip(path[:-1], path[1:], strict=True))


def _dominating(g: nx.Graph, item: ErdosItem, nodes: list[int]) -> bool:
    return set(nodes) <= set(g) and nx.is_dominating_set(g, set(nodes))


def _maximal_independent(g: nx.Graph, item: ErdosItem, nodes: list[int]) -> bool:
    s = set(nodes)
    independent = s <= set(g) and not any(g.has_edge(u, v) for u in s for v in s if u < v)
    return independent and all(s & set(g[v]) for v in set(g) - s)


def _min_vertex_cover(g: nx.Graph, item: ErdosItem, nodes: list[int]) -> bool:
    s = set(nodes)
    return (s <= set(g) and all(u in s or v in s for u, v in g.edges)
            and len(s) == min_vertex_cover_size(g))


def _hamiltonian(g: nx.Graph, item: ErdosItem, path: list[int]) -> bool:
    return sorted(path) == sorted(g) and _is_path(g, path)


def _topological(g: nx.Graph, item: ErdosItem, order: list[int]) -> bool:
    rank = {v: i for i, v in enumerate(order)}
    return sorted(order) == sorted(g) and all(rank[u] < rank[v] for u, v in g.edges)


def _shortest_path(g: nx.Graph, item: ErdosItem, path: list[int]) -> bool:
    s, t = item.samples
    if not path or path[0] != s or path[-1] != t or not set(path) <= set(g) or not _is_path(g, path):
        return False
    length = sum(g.edges[u, v].get("weight", 1) for u, v in zip(path[:-1], path[1:], strict=True))
    return length == nx.shortest_path_length(g, s, t, weight="weight")


def _traversal(g: nx.Graph, item: ErdosItem, edges: list[tuple[int, int]], depth_first: bool) -> bool:
    """Whether ``edges`` is the tree-edge sequence of some BFS / DFS from the item's node, for some neighbour order:
    every edge leaves a discovered node for a new one; BFS expands discovered nodes in discovery order, DFS the
    deepest node of the current path; a node is left behind only when it has no undiscovered neighbour."""
    (source,) = item.samples
    seen, line = {source}, [source]  # line: the BFS queue (front first) or the DFS path (top last)
    for u, v in edges:
        if u not in seen or v in seen or not g.has_edge(u, v):
            return False
        while line and (line[-1] if depth_first else line[0]) != u:
            done = line.pop() if depth_first else line.pop(0)
            if set(g[done]) - seen:
                return False
        if not line:
            return False
        seen.add(v)
        line.append(v)
    return seen == nx.node_connected_component(g, source)


def _spanning_tree(g: nx.Graph, item: ErdosItem, edges: list[tuple[int, int]]) -> bool:
    tree = nx.Graph(list(edges))
    tree.add_nodes_from(g)
    best = nx.minimum_spanning_tree(g).size(weight="weight")
    return (len(edges) == len(g) - 1 and all(g.has_edge(u, v) for u, v in edges) and nx.is_tree(tree)
            and sum(g.edges[e].get("weight", 1) for e in edges) == best)


def _matching(g: nx.Graph, item: ErdosItem, edges: list[tuple[int, int]]) -> bool:
    best = sum(g.edges[e].get("weight", 1) for e in nx.max_weight_matching(g))
    chosen = _edge_set(edges)
    return (all(g.has_edge(u, v) for u, v in chosen) and nx.is_matching(g, chosen)
            and sum(g.edges[e].get("weight", 1) for e in chosen) == best)


def _edge_cover(g: nx.Graph, item: ErdosItem, edges: list[tuple[int, int]]) -> bool:
    covered = {v for e in edges for v in e}
    return (all(g.has_edge(u, v) for u, v in edges) and covered == set(g)
            and len(_edge_set(edges)) == len(nx.min_edge_cover(g)))


def _isomorphism(g: nx.Graph, item: ErdosItem, mapping: dict[int, int]) -> bool:
    g2 = second_graph(g)
    if sorted(mapping) != sorted(g) or sorted(mapping.values()) != sorted(g2):
        return False
    return all(g2.has_edge(mapping[u], mapping[v]) for u, v in g.edges)


CHECKERS: dict[str, Callable[..., bool]] = {
    "dominating_set": _dominating,
    "maximal_independent_set": _maximal_independent,
    "min_vertex_cover": _min_vertex_cover,
    "hamiltonian_path": _hamiltonian,
    "topological_sort": _topological,
    "shortest_path": _shortest_path,
    "bfs": lambda g, item, edges: _traversal(g, item, edges, depth_first=False),
    "dfs": lambda g, item, edges: _traversal(g, item, edges, depth_first=True),
    "mst": _spanning_tree,
    "max_weight_matching": _matching,
    "min_edge_covering": _edge_cover,
    "isomorphic_mapping": _isomorphism,
}


def score_answer(item: ErdosItem, answer: str | None) -> float:
    """The reward of ``answer`` (the boxed text, already extracted) for ``item``, in [0, 1]."""
    if answer is None:
        return 0.0
    cls = item.answer_class
    if cls == "int":
        return float(parse_int(answer) == int(item.answer))
    if cls == "float":
        value = parse_float(answer)
        return float(value is not None and abs(value - float(item.answer)) < FLOAT_TOL)
    if cls == "bool":
        return float(parse_bool(answer) == bool(item.answer))
    parsed: Any = {"pair_set": parse_pairs, "mapping": parse_mapping}.get(cls, parse_nodes)(answer)
    if item.task in CHECKERS:
        return float(CHECKERS[item.task](item.graph(), item, parsed))
    if cls == "pair_set":
        return jaccard(_edge_set(parsed, item.directed), _edge_set(item.answer, item.directed))
    return jaccard(set(parsed), set(item.answer))


def reward(item: ErdosItem, response: str) -> float:
    """The reward of a full response: its last boxed answer scored against ``item``; 0 without one."""
    return score_answer(item, last_boxed(response))
