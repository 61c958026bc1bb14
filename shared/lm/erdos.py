"""Erdős-style graph reasoning tasks (the G1 paper's data set, arXiv 2505.18499), generated offline.

An item is a graph, a task and the task's arguments (``samples``: a node, a pair of nodes), rendered as the paper's
prompt ("Here is an undirected graph containing nodes from 0 to 6. The edges are: (0, 1), (0, 5), ... Question:
...") and answered by NetworkX. Graphs are connected subgraphs of NetworkX's built-in real graphs (karate club,
Florentine families, Les Misérables, Davis southern women), grown by breadth-first search from a random node, or
random graphs; nodes are relabelled 0..n-1 (the original names are not kept, as in the paper). Directed tasks get a
random orientation (acyclic where the task needs it), weighted tasks integer weights 1..9.

Each task has an answer class (the paper's ``task_class``): ``int``, ``float``, ``bool``, ``set`` (of nodes),
``pair_set`` (of edges), ``list`` (an ordered node sequence) or ``mapping`` (an isomorphism). How each class and
task is verified lives in :mod:`shared.lm.graph_verify`. Answers are rendered as the text a model puts inside
``\\boxed{}``: ``5``, ``0.3333``, ``Yes``, ``[1, 3, 4]``, ``[(0, 1), (1, 2)]``, ``{0: 2, 1: 0}``.

The task set is the paper's four tiers, less travelling salesman and bipartite matching (not built here).
"""
from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx

from shared.lm.config import TIERS  # noqa: F401  (torch-free: the G1 spec names its metrics; re-exported)

Args = tuple[int, ...]
REAL_GRAPHS: dict[str, Callable[[], nx.Graph]] = {
    "karate": nx.karate_club_graph,
    "florentine": nx.florentine_families_graph,
    "les_miserables": nx.les_miserables_graph,
    "davis": nx.davis_southern_women_graph,
}


@dataclass(frozen=True)
class TaskDef:
    """One task: its tier, answer class, graph kind, how many node arguments it draws, its question and gold."""

    tier: str
    answer_class: str
    kind: str  # undirected | directed | dag | weighted | flow (directed, weighted)
    n_args: int
    question: Callable[[Args], str]
    gold: Callable[[nx.Graph, Args], Any]
    needs: Callable[[nx.Graph, Args], bool] = lambda g, a: True  # the item is well-posed (e.g. t reachable from s)


def _conn(g: nx.Graph, a: Args) -> bool:
    return nx.is_connected(g)


def _reach(g: nx.Graph, a: Args) -> bool:
    return a[0] != a[1] and nx.has_path(g, a[0], a[1])


def _distinct(g: nx.Graph, a: Args) -> bool:
    return len(set(a)) == len(a)


def _has_neighbour(g: nx.Graph, a: Args) -> bool:
    return g.degree(a[0]) > 0


def _hamiltonian_path(g: nx.Graph) -> list[int] | None:
    """A Hamiltonian path by dynamic programming over subsets (graphs of <= 16 nodes), or None."""
    nodes = sorted(g)
    n = len(nodes)
    if n > 16:
        raise ValueError("hamiltonian_path: at most 16 nodes")
    index = {v: i for i, v in enumerate(nodes)}
    adj = [sum(1 << index[u] for u in g[v]) for v in nodes]
    parent: dict[tuple[int, int], int] = {(1 << i, i): -1 for i in range(n)}
    for mask in range(1, 1 << n):
        for last in range(n):
            if (mask, last) not in parent:
                continue
            free = adj[last] & ~mask
            while free:
                nxt = (free & -free).bit_length() - 1
                free &= free - 1
                parent.setdefault((mask | 1 << nxt, nxt), last)
    full = (1 << n) - 1
    end = next((v for v in range(n) if (full, v) in parent), None)
    if end is None:
        return None
    path, mask = [], full
    while end != -1:
        path.append(nodes[end])
        end, mask = parent[(mask, end)], mask & ~(1 << end)
    return path[::-1]


def min_vertex_cover_size(g: nx.Graph) -> int:
    """Exact: n minus the largest independent set, i.e. minus the largest clique of the complement (networkx's
    branch and bound), so no ILP solver is needed (the paper's code switches to PuLP/CBC above 20 nodes)."""
    if g.number_of_edges() == 0:
        return 0
    _, size = nx.max_weight_clique(nx.complement(g), weight=None)
    return g.number_of_nodes() - size


def _weight(g: nx.Graph, edges: Any) -> int:
    return sum(g.edges[e].get("weight", 1) for e in edges)


