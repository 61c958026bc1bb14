"""SeqTopK routing (arXiv 2511.06494): slot conservation, bounds, reduction to TopK, sequence isolation, online
causality and its decode-time expert cache, tie order, gate weights by hand; the easy_hard task; the method."""
import math

import pytest
import torch

from shared.config import ConfigError
from shared.lm.easy_hard import EASY, HARD, OTHER, easy_hard, target_kinds
from shared.lm.moe import (
    ExpertCache,
    MoE,
    MoEConfig,
    gate_weights,
    online_counts,
    selection_mask,
    seqtopk_counts,
)
from shared.registry import get_method

BOUNDS = {"none": (0, None), "paper": (1, 4), "cap": (0, 3)}  # (lower, upper) for K = 2, E = 6


def _scores(b: int = 4, t: int = 9, e: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, t, e, generator=torch.Generator().manual_seed(seed)).softmax(-1)


@pytest.mark.parametrize("bounds", list(BOUNDS))
def test_every_sequence_spends_exactly_t_times_k_slots_and_padding_none(bounds):
    lower, upper = BOUNDS[bounds]
    scores = _scores()
    counts = seqtopk_counts(scores, 2, lower, upper)
    assert counts.sum(-1).tolist() == [9 * 2] * 4
    valid = torch.ones(4, 9, dtype=torch.bool)
    valid[1, 6:] = False  # right padding
    valid[2, :2] = False  # left padding
    counts = seqtopk_counts(scores, 2, lower, upper, valid)
    assert counts.sum(-1).tolist() == [18, 12, 14, 18]  # sized by the valid tokens
    assert counts[~valid].eq(0).all()
    mask = selection_mask(scores, counts)
    assert torch.equal(mask.sum(-1), counts)


def test_bounds_hold_when_one_token_dominates():
    scores = torch.full((1, 5, 6), 0.01)
    scores[0, 0] = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])  # token 0 beats every other entry
    # unbounded: token 0 takes all 6 experts, the 4 slots left go to the tied entries in token order
    assert seqtopk_counts(scores, 2).tolist() == [[6, 4, 0, 0, 0]]
    # paper: every token first gets its best expert; token 0 then fills up to K + 2 = 4, ties take the rest
    assert seqtopk_counts(scores, 2, lower=1, upper=4).tolist() == [[4, 3, 1, 1, 1]]
    assert seqtopk_counts(scores, 2, lower=0, upper=3).tolist() == [[3, 3, 3, 1, 0]]  # cap U = 3
    for bounds, (lower, upper) in BOUNDS.items():  # and on random scores
        counts = seqtopk_counts(_scores(seed=3), 2, lower, upper)
        assert counts.min() >= lower and counts.max() <= (upper or 6), bounds


def test_reduces_to_topk_when_every_kth_best_beats_every_next_best():
    gen = torch.Generator().manual_seed(1)
    k, e = 2, 6
    scores = torch.rand(3, 8, e, generator=gen) * 0.4  # every (K+1)-th best < 0.4 < 0.6 < every K-th best
    best = torch.argsort(torch.rand(3, 8, e, generator=gen), -1)[..., :k]
    scores.scatter_(-1, best, 0.6 + torch.rand(3, 8, k, generator=gen) * 0.4)
    topk = torch.zeros_like(scores, dtype=torch.bool).scatter(-1, scores.topk(k, -1).indices, True)
    for lower, upper in BOUNDS.values():
        assert torch.equal(selection_mask(scores, seqtopk_counts(scores, k, lower, upper)), topk)
        assert torch.equal(selection_mask(scores, online_counts(scores, k, lower, upper)), topk)


def test_sequences_never_affect_each_other():
    scores = _scores()
    other = scores.clone()
    other[1] = _scores(1, seed=7)[0]  # change sequence 1 only
    for routing in (seqtopk_counts, online_counts):
        a, b = routing(scores, 2, 1, 4), routing(other, 2, 1, 4)
        assert torch.equal(a[[0, 2, 3]], b[[0, 2, 3]]) and not torch.equal(a[1], b[1])
    torch.manual_seed(0)
    moe = MoE(8, 2, MoEConfig(n_experts=6, k=2, routing="seqtopk"), hidden=8)
    x = torch.randn(3, 7, 8)
    x2 = x.clone()
    x2[2] = torch.randn(7, 8)
    assert torch.equal(moe(x)[:2], moe(x2)[:2])


