"""ReasonCACHE (arXiv 2602.02366): the prefix-attention equation by hand, the frozen backbone (gradients, bit-identity,
the optimizer's parameters), the cached pretraining, the task generator, LoRA at a matched parameter count and the
expressivity toy of the spec (a prefix escapes the value span of rank-1 inputs; rank-1 LoRA on W_V, W_O cannot)."""
from __future__ import annotations

import math

import pytest
import torch

from shared.config import ConfigError
from shared.lm import reasoning
from shared.lm.model import GPT, CausalSelfAttention, GPTConfig, rope
from shared.methods.llm import reasoncache as rc
from shared.registry import get_method

TINY = ["model.n_layer=2", "model.n_head=2", "model.n_embd=16", "model.block_size=16", "data.modulus=5",
        "data.pretrain_rules=[add]", "data.rule=sub", "data.context=3", "data.shots=2", "data.n_test=5",
        "backbone.steps=6", "backbone.batch_size=8", "batch_size=8", "epochs=2", "steps_per_epoch=3", "threads=1"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path))
    return tmp_path


def _cfg(**kw) -> GPTConfig:
    return GPTConfig(**{"n_layer": 1, "n_head": 2, "n_embd": 8, "block_size": 16, "vocab_size": 7, **kw})


@pytest.mark.parametrize("pos", ["none", "rope"])
def test_prefix_attention_is_softmax_over_the_concatenated_keys_and_values(pos):
    torch.manual_seed(0)
    cfg = _cfg(pos=pos, bias=True)
    attn = rc.PrefixAttention(cfg, 0, slots=3).eval()
    x = torch.randn(2, 4, 8)
    # by hand: per head, K' = [P_K; K], V' = [P_V; V]; query i sees all 3 slots and tokens 0..i; exp / sum
    q = (x @ attn.q.weight.T + attn.q.bias).view(2, 4, 2, 4).transpose(1, 2)
    k = (x @ attn.k.weight.T + attn.k.bias).view(2, 4, 2, 4).transpose(1, 2)
    v = (x @ attn.v.weight.T + attn.v.bias).view(2, 4, 2, 4).transpose(1, 2)
    if pos == "rope":  # the real tokens' queries and keys rotate by positions 0..3; the prefix keys do not
        q, k = rope(q), rope(k)
    kk = torch.cat([attn.prefix_k.expand(2, -1, -1, -1), k], dim=2)
    vv = torch.cat([attn.prefix_v.expand(2, -1, -1, -1), v], dim=2)
    scores = q @ kk.transpose(-1, -2) / math.sqrt(4)
    allowed = torch.ones(4, 7, dtype=torch.bool)
    allowed[:, 3:] = torch.ones(4, 4).tril().bool()
    weights = torch.exp(scores) * allowed
    weights = weights / weights.sum(-1, keepdim=True)
    y = (weights @ vv).transpose(1, 2).reshape(2, 4, 8) @ attn.proj.weight.T + attn.proj.bias
    assert torch.allclose(attn(x), y, atol=1e-5)


@pytest.mark.parametrize("pos", ["rope", "learned"])
def test_zero_slots_is_the_plain_model(pos):
    torch.manual_seed(0)
    plain = GPT(_cfg(pos=pos, n_layer=2)).eval()
    prefixed = GPT(_cfg(pos=pos, n_layer=2), attention=lambda c, i: rc.PrefixAttention(c, i, slots=0)).eval()
    missing, unexpected = prefixed.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(rc.is_trainable(k) for k in missing)
    x = torch.randint(0, 7, (3, 9))
    assert torch.equal(plain(x), prefixed(x))


def test_reasoning_task_traces_by_hand():
    rule = reasoning.parse_rule("sub.sub")
    q = torch.tensor([[3, 5, 9]])
    assert reasoning.trace(q, rule, 11).tolist() == [[9, 0]]  # 3 - 5 = -2 = 9 (mod 11); 9 - 9 = 0
    assert reasoning.examples(q, reasoning.trace(q, rule, 11), 11).tolist() == [[3, 5, 9, 11, 9, 0]]
    trace_mask, answer_mask = reasoning.target_masks(2, 2, last_only=True)
    # targets of the second example's trace: tokens 10, 11 -> mask positions 9, 10; the answer is token 11
    assert trace_mask.nonzero().flatten().tolist() == [9, 10] and answer_mask.nonzero().flatten().tolist() == [10]
    assert reasoning.all_questions(3, 1).shape == (9, 2)
    with pytest.raises(ValueError, match="div"):
        reasoning.parse_rule("add.div")


