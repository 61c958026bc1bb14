"""Positional encodings from Laplacian eigenpairs, each a module ``forward(batch) -> (N, dim)`` node encoding.

Inputs come from ``shared.graphs.spectral`` on a PyG Batch: ``eigvecs`` (N, k), ``eigvals`` (B, k), ``eig_mask``
(B, k), plus ``edge_index`` and ``batch``.

- :class:`LapPE`: the raw eigenvectors through a linear map, with random sign flips while training
  (``sign="flip"``), absolute values (``"abs"``), or as computed (``"none"``). The baseline the papers improve on.
- :class:`SignNet` (Lim et al., ICLR 2023, Eq. 1): rho([phi(v_i) + phi(-v_i)]_i); phi is a GIN over the graph
  (or, ``phi="deepsets"``, an edge-free DeepSets over the nodes) applied to each eigenvector with shared weights;
  exactly invariant to each sign flip v_i -> -v_i.
- :class:`BasisNet` (same paper, Eq. 2): rho([phi_{d_i}(V_i V_i^T)]_i) over eigenspaces V_i of multiplicity d_i,
  phi_d an invariant graph network (IGN, 2 -> 2 then 2 -> 1 layers); invariant to any basis change inside an
  eigenspace because it sees only the projectors.
- :class:`SPE` (Huang et al., ICLR 2024, Eq. 3): rho(V diag(phi_1(lambda)) V^T, ..., V diag(phi_m(lambda)) V^T);
  phi_l elementwise MLPs of the eigenvalues (a soft partition of the spectrum), rho a GIN over the first node
  axis with the second as a batch axis, summed over the second. Stable: its change is bounded by the Laplacian's.
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import global_mean_pool
from torch_geometric.utils import to_dense_adj, to_dense_batch

from shared.graphs.spectral import eigenspace_assignment


def mlp(sizes: list[int], final_act: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or final_act:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def masked_eigvecs(batch) -> torch.Tensor:
    return batch.eigvecs * batch.eig_mask[batch.batch].to(batch.eigvecs.dtype)


class NoPE(nn.Module):
    """No positional encoding (zeros): the base GNN alone."""

    def __init__(self, k: int, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, batch) -> torch.Tensor:
        return batch.eigvecs.new_zeros(batch.eigvecs.shape[0], self.dim)


class LapPE(nn.Module):
    def __init__(self, k: int, dim: int, sign: str = "flip") -> None:
        super().__init__()
        if sign not in ("flip", "abs", "none"):
            raise ValueError(f"sign must be flip, abs or none, got {sign!r}")
        self.sign = sign
        self.lin = nn.Linear(k, dim)

    def forward(self, batch) -> torch.Tensor:
        v = masked_eigvecs(batch)
        if self.sign == "abs":
            v = v.abs()
        elif self.sign == "flip" and self.training:
            # one random sign per graph and eigenvector (the global torch RNG, seeded and checkpointed)
            signs = torch.randint(0, 2, batch.eig_mask.shape, device=v.device).to(v.dtype) * 2 - 1
            v = v * signs[batch.batch]
        return self.lin(v)


class EigenGIN(nn.Module):
    """A GIN over the graph on (N, k, c) features: every eigenvector channel k is an independent signal, with
    weights shared across k. h <- MLP((1 + eps) h + sum_{j in N(i)} h_j), eps learned."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, layers: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        self.mlps = nn.ModuleList(mlp([dims[i], hidden, dims[i + 1]]) for i in range(layers))
        self.eps = nn.Parameter(torch.zeros(layers))

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        src, dst = edge_index
        for i, f in enumerate(self.mlps):
            agg = torch.zeros_like(h).index_add_(0, dst, h[src])
            h = f((1 + self.eps[i]) * h + agg)
            if i < len(self.mlps) - 1:
                h = torch.relu(h)
        return h


