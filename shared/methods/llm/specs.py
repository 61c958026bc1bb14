"""The specs of the large-model family, torch-free: their configs come from ``config.py`` and their trainers and
evaluators are named (``LazyClass``), imported only where a trial builds them. A sweep's driver thus resolves, loads
and validates an LM method's config without importing torch (tests/test_fixed_costs.py); the registry points at
these, and each method module re-exports its own as ``SPEC``. A ``LazyClass``'s ``metrics`` are its class's (checked
equal by tests/test_fixed_costs.py)."""
from __future__ import annotations

from shared.lm.config import TIERS
from shared.method import LazyClass, Measure, MethodSpec, Resources
from shared.methods.llm.config import (
    CONTEXTS,
    PER_STEP,
    CoTTrainConfig,
    G1Config,
    GPTMethodConfig,
    ICRMConfig,
    LongCEConfig,
    LongPPLToolConfig,
    PositionBiasConfig,
    ReasonCacheConfig,
    SeqTopKConfig,
    SFAConfig,
)

_LLM = "shared.methods.llm"
HELDOUT_METRICS = ("val_loss", "val_ppl", "test_loss", "test_ppl", "answer_loss", "recall_acc")
LONGPPL_METRICS = ("longppl", "key_tokens", "key_precision", "key_recall")
HELD_OUT_LM = LazyClass(f"{_LLM}.common:HeldOutLM", metrics=HELDOUT_METRICS)
THROUGHPUT = LazyClass(f"{_LLM}.common:Throughput", metrics=("tokens_per_s",))
# common.py's evaluators of every LM method: held-out loss, throughput and LongPPL (longppl_eval.py)
LM_EVALUATORS = (HELD_OUT_LM, THROUGHPUT, LazyClass(f"{_LLM}.longppl_eval:LongPPLEval", metrics=LONGPPL_METRICS))
LM_RESOURCES = Resources(cpu=1, distributed="deepspeed")

GPT = MethodSpec(
    name="gpt",
    paper="Language Models are Unsupervised Multitask Learners (GPT-2; dense baseline of the large-model family)",
    family="llm",
    config=GPTMethodConfig,
    trainer=LazyClass(f"{_LLM}.gpt:GPTTrainer"),
    evaluators=LM_EVALUATORS,
    resources=LM_RESOURCES,
    headline=(Measure("val_loss", "min"), Measure("recall_acc")),
    compare=("model.n_embd",),
    description="dense causal decoder; next-token cross-entropy",
)

LONGPPL = MethodSpec(
    name="longppl",
    paper="What is Wrong with Perplexity for Long-context Language Modeling? (Fang et al., ICLR 2025): LongPPL",
    family="llm",
    config=LongPPLToolConfig,
    trainer=LazyClass(f"{_LLM}.longppl:EvaluatorTrainer"),
    evaluators=(HELD_OUT_LM, LazyClass(f"{_LLM}.longppl:KeyTokens", metrics=(
        "key_tokens", "key_precision", "key_recall", "self_longppl", "self_ppl", "mean_lsd_key"))),
    resources=LM_RESOURCES,
    headline=(Measure("key_precision"), Measure("key_recall")),
    compare=("longppl.alpha",),
    description="tool: trains the evaluator LM, finds key tokens (LSD > alpha, LCL > beta), LongPPL vs PPL",
)

LONGCE = MethodSpec(
    name="longce",
    paper="What is Wrong with Perplexity for Long-context Language Modeling? (Fang et al., ICLR 2025): LongCE",
    family="llm",
    config=LongCEConfig,
    trainer=LazyClass(f"{_LLM}.longce:LongCETrainer"),
    evaluators=LM_EVALUATORS,
    resources=LM_RESOURCES,
    headline=(Measure("answer_loss", "min"), Measure("recall_acc"), Measure("longppl", "min")),
    compare=("longce.gamma",),
    description="cross-entropy weighted by min(exp(l_short - l_full), gamma) from the model being trained",
)

REASONCACHE = MethodSpec(
    name="reasoncache",
    paper="Teaching LLMs To Reason Without Weight Updates (ReasonCACHE, arXiv 2602.02366)",
    family="llm",
    config=ReasonCacheConfig,
    trainer=LazyClass(f"{_LLM}.reasoncache:ReasonCacheTrainer"),
    evaluators=(LazyClass(f"{_LLM}.reasoncache:ReasoningAccuracy", metrics=("answer_acc", "trace_acc")),
                LazyClass(f"{_LLM}.reasoncache:InferenceCost",
                          metrics=("prompt_tokens", "inference_tokens", "trainable_params")),
                LazyClass(f"{_LLM}.reasoncache:BackboneCheck", metrics=("backbone_unchanged", "pretrain_acc"))),
    resources=LM_RESOURCES,
    headline=(Measure("answer_acc"), Measure("inference_tokens", "min"), Measure("trainable_params", "min")),
    compare=("prefix_len",),
    description="trainable per-layer key/value prefixes on a frozen GPT (modes: prefix, icl, lora)",
)

