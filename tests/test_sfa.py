"""Sparse Feature Attention (`sfa`): the kernels' math on cases small enough to check by hand or by brute force, the
method's wiring, and (slow) the recall claim of configs/reproduce/sfa_recall.yaml."""
from __future__ import annotations

import pytest
import torch

from shared.config import ConfigError
from shared.lm.model import CausalSelfAttention, GPTConfig, rope
from shared.lm.sparse_attention import (
    CoordinateLists,
    compress_keys,
    decompress_keys,
    dense_count,
    interaction_count,
    kv_cache_bytes,
    masked_dense_attention,
    overlap_attention,
    overlap_scores,
    sparsify,
    tiled_overlap_attention,
    topk_mask,
)
from shared.methods.llm.sfa import SFAAttention, SFAParams, sfa_cost
from shared.registry import get_method


def _qkv(n: int, d: int, seed: int = 0, heads: tuple[int, ...] = (2, 3)) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*heads, n, d, generator=gen, dtype=torch.float64) for _ in range(3))


def test_topk_and_overlap_scores_by_hand():
    q = torch.tensor([[3.0, -1.0, 0.5, 2.0]])
    keys = torch.tensor([[0.0, 4.0, -1.5, 1.0],   # keeps 4, -1.5: no coordinate shared with q's {0, 3}
                         [1.0, 0.1, 0.0, -3.0]])  # keeps 1, -3: shares {0, 3}
    qs, ks = sparsify(q, 2), sparsify(keys, 2)
    assert qs.tolist() == [[3.0, 0.0, 0.0, 2.0]]
    assert ks.tolist() == [[0.0, 4.0, -1.5, 0.0], [1.0, 0.0, 0.0, -3.0]]
    s = overlap_scores(CoordinateLists.build(qs[0:1], qs[0:1] != 0), CoordinateLists.build(ks, ks != 0), causal=False)
    # dense q . k would be -2.75 and 3 + -0.1 + -6 = -3.1; the sparse scores: 0 (no overlap), 3*1 + 2*(-3) = -3
    assert s.tolist() == [[0.0, -3.0]]
    assert topk_mask(q, 4).all()
    with pytest.raises(ConfigError, match="sfa.k"):
        topk_mask(q, 5)


@pytest.mark.parametrize("causal", [True, False])
def test_k_equal_d_is_dense_attention(causal):
    q, k, v = _qkv(40, 16)
    dense = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert torch.equal(sparsify(q, 16), q)
    for out in (masked_dense_attention(sparsify(q, 16), sparsify(k, 16), v, causal),
                overlap_attention(q, k, v, causal), tiled_overlap_attention(q, k, v, causal, block=16)):
        assert torch.allclose(out, dense, atol=1e-6)


def test_sfa_block_with_k_zero_is_the_dense_block():
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, vocab_size=11)
    torch.manual_seed(0)
    dense = CausalSelfAttention(cfg, 0)
    sfa = SFAAttention(cfg, 0, SFAParams(k=0))
    sfa.load_state_dict(dense.state_dict())
    x = torch.randn(3, 9, 16)
    assert torch.allclose(sfa(x), dense(x), atol=1e-6)


@pytest.mark.parametrize("causal", [True, False])
def test_sparse_kernels_equal_the_masked_dense_product(causal):
    q, k, v = _qkv(100, 32, seed=1)  # n = 100: the last tile of 32 is partial
    qs, ks = sparsify(q, 4), sparsify(k, 4)
    reference = masked_dense_attention(qs, ks, v, causal)
    assert torch.allclose(overlap_attention(qs, ks, v, causal), reference, atol=1e-12)
    assert torch.allclose(tiled_overlap_attention(qs, ks, v, causal, block=32), reference, atol=1e-12)
    scores = overlap_scores(CoordinateLists.build(qs[0, 0], qs[0, 0] != 0),
                            CoordinateLists.build(ks[0, 0], ks[0, 0] != 0), causal)
    expected = qs[0, 0] @ ks[0, 0].T
    assert torch.allclose(scores, expected.tril() if causal else expected, atol=1e-12)


