"""Attention over sparse query/key features: the kernels of Sparse Feature Attention (SFA).

"Scaling Attention via Feature Sparsity" (Xie, Wen, Huang, Chen, You, Jegelka, Wang; ICLR 2026,
arXiv 2603.22300). Per head, every query and key row keeps its k largest-magnitude coordinates,
``q~ = Topk_k(q)``, ``k~ = Topk_k(k)``, and the scores are ``s_ij = (1/sqrt d) sum_{u in S_i cap T_j} q~_iu k~_ju``:
the dense product ``q~ k~^T / sqrt d``, in which only coordinates active in both rows contribute. The softmax
(with the usual causal mask) is exact and V stays dense, so ``O = softmax(S) V``.

Three computations of the same ``O``:

- :func:`masked_dense_attention`: PyTorch's SDPA on the masked q~ and k~ (the reference; what training uses);
- :func:`overlap_attention`: coordinate-major ("CSC") lists of the active tokens of each coordinate, and a
  product only for each (query, key, coordinate) that share the coordinate, scatter-added into the scores; the
  whole (n, n) score matrix is built (small n);
- :func:`tiled_overlap_attention`: the same products per (query block, key block) tile, consumed by an online
  softmax as FlashAttention does (FlashSFA's structure); never more than one block x block tile of scores. Each
  block's coordinate lists are padded to its largest degree so that a tile's products are one broadcast (the
  padding's zero products are the price).

Cost model: coordinate u active in ``deg(u)`` queries and keys gives ``deg(u)^2`` products, so the score
multiply-adds are ``E = sum_u deg(u)^2 ~ n^2 k^2 / d`` against ``n^2 d`` dense: ratio (k/d)^2
(:func:`interaction_count` counts E exactly, causal or not). KV cache: a key needs k values and k int16
coordinate ids instead of d values; V is unchanged (:func:`kv_cache_bytes`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from shared.config import ConfigError

INT16_MAX_COORD = 2 ** 15  # int16 coordinate ids address head dimensions up to 32768


# -- sparsification ------------------------------------------------------------------------------------------
def topk_mask(x: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of the k largest-|x| coordinates of every row (last dimension); exactly k per row."""
    d = x.shape[-1]
    if not 1 <= k <= d:
        raise ConfigError(f"sfa.k must be in [1, {d}] (the query/key head dimension), got {k}")
    if k == d:
        return torch.ones_like(x, dtype=torch.bool)
    idx = x.detach().abs().topk(k, dim=-1).indices
    return torch.zeros_like(x, dtype=torch.bool).scatter_(-1, idx, True)


def sparsify(x: torch.Tensor, k: int) -> torch.Tensor:
    """``Topk_k(x)`` with a straight-through gradient: ``x * mask``, the mask a constant, so dL/dx equals
    dL/dx~ on the support and is exactly zero off it (the choice of support itself gets no gradient)."""
    return x * topk_mask(x, k).to(x.dtype)


# -- the reference ---------------------------------------------------------------------------------------------
def masked_dense_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) [+ causal mask]) v for already sparsified q, k (..., n, d); v (..., n, dv)."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


# -- coordinate-major lists ----------------------------------------------------------------------------------
@dataclass
class CoordinateLists:
    """The active entries of a sparse (n, d) matrix, sorted by (coordinate, token): the CSC layout of the paper's
    SpGEMM. ``offsets[u]:offsets[u + 1]`` are coordinate u's entries; tokens ascend within a coordinate."""

    coord: torch.Tensor  # (nnz,) int64
    token: torch.Tensor  # (nnz,) int64
    value: torch.Tensor  # (nnz,)
    offsets: torch.Tensor  # (d + 1,) int64
    n: int

    @classmethod
    def build(cls, x: torch.Tensor, mask: torch.Tensor) -> CoordinateLists:
        """From x (n, d) and its support mask (n, d)."""
        n, d = x.shape
        coord, token = mask.t().nonzero(as_tuple=True)  # row-major over (d, n): sorted by coordinate, then token
        counts = torch.bincount(coord, minlength=d)
        offsets = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        return cls(coord, token, x[token, coord], offsets, n)

    def padded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Values and tokens (d, A) with coordinate u's entries in row u, padded with zeros to the largest degree
        A: the tiled kernel's layout (padding adds 0 to score (0, 0); it costs (A_max / A_mean)^2 extra products,
        but the products become one broadcast instead of a gather per pair)."""
        counts = self.offsets[1:] - self.offsets[:-1]
        width = max(int(counts.max()), 1) if len(counts) else 1
        pos = torch.arange(len(self.coord)) - self.offsets[self.coord]
        values = self.value.new_zeros(len(counts), width)
        tokens = torch.zeros(len(counts), width, dtype=torch.long)
        values[self.coord, pos] = self.value
        tokens[self.coord, pos] = self.token
        return values, tokens


def _pairs(q: CoordinateLists, k: CoordinateLists, causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (query entry, key entry) sharing a coordinate (and, if causal, with key token <= query token), as
    index pairs into ``q`` and ``k``; nothing is enumerated for pairs without a shared coordinate."""
    lower = k.offsets[q.coord]
    if causal:
        # keys of coordinate u with token <= i: binary search on the (coordinate, token) order
        upper = torch.searchsorted(k.coord * k.n + k.token, q.coord * k.n + q.token, right=True)
    else:
        upper = k.offsets[q.coord + 1]
    counts = upper - lower
    qe = torch.repeat_interleave(torch.arange(len(counts)), counts)
    first = torch.cumsum(counts, 0) - counts  # exclusive prefix sum: where each query entry's pairs begin
    ke = lower[qe] + torch.arange(len(qe)) - first[qe]
    return qe, ke


