"""1-WL colour refinement (Weisfeiler & Leman, 1968), the yardstick of message-passing expressivity used in the
group's GNN-theory survey: a message-passing GNN can separate two graphs only if 1-WL does (Xu et al., ICLR 2019,
Lemma 2; Morris et al., AAAI 2019), so a pair that 1-WL cannot tell apart is a pair a plain MPNN maps to the
same output whatever its weights.

Refinement, run on the disjoint union of the graphs so that colours are comparable across them:
    c^{t+1}(v) = HASH(c^t(v), {{c^t(u) : u in N(v)}})
until the partition stops getting finer; two graphs are distinguished when their colour histograms differ.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import networkx as nx
import torch
from torch_geometric.data import Data

from shared.graphs.generated import nx_to_data


def adjacency_lists(data: Data) -> list[list[int]]:
    neighbours: list[list[int]] = [[] for _ in range(int(data.num_nodes))]
    for u, v in data.edge_index.t().tolist():
        if u != v:
            neighbours[u].append(v)
    return neighbours


def wl_colours(graphs: Sequence[Data], rounds: int | None = None,
               initial: Sequence[torch.Tensor] | None = None) -> list[list[int]]:
    """Stable 1-WL colours of every node of every graph (refined jointly). ``initial``: starting colours per
    graph (e.g. atom types); default one colour. ``rounds``: stop early after this many refinements."""
    neighbours = [adjacency_lists(g) for g in graphs]
    colours = [list(map(int, initial[i].view(-1).tolist())) if initial is not None else [0] * int(g.num_nodes)
               for i, g in enumerate(graphs)]
    classes = len({c for cs in colours for c in cs})
    limit = rounds if rounds is not None else sum(int(g.num_nodes) for g in graphs)
    for _ in range(limit):
        signatures = [[(cs[v], tuple(sorted(cs[u] for u in nbrs[v]))) for v in range(len(cs))]
                      for cs, nbrs in zip(colours, neighbours, strict=True)]
        palette = {sig: i for i, sig in enumerate(sorted({s for sigs in signatures for s in sigs}))}
        colours = [[palette[s] for s in sigs] for sigs in signatures]
        if len(palette) == classes:  # no class split: the partition is stable
            break
        classes = len(palette)
    return colours


def wl_distinguishes(g1: Data, g2: Data, rounds: int | None = None) -> bool:
    """True when 1-WL gives the two graphs different colour histograms (then they are not isomorphic)."""
    c1, c2 = wl_colours([g1, g2], rounds)
    return Counter(c1) != Counter(c2)


def known_pairs() -> dict[str, tuple[Data, Data, bool]]:
    """Named non-isomorphic pairs with the known 1-WL verdict (True = 1-WL distinguishes them)."""
    decalin = nx.cycle_graph(6)
    decalin.add_edges_from([(0, 6), (6, 7), (7, 8), (8, 9), (9, 5)])  # two fused hexagons sharing edge 0-5
    bicyclopentyl = nx.cycle_graph(5)
    bicyclopentyl.add_edges_from([(0, 5), (5, 6), (6, 7), (7, 8), (8, 9), (9, 5)])  # two pentagons joined by 0-5
    rook = nx.cartesian_product(nx.complete_graph(4), nx.complete_graph(4))  # 4x4 rook's graph
    shrikhande = nx.Graph()
    for a in range(4):
        for b in range(4):
            for da, db in ((0, 1), (1, 0), (1, 1)):  # Cayley graph of Z4 x Z4 with generators +-(0,1),(1,0),(1,1)
                shrikhande.add_edge((a, b), ((a + da) % 4, (b + db) % 4))
    return {
        "two_triangles_vs_hexagon": (nx_to_data(nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3))),
                                     nx_to_data(nx.cycle_graph(6)), False),
        "decalin_vs_bicyclopentyl": (nx_to_data(decalin), nx_to_data(bicyclopentyl), False),
        "rook4x4_vs_shrikhande": (nx_to_data(rook), nx_to_data(shrikhande), False),
        "path4_vs_star4": (nx_to_data(nx.path_graph(4)), nx_to_data(nx.star_graph(3)), True),
        "hexagon_vs_path6": (nx_to_data(nx.cycle_graph(6)), nx_to_data(nx.path_graph(6)), True),
        "triangle_tail_vs_square": (nx_to_data(nx.lollipop_graph(3, 1)), nx_to_data(nx.cycle_graph(4)), True),
    }