class EigenDeepSets(nn.Module):
    """A DeepSets over the nodes of each graph on (N, k, c) features, edges ignored (the official LearningFilters
    ``--sign_inv_net DS`` phi): h_i <- MLP([h_i, mean_{j in graph(i)} h_j]) per eigenvector channel, weights
    shared across k. Permutation equivariant; sees the graph only through the eigenvector itself."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, layers: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        self.mlps = nn.ModuleList(mlp([2 * dims[i], hidden, dims[i + 1]]) for i in range(layers))

    def forward(self, h: torch.Tensor, batch) -> torch.Tensor:
        n, k = h.shape[:2]
        for i, f in enumerate(self.mlps):
            mean = global_mean_pool(h.reshape(n, -1), batch.batch)[batch.batch].reshape(h.shape)
            h = f(torch.cat([h, mean], dim=-1))
            if i < len(self.mlps) - 1:
                h = torch.relu(h)
        return h


class SignNet(nn.Module):
    def __init__(self, k: int, dim: int, hidden: int = 16, phi_out: int = 4, phi_layers: int = 3,
                 use_eigvals: bool = False, phi: str = "gin") -> None:
        super().__init__()
        if phi not in ("gin", "deepsets"):
            raise ValueError(f"phi must be gin or deepsets, got {phi!r}")
        self.use_eigvals, self.phi_kind = use_eigvals, phi
        self.phi = (EigenGIN if phi == "gin" else EigenDeepSets)(2 if use_eigvals else 1, hidden, phi_out, phi_layers)
        self.rho = mlp([k * phi_out, hidden * 2, dim])

    def _phi_input(self, batch, v: torch.Tensor) -> torch.Tensor:
        x = v.unsqueeze(-1)
        if self.use_eigvals:
            x = torch.cat([x, batch.eigvals[batch.batch].unsqueeze(-1)], dim=-1)
        return x

    def forward(self, batch) -> torch.Tensor:
        v = masked_eigvecs(batch)
        graph = batch.edge_index if self.phi_kind == "gin" else batch  # deepsets: no edges
        h = self.phi(self._phi_input(batch, v), graph) + self.phi(self._phi_input(batch, -v), graph)
        h = h * batch.eig_mask[batch.batch].unsqueeze(-1).to(h.dtype)  # padded eigenvectors contribute nothing
        return self.rho(h.flatten(1))


class IGN2to2(nn.Module):
    """A permutation-equivariant linear layer on (B, S, n, n, c) tensors (S independent slots), with the basis
    operations of Maron et al. that apply to symmetric inputs: identity, diagonal, row means broadcast over rows
    and over columns, diagonal broadcast over rows and over columns, and the totals. Only the identity term is
    computed on the n x n tensor; the others are computed per node and broadcast. node_mask keeps padding at zero."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.entry = nn.Linear(c_in, c_out)
        self.on_diag = nn.Linear(c_in, c_out, bias=False)
        self.row = nn.Linear(2 * c_in, c_out, bias=False)  # rows[i], diag[i] -> broadcast along j
        self.col = nn.Linear(2 * c_in, c_out, bias=False)  # rows[j], diag[j] -> broadcast along i
        self.total = nn.Linear(2 * c_in, c_out, bias=False)

    def forward(self, x: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
        n = x.shape[2]
        count = node_mask.sum(-1).clamp(min=1).to(x.dtype)[:, None, None, None]  # (B, 1, 1, 1)
        diag = torch.diagonal(x, dim1=2, dim2=3).transpose(-1, -2)  # (B, S, n, c)
        rows = x.sum(3) / count  # mean over the second node axis
        per_node = torch.cat([rows, diag], dim=-1)
        totals = per_node.sum(2, keepdim=True) / count  # (B, S, 1, 2c)
        out = self.entry(x) + self.row(per_node).unsqueeze(3) + self.col(per_node).unsqueeze(2)
        out = out + self.total(totals).unsqueeze(3)
        eye = torch.eye(n, dtype=x.dtype, device=x.device)[None, None, :, :, None]
        out = out + eye * self.on_diag(diag).unsqueeze(3)
        pair_mask = (node_mask[:, None, :, None] & node_mask[:, None, None, :]).unsqueeze(-1).to(x.dtype)
        return out * pair_mask


class IGNPhi(nn.Module):
    """phi_d of BasisNet: IGN layers 2 -> 2, then the 2 -> 1 readout (diagonal and row means) per node."""

    def __init__(self, hidden: int, out_dim: int, layers: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(IGN2to2(1 if i == 0 else hidden, hidden) for i in range(layers))
        self.out = nn.Linear(2 * hidden, out_dim)

    def forward(self, proj: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
        x = proj.unsqueeze(-1)
        for layer in self.layers:
            x = torch.relu(layer(x, node_mask))
        count = node_mask.sum(-1).clamp(min=1).to(x.dtype)[:, None, None, None]
        diag = torch.diagonal(x, dim1=2, dim2=3).transpose(-1, -2)
        rows = x.sum(3) / count
        return self.out(torch.cat([diag, rows], dim=-1))  # (B, S, n, out)


class BasisNet(nn.Module):
    def __init__(self, k: int, dim: int, hidden: int = 16, phi_out: int = 4, max_multiplicity: int = 3,
                 tol: float = 1e-5) -> None:
        super().__init__()
        self.k, self.tol, self.max_mult = k, tol, max_multiplicity
        # one phi per multiplicity 1..max; larger eigenspaces share the last one
        self.phis = nn.ModuleList(IGNPhi(hidden, phi_out) for _ in range(max_multiplicity))
        self.rho = mlp([k * phi_out, hidden * 2, dim])

    def forward(self, batch) -> torch.Tensor:
        v, node_mask = to_dense_batch(masked_eigvecs(batch), batch.batch)  # (B, n, k)
        assign = eigenspace_assignment(batch.eigvals, batch.eig_mask, self.tol).to(v.dtype)  # (B, S, k)
        proj = torch.einsum("bik,bsk,bjk->bsij", v, assign, v)  # projector onto each eigenspace
        mult = assign.sum(-1).long()  # (B, S); 0 = empty slot
        out = v.new_zeros(*proj.shape[:3], self.phis[0].out.out_features)
        for d, phi in enumerate(self.phis, start=1):
            use = (mult == d) if d < self.max_mult else (mult >= d)
            graph_idx, slot_idx = use.nonzero(as_tuple=True)
            if graph_idx.numel():  # only the occupied slots of this multiplicity, packed as a batch
                packed = phi(proj[graph_idx, slot_idx].unsqueeze(1), node_mask[graph_idx])
                out = out.index_put((graph_idx, slot_idx), packed[:, 0])
        h = out.permute(0, 2, 1, 3).flatten(2)  # (B, n, S * out): slots in eigenvalue order
        return self.rho(h)[node_mask]


class SPE(nn.Module):
    def __init__(self, k: int, dim: int, n_psis: int = 8, psi_hidden: int = 16, hidden: int = 16,
                 rho_layers: int = 3) -> None:
        super().__init__()
        # phi_l: R -> R elementwise over eigenvalues, m = n_psis of them (the code calls them psi)
        self.psis = mlp([1, psi_hidden, psi_hidden, n_psis])
        dims = [n_psis] + [hidden] * rho_layers
        self.rho = nn.ModuleList(mlp([dims[i], hidden, dims[i + 1]]) for i in range(rho_layers))
        self.eps = nn.Parameter(torch.zeros(rho_layers))
        self.out = nn.Linear(hidden, dim)

    def spectral_tensor(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """W[b, i, j, l] = (V diag(phi_l(lambda)) V^T)_{ij}, and the node mask."""
        v, node_mask = to_dense_batch(masked_eigvecs(batch), batch.batch)  # (B, n, k)
        weights = self.psis(batch.eigvals.unsqueeze(-1)) * batch.eig_mask.unsqueeze(-1).to(v.dtype)  # (B, k, m)
        return torch.einsum("bik,bkl,bjk->bijl", v, weights, v), node_mask

    def forward(self, batch) -> torch.Tensor:
        w, node_mask = self.spectral_tensor(batch)
        adj = to_dense_adj(batch.edge_index, batch.batch, max_num_nodes=w.shape[1]).to(w.dtype)  # (B, n, n)
        pair_mask = (node_mask[:, :, None] & node_mask[:, None, :]).unsqueeze(-1).to(w.dtype)
        h = w
        for i, f in enumerate(self.rho):
            # GIN along the first node axis; the second node axis is a batch axis
            h = f((1 + self.eps[i]) * h + torch.einsum("bij,bjmc->bimc", adj, h)) * pair_mask
            if i < len(self.rho) - 1:
                h = torch.relu(h)
        return self.out(h.sum(2))[node_mask]  # sum over the second node axis


ENCODINGS = {"none": NoPE, "lappe": LapPE, "signnet": SignNet, "basisnet": BasisNet, "spe": SPE}
