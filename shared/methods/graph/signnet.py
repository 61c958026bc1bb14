"""SignNet: "Sign and Basis Invariant Networks for Spectral Graph Representation Learning" (Lim, Robinson, Zhao,
Smidt, Sra, Maron, Jegelka; ICLR 2023), Eq. (1):

    f(v_1, ..., v_k) = rho([phi(v_i) + phi(-v_i)]_{i=1..k})

phi is a GIN over the graph applied to every eigenvector with shared weights (the official PyG code's ``GNN3d``),
or with ``phi=deepsets`` a DeepSets over the nodes that ignores edges (the official LearningFilters code's
``--sign_inv_net DS``, so that SignNet sees no more of the graph than an edge-free base and its baselines), rho
an MLP over the concatenation. Exactly invariant to each sign flip v_i -> -v_i. As in the official PyG ZINC code,
eigenvalues are not an input unless ``use_eigvals``."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from shared.config import bounded
from shared.graphs.encodings import SignNet
from shared.method import Measure, MethodSpec, Resources
from shared.methods.graph.common import GRAPH_PE_EVALUATORS, GraphPEConfig, GraphPETrainer, encoding_kwargs


@dataclass
class SignNetConfig(GraphPEConfig):
    phi_hidden: int = bounded(16, ge=1)
    phi_out: int = bounded(4, ge=1, help="channels per eigenvector after phi")
    phi_layers: int = bounded(3, ge=1, help="GIN layers of phi")
    use_eigvals: bool = bounded(False, help="feed each eigenvalue to phi beside its eigenvector")
    phi: str = bounded("gin", choices=["gin", "deepsets"],
                       help="gin: message passing over the edges; deepsets: no edges (the official filter code's DS)")


class SignNetTrainer(GraphPETrainer):
    config: SignNetConfig

    def make_encoding(self) -> nn.Module:
        c = self.config
        return SignNet(**encoding_kwargs(c), hidden=c.phi_hidden, phi_out=c.phi_out, phi_layers=c.phi_layers,
                       use_eigvals=c.use_eigvals, phi=c.phi)


SPEC = MethodSpec(
    name="signnet",
    paper="Sign and Basis Invariant Networks for Spectral Graph Representation Learning (SignNet, ICLR 2023)",
    family="graph",
    config=SignNetConfig,
    trainer=SignNetTrainer,
    evaluators=GRAPH_PE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("val_mae", "min"), Measure("test_mae", "min"), Measure("pe_stability", "min")),
    compare=("phi_layers",),
    description="rho(phi(v_i) + phi(-v_i)): sign-invariant eigenvector encoding, phi a GIN or an edge-free DeepSets",
)