SFA = MethodSpec(
    name="sfa",
    paper="Scaling Attention via Feature Sparsity (SFA, ICLR 2026, arXiv 2603.22300)",
    family="llm",
    config=SFAConfig,
    trainer=LazyClass(f"{_LLM}.sfa:SFATrainer"),
    evaluators=(*LM_EVALUATORS, LazyClass(f"{_LLM}.sfa:SFACost", metrics=(
        "score_flop_ratio", "score_flop_ratio_iid", "kv_bytes_ratio"))),
    resources=LM_RESOURCES,
    headline=(Measure("recall_acc"), Measure("val_loss", "min"), Measure("score_flop_ratio", "min")),
    compare=("sfa.k",),
    description="top-k query/key coordinates per head, exact softmax over the shared active coordinates; sfa.k",
)

SEQTOPK = MethodSpec(
    name="seqtopk",
    paper="Route Experts by Sequence, not by Token (SeqTopK, arXiv 2511.06494)",
    family="llm",
    config=SeqTopKConfig,
    trainer=LazyClass(f"{_LLM}.seqtopk:SeqTopKTrainer"),
    evaluators=(
        LazyClass(f"{_LLM}.seqtopk:CausalHeldOutLM", metrics=(*HELDOUT_METRICS, "answer_loss_offline")),
        THROUGHPUT,
        LazyClass(f"{_LLM}.seqtopk:CausalLongPPL", metrics=LONGPPL_METRICS),
        LazyClass(f"{_LLM}.seqtopk:RoutingMeasures", metrics=(
            "experts_hard", "experts_easy", "experts_other", "experts_hard_last", "experts_easy_last", "easy_loss",
            "other_loss", "loss_experts_corr", "kt_mean", "kt_std", "kt_min", "kt_max", "kt_frac_zero",
            "kt_frac_below_k", "kt_frac_above_k", "slot_error", "prefix_overspend")),
    ),
    resources=LM_RESOURCES,
    headline=(Measure("answer_loss", "min"), Measure("val_loss", "min"), Measure("experts_hard")),
    compare=("moe.routing",),
    description="mixture-of-experts decoder; moe.routing = topk | seqtopk | seqtopk_online (top T*K per sequence)",
)

COT_LENGTH_TRAIN = MethodSpec(
    name="cot_length_train",
    paper="When More is Less: Understanding Chain-of-Thought Length in LLMs (ICLR 2026, arXiv 2502.07266)",
    family="llm",
    config=CoTTrainConfig,
    trainer=LazyClass(f"{_LLM}.cot_length_train:CoTTrainer"),
    evaluators=(LazyClass(f"{_LLM}.cot_length_train:AccuracyByLength", metrics=(
        *(f"acc_t{t}" for t in PER_STEP), "best_per_step", "best_steps", "peak_acc", "interior_peak", "acc",
        "steps")),),
    resources=Resources(cpu=1),
    headline=(Measure("best_per_step"), Measure("peak_acc")),
    compare=("capability",),
    description="GPTs of capability M on mod-10 addition trees: final-answer accuracy against CoT length",
)

ICRM = MethodSpec(
    name="icrm",
    paper="Context is Environment (ICRM, ICLR 2024)",
    family="llm",
    config=ICRMConfig,
    trainer=LazyClass(f"{_LLM}.icrm:ICRMTrainer"),
    evaluators=(LazyClass(f"{_LLM}.icrm:HeldOutEnvironment", metrics=tuple(f"acc_context_{c}" for c in CONTEXTS)),),
    resources=Resources(cpu=1),
    headline=(Measure("acc_context_50"), Measure("acc_context_0")),
    compare=("arm",),
    description="a causal transformer over an environment's unlabelled inputs: in-context risk minimisation vs ERM",
)

G1 = MethodSpec(
    name="g1",
    paper="G1: Teaching LLMs to Reason on Graphs with Reinforcement Learning (NeurIPS 2025, arXiv 2505.18499)",
    family="llm",
    config=G1Config,
    trainer=LazyClass(f"{_LLM}.g1:G1Trainer"),
    evaluators=(LazyClass(f"{_LLM}.g1:G1Eval", metrics=(
        "test_acc", "test_reward", "test_acc_greedy", "sft_test_acc", "sft_test_reward", "sft_test_acc_greedy",
        "acc_gain", "kl_ref", *(f"{stage}test_acc_{tier}" for stage in ("", "sft_") for tier in TIERS))),),
    resources=Resources(cpu=1, distributed="deepspeed-optional"),
    headline=(Measure("test_acc"), Measure("acc_gain"), Measure("kl_ref", "min")),
    compare=("grpo.reward",),
    description="SFT then GRPO with graph-task verifiers as the reward, on Erdős-style tasks",
)

POSITION_BIAS = MethodSpec(
    name="position_bias",
    paper="On the Emergence of Position Bias in Transformers (ICML 2025, arXiv 2502.01951)",
    family="llm",
    config=PositionBiasConfig,
    trainer=LazyClass(f"{_LLM}.position_bias:PositionBiasTrainer"),
    evaluators=(LazyClass(f"{_LLM}.position_bias:PositionPreference",
                          metrics=("retrieval_acc", "first_minus_middle", "first_token_mass")),),
    resources=Resources(cpu=1),
    headline=(Measure("first_minus_middle"), Measure("retrieval_acc"), Measure("first_token_mass")),
    compare=("model.layers", "model.mask"),
    description="SAN on in-context retrieval: the first-position preference a mask and depth develop",
)