def test_online_counts_are_the_prefix_selections_and_never_read_the_future():
    scores = _scores(3, 10, 6, seed=2)
    for lower, upper in BOUNDS.values():
        online = online_counts(scores, 2, lower, upper)
        brute = torch.stack([seqtopk_counts(scores[:, : t + 1], 2, lower, upper)[:, -1] for t in range(10)], 1)
        assert torch.equal(online, brute)  # top-((t+1) K) over rows <= t, read at row t
        future = scores.clone()
        future[:, 6:] = _scores(3, 4, 6, seed=9)
        assert torch.equal(online_counts(future, 2, lower, upper)[:, :6], online[:, :6])
    # the offline variant is not causal: a stronger future token takes a slot from the past
    strong = scores.clone()
    strong[:, 9] = torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0, 0.0])
    assert not torch.equal(seqtopk_counts(strong, 2)[:, :9], seqtopk_counts(scores, 2)[:, :9])


def test_online_cumulative_experts_stay_within_m_times_k_where_guaranteed():
    scores = _scores(8, 12, 6, seed=4)
    budget = 2 * torch.arange(1, 13)
    clamped = online_counts(scores, 2, 1, 4, clamp=True)  # guaranteed by construction
    assert (clamped.cumsum(-1) <= budget).all() and clamped.min() >= 1
    capped = online_counts(scores, 2, 0, 2)  # upper bound K: at most K per token, so at most m K
    assert (capped.cumsum(-1) <= budget).all()
    # Without the clamp the paper's rule can overspend: past allocations are never revised (the reviewers' point)
    free = online_counts(scores, 2, 1, 4)
    assert (free.cumsum(-1) > budget).any()
    # by hand (K = 1, raw scores): row 0 takes its best (3); at m = 2 the top-2 of {3, 1, 0, 5, 4, 0} is row 1's 5
    # and 4, so row 1 takes two: 3 experts after 2 tokens
    assert online_counts(torch.tensor([[[3.0, 1.0, 0.0], [5.0, 4.0, 0.0]]]), 1).tolist() == [[1, 2]]


def test_ties_go_to_the_earlier_token_then_the_lower_expert_deterministically():
    flat = torch.full((1, 3, 2), 0.5)
    assert seqtopk_counts(flat, 1).tolist() == [[2, 1, 0]]  # budget 3: (0,0), (0,1), (1,0)
    assert seqtopk_counts(flat, 1, lower=1, upper=2).tolist() == [[1, 1, 1]]
    assert selection_mask(flat, torch.tensor([[1, 1, 1]]))[0, :, 0].all()  # each token's first expert
    scores = torch.randint(0, 3, (4, 16, 6), generator=torch.Generator().manual_seed(5)).float()  # many ties
    runs = [seqtopk_counts(scores, 2, 1, 4) for _ in range(3)] + [seqtopk_counts(scores.double(), 2, 1, 4)]
    assert all(torch.equal(runs[0], r) for r in runs[1:])
    online = [online_counts(scores, 2, 1, 4) for _ in range(2)]
    assert torch.equal(*online)
    # reversing the tokens reverses the allocation exactly where no tie is split by position
    distinct = _scores(2, 9, 6, seed=6)
    assert torch.equal(seqtopk_counts(distinct.flip(1), 2, 1, 4), seqtopk_counts(distinct, 2, 1, 4).flip(1))


