"""A mixture-of-experts MLP block whose routing is token-level (TopK) or sequence-level (SeqTopK).

"Route Experts by Sequence, not by Token" (arXiv 2511.06494). One sequence of T tokens, E experts, router
scores ``S`` (T, E), a budget of K experts per token:

- ``topk``: token t uses ``argtop_K(s_t)``; every token gets K experts.
- ``seqtopk``: ``Omega = argtop_{T K}`` over all T E entries of S (flattened); token t uses
  ``{e : (t, e) in Omega}``, so K_t varies and ``sum_t K_t = T K``. Competition is within one sequence only.
- ``seqtopk_online`` (the paper's "expert cache" for decoding): token t's experts are the row-t entries of
  ``argtop_{(t+1) K}`` over rows 0..t only; past allocations are never revised. :meth:`MoE.step` is the
  decode-time form (one token at a time, the router rows of past tokens in an :class:`ExpertCache`);
  :meth:`MoE.forward` computes the same selections for every t at once.

Per-token bounds (``bounds``): ``paper`` 1 <= K_t <= K + 2 (the paper's variant, as its reviews describe it);
``cap`` K_t <= U (the Megatron-style variant, 0 experts allowed: such a token passes only its residual);
``none``. The bounded selection is the greedy one: walk the (token, expert) pairs by score and take a pair while
its token is under the cap, until the budget is spent; a lower bound first reserves each token's best expert.
Because a token's pairs come in the order of its own row, this equals one sort by the key
(reserved first, eligible next, over-cap last; then score descending, token ascending, expert ascending), which
also fixes the tie order. Ranking quantity (``rank_by``): each row's softmax probabilities (default: rows
are comparable, they sum to 1) or raw logits. Gate weights (``gate``): a softmax over the selected logits
(``renorm``, default) or the full softmax's probabilities of the selected experts (``full``, not
renormalised, as OLMoE and Qwen1.5-MoE route). Selection is not differentiable; gradients reach the router
through the gate weights, as in TopK. Padding rows (``valid`` False) take no slots and size no budget.

Each expert runs on the tokens that selected it (a gather, two matmuls and a scatter-add per expert), so the
compute follows the expert-token count; a loop over experts, not a fused dispatch kernel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from shared.config import ConfigError
from shared.lm.config import ROUTINGS, MoEConfig  # noqa: F401  (torch-free; re-exported)
from shared.lm.model import BlockFactory, GPTConfig


# -- routing: which experts each token uses ------------------------------------------------------------------
def row_ranks(scores: torch.Tensor) -> torch.Tensor:
    """Rank of each entry within its row (..., E): 0 = best; ties broken by expert id ascending."""
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(scores.shape[-1], device=scores.device).expand_as(order))
    return ranks


def _categories(ranks: torch.Tensor, lower: int, upper: int, valid: torch.Tensor) -> torch.Tensor:
    """0 = reserved by the lower bound, 1 = eligible, 2 = never (over the cap, or a padding row)."""
    cat = torch.where(ranks < lower, 0, torch.where(ranks < upper, 1, 2))
    return cat.masked_fill(~valid[..., None], 2)


def _sequence_order(scores: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
    """(B, T*E) flat indices of each sequence's entries sorted by (category, score desc, token, expert).

    Two stable sorts: by score, then by category. The flat index is token * E + expert, so equal scores keep
    the order token ascending, then expert ascending."""
    by_score = torch.sort(scores.flatten(-2), dim=-1, descending=True, stable=True).indices
    by_cat = torch.sort(cat.flatten(-2).gather(-1, by_score), dim=-1, stable=True).indices
    return by_score.gather(-1, by_cat)


def _check_budget(k: int, lower: int, upper: int, n_experts: int) -> None:
    if not lower <= k <= upper <= n_experts:
        raise ConfigError(f"routing needs lower <= k <= upper <= n_experts, got {lower}, {k}, {upper}, {n_experts}")


def seqtopk_counts(scores: torch.Tensor, k: int, lower: int = 0, upper: int | None = None,
                   valid: torch.Tensor | None = None) -> torch.Tensor:
    """K_t (B, T) of offline SeqTopK: each sequence spends exactly ``k * (valid tokens)`` slots, each valid
    token gets between ``lower`` and ``upper`` experts, padding gets none."""
    b, t, e = scores.shape
    upper = e if upper is None else upper
    _check_budget(k, lower, upper, e)
    valid = torch.ones(b, t, dtype=torch.bool, device=scores.device) if valid is None else valid
    order = _sequence_order(scores, _categories(row_ranks(scores), lower, upper, valid))
    budget = k * valid.sum(-1, keepdim=True)  # (B, 1): sized by the valid tokens only
    taken = torch.arange(t * e, device=scores.device)[None] < budget
    return torch.zeros(b, t, dtype=torch.long, device=scores.device).scatter_add_(-1, order // e, taken.long())


def online_counts(scores: torch.Tensor, k: int, lower: int = 0, upper: int | None = None,
                  valid: torch.Tensor | None = None, clamp: bool = False) -> torch.Tensor:
    """K_t (B, T) of online SeqTopK, for every t at once: the number of row-t entries in the bounded
    top-((valid tokens <= t) K) set over rows 0..t. Causal: row t's count reads rows <= t only.

    The sort key does not depend on the prefix, so the prefix ranking is the full ranking restricted to rows
    <= t: an entry's rank in its own prefix is the number of entries of rows <= its row sorted before it,
    counted for all entries at once with two cumulative sums (O(T^2 E) memory)."""
    b, t, e = scores.shape
    upper = e if upper is None else upper
    _check_budget(k, lower, upper, e)
    valid = torch.ones(b, t, dtype=torch.bool, device=scores.device) if valid is None else valid
    cat = _categories(row_ranks(scores), lower, upper, valid)
    order = _sequence_order(scores, cat)
    token = order // e  # (B, N): the row of each sorted entry
    onehot = F.one_hot(token, t).int()  # (B, N, T)
    before = onehot.cumsum(1) - onehot  # entries of each row sorted strictly before position p
    rank = before.cumsum(-1).gather(-1, token[..., None]).squeeze(-1)  # ... of rows <= the entry's own row
    budget = k * valid.long().cumsum(-1)  # (B, T): the budget of the prefix that ends at row t
    taken = (rank < budget.gather(-1, token)) & (cat.flatten(-2).gather(-1, order) < 2)
    counts = torch.zeros(b, t, dtype=torch.long, device=scores.device).scatter_add_(-1, token, taken.long())
    return clamp_to_budget(counts, budget) if clamp else counts


def clamp_to_budget(counts: torch.Tensor, budget: torch.Tensor) -> torch.Tensor:
    """Cut each K_t to the budget the prefix has left, so that sum_{s<=t} K_s <= budget_t at every t."""
    out = counts.clone()
    used = torch.zeros_like(counts[:, 0])
    for t in range(counts.shape[1]):  # sequential by nature: each step spends what the previous left
        out[:, t] = torch.minimum(counts[:, t], budget[:, t] - used)
        used = used + out[:, t]
    return out


def selection_mask(scores: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(B, T, E) bool: token t uses its ``counts[t]`` best experts. Every routing above selects a prefix of each
    row's own ranking (a token's entries enter the sequence order in its row's order), so counts suffice."""
    return row_ranks(scores) < counts[..., None]


