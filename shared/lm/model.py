"""A GPT-2-style decoder written once, with replaceable attention and MLP blocks.

The layout follows GPT-2 (Radford et al., 2019) as nanoGPT writes it: token + learned position embeddings,
``n_layer`` pre-LayerNorm blocks ``x + attn(ln(x))``, ``x + mlp(ln(x))``, a final LayerNorm and a head tied to
the token embedding. Methods change one part and nothing else:

- attention: subclass :class:`CausalSelfAttention` and override a hook; SFA sparsifies q and k
  (``transform_qk``), ReasonCACHE prepends learned key/value prefixes (``prefix_kv``). The score computation
  itself (``attend``) is also a hook, so a sparse kernel can replace PyTorch's SDPA;
- MLP: any module mapping (B, T, C) -> (B, T, C) (SeqTopK's mixture of experts routes over the whole
  sequence, which is why the MLP sees the (B, T, C) tensor and not single tokens). A block may set
  ``aux_loss`` during its forward (e.g. load balancing); :meth:`GPT.aux_loss` sums them.

Options a method needs and GPT-2 lacks: ``qk_dim`` (a query/key head dimension different from the value one,
the "short embedding" baseline of SFA), ``window`` (sliding-window attention, the short-context model of
LongPPL) and ``pos = rope | learned | none``.

Incremental decoding: ``forward(idx, cache=KVCache(...))`` reads only the new positions and attends over the keys and
values the cache holds of the earlier ones (appending the new ones), so a prefix read once is never recomputed. The
logits equal the full forward's at every position (``tests/test_llm_stack.py``). Supported by the base attention's
hooks and by subclasses whose ``project`` takes the position ``offset`` (rotary positions); not with ``window``.

Left padding (batched decoding of prompts of different lengths): ``KVCache(n_layer, pad=...)`` with ``pad`` (B,) the
number of padding positions before each row's first token. Row b's token at column c then has position c - pad[b]
(learned positions), its token shift sees zeros before its first token, and no query attends to a padding key (a
padding query attends to itself only, so its output stays finite and is never read): a left-padded row's logits equal
the unpadded row's (``tests/test_g1.py``). Learned or no positions only (rotary ones take a scalar offset).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from shared.config import ConfigError
from shared.lm.config import GPTConfig  # torch-free (the driver validates configs without torch); re-exported


def rope(x: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Rotary position embedding (Su et al., 2021) on the last dimension of (B, H, T, d), d even."""
    d, t = x.shape[-1], x.shape[-2]
    if d % 2:
        raise ConfigError(f"rope needs an even query/key head dimension, got {d}")
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.float32, device=x.device) / d))
    ang = torch.arange(offset, offset + t, dtype=torch.float32, device=x.device)[:, None] * inv[None]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


def attention_mask(t: int, prefix: int = 0, window: int = 0, device: torch.device | None = None) -> torch.Tensor:
    """Boolean (t, prefix + t) mask, True = may attend: every prefix slot, then causal (and windowed) tokens."""
    i = torch.arange(t, device=device)[:, None]
    j = torch.arange(t, device=device)[None, :]
    allowed = j <= i
    if window:
        allowed = allowed & (j > i - window)
    return torch.cat([torch.ones(t, prefix, dtype=torch.bool, device=device), allowed], dim=1)


class KVCache:
    """Keys and values (B, H, m, d) of the m positions read so far, per layer; and, for the token shift, the last
    position's embedding. One per sequence batch: ``GPT.forward(idx, cache)`` appends to it."""

    def __init__(self, n_layer: int, pad: torch.Tensor | None = None) -> None:
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer
        self.length = 0  # positions read
        self.last_embedding: torch.Tensor | None = None  # (B, 1, C), for the token shift
        self.pad = pad  # (B,) left-padding positions per row; None = no padding

    def padding_mask(self, read: int, t: int, prefix: int = 0) -> torch.Tensor:
        """Boolean (B, 1, t, prefix + read + t) mask of the queries at positions read .. read + t - 1, True = may
        attend: every prefix slot, then the causal keys that are not padding (and each query's own key)."""
        i = torch.arange(read, read + t, device=self.pad.device)[:, None]
        j = torch.arange(read + t, device=self.pad.device)[None, :]
        allowed = (j <= i)[None] & ((j[None] >= self.pad[:, None, None]) | (j == i)[None])
        slots = torch.ones(len(self.pad), t, prefix, dtype=torch.bool, device=self.pad.device)
        return torch.cat([slots, allowed], dim=2)[:, None]

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new positions' keys and values of ``layer``; returns all of them, earliest first."""
        if self.keys[layer] is not None:
            k, v = torch.cat([self.keys[layer], k], dim=2), torch.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention, split into hooks that methods override."""

    def __init__(self, cfg: GPTConfig, layer: int) -> None:
        super().__init__()
        self.cfg, self.layer = cfg, layer
        h, dqk, dv = cfg.n_head, cfg.qk_head, cfg.v_head
        self.q = nn.Linear(cfg.n_embd, h * dqk, bias=cfg.bias)
        self.k = nn.Linear(cfg.n_embd, h * dqk, bias=cfg.bias)
        self.v = nn.Linear(cfg.n_embd, h * dv, bias=cfg.bias)
        self.proj = nn.Linear(h * dv, cfg.n_embd, bias=cfg.bias)
        self.dropout = cfg.dropout

    # -- hooks ----------------------------------------------------------------------------------
    def project(self, x: torch.Tensor, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, C) -> q, k (B, H, T, dqk) and v (B, H, T, dv); ``offset``: the position of x's first token."""
        b, t, _ = x.shape
        h = self.cfg.n_head
        q = self.q(x).view(b, t, h, -1).transpose(1, 2)
        k = self.k(x).view(b, t, h, -1).transpose(1, 2)
        v = self.v(x).view(b, t, h, -1).transpose(1, 2)
        if self.cfg.pos == "rope":
            q, k = rope(q, offset), rope(k, offset)
        return q, k, v

    def transform_qk(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The q and k that enter the dot product (after positions). Identity for dense attention."""
        return q, k

    def prefix_kv(self, batch: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Extra keys and values (B, H, m, dqk), (B, H, m, dv) every query may attend to; None = no prefix."""
        return None

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """softmax(q k^T / sqrt(dqk) + mask) v; ``mask`` None means plain causal."""
        p = self.dropout if self.training else 0.0
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)

    # -- forward --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """``cache``: x holds the positions after those the cache holds, which it attends over too (and keeps)."""
        b, t, _ = x.shape
        read = 0 if cache is None else cache.length
        padded = cache is not None and cache.pad is not None
        if (read or padded) and self.cfg.window:
            raise ValueError("incremental decoding (KVCache) does not support model.window")
        q, k, v = self.project(x, read) if read else self.project(x)
        q, k = self.transform_qk(q, k)
        if cache is not None:
            k, v = cache.extend(self.layer, k, v)
        prefix = self.prefix_kv(b)
        m = read
        if prefix is not None:
            pk, pv = prefix
            m += pk.shape[2]
            k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
        mask = None
        if padded:
            mask = cache.padding_mask(read, t, prefix=m - read)
        elif m or self.cfg.window:
            mask = attention_mask(t, prefix=m, window=self.cfg.window, device=x.device)
        y = self.attend(q, k, v, mask)
        return self.proj(y.transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    """GPT-2's feed-forward block: Linear -> GELU -> Linear."""

    def __init__(self, cfg: GPTConfig, layer: int) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, cfg.mlp_ratio * cfg.n_embd, bias=cfg.bias)
        self.out = nn.Linear(cfg.mlp_ratio * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.out(F.gelu(self.fc(x))))


