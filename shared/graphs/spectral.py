"""Laplacian eigenpairs for positional encodings: one shared, batched, cached precomputation.

Convention (explicit, because the papers' repositories differ; see the spec card's cross-cutting notes):
the symmetric normalised Laplacian L = I - D^{-1/2} A D^{-1/2}, with isolated nodes given a zero row, so that
the multiplicity of eigenvalue 0 is the number of connected components (isolated nodes included) and a
disconnected graph needs no special case. Eigenpairs are sorted by eigenvalue, ascending.

Every graph gets the same k slots: ``eigvals`` (1, k), ``eigvecs`` (n, k) and ``eig_mask`` (1, k), zero-padded
when the graph has fewer than k eigenpairs, so PyG batches them as (B, k), (N, k) and (B, k). ``keep_trivial``
keeps the first eigenpair (SPE, SignNet-PyG) or drops it (sign-equivariant link prediction).

Repeated eigenvalues: ``eigenspaces`` groups eigenvalues that differ by less than ``tol`` (the BasisNet code rounds
to 5 decimals); basis-invariant encodings (BasisNet, SPE) use whole eigenspaces and are exact there.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

import torch
from torch_geometric.data import Data

from shared.cache import cache_root, save_whole

EIG_KEYS = ("eigvals", "eigvecs", "eig_mask")


def dense_adjacency(edge_index: torch.Tensor, num_nodes: int, edge_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric dense adjacency (float64); duplicate edges add up, self-loops are dropped."""
    a = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    if edge_index.numel():
        w = torch.ones(edge_index.shape[1], dtype=torch.float64) if edge_weight is None else edge_weight.double()
        keep = edge_index[0] != edge_index[1]
        a.index_put_((edge_index[0][keep], edge_index[1][keep]), w[keep], accumulate=True)
    return a


def normalized_laplacian(adj: torch.Tensor) -> torch.Tensor:
    """L = I - D^{-1/2} A D^{-1/2} for a (..., n, n) adjacency; isolated nodes get an all-zero row."""
    deg = adj.sum(-1)
    connected = deg > 0
    dinv = torch.where(connected, deg.clamp(min=1e-300).rsqrt(), torch.zeros_like(deg))
    eye = torch.diag_embed(connected.to(adj.dtype))
    return eye - dinv.unsqueeze(-1) * adj * dinv.unsqueeze(-2)