def test_held_out_questions_are_disjoint_from_the_demonstrations():
    cfg = get_method("reasoncache").load_config(TINY).data
    data = rc.reasoning_data(cfg, seed=0)
    pool = {tuple(t[:2].tolist()) for t in data.train.tokens}
    held = {tuple(t[:2].tolist()) for t in data.test.tokens}
    assert len(held) == 5 and len(pool) == 20 and not pool & held
    # ICL prompts: 2 demonstrations from the pool, then the held-out question (same answers as data.test)
    assert data.icl_test.tokens.shape == (5, 3 * 4)
    assert torch.equal(data.icl_test.tokens[:, -4:], data.test.tokens)
    assert {tuple(t[:2].tolist()) for t in data.icl_test.tokens[:, 4:8]} <= pool
    assert torch.equal(data.icl_test.tokens, rc.reasoning_data(cfg, seed=0).icl_test.tokens)


def test_only_the_prefix_trains_and_the_backbone_stays_bit_identical(cache):
    spec = get_method("reasoncache")
    cfg = spec.load_config([*TINY, "mode=prefix", "prefix_len=2"])
    trainer = spec.make_trainer(cfg)
    model = trainer.model
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"blocks.{i}.attn.prefix_{kv}" for i in range(2) for kv in "kv"}
    optimized = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert optimized == {id(p) for n, p in model.named_parameters() if n in trainable}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tokens = trainer.data.train.tokens[:4]
    model(tokens[:, :-1]).sum().backward()
    assert all((p.grad is not None) == (n in trainable) for n, p in model.named_parameters())
    model.zero_grad(set_to_none=True)
    trainer.fit_epoch()
    trainer.fit_epoch()
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) != (name in trainable), name  # prefixes moved, nothing else did
    out = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert out["backbone_unchanged"] == 1.0
    assert out["trainable_params"] == rc.prefix_param_count(trainer.model_config, 2) == 2 * 2 * 2 * (8 + 8)
    assert out["inference_tokens"] == 3 + 2 and out["prompt_tokens"] == 3  # the question (x0 x1 =); two slots
    with torch.no_grad():
        model.blocks[1].mlp.fc.weight[0, 0] += 1e-6
    assert spec.evaluate(cfg, trainer.artifact(), trainer.data)["backbone_unchanged"] == 0.0


def test_demo_init_is_the_backbones_kv_cache_of_demonstrations(cache):
    spec = get_method("reasoncache")
    trainer = spec.make_trainer(spec.load_config([*TINY, "mode=prefix", "prefix_len=6", "prefix_init=demo"]))
    model = trainer.model
    demos = trainer.data.train.tokens[:2].reshape(1, -1)[:, :6]  # the first 6 tokens of two packed demonstrations
    with torch.no_grad():
        h = model.blocks[0].ln1(model.wte(demos))
        keys = rope(model.blocks[0].attn.k(h).view(1, 6, 2, 8).transpose(1, 2))  # layer 0, post-RoPE
        values = model.blocks[0].attn.v(h).view(1, 6, 2, 8).transpose(1, 2)
    assert torch.allclose(model.blocks[0].attn.prefix_k, keys[0], atol=1e-6)
    assert torch.allclose(model.blocks[0].attn.prefix_v, values[0], atol=1e-6)


def test_backbone_is_cached_deterministic_per_seed_and_leaves_the_rng_alone(cache, tmp_path, monkeypatch):
    spec = get_method("reasoncache")
    cfg = spec.load_config([*TINY, "mode=prefix", "prefix_len=2"])
    first = spec.make_trainer(cfg)
    assert rc.backbone_path(cfg).exists()
    monkeypatch.setattr(rc.BackboneTrainer, "fit_epoch", lambda self: pytest.fail("pretrained again"))
    cached = spec.make_trainer(cfg)  # from the cache; the prefix initialisation must not depend on that
    for (name, a), b in zip(first.model.state_dict().items(), cached.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    monkeypatch.undo()
    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path / "other"))
    again = rc.pretrained_backbone(cfg)["state"]  # pretrained anew in another cache: the same bits
    assert rc.backbone_hash(again) == rc.backbone_hash(first.backbone)
    other_seed = spec.load_config([*TINY, "seed=1"])
    assert rc.backbone_path(other_seed) != rc.backbone_path(cfg)
    # the arms share the backbone: mode and prefix length are not part of its key
    assert rc.backbone_path(spec.load_config([*TINY, "mode=icl"])) == rc.backbone_path(cfg)


