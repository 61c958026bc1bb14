"""What the large-model family's configs check, torch-free: the decoder's shape (``GPTConfig``), the LM data section
(``LMDataConfig``), the mixture of experts (``MoEConfig``), and the names the checks need from the torch modules
(generated tasks, reasoning rules, attention masks, Erdős graph tasks, LongPPL's constants). A sweep's driver loads
and validates an LM method's config against them without importing torch, PyG, transformers or networkx; the
modules that use them (``model``, ``data``, ``moe``, ``reasoning``, ``position_bias``, ``longppl``, ``erdos``)
re-export them beside the code that runs them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.config import ConfigError, bounded
from shared.lm.corpora import CORPORA

# LongPPL (Fang et al., ICLR 2025): the key-token thresholds of Eq. 4-6 and LongCE's weight cap of Eq. 8.
ALPHA, BETA, GAMMA = 2.0, -2.0, 5.0
# The generated LM tasks, the keys of shared/lm/data.py's TASKS (tests/test_llm_stack.py checks they are equal).
TASK_NAMES = ("kv_recall", "assoc_recall", "easy_hard", "long_recall")
ROUTINGS = ("topk", "seqtopk", "seqtopk_online")  # SeqTopK's routings (shared/lm/moe.py)
MASKS = ("causal", "window", "prefix", "decay", "full")  # position_bias's attention masks (shared/lm/position_bias.py)
TIERS = ("easy", "medium", "hard", "challenging")  # the G1 paper's task tiers (shared/lm/erdos.py)


@dataclass
class GPTConfig:
    """The decoder's shape. ``vocab_size`` 0 means: take it from the data."""

    n_layer: int = bounded(2, ge=1)
    n_head: int = bounded(4, ge=1)
    n_embd: int = bounded(128, ge=1)
    head_dim: int = bounded(0, ge=0, help="value head dimension; 0 = n_embd // n_head")
    qk_dim: int = bounded(0, ge=0, help="query/key head dimension; 0 = head_dim")
    block_size: int = bounded(256, ge=1, help="longest context the model accepts")
    vocab_size: int = bounded(0, ge=0, help="0 = the data set's vocabulary")
    dropout: float = bounded(0.0, ge=0.0, lt=1.0)
    bias: bool = True
    pos: str = bounded("learned", choices=["learned", "rope", "none"])
    window: int = bounded(0, ge=0, help="sliding-window attention: each token sees the last `window` tokens; 0 = all")
    mlp_ratio: int = bounded(4, ge=1)
    token_shift: bool = False  # add a learned map of the previous token's embedding (see GPT.forward)

    @property
    def v_head(self) -> int:
        return self.head_dim or self.n_embd // self.n_head

    @property
    def qk_head(self) -> int:
        return self.qk_dim or self.v_head

    def check(self) -> None:
        if not self.head_dim and self.n_embd % self.n_head:
            raise ConfigError(f"model.n_embd ({self.n_embd}) must be divisible by model.n_head ({self.n_head}) "
                              "unless model.head_dim is set")


@dataclass
class LMDataConfig:
    name: str = bounded("kv_recall", help="a corpus (wiki, lee) or a generated task (see shared/lm/data.py TASKS)")
    tokenizer: str = bounded("char", choices=["gpt2", "char"], help="corpora only; tasks have their own vocabulary")
    seq_len: int = bounded(128, ge=2, help="tokens per sequence for corpora (tasks derive their length)")
    max_train: int = bounded(0, ge=0, help="cap on training sequences; 0 = all (corpora) ")
    val_fraction: float = bounded(0.1, gt=0.0, lt=0.5,
                                  help="corpora: held-out tail of the stream, each of val and test")
    n_train: int = bounded(4000, ge=1, help="tasks: training sequences (per epoch when fresh)")
    fresh: bool = True  # tasks: draw new training sequences every epoch (an endless supply, as MQAR trains)
    n_val: int = bounded(500, ge=1, help="tasks: validation and test sequences (each)")
    n_pairs: int = bounded(8, ge=1)
    n_queries: int = bounded(4, ge=1)
    n_keys: int = bounded(32, ge=1)
    n_values: int = bounded(32, ge=1)
    filler: int = bounded(0, ge=0, help="filler tokens between the pairs and the queries")
    n_filler: int = bounded(16, ge=1, help="size of the filler vocabulary")

    def check(self) -> None:
        if self.name not in (*CORPORA, *TASK_NAMES):
            raise ConfigError(f"data.name: unknown LM data set {self.name!r}; known: "
                              f"{', '.join((*CORPORA, *TASK_NAMES))}")


