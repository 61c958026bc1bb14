"""ReasonCACHE: "Teaching LLMs To Reason Without Weight Updates" (arXiv 2602.02366; no official code).

Prefix tuning used as a learned KV cache. At every layer l the queries of the real tokens attend over m trainable
key and value vectors per head before their own:

    K' = [P_K^l ; K^l],   V' = [P_V^l ; V^l],   Attn = softmax(Q K'^T / sqrt(d_k) + causal mask) V'

(:class:`PrefixAttention`, through the decoder's ``prefix_kv`` hook). Only {P_K^l, P_V^l} train (2 L m H d_head
numbers), with next-token cross-entropy on the trace and answer of task demonstrations; the backbone is frozen
(``requires_grad`` False, not given to the optimizer) and stays bit-identical. At inference the prefix replaces
the demonstrations: the prompt is the question alone, against k demonstrations plus the question for in-context
learning. Position handling (the spec leaves it open): prefix keys carry no position (they are stored as they
enter the dot product, i.e. post-RoPE), and the real tokens keep positions 0, 1, ... as without a prefix.

One method, three modes (``mode``), all on the same frozen backbone:

- ``prefix``: ReasonCACHE, ``prefix_len`` = m slots per layer and head;
- ``icl``: nothing trains; the prompt holds ``data.shots`` demonstrations before each question;
- ``lora``: LoRA (Hu et al., 2021) ``W + scale * B A`` on ``lora_targets`` of every attention block, rank
  ``lora_rank`` (0 = the rank whose parameter count is nearest the prefix's).

The backbone is a GPT pretrained on task A (:mod:`shared.lm.reasoning`: question -> trace -> answer, a rule drawn
per sequence from ``data.pretrain_rules``, examples packed ``data.context`` to a sequence); the arms teach task B
(``data.rule``). It is trained once per (backbone config, task A, seed) through the platform's own loop and cached
whole under ``shared.cache.cache_root()/reasoncache`` (a file lock makes concurrent arms wait for one
pretraining instead of each running it).

Data path (this module's own, not ``shared/lm/data.py``): every question of task B is split once per seed into
``data.n_test`` held-out questions and the demonstration pool; prefix and LoRA train on the pool, ICL draws its
demonstrations from it, and every arm is scored on the held-out questions by greedy decoding of trace and answer.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shared.cache import cache_root, save_whole
from shared.lm import reasoning
from shared.lm.data import LMSplit
from shared.lm.model import GPT, BlockFactory, CausalSelfAttention, GPTConfig
from shared.method import Evaluator, OptimConfig, make_optimizer
from shared.methods.llm.common import Batch, LMConfig, LMTrainer
from shared.methods.llm.config import (  # noqa: F401  (torch-free; re-exported)
    BackboneConfig,
    ReasonCacheConfig,
    ReasoningTaskConfig,
)
from shared.methods.llm.specs import REASONCACHE as SPEC  # noqa: F401  (the registry's, torch-free)

TRAINABLE = ("prefix_k", "prefix_v", "lora_a", "lora_b")  # parameter names that are not the backbone's
CACHE_FORMAT = 1  # bump when the pretraining code changes what a cached backbone holds


# -- prefix attention and LoRA --------------------------------------------------------------------------------
class PrefixAttention(CausalSelfAttention):
    """Causal self-attention whose queries also see ``slots`` trainable keys and values per head (no position)."""

    def __init__(self, cfg: GPTConfig, layer: int, slots: int = 4, init_std: float = 1.0) -> None:
        super().__init__(cfg, layer)
        h = cfg.n_head
        self.prefix_k = nn.Parameter(torch.randn(h, slots, cfg.qk_head) * init_std)
        self.prefix_v = nn.Parameter(torch.randn(h, slots, cfg.v_head) * init_std)

    def prefix_kv(self, batch: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.prefix_k.shape[1] == 0:
            return None
        return self.prefix_k.expand(batch, -1, -1, -1), self.prefix_v.expand(batch, -1, -1, -1)


class LoRALinear(nn.Linear):
    """``x W^T + b + scale * x A^T B^T`` with A (r, in), B (out, r); B starts at zero so the layer starts as W."""

    def __init__(self, in_features: int, out_features: int, bias: bool, rank: int, scale: float) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.lora_a = nn.Parameter(torch.randn(rank, in_features) / math.sqrt(in_features))
        self.lora_b = nn.Parameter(torch.zeros(out_features, rank))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + self.scale * (x @ self.lora_a.T) @ self.lora_b.T


class LoRAAttention(CausalSelfAttention):
    """Causal self-attention with LoRA on the named projections (q, k, v, proj); names of W and b unchanged."""

    def __init__(self, cfg: GPTConfig, layer: int, rank: int = 1, targets: tuple[str, ...] = ("v", "proj"),
                 scale: float = 1.0) -> None:
        super().__init__(cfg, layer)
        for name in targets:
            old: nn.Linear = getattr(self, name)
            setattr(self, name, LoRALinear(old.in_features, old.out_features, old.bias is not None, rank, scale))


def prefix_param_count(cfg: GPTConfig, slots: int) -> int:
    """2 L m H d_head: the keys and values of every layer's prefix."""
    return cfg.n_layer * cfg.n_head * slots * (cfg.qk_head + cfg.v_head)