def gate_weights(logits: torch.Tensor, mask: torch.Tensor, gate: str = "renorm") -> torch.Tensor:
    """(..., E) combination weights, zero off the selection. ``renorm``: softmax over the selected logits;
    ``full``: the full softmax's probabilities of the selected experts (not renormalised)."""
    if gate == "full":
        return logits.float().softmax(-1) * mask
    # A large finite fill instead of -inf: a token with no expert then gets zeros, not NaN (nor NaN gradients).
    masked = logits.float().masked_fill(~mask, torch.finfo(torch.float32).min)
    return masked.softmax(-1) * mask


# -- the block ------------------------------------------------------------------------------------------------
@dataclass
class ExpertCache:
    """The router rows of the tokens decoded so far, for one MoE layer (online SeqTopK at decode time)."""

    scores: list[torch.Tensor] = field(default_factory=list)  # one (B, E) ranking row per step
    valid: list[torch.Tensor] = field(default_factory=list)  # one (B,) bool per step
    used: torch.Tensor | None = None  # (B,) experts spent so far (for online_clamp)


class MoE(nn.Module):
    """E experts (Linear -> GELU -> Linear) and a linear router; a drop-in for the decoder's MLP."""

    def __init__(self, n_embd: int, n_layer: int, cfg: MoEConfig, hidden: int, bias: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.cfg = cfg
        self.drop = nn.Dropout(dropout)
        e = cfg.n_experts
        self.router = nn.Linear(n_embd, e, bias=False)
        self.w_in = nn.Parameter(torch.randn(e, n_embd, hidden) * 0.02)
        self.b_in = nn.Parameter(torch.zeros(e, hidden)) if bias else None
        # GPT-2's scaled init of residual projections (GPT's own loop only knows the dense MLP's name)
        self.w_out = nn.Parameter(torch.randn(e, hidden, n_embd) * 0.02 / math.sqrt(2 * n_layer))
        self.b_out = nn.Parameter(torch.zeros(e, n_embd)) if bias else None
        self.aux_loss: torch.Tensor | None = None
        self.last_counts: torch.Tensor | None = None  # K_t (B, T) of the last forward, for the evaluators

    def ranking(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float().softmax(-1) if self.cfg.rank_by == "prob" else logits.float()

    def counts(self, scores: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.cfg
        if cfg.routing == "topk":
            shape = scores.shape[:-1]
            full = torch.full(shape, cfg.k, dtype=torch.long, device=scores.device)
            return full if valid is None else full * valid
        if cfg.routing == "seqtopk":
            return seqtopk_counts(scores, cfg.k, cfg.lower(), cfg.upper(), valid)
        return online_counts(scores, cfg.k, cfg.lower(), cfg.upper(), valid, cfg.online_clamp)

    def experts(self, x: torch.Tensor, gates: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """sum_e gates_e * expert_e(x) over the selected experts, for (..., C) inputs and (..., E) gates and mask.
        Each expert runs on the tokens that selected it only (gather, compute, scatter-add)."""
        flat, g, sel = x.reshape(-1, x.shape[-1]), gates.reshape(-1, gates.shape[-1]), mask.reshape(-1, mask.shape[-1])
        out = torch.zeros_like(flat)
        for e in range(g.shape[-1]):
            rows = sel[:, e].nonzero().squeeze(-1)
            if rows.numel() == 0:  # a zero term keeps the idle expert in the graph: data-parallel wrappers (DDP,
                out = out + 0.0 * self.w_in[e].sum() + 0.0 * self.w_out[e].sum()  # ZeRO) expect every gradient
                continue
            h = flat[rows] @ self.w_in[e]
            if self.b_in is not None:
                h = h + self.b_in[e]
            y = F.gelu(h) @ self.w_out[e]
            if self.b_out is not None:
                y = y + self.b_out[e]
            out = out.index_add(0, rows, y * g[rows, e, None].to(y.dtype))
        return out.view_as(x)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.router(x)  # (B, T, E)
        with torch.no_grad():
            scores = self.ranking(logits)
            counts = self.counts(scores, valid)
            mask = selection_mask(scores, counts)
        gates = gate_weights(logits, mask, self.cfg.gate)
        self.last_counts = counts
        self.aux_loss = self.balance_loss(logits, mask, valid) if self.cfg.aux_weight else None
        return self.drop(self.experts(x, gates, mask))

    def balance_loss(self, logits: torch.Tensor, mask: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """Switch Transformer's aux loss: w * E * sum_e f_e P_e, f_e the share of slots expert e takes, P_e its
        mean router probability (over valid tokens)."""
        probs = logits.float().softmax(-1)
        w = torch.ones(mask.shape[:-1], device=logits.device) if valid is None else valid.float()
        share = (mask.float() * w[..., None]).sum((0, 1)) / mask.float().mul(w[..., None]).sum().clamp_min(1.0)
        mean_prob = (probs * w[..., None]).sum((0, 1)) / w.sum().clamp_min(1.0)
        return self.cfg.aux_weight * self.cfg.n_experts * (share * mean_prob).sum()

    @torch.no_grad()
    def step(self, x: torch.Tensor, cache: ExpertCache, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Decode one token per sequence, x (B, C), under online SeqTopK with the layer's expert cache: stack the
        cached router rows with this one, take the bounded top-(m K) set over the m x E matrix, run this token's
        experts from that set; past tokens' allocations are not revisited. (topk needs no cache.)"""
        cfg = self.cfg
        if cfg.routing == "seqtopk":
            raise ValueError("offline seqtopk needs the whole sequence; decode with routing=seqtopk_online")
        logits = self.router(x)
        scores = self.ranking(logits)
        valid = torch.ones(x.shape[0], dtype=torch.bool, device=x.device) if valid is None else valid
        cache.scores.append(scores)
        cache.valid.append(valid)
        if cfg.routing == "topk":
            count = torch.full_like(valid, cfg.k, dtype=torch.long) * valid
        else:
            rows, valids = torch.stack(cache.scores, 1), torch.stack(cache.valid, 1)
            count = seqtopk_counts(rows, cfg.k, cfg.lower(), cfg.upper(), valids)[:, -1]  # offline on the prefix
            if cfg.online_clamp:
                used = torch.zeros_like(count) if cache.used is None else cache.used
                count = torch.minimum(count, cfg.k * valids.sum(1) - used)
                cache.used = used + count
        mask = row_ranks(scores) < count[:, None]
        return self.experts(x, gate_weights(logits, mask, cfg.gate), mask)


def moe_factory(cfg: MoEConfig) -> BlockFactory:
    """A ``BlockFactory`` for :class:`shared.lm.model.GPT`: an MoE in place of every dense MLP. The default expert
    width makes K experts as wide as the dense MLP (mlp_ratio * n_embd), so active compute matches it."""

    def make(gpt_cfg: GPTConfig, layer: int) -> MoE:
        hidden = cfg.expert_hidden or max(gpt_cfg.mlp_ratio * gpt_cfg.n_embd // cfg.k, 1)
        return MoE(gpt_cfg.n_embd, gpt_cfg.n_layer, cfg, hidden, bias=gpt_cfg.bias, dropout=gpt_cfg.dropout)

    return make


def moe_layers(model: nn.Module) -> list[MoE]:
    return [m for m in model.modules() if isinstance(m, MoE)]