def test_icl_trains_nothing_and_lora_matches_the_prefix_parameter_count(cache):
    spec = get_method("reasoncache")
    icl_cfg = spec.load_config([*TINY, "mode=icl"])
    icl = spec.make_trainer(icl_cfg)
    assert icl.fit_epoch()["lr"] > 0 and icl.global_step == 0
    out = spec.evaluate(icl_cfg, icl.artifact(), icl.data)
    assert out["trainable_params"] == 0 and out["backbone_unchanged"] == 1
    assert out["inference_tokens"] == out["prompt_tokens"] == 2 * 4 + 3
    lora_cfg = spec.load_config([*TINY, "mode=lora", "prefix_len=4"])
    lora = spec.make_trainer(lora_cfg)
    # prefix: 2 layers * 2 heads * 4 slots * (8 + 8) = 256; LoRA on v and proj: 2 layers * r * (32 + 32) -> r = 2
    assert rc.matched_lora_rank(lora.model_config, 4, ["v", "proj"]) == 2
    assert sum(p.numel() for p in lora.model.parameters() if p.requires_grad) == 256
    x = lora.data.test.tokens[:, :-1]
    plain = GPT(lora.model_config)
    plain.load_state_dict(lora.backbone)
    assert torch.allclose(lora.model(x), plain(x), atol=1e-6)  # B = 0: LoRA starts as the backbone


def test_config_errors_name_the_key():
    spec = get_method("reasoncache")
    for override, key in (("data.shots=5", "data.shots"), ("data.rule=sub.add", "data.rule"),
                          ("data.pretrain_rules=[add,pow]", "data.pretrain_rules"), ("data.n_test=1000", "data.n_test"),
                          ("mode=prefix_len", "mode"), ("lora_targets=[fc]", "lora_targets"),
                          ("model.block_size=8", "model.block_size")):
        with pytest.raises(ConfigError, match=key):
            spec.load_config([*TINY, override])


def _fit(module: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, steps: int = 500) -> float:
    """Adam on the module's trainable tensors only (the rest frozen); the final squared error."""
    for name, p in module.named_parameters():
        p.requires_grad_(rc.is_trainable(name))
    opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=0.05)
    for _ in range(steps):
        loss = (module(x[None])[0] - target).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((module(x[None])[0] - target).pow(2).sum())


def test_expressivity_toy_prefix_leaves_the_value_span_rank1_lora_cannot():
    """One frozen attention layer (no biases) on rank-1 inputs x_i = c_i u: its outputs are multiples of
    W_O W_V u, and any update of W_V, W_O (or W_Q, W_K) keeps them rank <= 1: rank-1 LoRA's error is at least
    the Eckart-Young floor sigma_2(T)^2 + ... of a rank-2 target T. The target adds to the frozen outputs a vector
    of a fixed direction outside their span, W_O p_v, weighted by the attention a teacher prefix slot gets: a
    prefix fits it to ~0 error."""
    torch.manual_seed(0)
    cfg = GPTConfig(n_layer=1, n_head=1, n_embd=4, vocab_size=2, bias=False, pos="none")
    u = torch.nn.functional.normalize(torch.randn(4), dim=0)
    x = torch.tensor([1.0, -1.5, 2.0, -0.5, 1.5, -2.0])[:, None] * u  # (T, d): rank 1
    teacher = rc.PrefixAttention(cfg, 0, slots=1)
    frozen = {k: v for k, v in teacher.state_dict().items() if not rc.is_trainable(k)}
    with torch.no_grad():
        target = teacher(x[None])[0]
        plain = CausalSelfAttention(cfg, 0)
        plain.load_state_dict(frozen)
        assert torch.linalg.matrix_rank(plain(x[None])[0]) == 1  # the carrier bottleneck, without a prefix
    floor = float(torch.linalg.svdvals(target)[1:].pow(2).sum())
    assert floor > 0.05 * float(target.pow(2).sum())

    lora = rc.LoRAAttention(cfg, 0, rank=1, targets=("v", "proj"))
    lora.load_state_dict(frozen, strict=False)
    lora_err = _fit(lora, x, target)
    prefix = rc.PrefixAttention(cfg, 0, slots=1)  # a fresh random prefix on the same frozen layer
    prefix.load_state_dict(frozen, strict=False)
    prefix_err = _fit(prefix, x, target)
    assert lora_err >= floor - 1e-6
    assert prefix_err < 1e-6 * float(target.pow(2).sum())