def matched_lora_rank(cfg: GPTConfig, slots: int, targets: list[str]) -> int:
    """The LoRA rank whose parameter count, L * r * sum(in + out), is nearest 2 L m H d_head (at least 1)."""
    h = cfg.n_head
    sizes = {"q": (cfg.n_embd, h * cfg.qk_head), "k": (cfg.n_embd, h * cfg.qk_head),
             "v": (cfg.n_embd, h * cfg.v_head), "proj": (h * cfg.v_head, cfg.n_embd)}
    per_rank = cfg.n_layer * sum(sum(sizes[t]) for t in targets)
    return max(1, round(prefix_param_count(cfg, slots) / per_rank))


def is_trainable(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in TRAINABLE


def backbone_hash(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the names and exact bytes of the backbone's tensors (the trainable ones left out)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        if is_trainable(name):
            continue
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# -- data -----------------------------------------------------------------------------------------------------
@dataclass
class ReasoningData:
    vocab_size: int
    n_ops: int
    train: LMSplit  # one task-B demonstration per sequence; loss on its trace, answer mask on its answer
    test: LMSplit  # the held-out questions, alone
    icl_test: LMSplit  # the held-out questions, each after data.shots demonstrations from the pool

    @property
    def prompt_len(self) -> int:
        """Tokens of a question before its trace (operands and '=')."""
        return self.n_ops + 2


def _split(tokens: torch.Tensor, n_examples: int, n_ops: int, last_only: bool) -> LMSplit:
    trace_mask, answer_mask = reasoning.target_masks(n_examples, n_ops, last_only)
    n = tokens.shape[0]
    return LMSplit(tokens, trace_mask.float().expand(n, -1).clone(), answer_mask.expand(n, -1).clone())


def reasoning_data(cfg: ReasoningTaskConfig, seed: int) -> ReasoningData:
    """Task B's demonstrations and held-out questions; deterministic per seed (the split and the ICL shots)."""
    gen = torch.Generator().manual_seed(20_000 + seed)
    p, s = cfg.modulus, cfg.n_ops
    rule = reasoning.parse_rule(cfg.rule)
    questions = reasoning.all_questions(p, s)[torch.randperm(p ** (s + 1), generator=gen)]
    test_q, pool = questions[: cfg.n_test], questions[cfg.n_test:]
    if cfg.n_demos:
        pool = pool[: cfg.n_demos]

    def one(q: torch.Tensor) -> torch.Tensor:
        return reasoning.examples(q, reasoning.trace(q, rule, p), p)

    shots = pool[torch.randint(0, len(pool), (cfg.n_test, cfg.shots), generator=gen)]
    prompts = torch.cat([shots, test_q[:, None]], dim=1)  # (n_test, shots + 1, s + 1)
    return ReasoningData(
        vocab_size=p + 1, n_ops=s,
        train=_split(one(pool), 1, s, last_only=False),
        test=_split(one(test_q), 1, s, last_only=False),
        icl_test=_split(one(prompts).flatten(1), cfg.shots + 1, s, last_only=True),
    )


def pretrain_batch(cfg: ReasoningTaskConfig, batch_size: int, generator: torch.Generator) -> Batch:
    """Task-A sequences of ``data.context`` examples, one rule of ``data.pretrain_rules`` per sequence."""
    rules = [reasoning.parse_rule(r) for r in cfg.pretrain_rules]
    q = torch.randint(0, cfg.modulus, (batch_size, cfg.context, cfg.n_ops + 1), generator=generator)
    ids = torch.randint(0, len(rules), (batch_size,), generator=generator)
    tokens = reasoning.packed(q, ids, rules, cfg.modulus)
    split = _split(tokens, cfg.context, cfg.n_ops, last_only=False)
    return split.tokens, split.loss_mask, split.answer_mask


# -- the backbone ---------------------------------------------------------------------------------------------
def backbone_model_config(cfg: ReasonCacheConfig) -> GPTConfig:
    return replace(cfg.model, vocab_size=cfg.data.modulus + 1)


class BackboneTrainer(LMTrainer):
    """Pretraining on task A with the platform's plain loop: one epoch of ``backbone.steps`` fresh batches."""

    def __init__(self, config: LMConfig, task: ReasoningTaskConfig) -> None:
        self.task = task
        super().__init__(config)

    def setup(self) -> None:
        self.model_config = replace(self.config.model, vocab_size=self.task.modulus + 1)

    def steps_per_epoch(self) -> int:
        return self.config.steps_per_epoch

    def batches(self) -> Iterator[Batch]:
        for _ in range(self.config.steps_per_epoch):
            yield pretrain_batch(self.task, self.config.batch_size, self.generator)


def _backbone_key(cfg: ReasonCacheConfig) -> dict[str, Any]:
    task = {k: getattr(cfg.data, k) for k in ("modulus", "pretrain_rules", "context")}
    return {"format": CACHE_FORMAT, "model": asdict(backbone_model_config(cfg)), "task": task,
            "backbone": asdict(cfg.backbone), "seed": cfg.seed}


def backbone_path(cfg: ReasonCacheConfig) -> Path:
    key = hashlib.sha256(json.dumps(_backbone_key(cfg), sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / "reasoncache" / f"backbone-{key}.pt"


@torch.no_grad()
def pretrain_accuracy(model: nn.Module, cfg: ReasoningTaskConfig, n: int = 256) -> float:
    """Answer accuracy of the last example of held-out task-A sequences (greedy trace)."""
    tokens, _, _ = pretrain_batch(cfg, n, torch.Generator().manual_seed(1))
    return greedy_scores(model, tokens, cfg.n_ops)[0]


def pretrained_backbone(cfg: ReasonCacheConfig) -> dict[str, Any]:
    """``{"state": backbone state_dict, "acc": its task-A accuracy}``: from the cache, or pretrained once (under a
    file lock, so that arms started together wait for one run) and saved whole. Leaves torch's RNG as it was."""
    path = backbone_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            with torch.random.fork_rng():
                lm = LMConfig(seed=cfg.seed, epochs=1, threads=cfg.threads, batch_size=cfg.backbone.batch_size,
                              steps_per_epoch=cfg.backbone.steps, grad_clip=1.0, model=cfg.model,
                              optim=OptimConfig(name="adamw", lr=cfg.backbone.lr, weight_decay=0.0,
                                                schedule="cosine"))
                trainer = BackboneTrainer(lm, cfg.data)
                trainer.fit_epoch()
                acc = pretrain_accuracy(trainer.model, cfg.data)
                save_whole({"state": trainer.model.state_dict(), "acc": acc, "key": json.dumps(_backbone_key(cfg))},
                           path)
        fcntl.flock(lock, fcntl.LOCK_UN)
    return torch.load(path, weights_only=True)


# -- the method -----------------------------------------------------------------------------------------------
class ReasonCacheTrainer(LMTrainer):
    config: ReasonCacheConfig
    data: ReasoningData  # type: ignore[assignment]

    def setup(self) -> None:
        self.data = reasoning_data(self.config.data, self.config.seed)
        self.model_config = backbone_model_config(self.config)
        self.backbone = pretrained_backbone(self.config)["state"]

    def attention_block(self) -> BlockFactory:
        cfg = self.config
        if cfg.mode == "prefix":
            return partial(PrefixAttention, slots=cfg.prefix_len, init_std=cfg.prefix_init_std)
        if cfg.mode == "lora":
            rank = cfg.lora_rank or matched_lora_rank(self.model_config, cfg.prefix_len, cfg.lora_targets)
            return partial(LoRAAttention, rank=rank, targets=tuple(cfg.lora_targets), scale=cfg.lora_scale)
        return CausalSelfAttention

    def build_model(self) -> nn.Module:
        """The mode's decoder with the pretrained backbone loaded and frozen; only prefix / LoRA tensors train."""
        model = GPT(self.model_config, attention=self.attention_block())
        missing, unexpected = model.load_state_dict(self.backbone, strict=False)
        if unexpected or not all(is_trainable(k) for k in missing):
            raise RuntimeError(f"backbone does not fit the model: missing {missing}, unexpected {unexpected}")
        for name, param in model.named_parameters():
            param.requires_grad_(is_trainable(name))
        if self.config.mode == "prefix" and self.config.prefix_init == "demo":
            self._init_from_demonstrations(model)
        return model

    @torch.no_grad()
    def _init_from_demonstrations(self, model: GPT) -> None:
        """Set each layer's prefix to the backbone's keys and values (as they enter the dot product) of the first
        m tokens of task-B demonstrations packed back to back: the KV cache that ICL would hold, as a start."""
        m, length = self.config.prefix_len, reasoning.example_len(self.data.n_ops)
        demos = self.data.train.tokens[: -(-m // length)].reshape(1, -1)[:, :m]
        recorded: list[tuple[torch.Tensor, torch.Tensor]] = []

        class Recording(CausalSelfAttention):  # keeps the keys and values each layer attends over
            def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None) -> torch.Tensor:
                recorded.append((k, v))
                return super().attend(q, k, v, mask)

        plain = GPT(self.model_config, attention=Recording)
        plain.load_state_dict(self.backbone)
        plain.eval()(demos)
        for block, (k, v) in zip(model.blocks, recorded, strict=True):
            block.attn.prefix_k.copy_(k[0])
            block.attn.prefix_v.copy_(v[0])

    def configure_optimizer(self) -> torch.optim.Optimizer:
        # Only the prefix (or LoRA) tensors: the backbone is not even seen by the optimizer (no weight decay,
        # no state). ICL has none: an empty group keeps the checkpoint format.
        params = [p for p in self.model.parameters() if p.requires_grad]
        return make_optimizer([{"params": params}], self.config.optim)

    def steps_per_epoch(self) -> int:
        if self.config.mode == "icl":
            return 0  # nothing trains: the demonstrations are read at test time
        full = max(len(self.data.train) // self.config.batch_size, 1)
        return min(self.config.steps_per_epoch, full) if self.config.steps_per_epoch else full

    def batches(self) -> Iterator[Batch]:
        train, bs = self.data.train, self.config.batch_size
        order = torch.randperm(len(train), generator=self.generator)
        for step in range(self.steps_per_epoch()):
            idx = order[step * bs:(step + 1) * bs]
            yield train.tokens[idx], train.loss_mask[idx], train.answer_mask[idx]


# -- evaluators -----------------------------------------------------------------------------------------------
@torch.no_grad()
def greedy_scores(model: nn.Module, tokens: torch.Tensor, n_ops: int, batch_size: int = 256) -> tuple[float, float]:
    """Greedy decoding of the last example's trace from its prompt: (answer accuracy, whole-trace accuracy)."""
    was_training = model.training
    model.eval()
    answer = whole = 0.0
    for start in range(0, len(tokens), batch_size):
        seq = tokens[start:start + batch_size]
        ctx = seq[:, :-n_ops]
        for _ in range(n_ops):
            ctx = torch.cat([ctx, model(ctx)[:, -1].argmax(-1, keepdim=True)], dim=1)
        answer += float((ctx[:, -1] == seq[:, -1]).sum())
        whole += float((ctx[:, -n_ops:] == seq[:, -n_ops:]).all(1).sum())
    model.train(was_training)
    return answer / len(tokens), whole / len(tokens)


class _TaskEvaluator(Evaluator):
    config: ReasonCacheConfig

    def load_data(self) -> ReasoningData:
        return reasoning_data(self.config.data, self.config.seed)


class ReasoningAccuracy(_TaskEvaluator):
    """Held-out task-B accuracy by greedy decoding: the answer, and the whole trace. ICL prompts carry the
    demonstrations; prefix and LoRA prompts are the question alone."""

    metrics = ("answer_acc", "trace_acc")

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        split = self.data.icl_test if self.config.mode == "icl" else self.data.test
        answer, whole = greedy_scores(artifact, split.tokens, self.data.n_ops)
        return {"answer_acc": answer, "trace_acc": whole}


class InferenceCost(_TaskEvaluator):
    """Per query: ``prompt_tokens``, the tokens the model runs forward before the trace (demonstrations included);
    ``inference_tokens``, the context entries the trace attends over (the prompt plus the m prefix slots, which are
    cached keys and values, never run forward); and the number of trainable parameters."""

    metrics = ("prompt_tokens", "inference_tokens", "trainable_params")

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        cfg = self.config
        prompt = self.data.prompt_len
        if cfg.mode == "icl":
            prompt += cfg.data.shots * reasoning.example_len(self.data.n_ops)
        slots = cfg.prefix_len if cfg.mode == "prefix" else 0
        return {"prompt_tokens": float(prompt), "inference_tokens": float(prompt + slots),
                "trainable_params": float(sum(p.numel() for p in artifact.parameters() if p.requires_grad))}


class BackboneCheck(Evaluator):
    """``backbone_unchanged``: 1.0 when the artifact's backbone tensors hash to the cached pretrained backbone's
    (bit-identical), else 0.0; ``pretrain_acc``: the backbone's own task-A accuracy (was it a good backbone?)."""

    metrics = ("backbone_unchanged", "pretrain_acc")
    config: ReasonCacheConfig

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        cached = pretrained_backbone(self.config)
        same = backbone_hash(artifact.state_dict()) == backbone_hash(cached["state"])
        return {"backbone_unchanged": float(same), "pretrain_acc": float(cached["acc"])}
