"""The base GNN without a positional encoding: the "no PE" row of every table in the spectral-PE papers
(SPE, Huang et al., ICLR 2024, Table 1; SignNet, Lim et al., ICLR 2023, Table 1). GINE on ZINC-style graphs."""
from __future__ import annotations

from torch import nn

from shared.graphs.encodings import NoPE
from shared.methods.graph.common import GraphPETrainer, encoding_kwargs
from shared.methods.graph.pe_config import NoPEConfig  # noqa: F401  (torch-free; re-exported)
from shared.methods.graph.pe_specs import NO_PE as SPEC  # noqa: F401  (torch-free: the registry's entry)


class NoPETrainer(GraphPETrainer):
    def make_encoding(self) -> nn.Module:
        return NoPE(**encoding_kwargs(self.config))