def overlap_scores(q: CoordinateLists, k: CoordinateLists, causal: bool) -> torch.Tensor:
    """(q.n, k.n) unscaled scores q~ k~^T accumulated from shared-coordinate products only; with ``causal``, the
    products above the diagonal are skipped (those entries stay 0 and the caller masks them)."""
    qe, ke = _pairs(q, k, causal)
    flat = q.token[qe] * k.n + k.token[ke]
    scores = torch.zeros(q.n * k.n, dtype=q.value.dtype)
    return scores.index_add(0, flat, q.value[qe] * k.value[ke]).view(q.n, k.n)


def _heads(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
    lead = q.shape[:-2]
    return q.reshape(-1, *q.shape[-2:]), k.reshape(-1, *k.shape[-2:]), v.reshape(-1, *v.shape[-2:]), lead


def overlap_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """softmax(S) v with S built by :func:`overlap_scores` from the supports of q, k (..., n, d) (their nonzeros).
    Builds each head's full (n, n) score matrix: small n. Differentiable (gathers and an out-of-place scatter)."""
    qs, ks, vs, lead = _heads(q, k, v)
    n, d = qs.shape[-2:]
    causal_mask = torch.ones(n, n, dtype=torch.bool).triu(1)
    out = []
    for qh, kh, vh in zip(qs, ks, vs, strict=True):
        s = overlap_scores(CoordinateLists.build(qh, qh != 0), CoordinateLists.build(kh, kh != 0), causal)
        s = s / math.sqrt(d)
        if causal:
            s = s.masked_fill(causal_mask, float("-inf"))
        out.append(torch.softmax(s, dim=-1) @ vh)
    return torch.stack(out).view(*lead, n, v.shape[-1])


def _padded_tile(q: tuple[torch.Tensor, torch.Tensor], k: tuple[torch.Tensor, torch.Tensor], rows: int,
                 cols: int) -> torch.Tensor:
    """(rows, cols) unscaled scores of one tile from padded coordinate lists: per coordinate, the outer product
    of its active queries' and keys' values, scattered to their (query, key) cells."""
    (qv, qt), (kv, kt) = q, k
    products = qv[:, :, None] * kv[:, None, :]
    cells = (qt * cols)[:, :, None] + kt[:, None, :]
    return qv.new_zeros(rows * cols).index_add_(0, cells.view(-1), products.view(-1)).view(rows, cols)


def _tiled_head(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, block: int) -> torch.Tensor:
    n, d = q.shape
    scale = 1.0 / math.sqrt(d)
    bounds = [(s, min(s + block, n)) for s in range(0, n, block)]
    q_lists = [CoordinateLists.build(q[a:b], q[a:b] != 0).padded() for a, b in bounds]
    k_lists = [CoordinateLists.build(k[a:b], k[a:b] != 0).padded() for a, b in bounds]
    out = []
    for r, (r0, r1) in enumerate(bounds):
        m = torch.full((r1 - r0,), float("-inf"), dtype=v.dtype)
        l_sum = torch.zeros(r1 - r0, dtype=v.dtype)
        acc = torch.zeros(r1 - r0, v.shape[-1], dtype=v.dtype)
        for c, (c0, c1) in enumerate(bounds[: r + 1] if causal else bounds):
            s = _padded_tile(q_lists[r], k_lists[c], r1 - r0, c1 - c0) * scale
            if causal and c == r:  # the diagonal tile: the products above the diagonal were wasted, mask them
                s = s.masked_fill(torch.ones(r1 - r0, c1 - c0, dtype=torch.bool).triu(1), float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=1))
            p = torch.exp(s - m_new[:, None])
            alpha = torch.exp(m - m_new)  # rescales what the earlier key blocks contributed
            l_sum = l_sum * alpha + p.sum(dim=1)
            acc = acc * alpha[:, None] + p @ v[c0:c1]
            m = m_new
        out.append(acc / l_sum[:, None])
    return torch.cat(out)