def _q(text: str) -> Callable[[Args], str]:
    return lambda a: text.format(*a)


U, D, DAG, W, FLOW = "undirected", "directed", "dag", "weighted", "flow"
TASKS: dict[str, TaskDef] = {
    # easy
    "node_number": TaskDef("easy", "int", U, 0, _q("How many nodes are in the graph?"),
                           lambda g, a: g.number_of_nodes()),
    "edge_number": TaskDef("easy", "int", U, 0, _q("How many edges are in the graph?"),
                           lambda g, a: g.number_of_edges()),
    "edge_existence": TaskDef("easy", "bool", U, 2, _q("Is there an edge between node {0} and node {1}?"),
                              lambda g, a: g.has_edge(*a), _distinct),
    "degree": TaskDef("easy", "int", U, 1, _q("What is the degree of node {0}?"), lambda g, a: g.degree(a[0])),
    "neighbor": TaskDef("easy", "set", U, 1, _q("What are the neighbors of node {0}?"),
                        lambda g, a: sorted(g[a[0]])),
    "common_neighbor": TaskDef("easy", "set", U, 2, _q("What are the common neighbors of node {0} and node {1}?"),
                               lambda g, a: sorted(nx.common_neighbors(g, *a)), _distinct),
    "has_cycle": TaskDef("easy", "bool", U, 0, _q("Does the graph contain a cycle?"),
                         lambda g, a: bool(nx.cycle_basis(g))),
    "density": TaskDef("easy", "float", U, 0, _q("What is the density of the graph?"), lambda g, a: nx.density(g)),
    "is_regular": TaskDef("easy", "bool", U, 0, _q("Is the graph regular?"), lambda g, a: nx.is_regular(g)),
    "is_tournament": TaskDef("easy", "bool", D, 0, _q("Is the directed graph a tournament?"),
                             lambda g, a: nx.tournament.is_tournament(g)),
    "dominating_set": TaskDef("easy", "set", U, 0, _q("Give a dominating set of the graph."),
                              lambda g, a: sorted(nx.dominating_set(g))),
    "bfs": TaskDef("easy", "pair_set", U, 1, _q("Give the edges of a breadth-first search traversal from node {0}."),
                   lambda g, a: list(nx.bfs_edges(g, a[0])), _has_neighbour),
    "dfs": TaskDef("easy", "pair_set", U, 1, _q("Give the edges of a depth-first search traversal from node {0}."),
                   lambda g, a: list(nx.dfs_edges(g, a[0])), _has_neighbour),
    "mst": TaskDef("easy", "pair_set", W, 0, _q("Give the edges of a minimum spanning tree of the graph."),
                   lambda g, a: sorted(tuple(sorted(e)) for e in nx.minimum_spanning_edges(g, data=False)), _conn),
    # medium
    "clustering_coefficient": TaskDef("medium", "float", U, 1, _q("What is the clustering coefficient of node {0}?"),
                                      lambda g, a: nx.clustering(g, a[0])),
    "connected_component_number": TaskDef("medium", "int", U, 0, _q("How many connected components does the graph "
                                          "have?"), lambda g, a: nx.number_connected_components(g)),
    "is_bipartite": TaskDef("medium", "bool", U, 0, _q("Is the graph bipartite?"), lambda g, a: nx.is_bipartite(g)),
    "jaccard_coefficient": TaskDef("medium", "float", U, 2, _q("What is the Jaccard coefficient of node {0} and node "
                                   "{1}?"), lambda g, a: next(nx.jaccard_coefficient(g, [a]))[2], _distinct),
    "adamic_adar": TaskDef("medium", "float", U, 2, _q("What is the Adamic-Adar index of node {0} and node {1}?"),
                           lambda g, a: next(nx.adamic_adar_index(g, [a]))[2], _distinct),
    "resource_allocation": TaskDef("medium", "float", U, 2, _q("What is the resource allocation index of node {0} and "
                                   "node {1}?"), lambda g, a: next(nx.resource_allocation_index(g, [a]))[2], _distinct),
    "is_eulerian": TaskDef("medium", "bool", U, 0, _q("Is the graph Eulerian?"), lambda g, a: nx.is_eulerian(g)),
    "degree_centrality": TaskDef("medium", "float", U, 1, _q("What is the degree centrality of node {0}?"),
                                 lambda g, a: nx.degree_centrality(g)[a[0]]),
    "local_connectivity": TaskDef("medium", "int", U, 2, _q("What is the local node connectivity between node {0} "
                                  "and node {1}?"), lambda g, a: nx.connectivity.local_node_connectivity(g, *a),
                                  lambda g, a: _distinct(g, a) and not g.has_edge(*a)),
    "min_edge_covering": TaskDef("medium", "pair_set", U, 0, _q("Give a minimum edge cover of the graph."),
                                 lambda g, a: sorted(tuple(sorted(e)) for e in nx.min_edge_cover(g)),
                                 lambda g, a: not any(d == 0 for _, d in g.degree())),
    # hard
    "shortest_path": TaskDef("hard", "list", W, 2, _q("Give a shortest (weighted) path from node {0} to node {1}."),
                             lambda g, a: nx.shortest_path(g, *a, weight="weight"), _reach),
    "diameter": TaskDef("hard", "int", U, 0, _q("What is the diameter of the graph?"), lambda g, a: nx.diameter(g),
                        _conn),
    "radius": TaskDef("hard", "int", U, 0, _q("What is the radius of the graph?"), lambda g, a: nx.radius(g), _conn),
    "center": TaskDef("hard", "set", U, 0, _q("What is the center of the graph?"), lambda g, a: sorted(nx.center(g)),
                      _conn),
    "periphery": TaskDef("hard", "set", U, 0, _q("What is the periphery of the graph?"),
                         lambda g, a: sorted(nx.periphery(g)), _conn),
    "barycenter": TaskDef("hard", "set", U, 0, _q("What is the barycenter of the graph?"),
                          lambda g, a: sorted(nx.barycenter(g)), _conn),
    "triangles": TaskDef("hard", "int", U, 1, _q("How many triangles include node {0}?"),
                         lambda g, a: nx.triangles(g, a[0])),
    "bridges": TaskDef("hard", "pair_set", U, 0, _q("What are the bridges of the graph?"),
                       lambda g, a: sorted(tuple(sorted(e)) for e in nx.bridges(g))),
    "topological_sort": TaskDef("hard", "list", DAG, 0, _q("Give a topological sort of the directed graph."),
                                lambda g, a: list(nx.topological_sort(g))),
    "strongly_connected_number": TaskDef("hard", "int", D, 0, _q("How many strongly connected components does the "
                                         "directed graph have?"),
                                         lambda g, a: nx.number_strongly_connected_components(g)),
    "max_weight_matching": TaskDef("hard", "pair_set", W, 0, _q("Give a maximum weight matching of the graph."),
                                   lambda g, a: sorted(tuple(sorted(e)) for e in nx.max_weight_matching(g))),
    "closeness_centrality": TaskDef("hard", "float", U, 1, _q("What is the closeness centrality of node {0}?"),
                                    lambda g, a: nx.closeness_centrality(g, a[0])),
    "harmonic_centrality": TaskDef("hard", "float", U, 1, _q("What is the harmonic centrality of node {0}?"),
                                   lambda g, a: nx.harmonic_centrality(g, nbunch=[a[0]])[a[0]]),
    "betweenness_centrality": TaskDef("hard", "float", U, 1, _q("What is the betweenness centrality of node {0}?"),
                                      lambda g, a: nx.betweenness_centrality(g)[a[0]]),
    "average_neighbor_degree": TaskDef("hard", "float", U, 1, _q("What is the average neighbor degree of node {0}?"),
                                       lambda g, a: nx.average_neighbor_degree(g, nodes=[a[0]])[a[0]]),
    # challenging
    "maximal_independent_set": TaskDef("challenging", "set", U, 0, _q("Give a maximal independent set of the graph."),
                                       lambda g, a: sorted(nx.maximal_independent_set(g, seed=0))),
    "min_vertex_cover": TaskDef("challenging", "set", U, 0, _q("Give a minimum vertex cover of the graph."),
                                lambda g, a: sorted(_brute_min_cover(g))),
    "hamiltonian_path": TaskDef("challenging", "list", U, 0, _q("Give a Hamiltonian path of the graph."),
                                lambda g, a: _hamiltonian_path(g), lambda g, a: _hamiltonian_path(g) is not None),
    "isomorphic_mapping": TaskDef("challenging", "mapping", U, 0, _q("Give an isomorphism from graph G1 (above) to "
                                  "graph G2 (below) as a mapping from G1's nodes to G2's."),
                                  lambda g, a: _isomorphism(g)),
    "wiener_index": TaskDef("challenging", "float", U, 0, _q("What is the Wiener index of the graph?"),
                            lambda g, a: nx.wiener_index(g), _conn),
    "global_efficiency": TaskDef("challenging", "float", U, 0, _q("What is the global efficiency of the graph?"),
                                 lambda g, a: nx.global_efficiency(g)),
    "max_flow": TaskDef("challenging", "int", FLOW, 2, _q("What is the maximum flow from node {0} to node {1}?"),
                        lambda g, a: nx.maximum_flow_value(g, *a, capacity="weight"), _reach),
}


