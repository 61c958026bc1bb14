"""BasisNet: "Sign and Basis Invariant Networks for Spectral Graph Representation Learning" (Lim et al., ICLR 2023),
Eq. (2):

    f(V_1, ..., V_l) = rho([phi_{d_i}(V_i V_i^T)]_{i=1..l})

over the eigenspaces V_i (multiplicity d_i) among the first k eigenpairs; phi_d an invariant graph network on the
n x n projector (IGN 2 -> 2 layers, then 2 -> 1), one per multiplicity (the official ``IGNBasisInv``); rho an MLP
over the eigenspace slots in eigenvalue order. Invariant to any orthogonal change of basis inside each eigenspace.
Eigenspaces: eigenvalues closer than ``eig_tol`` (the official code rounds to 5 decimals). An eigenspace cut by
the k-th eigenpair is only partly seen, so exact invariance needs k at an eigenvalue gap (or k >= n)."""
from __future__ import annotations

from torch import nn

from shared.graphs.encodings import BasisNet
from shared.methods.graph.common import GraphPETrainer, encoding_kwargs
from shared.methods.graph.pe_config import BasisNetConfig  # torch-free
from shared.methods.graph.pe_specs import BASISNET as SPEC  # noqa: F401  (torch-free: the registry's entry)


class BasisNetTrainer(GraphPETrainer):
    config: BasisNetConfig

    def make_encoding(self) -> nn.Module:
        c = self.config
        return BasisNet(**encoding_kwargs(c), hidden=c.phi_hidden, phi_out=c.phi_out,
                        max_multiplicity=c.max_multiplicity, tol=c.eig_tol)

