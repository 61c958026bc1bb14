"""homophily: the heterophilic graph learning handbook's homophily measures as a tool ("The Heterophilic Graph
Learning Handbook", Luan et al., arXiv 2407.09618), on a contextual SBM generated at a controlled edge homophily.

One "epoch" generates the graph (``shared.graphs.homophily.contextual_sbm``: ``data.nodes`` nodes in
``data.classes`` classes, class 0 enlarged by ``data.imbalance``, expected edge homophily ``data.homophily`` or, with
``data.independent``, edges independent of the labels) and measures it. The evaluator reports edge, node, class and
adjusted homophily, label informativeness, and ``chance_homophily`` = sum_k p_bar_k^2, the edge homophily a graph
independent of its labels has: the class-imbalance bias the adjusted measure removes.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shared.graphs.homophily import LabelledGraph, all_measures, contextual_sbm, degree_weighted_class_shares
from shared.method import Evaluator, Trainer
from shared.methods.graph.pe_config import CSBMConfig, HomophilyConfig  # torch-free
from shared.methods.graph.pe_specs import HOMOPHILY as SPEC  # noqa: F401  (torch-free: the registry's entry)


def generate(cfg: CSBMConfig) -> LabelledGraph:
    return contextual_sbm(cfg.nodes, cfg.classes, None if cfg.independent else cfg.homophily, cfg.degree,
                          cfg.imbalance, cfg.feature_dim, cfg.feature_noise, cfg.seed)


class HomophilyTrainer(Trainer):
    config: HomophilyConfig

    def __init__(self, config: HomophilyConfig) -> None:
        super().__init__(config)
        self.data = generate(config.data)
        self.measures: dict[str, float] = {}

    def fit_epoch(self) -> dict[str, float]:
        self.measures = all_measures(self.data.edge_index, self.data.labels)
        shares = degree_weighted_class_shares(self.data.edge_index, self.data.labels)
        self.measures["chance_homophily"] = float(np.sum(shares**2))
        self.epoch += 1
        return {"loss": 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "measures": dict(self.measures)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.measures = dict(state["measures"])

    def artifact(self) -> dict[str, float]:
        return self.measures


class HomophilyMeasures(Evaluator):
    metrics = ("edge_homophily", "node_homophily", "class_homophily", "adjusted_homophily",
               "label_informativeness", "chance_homophily")

    def evaluate(self, artifact: dict[str, float]) -> dict[str, float]:
        return {name: float(artifact[name]) for name in self.metrics}
