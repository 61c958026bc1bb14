"""The base GNN without a positional encoding: the "no PE" row of every table in the spectral-PE papers
(SPE, Huang et al., ICLR 2024, Table 1; SignNet, Lim et al., ICLR 2023, Table 1). GINE on ZINC-style graphs."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from shared.graphs.encodings import NoPE
from shared.method import Measure, MethodSpec, Resources
from shared.methods.graph.common import GRAPH_PE_EVALUATORS, GraphPEConfig, GraphPETrainer, encoding_kwargs


@dataclass
class NoPEConfig(GraphPEConfig):
    pass


class NoPETrainer(GraphPETrainer):
    def make_encoding(self) -> nn.Module:
        return NoPE(**encoding_kwargs(self.config))


SPEC = MethodSpec(
    name="no_pe",
    paper="baseline of the spectral-PE papers: the base GNN (GINE) with no positional encoding",
    family="graph",
    config=NoPEConfig,
    trainer=NoPETrainer,
    evaluators=GRAPH_PE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("val_mae", "min"), Measure("test_mae", "min")),
    compare=("layers",),
    description="GINE alone; what every positional encoding must beat",
)