def test_the_prefix_prompt_is_shorter_than_the_icl_prompt_by_construction():
    """Unit check on the reproduction's own configuration, not claim evidence: the token counts follow from the
    prompt formats (the question alone plus m cached slots, against 3 demonstrations and the question)."""
    from jobs.reproduce import load_reproduction

    repro = load_reproduction("reasoncache")
    frozen = torch.nn.Linear(1, 1).requires_grad_(False)  # the counts read no weights
    cost = {arm: rc.InferenceCost(get_method("reasoncache").load_config([*repro.setting, *spec.overrides]))
            .evaluate(frozen) for arm, spec in repro.arms.items()}
    assert (cost["prefix"]["prompt_tokens"], cost["icl"]["prompt_tokens"]) == (4, 4 + 3 * 6)
    assert (cost["prefix"]["inference_tokens"], cost["icl"]["inference_tokens"]) == (4 + 8, 22)


# -- the claim at small scale (configs/reproduce/reasoncache.yaml; figures in REPRODUCTION.md) ----------------------
# Held-out seeds: the arms' learning rates and steps were chosen on seeds 0, 1. Each seed also draws task B's split
# and the ICL shots, and pretrains its own backbone.
SEEDS = [2, 3]
CHANCE = 1 / 7  # answers are digits mod 7
_outcome: dict[str, dict] = {}


def outcome() -> dict:
    from jobs.reproduce import compare

    if "out" not in _outcome:
        _outcome["out"] = compare("reasoncache", seeds=SEEDS)
    return _outcome["out"]


@pytest.mark.slow
def test_prefix_teaches_the_new_rule_with_the_backbone_bit_identical(local_ray):
    """The mechanism, not the paper's claim: 8 trained key/value slots per layer and head teach the unseen rule on
    a frozen backbone (a floor any training of the prefix clears; the claim against ICL is the xfail below)."""
    from jobs.reproduce import mean

    out = outcome()
    # answer_acc prefix, seeds 2, 3: 0.61, 0.36 (tuning seeds 0, 1, first measured: 0.65, 0.70); chance 1/7
    assert mean(out, "prefix", "answer_acc") >= CHANCE + 0.3
    assert mean(out, "prefix", "trainable_params") == mean(out, "lora", "trainable_params") == 2048
    for arm in out:  # every arm ran on the same frozen backbone, bit for bit
        assert out[arm]["backbone_unchanged"] == [1.0] * len(SEEDS), arm


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="untested at this scale: the ICL arm's backbone does not learn in context "
                                       "(3-shot ICL on the new rule 0.14, 0.15 on seeds 2, 3, chance 0.143; its "
                                       "task-A accuracy on the last example 0.414, 0.418, what guessing the rule "
                                       "gives), so prefix > ICL would only show that training beats not training. "
                                       "A backbone pretrained on 8 rules (add, sub, mul pairs but sub.sub; 2,000 "
                                       "steps of 64) did not either: ICL 0.15, task A 0.316 (seed 0)")
def test_prefix_beats_in_context_demonstrations_on_a_backbone_that_learns_in_context(local_ray):
    from jobs.reproduce import mean

    out = outcome()
    # the precondition of a fair comparison: demonstrations of the new rule move the ICL arm well above chance
    assert mean(out, "icl", "answer_acc") >= CHANCE + 0.15
    assert mean(out, "prefix", "answer_acc") >= mean(out, "icl", "answer_acc") + 0.1
    assert min(out["prefix"]["answer_acc"]) > max(out["icl"]["answer_acc"])


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="answer_acc prefix 0.61, 0.36 vs LoRA on W_V, W_O at the same 2048 "
                                       "parameters 0.81, 0.94 (held-out seeds 2, 3; tuning seeds 0, 1 first measured "
                                       "0.65, 0.70 vs 0.92, 0.81): at 420 steps LoRA is ahead (1,260 steps, seeds "
                                       "0-2: 0.883 vs 0.930)")
def test_prefix_matches_lora_at_the_same_parameter_count(local_ray):
    from jobs.reproduce import mean

    out = outcome()
    assert mean(out, "prefix", "answer_acc") >= mean(out, "lora", "answer_acc") - 0.05
