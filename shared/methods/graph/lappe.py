"""LapPE: Laplacian-eigenvector positional encodings with random sign flips, the baseline that SignNet, BasisNet
and SPE improve on ("Benchmarking Graph Neural Networks", Dwivedi et al., JMLR 2023, Sec. 5; used as the
"sign flip" baseline of SignNet, Lim et al., ICLR 2023, Table 5). PE = Linear(V s), s in {+1,-1}^k drawn per graph
and eigenvector at every training step; no flips at evaluation. ``sign: abs`` is the |V| baseline of the
filter-learning experiment, ``sign: none`` the raw eigenvectors."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from shared.config import bounded
from shared.graphs.encodings import LapPE
from shared.method import Measure, MethodSpec, Resources
from shared.methods.graph.common import GRAPH_PE_EVALUATORS, GraphPEConfig, GraphPETrainer, encoding_kwargs


@dataclass
class LapPEConfig(GraphPEConfig):
    sign: str = bounded("flip", choices=["flip", "abs", "none"], help="random sign flips in training, |V|, or raw V")


class LapPETrainer(GraphPETrainer):
    config: LapPEConfig

    def make_encoding(self) -> nn.Module:
        return LapPE(**encoding_kwargs(self.config), sign=self.config.sign)


SPEC = MethodSpec(
    name="lappe",
    paper="Laplacian eigenvector PE with random sign flips (Dwivedi et al., Benchmarking GNNs; baseline of SignNet)",
    family="graph",
    config=LapPEConfig,
    trainer=LapPETrainer,
    evaluators=GRAPH_PE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("val_mae", "min"), Measure("test_mae", "min"), Measure("pe_stability", "min")),
    compare=("sign",),
    description="Linear map of the first k eigenvectors, signs flipped at random while training",
)
