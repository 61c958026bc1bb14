"""attributed_graph_distance: the RJL-style pseudometric between attributed graphs as a tool ("Generalization,
Expressivity, and Universality of Graph Neural Networks on Attributed Graphs", Rauchwerger, Jegelka, Levie, ICLR
2025; ``shared.graphs.attributed`` says which details are recalled rather than read).

One "epoch" draws ``graphs`` random attributed graphs (Erdos-Renyi, one-hot attributes) and measures, for each, the
distance to its k-fold blow-ups (k = 2 and ``blowup``) under this distance and under TMD, and the triangle inequality
over random triples. The evaluator reports ``blowup_distance`` (the largest delta(G, G[k]); 0 by the graphon
argument), ``blowup_tmd_k2`` / ``blowup_tmd_kmax`` (mean TMD(G, G[k]), which grows with k) and
``triangle_violation`` (the largest d(a, c) - d(a, b) - d(b, c); <= 0 for a pseudometric).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np

from shared.graphs.attributed import attributed_distance, blow_up
from shared.graphs.tmd import FeatureGraph, feature_graph, tmd
from shared.method import Evaluator, Trainer
from shared.methods.graph.config import AttributedDistanceConfig
from shared.methods.graph.specs import ATTRIBUTED_GRAPH_DISTANCE as SPEC  # noqa: F401  (the registry reads specs.py)


def nx_feature_graph(graph: nx.Graph, x: np.ndarray) -> FeatureGraph:
    edges = np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2).T
    return feature_graph(x, np.concatenate([edges, edges[::-1]], axis=1))


class AttributedDistanceTrainer(Trainer):
    config: AttributedDistanceConfig

    def __init__(self, config: AttributedDistanceConfig) -> None:
        super().__init__(config)
        rng = np.random.default_rng(config.seed)
        self.data = []
        for _ in range(config.graphs):
            graph = nx.gnm_random_graph(config.nodes, config.edges, seed=int(rng.integers(2**31)))
            self.data.append((graph, np.eye(config.label_types)[rng.integers(0, config.label_types, config.nodes)]))
        self.triples = rng.integers(0, config.graphs, size=(config.triples, 3))
        self.results: dict[str, float] = {}

    def fit_epoch(self) -> dict[str, float]:
        cfg = self.config
        blowup, tmd_k2, tmd_kmax = [], [], []
        for graph, x in self.data:
            base = nx_feature_graph(graph, x)
            for k in (2, cfg.blowup):
                big = nx_feature_graph(blow_up(graph, k), np.repeat(x, k, axis=0))
                blowup.append(attributed_distance(base, big, cfg.depth, cfg.mass_penalty))
                (tmd_k2 if k == 2 else tmd_kmax).append(tmd(base, big, depth=cfg.depth + 1, w=1.0))
        graphs = [nx_feature_graph(g, x) for g, x in self.data]
        pair: dict[tuple[int, int], float] = {}

        def dist(i: int, j: int) -> float:
            key = (min(i, j), max(i, j))
            if key not in pair:
                pair[key] = attributed_distance(graphs[key[0]], graphs[key[1]], cfg.depth, cfg.mass_penalty)
            return pair[key]

        violations = [dist(a, c) - dist(a, b) - dist(b, c) for a, b, c in self.triples.tolist()]
        self.results = {"blowup_distance": float(np.max(blowup)), "blowup_tmd_k2": float(np.mean(tmd_k2)),
                        "blowup_tmd_kmax": float(np.mean(tmd_kmax)),
                        "triangle_violation": float(max(violations, default=0.0))}
        self.epoch += 1
        return {"loss": 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "results": dict(self.results)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.results = dict(state["results"])

    def artifact(self) -> dict[str, float]:
        return self.results


class BlowUpInvariance(Evaluator):
    metrics = ("blowup_distance", "blowup_tmd_k2", "blowup_tmd_kmax", "triangle_violation")

    def evaluate(self, artifact: dict[str, float]) -> dict[str, float]:
        return {name: float(artifact[name]) for name in self.metrics}
