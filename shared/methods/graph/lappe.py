"""LapPE: Laplacian-eigenvector positional encodings with random sign flips, the baseline that SignNet, BasisNet
and SPE improve on ("Benchmarking Graph Neural Networks", Dwivedi et al., JMLR 2023, Sec. 5; used as the
"sign flip" baseline of SignNet, Lim et al., ICLR 2023, Table 5). PE = Linear(V s), s in {+1,-1}^k drawn per graph
and eigenvector at every training step; no flips at evaluation. ``sign: abs`` is the |V| baseline of the
filter-learning experiment, ``sign: none`` the raw eigenvectors."""
from __future__ import annotations

from torch import nn

from shared.graphs.encodings import LapPE
from shared.methods.graph.common import GraphPETrainer, encoding_kwargs
from shared.methods.graph.pe_config import LapPEConfig  # torch-free
from shared.methods.graph.pe_specs import LAPPE as SPEC  # noqa: F401  (torch-free: the registry's entry)


class LapPETrainer(GraphPETrainer):
    config: LapPEConfig

    def make_encoding(self) -> nn.Module:
        return LapPE(**encoding_kwargs(self.config), sign=self.config.sign)