def test_sparse_kernels_give_the_reference_gradients():
    q, k, v = (t.requires_grad_() for t in _qkv(24, 8, seed=2, heads=(1, 2)))
    grads = []
    for kernel in (masked_dense_attention, overlap_attention, lambda *a: tiled_overlap_attention(*a, block=8)):
        out = kernel(sparsify(q, 3), sparsify(k, 3), v, True)
        grads.append(torch.autograd.grad(out.pow(2).sum(), (q, k, v)))
    for other in grads[1:]:
        for a, b in zip(grads[0], other, strict=True):
            assert torch.allclose(a, b, atol=1e-10)


def test_interaction_count_by_hand_and_brute_force():
    # one coordinate shared by tokens 0, 2, 3 (deg 3), another by 1, 3 (deg 2); q and k share the supports
    mask = torch.zeros(4, 3, dtype=torch.bool)
    mask[[0, 2, 3], 0] = True
    mask[[1, 3], 2] = True
    assert interaction_count(mask, mask, causal=False) == 3 ** 2 + 2 ** 2
    assert interaction_count(mask, mask, causal=True) == 3 * 4 // 2 + 2 * 3 // 2
    q, k, _ = _qkv(50, 16, seed=3)
    qm, km = topk_mask(q, 5), topk_mask(k, 5)
    pairs = qm.double() @ km.double().transpose(-1, -2)  # shared coordinates of every (query, key)
    assert interaction_count(qm, km, causal=False) == int(pairs.sum())
    assert interaction_count(qm, km, causal=True) == int(pairs.tril().sum())
    assert dense_count(50, 16, causal=True, heads=6) == 6 * 50 * 51 // 2 * 16


def test_interaction_count_of_random_supports_follows_k_over_d_squared():
    n, d, k = 512, 64, 8
    gen = torch.Generator().manual_seed(0)
    qm, km = topk_mask(torch.randn(n, d, generator=gen), k), topk_mask(torch.randn(n, d, generator=gen), k)
    for causal in (False, True):
        ratio = interaction_count(qm, km, causal) / dense_count(n, d, causal)
        assert ratio == pytest.approx((k / d) ** 2, rel=0.10)


def test_straight_through_gradient_is_zero_off_support_and_the_sparse_gradient_on_it():
    q, k, v = _qkv(12, 8, seed=4, heads=(1,))
    q.requires_grad_()
    qs = sparsify(q, 3)
    qs.retain_grad()
    masked_dense_attention(qs, sparsify(k, 3), v).pow(2).sum().backward()
    support = qs.detach() != 0
    assert torch.equal(q.grad[~support], torch.zeros_like(q.grad[~support]))
    assert torch.equal(q.grad[support], qs.grad[support])
    assert qs.grad[~support].abs().sum() > 0  # dL/dq~ is not zero off the support: the mask is what cuts it


def test_kv_cache_bytes_formula_and_compressed_cache():
    d, dv, k, n = 64, 64, 8, 10
    assert kv_cache_bytes(d, dv) == 256 and kv_cache_bytes(d, dv, k) == 8 * 4 + 128  # fp16 values, int16 ids
    assert kv_cache_bytes(d, dv, k) / kv_cache_bytes(d, dv) == pytest.approx(0.625)
    keys = sparsify(torch.randn(n, d), k)
    values, ids = compress_keys(keys, k)
    v_cache = torch.randn(n, dv).half()
    assert ids.dtype == torch.int16 and values.dtype == torch.float16
    assert values.nbytes + ids.nbytes + v_cache.nbytes == n * kv_cache_bytes(d, dv, k)
    assert torch.equal(decompress_keys(values, ids, d), keys.half())
    with pytest.raises(ConfigError, match="int16"):
        kv_cache_bytes(40000, 64, 8)