def test_gate_weights_by_hand_on_two_tokens_and_three_experts():
    logits = torch.tensor([[[2.0, 1.5, -3.0], [0.0, 0.0, 0.0]]])
    probs = logits.softmax(-1)  # token 0: 0.6200, 0.3763, 0.0037; token 1: 1/3 each
    counts = seqtopk_counts(probs, 1)  # budget 2: 0.620 and 0.376 both beat 1/3 -> token 1 gets no expert
    assert counts.tolist() == [[2, 0]]
    mask = selection_mask(probs, counts)
    renorm = gate_weights(logits, mask, "renorm")
    s = 1 / (1 + math.exp(-0.5))  # softmax over the selected logits (2, 1.5)
    assert renorm[0, 0].tolist() == pytest.approx([s, 1 - s, 0.0])
    assert renorm[0, 1].tolist() == [0.0, 0.0, 0.0]  # zero experts: the token passes only its residual
    full = gate_weights(logits, mask, "full")
    z = math.exp(2) + math.exp(1.5) + math.exp(-3)
    assert full[0, 0].tolist() == pytest.approx([math.exp(2) / z, math.exp(1.5) / z, 0.0])
    paper = selection_mask(probs, seqtopk_counts(probs, 1, lower=1, upper=3))  # each token keeps its best
    assert gate_weights(logits, paper)[0].tolist() == [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    # the block combines its experts with these weights: y_t = sum_e w_te f_e(x_t)
    torch.manual_seed(0)
    moe = MoE(2, 1, MoEConfig(n_experts=3, k=1, routing="seqtopk", bounds="none"), hidden=4)
    with torch.no_grad():
        moe.router.weight.copy_(torch.tensor([[2.0, 0.0], [1.5, 0.0], [-3.0, 0.0]]))
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # router logits = the rows above
    eye = torch.eye(3)
    expert_out = [moe.experts(x, eye[e].expand(1, 2, 3), eye[e].bool().expand(1, 2, 3)) for e in range(3)]
    want = s * expert_out[0][0, 0] + (1 - s) * expert_out[1][0, 0]
    out = moe(x)
    assert torch.allclose(out[0, 0], want, atol=1e-6) and out[0, 1].eq(0).all()
    assert moe.last_counts.tolist() == [[2, 0]]


@pytest.mark.parametrize("bounds,clamp", [("paper", False), ("paper", True), ("cap", False), ("none", False)])
def test_decoding_with_the_expert_cache_equals_the_parallel_causal_forward(bounds, clamp):
    torch.manual_seed(0)
    cfg = MoEConfig(n_experts=6, k=2, routing="seqtopk_online", bounds=bounds, cap=3, online_clamp=clamp)
    moe = MoE(8, 2, cfg, hidden=8).eval()
    x = torch.randn(3, 11, 8)
    parallel = moe(x)
    cache = ExpertCache()
    steps = torch.stack([moe.step(x[:, t], cache) for t in range(11)], 1)
    assert torch.allclose(steps, parallel, atol=1e-6)
    assert len(cache.scores) == 11 and cache.scores[0].shape == (3, 6)
    # and the block is causal: later inputs never change earlier outputs
    x2 = x.clone()
    x2[:, 7:] = torch.randn(3, 4, 8)
    assert torch.equal(moe(x2)[:, :7], parallel[:, :7])
    with pytest.raises(ValueError, match="seqtopk_online"):
        MoE(8, 2, MoEConfig(n_experts=6, k=2, routing="seqtopk"), hidden=8).step(x[:, 0], ExpertCache())


def test_router_learns_through_the_gate_weights_and_aux_loss_is_reported():
    torch.manual_seed(0)
    moe = MoE(8, 2, MoEConfig(n_experts=6, k=2, routing="seqtopk", aux_weight=0.01), hidden=8)
    x = torch.randn(2, 5, 8)
    (moe(x).pow(2).sum() + moe.aux_loss).backward()
    assert moe.router.weight.grad.abs().sum() > 0
    assert moe.aux_loss.item() == pytest.approx(0.01, rel=0.5)  # w * E * sum f P is about w when balanced


def test_config_errors_name_the_key():
    spec = get_method("seqtopk")
    with pytest.raises(ConfigError, match="moe.k"):
        spec.load_config(["moe.k=9"])
    with pytest.raises(ConfigError, match="moe.cap"):
        spec.load_config(["moe.bounds=cap", "moe.cap=1"])
    with pytest.raises(ConfigError, match="moe.routing"):
        spec.load_config(["moe.routing=batchtopk"])


def test_easy_hard_task_marks_sums_as_hard_and_copies_as_easy():
    tokens, hard = easy_hard(20, n_segments=3, q=3, p=7, generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (20, 3 * (7 + 5)) and hard.sum(1).eq(3).all()
    kinds = target_kinds(tokens, 3, 7)
    assert torch.equal(kinds == HARD, hard) and kinds.eq(EASY).sum(1).eq(9 + 5).all()  # copies, later markers
    for seq, kind in zip(tokens, kinds, strict=True):
        for j in (kind == HARD).nonzero().flatten().tolist():  # the target after the q operands is their sum mod p
            assert int(seq[j + 1]) == int(seq[j - 2: j + 1].sum()) % 7 and int(seq[j - 3]) == 8
        for j in (kind == EASY).nonzero().flatten().tolist():  # a copy of the token q back, or a marker
            assert int(seq[j + 1]) == int(seq[j + 1 - 3]) or int(seq[j + 1]) >= 7
        assert all(int(seq[j + 1]) < 7 for j in (kind == OTHER).nonzero().flatten().tolist())  # fresh digits
    assert kinds[0, :3].eq(OTHER).all() and seq[:: 12].tolist() == [7, 7, 7] and seq[7:: 12].tolist() == [8, 8, 8]


def test_seqtopk_method_trains_and_reports_its_routing_measures():
    spec = get_method("seqtopk")
    base = ["epochs=1", "steps_per_epoch=3", "batch_size=8", "model.n_embd=16", "model.n_head=2",
            "data.n_train=24", "data.n_val=8", "data.n_pairs=2"]
    out = {}
    for routing in ("topk", "seqtopk", "seqtopk_online"):
        cfg = spec.load_config([*base, f"moe.routing={routing}", "moe.aux_weight=0.01"])
        trainer = spec.make_trainer(cfg)
        metrics = trainer.fit_epoch()
        assert metrics["aux_loss"] > 0 and math.isfinite(metrics["loss"])
        out[routing] = spec.evaluate(cfg, trainer.artifact(), trainer.data)
        assert set(out[routing]) == set(spec.metric_names()) - {"loss"}
    assert out["topk"]["kt_std"] == 0 and out["topk"]["experts_hard"] == 2
    assert out["seqtopk"]["slot_error"] == 0 and out["seqtopk"]["kt_min"] >= 1 and out["seqtopk"]["kt_max"] <= 4
    assert out["seqtopk"]["kt_mean"] == pytest.approx(2.0)
    assert 0 <= out["seqtopk_online"]["prefix_overspend"] <= 1


def test_seqtopk_losses_are_evaluated_with_causal_routing():
    """Offline SeqTopK lets later tokens take slots from earlier ones, so a teacher-forced forward reads the future;
    the method's losses come from causal (online) routing, which equals decoding with the expert cache."""
    from shared.methods.llm.common import heldout_measures
    from shared.methods.llm.seqtopk import causal_routing

    spec = get_method("seqtopk")
    base = ["epochs=1", "steps_per_epoch=1", "batch_size=8", "model.n_embd=16", "model.n_head=2",
            "data.n_train=8", "data.n_val=16", "data.n_pairs=2"]
    cfg = spec.load_config([*base, "moe.routing=seqtopk"])
    trainer = spec.make_trainer(cfg)
    model, data = trainer.artifact().eval(), trainer.data
    x = data.test.tokens[:, :-1]
    half = x.shape[1] // 2
    changed = torch.cat([x[:, :half], x[:, half:].flip(0)], 1)  # the same first half, another second half
    with torch.no_grad():
        assert not torch.allclose(model(x)[:, :half], model(changed)[:, :half])  # offline: the future leaks
        with causal_routing(model):
            assert torch.allclose(model(x)[:, :half], model(changed)[:, :half], atol=1e-6)
    assert all(layer.cfg.routing == "seqtopk" for layer in model.modules() if hasattr(layer, "router"))  # restored
    online = spec.make_trainer(spec.load_config([*base, "moe.routing=seqtopk_online"])).artifact().eval()
    online.load_state_dict(model.state_dict())  # the same weights, routed online
    out = spec.evaluate(cfg, model, data, metrics=["answer_loss", "answer_loss_offline"])
    assert out["answer_loss"] == pytest.approx(heldout_measures(online, data.test)["answer_loss"], abs=1e-6)
    assert out["answer_loss_offline"] == pytest.approx(heldout_measures(model, data.test)["answer_loss"], abs=1e-6)
    assert out["answer_loss"] != pytest.approx(out["answer_loss_offline"], abs=1e-6)
