"""SignNet: "Sign and Basis Invariant Networks for Spectral Graph Representation Learning" (Lim, Robinson, Zhao,
Smidt, Sra, Maron, Jegelka; ICLR 2023), Eq. (1):

    f(v_1, ..., v_k) = rho([phi(v_i) + phi(-v_i)]_{i=1..k})

phi is a GIN over the graph applied to every eigenvector with shared weights (the official PyG code's ``GNN3d``),
or with ``phi=deepsets`` a DeepSets over the nodes that ignores edges (the official LearningFilters code's
``--sign_inv_net DS``, so that SignNet sees no more of the graph than an edge-free base and its baselines), rho
an MLP over the concatenation. Exactly invariant to each sign flip v_i -> -v_i. As in the official PyG ZINC code,
eigenvalues are not an input unless ``use_eigvals``."""
from __future__ import annotations

from torch import nn

from shared.graphs.encodings import SignNet
from shared.methods.graph.common import GraphPETrainer, encoding_kwargs
from shared.methods.graph.pe_config import SignNetConfig  # torch-free
from shared.methods.graph.pe_specs import SIGNNET as SPEC  # noqa: F401  (torch-free: the registry's entry)


class SignNetTrainer(GraphPETrainer):
    config: SignNetConfig

    def make_encoding(self) -> nn.Module:
        c = self.config
        return SignNet(**encoding_kwargs(c), hidden=c.phi_hidden, phi_out=c.phi_out, phi_layers=c.phi_layers,
                       use_eigvals=c.use_eigvals, phi=c.phi)