def test_topk_before_or_after_rope():
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, vocab_size=11, pos="rope")
    x = torch.randn(2, 5, 16)
    for at in ("after_rope", "before_rope"):
        torch.manual_seed(0)
        attn = SFAAttention(cfg, 0, SFAParams(k=2, topk_at=at))
        b, t, h = 2, 5, 2
        raw_q = attn.q(x).view(b, t, h, -1).transpose(1, 2)
        q, k, _ = attn.project(x)
        qs, _ = attn.transform_qk(q, k)
        expected = sparsify(rope(raw_q), 2) if at == "after_rope" else rope(sparsify(raw_q, 2))
        assert torch.allclose(qs, expected, atol=1e-6)


def test_distillation_term_is_the_mean_squared_head_output_gap():
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, vocab_size=11)
    torch.manual_seed(0)
    attn = SFAAttention(cfg, 0, SFAParams(k=3, distill_lambda=0.5))
    x = torch.randn(3, 7, 16)
    q, k, v = attn.project(x)
    sparse = masked_dense_attention(sparsify(q, 3), sparsify(k, 3), v)
    dense = masked_dense_attention(q, k, v)
    attn(x)
    expected = 0.5 * (sparse - dense).pow(2).sum(-1).mean()  # (1/H) sum_h ||O~_h - O_h||^2 per token
    assert attn.aux_loss.item() == pytest.approx(expected.item(), rel=1e-5)
    attn.eval()
    attn(x)
    assert attn.aux_loss is None  # evaluation computes no dense attention


def test_config_errors_name_the_key():
    spec = get_method("sfa")
    with pytest.raises(ConfigError, match="sfa.k"):
        spec.load_config(["sfa.k=33"])  # d = 128 / 4 = 32
    spec.load_config(["sfa.k=16", "model.qk_dim=16"])
    with pytest.raises(ConfigError, match="sfa.k"):
        spec.load_config(["sfa.k=16", "model.qk_dim=8"])
    with pytest.raises(ConfigError, match="model.window"):
        spec.load_config(["model.window=4"])
    with pytest.raises(ConfigError, match="sfa.dense_epochs"):
        spec.load_config(["sfa.dense_epochs=3", "epochs=3"])
    with pytest.raises(ConfigError, match="sfa.kernel"):
        spec.load_config(["sfa.kernel=triton"])


_SMALL = ["epochs=2", "steps_per_epoch=3", "batch_size=16", "model.n_embd=32", "data.n_train=48", "data.n_val=32"]


def test_sfa_with_k_zero_trains_exactly_as_gpt():
    sfa, gpt = get_method("sfa"), get_method("gpt")
    a = sfa.make_trainer(sfa.load_config([*_SMALL, "sfa.k=0"]))
    b = gpt.make_trainer(gpt.load_config(_SMALL))
    for _ in range(2):
        assert a.fit_epoch()["loss"] == pytest.approx(b.fit_epoch()["loss"], abs=1e-6)


def test_sfa_method_trains_with_each_kernel_and_reports_its_costs():
    spec = get_method("sfa")
    losses = {}
    for kernel in ("reference", "overlap", "tiled"):
        cfg = spec.load_config([*_SMALL, "sfa.k=2", f"sfa.kernel={kernel}", "sfa.block=8", "sfa.distill_lambda=0.1",
                                "sfa.dense_epochs=1"])
        trainer = spec.make_trainer(cfg)
        losses[kernel] = [trainer.fit_epoch() for _ in range(2)]
        # the MSE term exists only once SFA is on (after the dense epoch)
        assert "aux_loss" not in losses[kernel][0] and losses[kernel][1]["aux_loss"] > 0
    for kernel in ("overlap", "tiled"):
        assert losses[kernel][1]["loss"] == pytest.approx(losses["reference"][1]["loss"], rel=1e-4)
    out = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert set(out) == set(spec.metric_names()) - {"loss"}
    assert 0 < out["score_flop_ratio"] < 1 and out["score_flop_ratio_iid"] == pytest.approx((2 / 8) ** 2)
    assert out["kv_bytes_ratio"] == pytest.approx((2 * 4 + 8 * 2) / (16 * 2))


