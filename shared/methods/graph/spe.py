"""SPE: "On the Stability of Expressive Positional Encodings for Graphs" (Huang, Lu, Robinson, Yang, Zhang, Jegelka,
Li; ICLR 2024), Eq. (3):

    SPE(V, lambda) = rho(V diag(phi_1(lambda)) V^T, ..., V diag(phi_m(lambda)) V^T)

phi_l: elementwise MLPs of the eigenvalues (the official code's ``psi``: a soft partition of the spectrum), rho a
GIN over the first node axis with the second as a batch axis, summed over the second (the code's ``phi``). The
projections make it basis- and sign-invariant; smooth phi and rho make it stable: ||SPE(L) - SPE(L')|| is bounded
by a constant times ||L - L'|| plus a term in 1 / (lambda_{k+1} - lambda_k), with no dependence on gaps inside
the used spectrum. The encoding is added to the atom embeddings of a GINE base (``pe_aggregate: add``)."""
from __future__ import annotations

from torch import nn

from shared.graphs.encodings import SPE
from shared.methods.graph.common import GraphPETrainer, encoding_kwargs
from shared.methods.graph.pe_config import SPEConfig  # torch-free
from shared.methods.graph.pe_specs import SPE as SPEC  # noqa: F401  (torch-free: the registry's entry)


class SPETrainer(GraphPETrainer):
    config: SPEConfig

    def make_encoding(self) -> nn.Module:
        c = self.config
        return SPE(**encoding_kwargs(c), n_psis=c.n_psis, psi_hidden=c.psi_hidden, hidden=c.rho_hidden,
                   rho_layers=c.rho_layers)