def _brute_min_cover(g: nx.Graph) -> set[int]:
    """A minimum vertex cover: the complement of a maximum independent set (max clique of the complement)."""
    if g.number_of_edges() == 0:
        return set()
    clique, _ = nx.max_weight_clique(nx.complement(g), weight=None)
    return set(g) - set(clique)


def _isomorphism(g: nx.Graph) -> dict[int, int]:
    """The gold mapping G1 -> G2, where G2 is G1 under the permutation stored on the graph (graph['perm'])."""
    return dict(g.graph["perm"])


def second_graph(g: nx.Graph) -> nx.Graph:
    """The isomorphism task's G2: G1 relabelled by its stored permutation."""
    return nx.relabel_nodes(g, dict(g.graph["perm"]))


@dataclass(frozen=True)
class ErdosItem:
    """One record, in the paper's fields: task, nodes [0, n), edges (2- or 3-tuples), samples, direction; plus the
    gold answer (a Python value) and, for the isomorphism task, the permutation that makes G2."""

    task: str
    n: int
    edges: tuple[tuple[int, ...], ...]
    samples: Args
    directed: bool
    answer: Any
    perm: tuple[tuple[int, int], ...] = ()

    def graph(self) -> nx.Graph:
        """The item's graph, rebuilt from its fields (verifiers check answers on it)."""
        g = nx.DiGraph() if self.directed else nx.Graph()
        g.add_nodes_from(range(self.n))
        for e in self.edges:
            g.add_edge(e[0], e[1], **({"weight": e[2]} if len(e) == 3 else {}))
        g.graph["perm"] = self.perm
        return g

    @property
    def answer_class(self) -> str:
        return TASKS[self.task].answer_class

    def prompt(self) -> str:
        """The paper's prompt (preprocess_graph.py): the graph, the question, the step-by-step instruction."""
        return render_prompt(self)

    def answer_text(self) -> str:
        return format_answer(self.answer, self.answer_class)