def tiled_overlap_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
                            block: int = 512) -> torch.Tensor:
    """FlashSFA's structure in pure torch: per (query block, key block) tile, scatter the shared-coordinate
    products into a block x block score tile and fold it into an online softmax (running max, sum and output);
    causal runs skip the key blocks after the query block. Memory: one tile per head, never (n, n), without
    autograd (inference, the benchmark); under autograd every tile is kept for the backward pass."""
    qs, ks, vs, lead = _heads(q, k, v)
    out = torch.stack([_tiled_head(qh, kh, vh, causal, block) for qh, kh, vh in zip(qs, ks, vs, strict=True)])
    return out.view(*lead, q.shape[-2], v.shape[-1])


# -- cost -----------------------------------------------------------------------------------------------------
def interaction_count(q_mask: torch.Tensor, k_mask: torch.Tensor, causal: bool = True) -> int:
    """E: the (query, key, coordinate) triples with the coordinate active in both (and key <= query if causal),
    summed over every leading index (batch, head); supports (..., n, d). For shared supports this is
    ``sum_u deg(u)^2``, or ``sum_u deg(u) (deg(u) + 1) / 2`` causal."""
    n, d = q_mask.shape[-2:]
    qm = q_mask.reshape(-1, n, d).transpose(1, 2)  # (G, d, n): nonzero() sorts by (group, coordinate, token)
    km = k_mask.reshape(-1, n, d).transpose(1, 2)
    qg, qu, qi = qm.nonzero(as_tuple=True)
    kg, ku, kj = km.nonzero(as_tuple=True)
    key_codes = (kg * d + ku) * n + kj
    lane = (qg * d + qu) * n
    lower = torch.searchsorted(key_codes, lane)
    upper = torch.searchsorted(key_codes, lane + qi if causal else lane + n, right=causal)
    return int((upper - lower).sum())


def dense_count(n: int, d: int, causal: bool = True, heads: int = 1) -> int:
    """Multiply-adds of dense scores: n^2 d, or n (n + 1) / 2 * d with the causal mask (diagonal included)."""
    pairs = n * (n + 1) // 2 if causal else n * n
    return heads * pairs * d


# -- KV cache ------------------------------------------------------------------------------------------------
def kv_cache_bytes(d: int, dv: int, k: int | None = None, value_bytes: int = 2, id_bytes: int = 2) -> int:
    """Bytes one cached token costs per head: dense ``(d + dv) * value_bytes``; SFA stores k values and k
    coordinate ids for the key and the whole value row: ``k * (value_bytes + id_bytes) + dv * value_bytes``."""
    if k is None:
        return (d + dv) * value_bytes
    if d > INT16_MAX_COORD:
        raise ConfigError(f"int16 coordinate ids address at most {INT16_MAX_COORD} dimensions, got d={d}")
    return k * (value_bytes + id_bytes) + dv * value_bytes


def compress_keys(keys: torch.Tensor, k: int, dtype: torch.dtype = torch.float16) -> tuple[torch.Tensor, torch.Tensor]:
    """A cache of sparsified keys (..., n, d): their k kept values (..., n, k) in ``dtype`` and int16 ids."""
    if keys.shape[-1] > INT16_MAX_COORD:
        raise ConfigError(f"int16 coordinate ids address at most {INT16_MAX_COORD} dimensions, got {keys.shape[-1]}")
    ids = keys.abs().topk(k, dim=-1).indices
    return keys.gather(-1, ids).to(dtype), ids.to(torch.int16)


def decompress_keys(values: torch.Tensor, ids: torch.Tensor, d: int) -> torch.Tensor:
    """The dense (..., n, d) keys back from :func:`compress_keys`'s cache."""
    out = torch.zeros(*values.shape[:-1], d, dtype=values.dtype)
    return out.scatter_(-1, ids.long(), values)
