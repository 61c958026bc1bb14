"""SPE: "On the Stability of Expressive Positional Encodings for Graphs" (Huang, Lu, Robinson, Yang, Zhang, Jegelka,
Li; ICLR 2024), Eq. (3):

    SPE(V, lambda) = rho(V diag(phi_1(lambda)) V^T, ..., V diag(phi_m(lambda)) V^T)

phi_l: elementwise MLPs of the eigenvalues (the official code's ``psi``: a soft partition of the spectrum), rho a
GIN over the first node axis with the second as a batch axis, summed over the second (the code's ``phi``). The
projections make it basis- and sign-invariant; smooth phi and rho make it stable: ||SPE(L) - SPE(L')|| is bounded
by a constant times ||L - L'|| plus a term in 1 / (lambda_{k+1} - lambda_k), with no dependence on gaps inside
the used spectrum. The encoding is added to the atom embeddings of a GINE base (``pe_aggregate: add``)."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from shared.config import bounded
from shared.graphs.encodings import SPE
from shared.method import Measure, MethodSpec, Resources
from shared.methods.graph.common import GRAPH_PE_EVALUATORS, GraphPEConfig, GraphPETrainer, encoding_kwargs


@dataclass
class SPEConfig(GraphPEConfig):
    n_psis: int = bounded(8, ge=1, help="m, the number of eigenvalue functions phi_l")
    psi_hidden: int = bounded(16, ge=1)
    rho_hidden: int = bounded(16, ge=1)
    rho_layers: int = bounded(3, ge=1, help="GIN layers of rho")


class SPETrainer(GraphPETrainer):
    config: SPEConfig

    def make_encoding(self) -> nn.Module:
        c = self.config
        return SPE(**encoding_kwargs(c), n_psis=c.n_psis, psi_hidden=c.psi_hidden, hidden=c.rho_hidden,
                   rho_layers=c.rho_layers)


SPEC = MethodSpec(
    name="spe",
    paper="On the Stability of Expressive Positional Encodings for Graphs (SPE, ICLR 2024)",
    family="graph",
    config=SPEConfig,
    trainer=SPETrainer,
    evaluators=GRAPH_PE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("val_mae", "min"), Measure("test_mae", "min"), Measure("pe_stability", "min")),
    compare=("n_psis",),
    description="rho(V diag(phi_l(lambda)) V^T): stable, basis-invariant encoding, rho a GIN",
)