def format_answer(value: Any, answer_class: str) -> str:
    """The text of an answer as it goes inside ``\\boxed{}``."""
    if answer_class == "bool":
        return "Yes" if value else "No"
    if answer_class == "float":
        return f"{float(value):.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if answer_class in ("set", "list"):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if answer_class == "pair_set":
        return "[" + ", ".join(f"({u}, {v})" for u, v in value) + "]"
    if answer_class == "mapping":
        return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(value.items())) + "}"
    return str(int(value))


def _edge_text(edges: Any, weighted: bool) -> str:
    if weighted:
        return ", ".join(f"({u}, {v}, weight:{w})" for u, v, w in edges)
    return ", ".join(f"({e[0]}, {e[1]})" for e in edges)


def render_prompt(item: ErdosItem) -> str:
    weighted = bool(item.edges) and len(item.edges[0]) == 3
    kind = "a directed" if item.directed else "an undirected"
    text = (f"Here is {kind} graph containing nodes from 0 to {item.n - 1}. The edges are: "
            f"{_edge_text(item.edges, weighted)}.")
    if item.task == "isomorphic_mapping":
        g2 = second_graph(item.graph())
        text = (f"Here are two undirected graphs G1 and G2, each containing nodes from 0 to {item.n - 1}. "
                f"The edges of G1 are: {_edge_text(item.edges, False)}. "
                f"The edges of G2 are: {_edge_text(sorted(tuple(sorted(e)) for e in g2.edges), False)}.")
    question = TASKS[item.task].question(item.samples)
    return (f"{text}\nQuestion: {question}\n"
            "Let's think step by step and output the final answer within \\boxed{}.")


# -- graphs -------------------------------------------------------------------------------------------------------
@functools.cache
def _real_graph(name: str) -> nx.Graph:
    """Built once per process (Les Misérables is parsed from text on every call of its constructor)."""
    return nx.Graph(REAL_GRAPHS[name]())