def test_cost_of_k_equal_d_is_the_dense_cost():
    spec = get_method("sfa")
    cfg = spec.load_config([*_SMALL, "sfa.k=8"])  # d = 32 / 4 = 8
    trainer = spec.make_trainer(cfg)
    sparse, dense = sfa_cost(trainer.model, trainer.data.test.tokens[:4, :-1])
    assert sparse == dense == 2 * 4 * 4 * (23 * 24 // 2) * 8  # layers * sequences * heads * causal pairs * d


# -- the claim at small scale (configs/reproduce/sfa_recall.yaml) ---------------------------------------------------
HELD_OUT = [2, 3]  # seeds no setting or threshold was chosen on (tuning seeds 0-1); the data comes from the seed
MAIN_ARMS = ("dense", "short", "sfa", "converted")
_outcomes: dict[tuple[str, ...], dict] = {}


def recall_outcome(arms: tuple[str, ...] = MAIN_ARMS) -> dict:
    from jobs.reproduce import compare

    if arms not in _outcomes:
        _outcomes[arms] = compare("sfa_recall", seeds=HELD_OUT, arms=list(arms))
    return _outcomes[arms]


@pytest.mark.slow
def test_sfa_learns_recall_and_a_dense_model_converted_to_sfa_keeps_it(local_ray):
    from jobs.reproduce import mean

    out = recall_outcome()
    # tuning seeds 0-2 (REPRODUCTION.md): sfa 0.651 +- 0.030 (chance 1/32); dense 1.000; converted (300 dense steps,
    # then 100 SFA steps at k = d/4) 0.985 +- 0.005; held-out seeds 2-3: 0.656 +- 0.065, 1.000, 0.982 +- 0.010
    assert mean(out, "sfa", "recall_acc") > 0.4
    assert mean(out, "converted", "recall_acc") >= 0.95
    assert mean(out, "converted", "recall_acc") >= mean(out, "dense", "recall_acc") - 0.05
    assert mean(out, "converted", "recall_acc") >= mean(out, "sfa", "recall_acc") + 0.2


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="held-out seeds 2-3: SFA (k = 8 of 32) recall 0.656 +- 0.065, answer loss 1.15 "
                   "vs the short dense model (q/k head 16 = d/2, the paper's) 0.979 +- 0.001, 0.27 (tuning seeds 0, 1: "
                   "1.000 / 0.998; with a q/k head of 8, seeds 0-2: 0.907 +- 0.081, 0.48); lower on every seed: from "
                   "scratch, SFA learns recall more slowly at this scale (REPRODUCTION.md)")
def test_sfa_recalls_better_than_the_short_baseline(local_ray):
    from jobs.reproduce import mean

    out = recall_outcome()
    assert mean(out, "sfa", "recall_acc") >= mean(out, "short", "recall_acc") + 0.02


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="held-out seeds 2-3: SFA answer loss 1.15 +- 0.21 vs dense (d = 32) "
                   "0.08 +- 0.04, recall 0.656 vs 1.000 (tuning seeds 0-2: 1.19 +- 0.07 vs 0.07 +- 0.01)")
def test_sfa_loss_is_close_to_dense_attention(local_ray):
    from jobs.reproduce import mean

    out = recall_outcome()
    assert mean(out, "sfa", "answer_loss") <= mean(out, "dense", "answer_loss") + 0.25


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="100 SFA steps after 300 dense ones, held-out seeds 2-3: answer loss with the "
                   "MSE term (lambda 1) 0.178 +- 0.071 vs 0.146 +- 0.068 without (higher on both seeds); tuning seeds "
                   "0-2: 0.153 +- 0.034 vs 0.129 +- 0.039; lambda 0.1: 0.126, lambda 10: 0.417")
def test_the_mse_term_speeds_up_the_conversion(local_ray):
    from jobs.reproduce import mean

    converted, mse = recall_outcome(), recall_outcome(("converted_mse",))
    assert mean(mse, "converted_mse", "answer_loss") <= mean(converted, "converted", "answer_loss") - 0.02
