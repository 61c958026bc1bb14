"""BasisNet: "Sign and Basis Invariant Networks for Spectral Graph Representation Learning" (Lim et al., ICLR 2023),
Eq. (2):

    f(V_1, ..., V_l) = rho([phi_{d_i}(V_i V_i^T)]_{i=1..l})

over the eigenspaces V_i (multiplicity d_i) among the first k eigenpairs; phi_d an invariant graph network on the
n x n projector (IGN 2 -> 2 layers, then 2 -> 1), one per multiplicity (the official ``IGNBasisInv``); rho an MLP
over the eigenspace slots in eigenvalue order. Invariant to any orthogonal change of basis inside each eigenspace.
Eigenspaces: eigenvalues closer than ``eig_tol`` (the official code rounds to 5 decimals). An eigenspace cut by
the k-th eigenpair is only partly seen, so exact invariance needs k at an eigenvalue gap (or k >= n)."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from shared.config import bounded
from shared.graphs.encodings import BasisNet
from shared.method import Measure, MethodSpec, Resources
from shared.methods.graph.common import GRAPH_PE_EVALUATORS, GraphPEConfig, GraphPETrainer, encoding_kwargs


@dataclass
class BasisNetConfig(GraphPEConfig):
    phi_hidden: int = bounded(16, ge=1)
    phi_out: int = bounded(4, ge=1, help="channels per eigenspace after phi")
    max_multiplicity: int = bounded(3, ge=1, help="separate phi_d for d = 1..max; larger eigenspaces share the last")
    eig_tol: float = bounded(1e-5, gt=0.0, help="eigenvalues closer than this form one eigenspace")


class BasisNetTrainer(GraphPETrainer):
    config: BasisNetConfig

    def make_encoding(self) -> nn.Module:
        c = self.config
        return BasisNet(**encoding_kwargs(c), hidden=c.phi_hidden, phi_out=c.phi_out,
                        max_multiplicity=c.max_multiplicity, tol=c.eig_tol)


SPEC = MethodSpec(
    name="basisnet",
    paper="Sign and Basis Invariant Networks for Spectral Graph Representation Learning (BasisNet, ICLR 2023)",
    family="graph",
    config=BasisNetConfig,
    trainer=BasisNetTrainer,
    evaluators=GRAPH_PE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("val_mae", "min"), Measure("test_mae", "min"), Measure("pe_stability", "min")),
    compare=("phi_hidden",),
    description="rho(phi_d(V_i V_i^T)) over eigenspaces: basis-invariant encoding with IGN phi",
)