def real_subgraph(name: str, n: int, rng: random.Random) -> nx.Graph:
    """A connected subgraph of ``n`` nodes of a built-in real graph, grown breadth-first from a random node in a
    random neighbour order, relabelled 0..n-1 in a random order."""
    full = _real_graph(name)
    start = rng.choice(sorted(full, key=str))
    seen, frontier = [start], [start]
    while frontier and len(seen) < n:
        v = frontier.pop(0)
        nbrs = sorted(full[v], key=str)
        rng.shuffle(nbrs)
        for u in nbrs:
            if u not in seen and len(seen) < n:
                seen.append(u)
                frontier.append(u)
    labels = list(range(len(seen)))
    rng.shuffle(labels)
    label = dict(zip(seen, labels, strict=True))
    g = nx.Graph()
    g.add_nodes_from(range(len(seen)))
    g.add_edges_from((label[u], label[v]) for u, v in full.subgraph(seen).edges)
    return g


def random_graph(n: int, rng: random.Random, p: float | None = None) -> nx.Graph:
    p = rng.uniform(0.2, 0.6) if p is None else p
    return nx.gnp_random_graph(n, p, seed=rng.randrange(2**31))


def shape_graph(g: nx.Graph, kind: str, rng: random.Random) -> nx.Graph:
    """The task's graph kind: orientation (acyclic by a random node order for ``dag``; a random direction per edge
    for ``directed``, plus some reversed copies) and integer weights 1..9 for ``weighted`` and ``flow``."""
    if kind in (D, DAG, FLOW):
        order = list(g)
        rng.shuffle(order)
        rank = {v: i for i, v in enumerate(order)}
        h = nx.DiGraph()
        h.add_nodes_from(g)
        for u, v in g.edges:
            u, v = (u, v) if rank[u] < rank[v] else (v, u)
            if kind == DAG:
                h.add_edge(u, v)
            else:
                h.add_edge(*((u, v) if rng.random() < 0.5 else (v, u)))
                if rng.random() < 0.2:
                    h.add_edge(v, u)
        g = h
    if kind in (W, FLOW):
        for e in g.edges:
            g.edges[e]["weight"] = rng.randint(1, 9)
    return g


def make_item(task: str, g: nx.Graph, samples: Args, perm: tuple[tuple[int, int], ...] = ()) -> ErdosItem:
    """An item of ``task`` on ``g`` (nodes 0..n-1) with its gold answer from NetworkX."""
    spec = TASKS[task]
    g.graph["perm"] = perm
    weighted = spec.kind in (W, FLOW)
    edges = sorted((u, v, g.edges[u, v]["weight"]) if weighted else (u, v) for u, v in g.edges)
    if not g.is_directed():
        edges = sorted((min(e[0], e[1]), max(e[0], e[1]), *e[2:]) for e in edges)
    return ErdosItem(task, g.number_of_nodes(), tuple(edges), tuple(samples), g.is_directed(),
                     spec.gold(g, samples), perm)


def sample_item(task: str, rng: random.Random, nodes: tuple[int, int] = (5, 12), source: str = "mixed",
                tries: int = 200) -> ErdosItem:
    """A well-posed random item of ``task`` with ``nodes[0]..nodes[1]`` nodes. ``source``: ``real`` (subgraphs of
    the built-in graphs), ``random`` (G(n, p)) or ``mixed`` (either, evenly)."""
    if task not in TASKS:
        raise ValueError(f"unknown Erdős task {task!r}; known: {', '.join(TASKS)}")
    spec = TASKS[task]
    for _ in range(tries):
        n = rng.randint(*nodes)
        use_real = source == "real" or (source == "mixed" and rng.random() < 0.5)
        g = real_subgraph(rng.choice(sorted(REAL_GRAPHS)), n, rng) if use_real else random_graph(n, rng)
        g = shape_graph(g, spec.kind, rng)  # both sources label nodes 0..n-1
        samples = tuple(rng.randrange(g.number_of_nodes()) for _ in range(spec.n_args))
        if not spec.needs(g, samples):
            continue
        perm: tuple[tuple[int, int], ...] = ()
        if task == "isomorphic_mapping":
            shuffled = list(range(g.number_of_nodes()))
            rng.shuffle(shuffled)
            perm = tuple(enumerate(shuffled))
        return make_item(task, g, samples, perm)
    raise ValueError(f"no well-posed {task} item in {tries} tries with {nodes} nodes")


def generate(tasks: list[str] | tuple[str, ...], n_per_task: int, seed: int | str, nodes: tuple[int, int] = (5, 12),
             source: str = "mixed") -> list[ErdosItem]:
    """``n_per_task`` items of each task, reproducible from ``seed`` (one random stream per task)."""
    return [sample_item(task, random.Random(f"{seed}:{task}:{i}"), nodes, source)
            for task in tasks for i in range(n_per_task)]


def tasks_of(tier: str) -> list[str]:
    return [name for name, spec in TASKS.items() if spec.tier == tier]