@dataclass
class MoEConfig:
    n_experts: int = bounded(8, ge=1, help="E: experts per MoE layer")
    k: int = bounded(2, ge=1, help="K: experts per token on average (exactly, under topk)")
    routing: str = bounded("seqtopk", choices=ROUTINGS)
    bounds: str = bounded("paper", choices=["paper", "cap", "none"],
                          help="per-token bounds: paper = [1, K+2]; cap = [0, cap]; none = [0, E]")
    cap: int = bounded(0, ge=0, help="U for bounds=cap (K <= U <= E); 0 = K + 2")
    rank_by: str = bounded("prob", choices=["prob", "logit"], help="what is ranked across tokens")
    gate: str = bounded("renorm", choices=["renorm", "full"],
                        help="renorm = softmax over the selected logits; full = full-softmax probabilities")
    expert_hidden: int = bounded(0, ge=0, help="hidden width of one expert; 0 = mlp_ratio * n_embd // k")
    aux_weight: float = bounded(0.0, ge=0.0, help="Switch-style load-balancing loss weight; 0 = off")
    online_clamp: bool = False  # online: also cut K_t to the unspent budget (t+1) K - sum_{s<t} K_s

    def check(self) -> None:
        if self.k > self.n_experts:
            raise ConfigError(f"moe.k ({self.k}) cannot exceed moe.n_experts ({self.n_experts})")
        if self.bounds == "cap" and not self.k <= (self.cap or min(self.k + 2, self.n_experts)) <= self.n_experts:
            raise ConfigError(f"moe.cap ({self.cap}) must lie between moe.k ({self.k}) and moe.n_experts "
                              f"({self.n_experts}): with fewer than K slots per token the budget T K cannot be spent")

    def lower(self) -> int:
        """Least experts per valid token (the paper's bound reserves each token's best one)."""
        return 1 if self.bounds == "paper" and self.routing != "topk" else 0

    def upper(self) -> int:
        """Most experts per token."""
        if self.routing == "topk":
            return self.k
        if self.bounds == "paper":
            return min(self.k + 2, self.n_experts)
        if self.bounds == "cap":
            return self.cap or min(self.k + 2, self.n_experts)
        return self.n_experts


# -- the reasoning task's rules (shared/lm/reasoning.py): plain arithmetic, on ints and tensors alike -----------
OPS: dict[str, Callable[[Any, Any, int], Any]] = {
    "add": lambda x, y, p: (x + y) % p,
    "sub": lambda x, y, p: (x - y) % p,
    "mul": lambda x, y, p: (x * y) % p,
}


def parse_rule(rule: str) -> tuple[str, ...]:
    """``"add.sub"`` -> ("add", "sub"); unknown operations raise ValueError naming them."""
    ops = tuple(rule.split("."))
    unknown = [op for op in ops if op not in OPS]
    if not rule or unknown:
        raise ValueError(f"rule {rule!r}: unknown operation(s) {unknown}; known: {', '.join(OPS)}")
    return ops


def example_len(n_ops: int) -> int:
    """Tokens per example: n_ops + 1 operands, '=', n_ops trace tokens."""
    return 2 * n_ops + 2