def laplacian_eigh(adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (..., n) ascending and orthonormal eigenvectors (..., n, n) of the normalised Laplacian,
    computed in float64 (batched when ``adj`` has a leading batch axis)."""
    return torch.linalg.eigh(normalized_laplacian(adj.double()))


def pad_eigenpairs(evals: torch.Tensor, evecs: torch.Tensor, k: int,
                   keep_trivial: bool = True) -> dict[str, torch.Tensor]:
    """Take k eigenpairs (after dropping the first one unless ``keep_trivial``) into fixed slots."""
    if not keep_trivial:
        evals, evecs = evals[1:], evecs[:, 1:]
    n, m = evecs.shape[0], min(k, evals.shape[0])
    vals = torch.zeros(1, k)
    vecs = torch.zeros(n, k)
    mask = torch.zeros(1, k, dtype=torch.bool)
    vals[0, :m] = evals[:m].float()
    vecs[:, :m] = evecs[:, :m].float()
    mask[0, :m] = True
    return {"eigvals": vals, "eigvecs": vecs, "eig_mask": mask}


def eigen_features(data: Data, k: int, keep_trivial: bool = True, edge_weight: torch.Tensor | None = None) -> dict:
    """The padded eigen-features of one graph (unbatched, uncached): the reference the cache must match."""
    evals, evecs = laplacian_eigh(dense_adjacency(data.edge_index, data.num_nodes, edge_weight))
    return pad_eigenpairs(evals, evecs, k, keep_trivial)


def batched_eigen_features(graphs: Sequence[Data], k: int, keep_trivial: bool = True) -> dict[str, torch.Tensor]:
    """Eigen-features of many graphs in graph order: ``eigvals`` (G, k), ``eig_mask`` (G, k), ``eigvecs``
    (sum of n, k) and ``sizes`` (G,). Graphs of equal size share one batched adjacency build and ``eigh``."""
    count = len(graphs)
    sizes = torch.tensor([int(g.num_nodes) for g in graphs], dtype=torch.long)
    vals = torch.zeros(count, k)
    mask = torch.zeros(count, k, dtype=torch.bool)
    starts = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)[:-1]])
    vecs = torch.zeros(int(sizes.sum()), k)
    by_size: dict[int, list[int]] = defaultdict(list)
    for i, n in enumerate(sizes.tolist()):
        by_size[n].append(i)
    for n, idx in by_size.items():
        adj = torch.zeros(len(idx), n, n, dtype=torch.float64)
        edges = [graphs[i].edge_index for i in idx]
        owner = torch.cat([torch.full((e.shape[1],), j, dtype=torch.long) for j, e in enumerate(edges)])
        src, dst = torch.cat(edges, dim=1)
        adj.index_put_((owner, src, dst), torch.ones(owner.shape[0], dtype=torch.float64), accumulate=True)
        adj.diagonal(dim1=1, dim2=2).zero_()  # self-loops are not part of the Laplacian here
        evals, evecs = laplacian_eigh(adj)
        if not keep_trivial:
            evals, evecs = evals[:, 1:], evecs[:, :, 1:]
        m = min(k, evals.shape[1])
        group = torch.tensor(idx)
        vals[group, :m] = evals[:, :m].float()
        mask[group, :m] = True
        rows = (starts[group].unsqueeze(1) + torch.arange(n)).reshape(-1)
        vecs[rows, :m] = evecs[:, :, :m].reshape(-1, m).float()
    return {"eigvals": vals, "eig_mask": mask, "eigvecs": vecs, "sizes": sizes}


def graphs_digest(graphs: Sequence[Data]) -> str:
    """A content hash of the graphs' structure: a cache key that changes when any edge changes."""
    h = hashlib.sha256()
    for g in graphs:
        h.update(str(int(g.num_nodes)).encode())
        h.update(g.edge_index.to(torch.int64).numpy().tobytes())
    return h.hexdigest()[:16]


def add_eigen_features(graphs: Sequence[Data], k: int, keep_trivial: bool = True, cache: bool = True) -> list[Data]:
    """Attach ``eigvals`` (1, k), ``eigvecs`` (n, k), ``eig_mask`` (1, k) to every graph (in place; returns the list).

    Computed once per data set, batched by graph size, and cached on disk under ``cache_root()/eigen`` as four
    tensors keyed by the graphs' structure, k and the trivial-pair convention; written whole then renamed, so a
    killed run never leaves a half-written cache.
    """
    graphs = list(graphs)
    path = cache_root() / "eigen" / f"{graphs_digest(graphs)}-k{k}-{'keep' if keep_trivial else 'drop'}-v2.pt"
    feats = torch.load(path, weights_only=True) if cache and path.exists() else None
    if feats is None or feats["sizes"].shape[0] != len(graphs):
        feats = batched_eigen_features(graphs, k, keep_trivial)
        if cache:
            save_whole(feats, path)
    vecs = torch.split(feats["eigvecs"], feats["sizes"].tolist())
    for i, g in enumerate(graphs):
        g.eigvals, g.eig_mask, g.eigvecs = feats["eigvals"][i : i + 1], feats["eig_mask"][i : i + 1], vecs[i]
    return graphs


def eigenspaces(evals: torch.Tensor, mask: torch.Tensor | None = None, tol: float = 1e-5) -> list[list[int]]:
    """Group the (sorted) valid eigenvalues of one graph into eigenspaces: consecutive values closer than tol
    (the grouping of :func:`eigenspace_assignment`, as index lists)."""
    mask = torch.ones_like(evals, dtype=torch.bool) if mask is None else mask
    assign = eigenspace_assignment(evals.unsqueeze(0), mask.unsqueeze(0), tol)[0]
    return [row.nonzero().flatten().tolist() for row in assign if row.any()]


def eigenspace_assignment(evals: torch.Tensor, mask: torch.Tensor, tol: float = 1e-5) -> torch.Tensor:
    """(B, k slots, k eigenpairs) 0/1 matrix: slot s of graph b holds the s-th eigenspace's eigenpairs, an
    eigenspace being a run of sorted eigenvalues whose neighbours differ by less than tol."""
    b, k = evals.shape
    new_space = (evals[:, 1:] - evals[:, :-1]).abs() >= tol
    slot = torch.cat([torch.zeros(b, 1, dtype=torch.long, device=evals.device), new_space.long().cumsum(1)], dim=1)
    onehot = torch.nn.functional.one_hot(slot, k).to(evals.dtype) * mask.unsqueeze(-1).to(evals.dtype)
    return onehot.transpose(1, 2)


def perturb_edge_weights(edge_index: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
    """Symmetric multiplicative edge-weight noise 1 + eps * u, u ~ U(-1, 1), the same on (i, j) and (j, i)."""
    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    key = lo * (int(edge_index.max()) + 1) + hi
    uniq, inverse = torch.unique(key, return_inverse=True)
    noise = torch.rand(uniq.shape[0], generator=generator, dtype=torch.float64) * 2 - 1
    return 1.0 + eps * noise[inverse]