BlockFactory = Callable[[GPTConfig, int], nn.Module]


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int, attention: BlockFactory, mlp: BlockFactory) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = attention(cfg, layer)
        self.ln2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = mlp(cfg, layer)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + (self.attn(self.ln1(x)) if cache is None else self.attn(self.ln1(x), cache=cache))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Decoder-only LM: ``forward(idx) -> logits`` (B, T, vocab)."""

    def __init__(self, cfg: GPTConfig, attention: BlockFactory = CausalSelfAttention, mlp: BlockFactory = MLP) -> None:
        super().__init__()
        if cfg.vocab_size < 1:
            raise ConfigError("model.vocab_size must be set (the trainer fills it from the data set)")
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.pos == "learned" else None
        # Token shift (RWKV's; the short convolution of H3 / Based is its wider form): each position also sees a learned
        # map of the previous token's embedding. It hands attention the pair (previous token, token) that recall
        # tasks key on, which a tiny GPT otherwise must first build with a previous-token head -- the slow,
        # plateau-bound step that keeps a 2-layer GPT from learning key-value recall within a CPU budget.
        self.shift = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False) if cfg.token_shift else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, i, attention, mlp) for i in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.wte.weight  # weight tying, as GPT-2
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith(("attn.proj.weight", "mlp.out.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits (B, T, vocab) of ``idx`` (B, T); with ``cache``, idx continues the sequences the cache has read
        (see :class:`KVCache`) and the cache then holds them too."""
        b, t = idx.shape
        read = 0 if cache is None else cache.length
        if read + t > self.cfg.block_size:
            raise ValueError(f"sequence of {read + t} tokens is longer than model.block_size={self.cfg.block_size}")
        pad = None if cache is None else cache.pad
        if pad is not None and self.cfg.pos == "rope":
            raise ValueError("left padding (KVCache.pad) needs model.pos = learned or none")
        x = self.wte(idx)
        if self.wpe is not None:
            pos = torch.arange(read, read + t, device=idx.device)
            x = x + self.wpe(pos if pad is None else (pos[None] - pad[:, None]).clamp_min(0))
        if self.shift is not None:
            before = x[:, :-1] if not read else torch.cat([cache.last_embedding, x[:, :-1]], dim=1)
            if pad is not None:  # a row's first token sees zeros before it, as the unpadded row's does
                first = read - 1 if read else 0  # the position of before's first column
                prev = torch.arange(first, first + before.shape[1], device=idx.device)
                before = before * (prev[None] >= pad[:, None])[..., None]
            shifted = self.shift(before)
            x_last = x[:, -1:]
            x = x + (F.pad(shifted, (0, 0, 1, 0)) if not read else shifted)
            if cache is not None:
                cache.last_embedding = x_last
        elif cache is not None:
            cache.last_embedding = None
        x = self.drop(x)
        for block in self.blocks:
            x = block(x) if cache is None else block(x, cache=cache)
        if cache is not None:
            cache.length = read + t
        return self.head(self.ln_f(x))

    def new_cache(self, pad: torch.Tensor | None = None) -> KVCache:
        return KVCache(self.cfg.n_layer, pad)

    def aux_loss(self) -> torch.Tensor | float:
        """Sum of the ``aux_loss`` values that submodules set in the last forward (0.0 if none)."""
        total: torch.Tensor | float = 0.0
        for module in self.modules():
            value = getattr(module, "aux_loss", None)
            if isinstance(value, torch.Tensor):
                total = total + value
        return total

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def token_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy -log p(target), shape (B, T)."""
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="none").view(targets.shape)
