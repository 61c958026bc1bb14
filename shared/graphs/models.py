"""The base networks that every positional encoding plugs into, so that encodings compare at the same budget.

``GraphNet``: node encoder (type embedding or linear features) + PE (linear map, then added, the SPE code's
``pe_aggregate: add``) -> message passing -> a graph-level (pooled) or node-level head.
Bases: ``gine`` (GINE with bond-type edge embeddings, residual, batch norm; the SPE / SignNet ZINC base) and
``deepsets`` (node-wise MLP plus the graph mean, no edges: the LearningFilters "DS" base, where all graph
information comes from the PE).
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GINEConv, global_add_pool, global_mean_pool

from shared.graphs.encodings import mlp


class DeepSetsLayer(nn.Module):
    """h_i <- h_i + MLP([h_i, mean_{j in graph(i)} h_j]): permutation equivariant, ignores edges."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.f = mlp([2 * hidden, hidden, hidden])

    def forward(self, h: torch.Tensor, batch) -> torch.Tensor:
        mean = global_mean_pool(h, batch.batch)[batch.batch]
        return h + self.f(torch.cat([h, mean], dim=-1))


class GINELayer(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.conv = GINEConv(mlp([hidden, hidden, hidden]), train_eps=True, edge_dim=hidden)
        self.norm = nn.BatchNorm1d(hidden)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_emb: torch.Tensor) -> torch.Tensor:
        return h + torch.relu(self.norm(self.conv(h, edge_index, edge_emb)))


class GraphNet(nn.Module):
    def __init__(self, pe: nn.Module, pe_dim: int, target_dim: int, level: str, hidden: int = 64, layers: int = 4,
                 base: str = "gine", pool: str = "sum", node_types: int = 0, node_features: int = 0,
                 edge_types: int = 1) -> None:
        super().__init__()
        self.level, self.base, self.pool = level, base, pool
        self.encode = nn.Embedding(node_types, hidden) if node_types else nn.Linear(node_features, hidden)
        self.pe = pe
        self.pe_proj = nn.Linear(pe_dim, hidden)
        self.edge_emb = nn.Embedding(max(edge_types, 1), hidden)
        if base == "gine":
            self.layers = nn.ModuleList(GINELayer(hidden) for _ in range(layers))
        elif base == "deepsets":
            self.layers = nn.ModuleList(DeepSetsLayer(hidden) for _ in range(layers))
        else:
            raise ValueError(f"base must be gine or deepsets, got {base!r}")
        self.head = mlp([hidden, hidden, target_dim])

    def node_embeddings(self, batch) -> torch.Tensor:
        x = batch.x
        h = self.encode(x if x.dtype == torch.long else x.float())
        h = h + self.pe_proj(self.pe(batch))
        if self.base == "gine":
            types = batch.edge_attr if getattr(batch, "edge_attr", None) is not None else \
                batch.edge_index.new_zeros(batch.edge_index.shape[1])
            edge = self.edge_emb(types)
            for layer in self.layers:
                h = layer(h, batch.edge_index, edge)
        else:
            for layer in self.layers:
                h = layer(h, batch)
        return h

    def forward(self, batch) -> torch.Tensor:
        h = self.node_embeddings(batch)
        if self.level == "graph":
            h = (global_add_pool if self.pool == "sum" else global_mean_pool)(h, batch.batch)
        return self.head(h)
