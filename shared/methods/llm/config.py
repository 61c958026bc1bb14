"""The config schemas of the large-model family, torch-free: the sweep driver loads and validates a config against them
without importing torch (the trainers, in the method modules, import it). Each method module re-exports its own.

``LMConfig`` is the shared LM protocol (``common.py``'s ``LMTrainer``); GPT, LongPPL, LongCE, SFA, SeqTopK and
ReasonCACHE extend it with their sections. CoT length, ICRM, G1 and position bias train their own models and have
their own configs. The decoder, data and MoE sections come from ``shared/lm/config.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from shared.config import ConfigError, bounded
from shared.distributed import DistributedConfig
from shared.lm.config import (
    ALPHA,
    BETA,
    GAMMA,
    MASKS,
    GPTConfig,
    LMDataConfig,
    MoEConfig,
    example_len,
    parse_rule,
)
from shared.method import MethodConfig, OptimConfig


# -- the LM protocol (common.py) ----------------------------------------------------------------------------------
@dataclass
class LMConfig(MethodConfig):
    epochs: int = bounded(5, ge=1)
    batch_size: int = bounded(32, ge=1)
    steps_per_epoch: int = bounded(0, ge=0, help="0 = one pass over the training sequences")
    grad_clip: float = bounded(1.0, ge=0.0, help="max gradient norm; 0 = no clipping")
    eval_batches: int = bounded(0, ge=0, help="held-out batches evaluated; 0 = the whole split")
    model: GPTConfig = field(default_factory=GPTConfig)
    data: LMDataConfig = field(default_factory=LMDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adamw", lr=3e-3, weight_decay=0.0))
    # Ray Train + DeepSpeed settings (workers, ZeRO stage, precision, accumulation): used when the run goes
    # through actors/distributed.py (jobs/train_distributed.py, sweeps); the plain loop ignores them.
    distributed: DistributedConfig = field(default_factory=DistributedConfig)

    def check(self) -> None:
        self.model.check()


@dataclass
class GPTMethodConfig(LMConfig):
    pass


def check_short_window(section: str, trunc_len: int, sliding_window: int, block_size: int) -> None:
    """A short window (LongPPL's, LongCE's) of ``trunc_len + sliding_window`` tokens must fit the model."""
    span = trunc_len + sliding_window
    if span - 1 > block_size:
        raise ConfigError(f"{section}.trunc_len + {section}.sliding_window ({span}) exceeds model.block_size + 1 "
                          f"({block_size + 1}): a short window must fit the model")


# -- LongPPL and LongCE (longppl.py, longppl_eval.py, longce.py) -------------------------------------------------
@dataclass
class LongPPLSettings:
    trunc_len: int = bounded(16, ge=1, help="short context: tokens before the scored window (official 4096)")
    sliding_window: int = bounded(8, ge=1, help="tokens scored per short window (official 1024)")
    alpha: float = bounded(ALPHA, help="key token: l_short - l_full > alpha")
    beta: float = bounded(BETA, help="key token: -l_full > beta")
    batch_size: int = bounded(64, ge=1, help="sequences per evaluation batch")
    crops: float = bounded(0.5, ge=0.0, lt=1.0, help="evaluator training: weight of the loss on random crops of "
                                                      "trunc_len + sliding_window tokens")


@dataclass
class LongPPLToolConfig(LMConfig):
    longppl: LongPPLSettings = field(default_factory=LongPPLSettings)

    def check(self) -> None:
        super().check()
        check_short_window("longppl", self.longppl.trunc_len, self.longppl.sliding_window, self.model.block_size)


@dataclass
class LongCESettings:
    trunc_len: int = bounded(16, ge=1, help="short context: tokens before the scored window (official 4096)")
    sliding_window: int = bounded(8, ge=1, help="tokens scored per short window (official 1024)")
    gamma: float = bounded(GAMMA, gt=0.0, help="cap on the weights (official --threshold 5)")


@dataclass
class LongCEConfig(LMConfig):
    longce: LongCESettings = field(default_factory=LongCESettings)

    def check(self) -> None:
        super().check()
        check_short_window("longce", self.longce.trunc_len, self.longce.sliding_window, self.model.block_size)


# -- SFA (sfa.py) -------------------------------------------------------------------------------------------------
@dataclass
class SFAParams:
    k: int = bounded(8, ge=0, help="active coordinates per query/key row and head; 0 = the whole head (dense)")
    distill_lambda: float = bounded(0.0, ge=0.0, help="weight of the MSE to the dense head outputs; 0 = off")
    topk_at: str = bounded("after_rope", choices=["after_rope", "before_rope"],
                           help="where top-k sits relative to the rotary embedding (pos=rope only)")
    kernel: str = bounded("reference", choices=["reference", "overlap", "tiled"],
                          help="how the scores are computed (the same function): SDPA on masked q, k; "
                               "shared-coordinate products; the same per tile with an online softmax")
    block: int = bounded(64, ge=1, help="tile size of kernel=tiled")
    dense_epochs: int = bounded(0, ge=0, help="conversion: train this many epochs with dense attention first")


@dataclass
class SFAConfig(LMConfig):
    sfa: SFAParams = field(default_factory=SFAParams)

    def check(self) -> None:
        super().check()
        d = self.model.qk_head
        if self.sfa.k > d:
            raise ConfigError(f"sfa.k ({self.sfa.k}) cannot exceed the query/key head dimension ({d}; model.qk_dim, "
                              "model.head_dim or model.n_embd // model.n_head)")
        if self.model.window:
            raise ConfigError("sfa: model.window must be 0 (the sparse kernels and the cost counts assume plain "
                              "causal attention)")
        if self.sfa.dense_epochs >= self.epochs:
            raise ConfigError(f"sfa.dense_epochs ({self.sfa.dense_epochs}) must be below epochs ({self.epochs}): "
                              "the run must end with SFA")


# -- SeqTopK (seqtopk.py) -----------------------------------------------------------------------------------------
@dataclass
class SeqTopKConfig(LMConfig):
    moe: MoEConfig = field(default_factory=MoEConfig)


# -- ReasonCACHE (reasoncache.py) ---------------------------------------------------------------------------------
@dataclass
class ReasoningTaskConfig:
    """Task A (the backbone's pretraining) and task B (what the arms teach), see :mod:`shared.lm.reasoning`."""

    modulus: int = bounded(11, ge=2, help="numbers are Z_p")
    pretrain_rules: list[str] = field(default_factory=lambda: ["add.add", "add.sub", "sub.add"])
    rule: str = bounded("sub.sub", help="task B: the rule the arms teach")
    context: int = bounded(5, ge=1, help="examples per pretraining sequence (bounds data.shots + 1)")
    shots: int = bounded(4, ge=0, help="demonstrations in the ICL prompt")
    n_test: int = bounded(256, ge=1, help="held-out questions of task B, disjoint from the demonstrations")
    n_demos: int = bounded(0, ge=0, help="task-B demonstrations to learn from; 0 = every other question")

    @property
    def n_ops(self) -> int:
        return len(parse_rule(self.rule))

    def check(self) -> None:
        for key, rules in (("data.rule", [self.rule]), ("data.pretrain_rules", self.pretrain_rules)):
            if not rules:
                raise ConfigError(f"{key}: needs at least one rule")
            for rule in rules:
                try:
                    ops = parse_rule(rule)
                except ValueError as err:
                    raise ConfigError(f"{key}: {err}") from None
                if len(ops) != self.n_ops:
                    raise ConfigError(f"{key}: rule {rule!r} has {len(ops)} operations, data.rule has {self.n_ops}")
        if self.shots > self.context - 1:
            raise ConfigError(f"data.shots ({self.shots}) must be <= data.context - 1 ({self.context - 1}): "
                              "the backbone never saw longer prompts")
        total = self.modulus ** (self.n_ops + 1)
        if self.n_test >= total:
            raise ConfigError(f"data.n_test ({self.n_test}) must be below the number of questions ({total})")
        if self.n_demos > total - self.n_test:
            raise ConfigError(f"data.n_demos ({self.n_demos}) exceeds the questions left after data.n_test "
                              f"({total - self.n_test})")


@dataclass
class BackboneConfig:
    """The backbone's pretraining on task A (AdamW, cosine schedule, fresh sequences every step)."""

    steps: int = bounded(1500, ge=1)
    batch_size: int = bounded(64, ge=1)
    lr: float = bounded(3e-3, gt=0.0)


@dataclass
class ReasonCacheConfig(LMConfig):
    mode: str = bounded("prefix", choices=["prefix", "icl", "lora"])
    prefix_len: int = bounded(4, ge=0, help="m: prefix slots per layer and head")
    prefix_init: str = bounded("random", choices=["random", "demo"],
                               help="random: N(0, prefix_init_std); demo: the backbone's own keys and values of the "
                                    "first prefix_len tokens of task-B demonstrations (a real KV cache)")
    prefix_init_std: float = bounded(1.0, ge=0.0, help="std of the prefix keys and values at initialisation")
    lora_rank: int = bounded(0, ge=0, help="0 = match the prefix's trainable parameter count")
    lora_targets: list[str] = field(default_factory=lambda: ["v", "proj"])
    lora_scale: float = bounded(1.0, gt=0.0)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    data: ReasoningTaskConfig = field(default_factory=ReasoningTaskConfig)  # type: ignore[assignment]
    model: GPTConfig = field(default_factory=lambda: GPTConfig(n_layer=2, n_head=4, n_embd=64, pos="rope"))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adamw", lr=3e-2, weight_decay=0.0))

    def check(self) -> None:
        super().check()
        self.data.check()
        bad = sorted(set(self.lora_targets) - {"q", "k", "v", "proj"})
        if bad:
            raise ConfigError(f"lora_targets: unknown projections {bad}; choose from q, k, v, proj")
        if self.mode == "prefix" and self.prefix_len == 0:
            raise ConfigError("prefix_len: mode=prefix needs at least one slot")
        longest = self.data.context * example_len(self.data.n_ops) - 1
        if longest > self.model.block_size:
            raise ConfigError(f"model.block_size ({self.model.block_size}) is shorter than a pretraining sequence "
                              f"({longest} input tokens): raise it or lower data.context")


# -- CoT length, training (cot_length_train.py) -------------------------------------------------------------------
PER_STEP = (1, 2, 4, 8)  # the chains of thought the model learns and is asked for (t, operators per step)


@dataclass
class TreeData:
    min_ops: int = bounded(4, ge=1, le=12, help="operators of the shortest training tree")
    max_ops: int = bounded(8, ge=1, le=12, help="operators of the longest training tree")
    test_ops: int = bounded(8, ge=1, le=12, help="T of the evaluation trees")
    n_test: int = bounded(200, ge=1, le=100_000, help="evaluation trees per t")
    seed: int = bounded(0, ge=0, help="training and evaluation trees")


@dataclass
class CoTTrainConfig(MethodConfig):
    epochs: int = bounded(6, ge=1)
    steps_per_epoch: int = bounded(250, ge=1, le=1_000_000)
    batch_size: int = bounded(64, ge=1, le=65536)
    lr: float = bounded(1e-3, gt=0.0, le=1.0)
    capability: int = bounded(1, ge=1, le=16, help="M: n_layer = n_head = M, n_embd = 64 M")
    # The cell's t (operators per chain-of-thought step; named t, the paper's letter, which also sorts after `seed`,
    # so that Tune's grid varies the seed faster and a sweep's first cells train different models).
    t: int = bounded(0, choices=[0, *PER_STEP], help="t of this cell: evaluate it only, and share the trained "
                     "model with the other cells of the same (M, seed); 0 = every t, own model")
    threads: int = 1
    data: TreeData = field(default_factory=TreeData)

    def check(self) -> None:
        if not self.data.min_ops <= self.data.max_ops:
            raise ConfigError("data.min_ops must be <= data.max_ops")


# -- ICRM (icrm.py) -----------------------------------------------------------------------------------------------
CONTEXTS = (0, 5, 25, 50)  # context sizes the evaluation reports (acc_context_<c>, named by the spec too)


@dataclass
class Environments:
    classes: int = bounded(3, ge=2, le=64)
    shift: float = bounded(2.0, ge=0.0, le=100.0, help="std of an environment's offset")
    noise: float = bounded(0.6, gt=0.0, le=100.0)
    radius: float = bounded(1.5, gt=0.0, le=100.0, help="class means on a circle of this radius")
    n_train_envs: int = bounded(64, ge=1, le=100_000)
    seed: int = bounded(0, ge=0, help="the environments' offsets")


@dataclass
class ICRMConfig(MethodConfig):
    epochs: int = bounded(3, ge=1)
    steps_per_epoch: int = bounded(200, ge=1, le=1_000_000)
    arm: str = bounded("icrm", choices=["icrm", "erm"])
    context_length: int = bounded(51, ge=2, le=4096, help="examples per training sequence")
    batch_size: int = bounded(32, ge=1, le=65536, help="sequences per step")
    width: int = bounded(32, ge=4, le=4096)
    layers: int = bounded(2, ge=1, le=64)
    heads: int = bounded(4, ge=1, le=64)
    lr: float = bounded(1e-3, gt=0.0, le=1.0)
    n_test: int = bounded(2000, ge=1, le=1_000_000, help="held-out sequences per context size")
    threads: int = 1
    data: Environments = field(default_factory=Environments)


# -- G1 (g1.py) ---------------------------------------------------------------------------------------------------
COMPACT_CLASSES = ("int", "bool", "set", "list")  # answers a char-level policy writes as bare text


@dataclass
class ErdosData:
    tasks: list[str] = field(default_factory=lambda: ["node_number", "edge_existence", "degree"])
    nodes_min: int = bounded(3, ge=2, le=10)
    nodes_max: int = bounded(5, ge=2, le=10, help="single-digit node ids in the compact prompt")
    source: str = bounded("mixed", choices=["mixed", "real", "random"])
    n_train: int = bounded(500, ge=1, le=1_000_000, help="training items per task")
    n_test: int = bounded(200, ge=1, le=1_000_000, help="held-out items per task (other graphs)")
    seed: int = bounded(0, ge=0)


@dataclass
class GRPOConfig:
    group_size: int = bounded(5, ge=2, le=256, help="responses per prompt (n)")
    prompts: int = bounded(16, ge=1, le=65536, help="prompts per GRPO step")
    minibatches: int = bounded(2, ge=1, le=64, help="optimizer steps per sampled batch")
    steps_per_epoch: int = bounded(50, ge=1)
    clip: float = bounded(0.2, gt=0.0, le=10.0)
    kl_coef: float = bounded(0.001, ge=0.0)
    entropy_coef: float = bounded(0.001, ge=0.0)
    temperature: float = bounded(1.0, gt=0.0, le=10.0)
    lr: float = bounded(3e-4, gt=0.0, le=1.0)
    reward: str = bounded("verified", choices=["verified", "shuffled", "none"],
                          help="none: the SFT-only arm (GRPO epochs make no update)")
    generation_actors: int = bounded(0, ge=0, le=64, help="Ray generation actors sampling the rollouts, each its "
                                     "share of a step's prompts seeded per share; 0: the learner's process, unsharded")
    generation_cpus: float = bounded(0.0, ge=0.0, le=4096.0, help="CPUs each generation actor reserves; 0: the "
                                     "run's CPUs split between learner and actors (they take turns)")


@dataclass
class PolicyShape:
    n_layer: int = bounded(2, ge=1, le=48)
    n_head: int = bounded(4, ge=1, le=64)
    n_embd: int = bounded(64, ge=8, le=4096)
    block_size: int = bounded(128, ge=16, le=8192)
    token_shift: bool = True  # each position also sees the previous token: digit pairs (edges) become one key


@dataclass
class G1Config(MethodConfig):
    epochs: int = bounded(4, ge=1)
    sft_epochs: int = bounded(2, ge=0, help="epochs of supervised fine-tuning before GRPO")
    steps_per_epoch: int = bounded(100, ge=1, help="SFT steps per epoch")
    batch_size: int = bounded(32, ge=1, le=65536)
    sft_lr: float = bounded(3e-3, gt=0.0, le=1.0)
    max_answer: int = bounded(16, ge=1, le=512, help="longest response sampled, end token included")
    kv_cache: bool = True  # sample with the KV cache (left-padded prompts); false: recompute every token (reference)
    threads: int = 1
    model: PolicyShape = field(default_factory=PolicyShape)
    data: ErdosData = field(default_factory=ErdosData)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    # Ray Train + DeepSpeed (actors/distributed.py, jobs/train_distributed.py); the plain loop ignores it.
    distributed: DistributedConfig = field(default_factory=DistributedConfig)

    def prefix_run(self) -> tuple[str, Any] | None:
        """The SFT phase alone: the same config stopped after ``sft_epochs``, with GRPO's settings at their defaults
        (the SFT phase never reads them), so arms that differ only in GRPO share one SFT run."""
        if self.sft_epochs == 0 or self.epochs <= self.sft_epochs:
            return None
        return "g1", replace(self, epochs=self.sft_epochs, eval_every=0, grpo=GRPOConfig())

    def generation_actors(self) -> int:
        return self.grpo.generation_actors

    def generation_cpus(self) -> float:
        return self.grpo.generation_cpus

    def check(self) -> None:
        from shared.lm.erdos import TASKS as tasks  # networkx (about 0.3 CPU-s), no torch: only g1's drivers pay it

        unknown = [t for t in self.data.tasks if t not in tasks]
        if unknown or not self.data.tasks:
            raise ConfigError(f"data.tasks: unknown {unknown or 'none given'}; known: {', '.join(tasks)}")
        weighted = [t for t in self.data.tasks if tasks[t].answer_class not in COMPACT_CLASSES
                    or tasks[t].kind in ("weighted", "flow")]
        if weighted:
            raise ConfigError(f"data.tasks {weighted}: the compact prompt holds unweighted tasks with int, bool, "
                              "set or list answers only")
        if self.distributed.zero_stage == 3:
            raise ConfigError("distributed.zero_stage=3: g1's frozen reference policy and its rollouts need the whole "
                              "policy on every rank; use zero_stage 0, 1 or 2")
        if self.data.nodes_min > self.data.nodes_max:
            raise ConfigError("data.nodes_min must be <= data.nodes_max")
        longest = 6 + 3 * self.data.nodes_max * (self.data.nodes_max - 1) // 2 + self.max_answer
        if longest > self.model.block_size:
            raise ConfigError(f"model.block_size={self.model.block_size} is shorter than the longest prompt and answer "
                              f"({longest} tokens with {self.data.nodes_max} nodes): raise it or lower data.nodes_max")


# -- position bias (position_bias.py) -----------------------------------------------------------------------------
@dataclass
class RetrievalData:
    classes: int = bounded(256, ge=8, le=1_000_000, help="training classes (test classes are new ones)")
    labels: int = bounded(32, ge=8, le=4096)
    dim: int = bounded(64, ge=2, le=4096)
    pairs: int = bounded(8, ge=4, le=512, help="(item, label) pairs before the query")
    burstiness: int = bounded(4, ge=1, le=512, help="repeats of each class in a sequence (pairs / burstiness classes)")
    eps: float = bounded(0.75, ge=0.0, le=100.0, help="within-class noise")
    seed: int = bounded(0, ge=0, help="class means, label vectors, batches")
    n_test: int = bounded(2000, ge=1, le=1_000_000)


@dataclass
class SANModel:
    layers: int = bounded(2, ge=1, le=64)
    hidden: int = bounded(64, ge=1, le=4096)
    mask: str = bounded("causal", choices=list(MASKS))
    window: int = bounded(4, ge=1, le=4096)
    prefix: int = bounded(4, ge=1, le=4096)
    gamma: float = bounded(0.9, gt=0.0, le=1.0, help="decay mask: weight gamma^(i-j)")
    residual: bool = False


@dataclass
class PositionBiasConfig(MethodConfig):
    epochs: int = bounded(8, ge=1)
    steps_per_epoch: int = bounded(250, ge=1, le=1_000_000)
    batch_size: int = bounded(128, ge=1, le=65536)
    lr: float = bounded(1e-3, gt=0.0, le=1.0)
    weight_decay: float = bounded(1e-6, ge=0.0, le=1.0)
    threads: int = 1
    data: RetrievalData = field(default_factory=RetrievalData)
    model: SANModel = field(default_factory=SANModel)

    def mask_kwargs(self) -> dict:
        return {"window": self.model.window, "prefix": self.model.prefix, "gamma": self.model.gamma}
