"""LongPPL and LongCE (Fang et al., ICLR 2025): the key-token rule, the sliding short windows, the cross-tokenizer
mapping with its -1 shift, the count-weighted aggregate and LongCE's weights, on cases small enough to check by
hand; the long-dependency corpus; the methods' configuration errors and the LongPPL measure's cache."""
import math

import pytest
import torch

from shared.config import ConfigError
from shared.lm.data import LMDataConfig, load_lm_data
from shared.lm.long_recall import long_recall
from shared.lm.longppl import (
    aggregate,
    char_offsets,
    compute_longppl,
    document_log_longppl,
    full_context_losses,
    key_intervals,
    key_token_mask,
    longce_weights,
    merge_intervals,
    overlap_positions,
    short_context_losses,
    short_windows,
)
from shared.lm.model import GPT, GPTConfig, token_losses
from shared.lm.tokenizer import get_tokenizer
from shared.registry import get_method

NAN = float("nan")
SMALL = ["threads=1", "epochs=1", "steps_per_epoch=2", "batch_size=4", "data.n_train=8", "data.n_val=8",
         "model.n_embd=16", "model.n_head=2"]


def tiny_gpt(seed: int = 0, vocab: int = 11, **kw) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=64, vocab_size=vocab, **kw)).eval()


def test_key_tokens_need_both_a_long_short_difference_above_alpha_and_a_likelihood_above_beta():
    full = torch.tensor([[0.1, 0.5, 1.9, 2.1, 0.0, 3.0, 1.0]])
    short = torch.tensor([[3.0, 2.4, 4.0, 5.0, NAN, 0.0, 3.0]])
    # LSD = short - full:  2.9   1.9   2.1   2.9   nan  -3.0  2.0
    # LCL = -full > -2:    yes   yes   yes   no    yes   no   yes
    expected = torch.tensor([[True, False, True, False, False, False, False]])  # LSD 2.0 is not > 2 (strict)
    assert torch.equal(key_token_mask(full, short), expected)
    # other thresholds: alpha 1.5 admits position 1; beta -2.5 admits position 3 (LCL -2.1)
    assert key_token_mask(full, short, alpha=1.5, beta=-2.5).tolist() == [[True, True, True, True, False, False,
                                                                            True]]


@pytest.mark.parametrize("length,trunc,window", [(64, 16, 8), (65, 16, 8), (30, 16, 8), (17, 16, 8), (100, 7, 3),
                                                 (16, 16, 8)])
def test_sliding_windows_score_every_token_after_trunc_len_exactly_once(length, trunc, window):
    scored = [t for start, n in short_windows(length, trunc, window) for t in range(start + trunc, start + trunc + n)]
    assert sorted(scored) == list(range(trunc, length))  # each token from trunc_len on, once
    for start, n in short_windows(length, trunc, window):
        assert 1 <= n <= window and start + trunc + n <= length  # the last window is shortened to fit


def test_short_losses_are_those_of_the_truncated_context_and_nan_before_trunc_len():
    model = tiny_gpt(token_shift=True)
    tokens = torch.randint(0, 11, (3, 30), generator=torch.Generator().manual_seed(1))
    short = short_context_losses(model, tokens, trunc_len=8, sliding_window=5)
    assert short.shape == (3, 29) and torch.isnan(short[:, :7]).all() and not torch.isnan(short[:, 7:]).any()
    for start, n in short_windows(30, 8, 5):  # by hand: a forward over the window alone
        window = tokens[:, start:start + 8 + n]
        direct = token_losses(model(window[:, :-1]), window[:, 1:])[:, 7:]
        assert torch.allclose(short[:, start + 7:start + 7 + n], direct, atol=1e-5)
    # scored token t saw trunc_len .. trunc_len + window - 1 tokens: with them all, the short loss is the full one
    full = full_context_losses(model, tokens)
    assert torch.allclose(short[:, 7], full[:, 7], atol=1e-5)  # token 8 of window 0 sees tokens 0..7: everything
    assert not torch.allclose(short[:, 20:], full[:, 20:], atol=1e-6)  # later tokens lose context


def test_merge_intervals_joins_touching_neighbours_only():
    merged = merge_intervals(torch.tensor([[0, 3], [3, 5], [7, 9], [9, 10], [12, 14]]))
    assert merged.tolist() == [[0, 5], [7, 10], [12, 14]]
    assert merge_intervals(torch.tensor([[2, 4]])).tolist() == [[2, 4]]
    assert merge_intervals(torch.zeros(0, 2, dtype=torch.long)).shape == (0, 2)


def test_overlap_maps_tokens_inside_an_interval_to_the_loss_position_before_them():
    # evaluated tokens: "ab" "c" " de" "f" " gh"  over "abc def gh"
    offsets = [(0, 2), (2, 3), (3, 6), (6, 7), (7, 10)]
    # interval [2, 7) holds tokens 1, 2, 3 wholly -> loss positions 0, 1, 2 (token i is predicted at i - 1)
    assert overlap_positions(offsets, [[2, 7]]) == [0, 1, 2]
    # "ab" (0, 2) sticks out of [1, 6): not key
    assert overlap_positions(offsets, [[1, 6]]) == [0, 1]
    # token 0 lies inside [0, 3) but has no loss position (nothing predicts it): dropped
    assert overlap_positions(offsets, [[0, 3], [7, 10]]) == [0, 3]


def test_key_tokens_travel_across_tokenizers_through_character_offsets():
    text = "The key is 7391. Later: what was the key? It was 7391."
    char, gpt2 = get_tokenizer("char"), get_tokenizer("gpt2")
    for tok in (char, gpt2):  # incremental decoding gives exact offsets on ASCII text
        ids = tok.encode(text)
        offsets = char_offsets(tok, ids)
        assert [text[s:e] for s, e in offsets] == [tok.decode([i]) for i in ids] and offsets[-1][1] == len(text)
    # the evaluator (bytes) marks the second " 7391" as key: the bytes t = start .. start + 4 are predicted at t - 1
    start = text.rindex(" 7391")
    key = torch.zeros(len(text) - 1, dtype=torch.bool)
    key[start - 1:start + 4] = True
    intervals = key_intervals(char_offsets(char, char.encode(text)), key)
    assert intervals.tolist() == [[start, start + 5]]  # five touching byte intervals merge into one
    ids = gpt2.encode(text)  # ... " 7", "391", "." : GPT-2 splits the number
    positions = overlap_positions(char_offsets(gpt2, ids), intervals.tolist())
    assert [gpt2.decode([ids[p + 1]]) for p in positions] == [" 7", "391"]  # loss position = token index - 1
    assert positions == [len(ids) - 4, len(ids) - 3]
    # an interval that cuts a token in two keeps only the tokens wholly inside it
    assert [gpt2.decode([ids[p + 1]]) for p in overlap_positions(char_offsets(gpt2, ids), [[start + 1, start + 5]])] \
        == ["391"]


def test_compute_longppl_with_one_tokenizer_is_the_mean_loss_over_the_evaluators_key_tokens():
    char = get_tokenizer("char")
    text = "abcdefgh" * 6
    evaluator, model = tiny_gpt(0, vocab=257, token_shift=True), tiny_gpt(1, vocab=257)
    ids = torch.tensor([char.encode(text)])
    full, short = full_context_losses(evaluator, ids), short_context_losses(evaluator, ids, 16, 8)
    key = key_token_mask(full, short, alpha=-1.0, beta=-10.0)[0]  # loose thresholds: a random model finds some
    assert key.any()
    out = compute_longppl(text, model, char, evaluator, char, 16, 8, alpha=-1.0, beta=-10.0)
    losses = full_context_losses(model, ids)[0]
    assert out["n_key"] == key.sum() and out["n_tokens"] == len(text)
    assert math.isclose(out["longppl"], math.exp(float(losses[key].double().mean())), rel_tol=1e-5)
    assert math.isclose(out["ppl"], math.exp(float(losses.double().mean())), rel_tol=1e-5)


def test_dataset_longppl_weights_documents_by_key_token_count_and_skips_those_without():
    losses = torch.tensor([[1.0, 9.0, 3.0, 5.0], [2.0, 2.0, 4.0, 0.0], [7.0, 7.0, 7.0, 7.0]])
    key = torch.tensor([[True, False, True, False], [True, True, True, False], [False] * 4])
    logs, counts = document_log_longppl(losses, key)
    assert torch.allclose(logs[:2], torch.tensor([2.0, 8 / 3])) and math.isnan(logs[2]) and counts.tolist() == [2, 3, 0]
    # exp((2 * 2 + 3 * 8/3) / 5) = exp(12 / 5): the mean over all five key tokens
    assert math.isclose(aggregate(logs, counts), math.exp(12 / 5), rel_tol=1e-6)
    assert math.isclose(aggregate([math.log(2), math.log(8), NAN], [1, 3, 0]), 2 ** 2.5)
    assert math.isnan(aggregate([NAN], [0]))


def test_longce_weights_clip_at_gamma_are_one_before_trunc_len_and_carry_no_gradient():
    full = torch.tensor([[0.5, 0.5, 1.0, 3.0, 0.2]], requires_grad=True)
    short = torch.tensor([[NAN, NAN, 1.5, 2.0, 4.0]])
    w = longce_weights(full, short, gamma=5.0)
    assert not w.requires_grad
    assert torch.allclose(w, torch.tensor([[1.0, 1.0, math.exp(0.5), math.exp(-1.0), 5.0]]))  # exp(3.8) > 5: capped
    (w * full).mean().backward()
    assert torch.allclose(full.grad, w / 5)  # d/dl of mean(w l) is w / n: nothing flows through w


def test_longce_loss_is_the_mean_of_weighted_token_losses_from_the_trained_model():
    spec = get_method("longce")
    cfg = spec.load_config([*SMALL, "longce.gamma=2.0"])
    trainer = spec.make_trainer(cfg)
    tokens, mask, answers = next(iter(trainer.batches()))
    loss, parts = trainer.loss((tokens, mask, answers))
    with torch.no_grad():
        full = token_losses(trainer.model(tokens[:, :-1]), tokens[:, 1:])
        short = short_context_losses(trainer.model, tokens, 16, 8)
    w = torch.where(torch.isnan(short), 1.0, (short - full).exp().clamp(max=2.0))
    assert torch.isclose(loss, (w * full * mask).sum() / mask.sum(), rtol=1e-5)
    assert math.isclose(parts["ce"], float(full.mean()), rel_tol=1e-5) and 0 <= parts["longce_capped"] <= 1
    metrics = trainer.fit_epoch()
    assert math.isfinite(metrics["loss"]) and "longce_weight" in metrics


def test_long_recall_answers_are_values_defined_more_than_gap_tokens_earlier():
    gen = torch.Generator().manual_seed(0)
    tokens, answers = long_recall(200, seq_len=64, n_pairs=6, n_queries=3, n_values=48, n_filler=4, gap=24,
                                  generator=gen)
    assert tokens.shape == (200, 65) and answers.shape == (200, 64) and answers.sum(1).eq(3).all()
    for row, ans in zip(tokens, answers, strict=True):
        keys, values = row[0:12:2].tolist(), row[1:12:2].tolist()
        assert len(set(keys)) == 6
        asked = []
        for t in (ans.nonzero().flatten() + 1).tolist():  # answer token t follows its query key
            i = keys.index(int(row[t - 1]))
            assert row[t] == values[i] and t - (2 * i + 1) > 24
            asked.append(i)
        assert len(set(asked)) == 3  # distinct keys
        filler = [int(x) for j, x in enumerate(row.tolist()) if j >= 12 and j not in
                  {p for t in (ans.nonzero().flatten() + 1).tolist() for p in (t - 1, t)}]
        assert all(filler[j] == filler[j + 4] for j in range(len(filler) - 4))  # the motif, period 4
        assert not set(filler) & set(keys)
    with pytest.raises(ConfigError, match="data.seq_len"):
        long_recall(2, seq_len=30, n_pairs=6, n_queries=3, n_values=48, n_filler=4, gap=24, generator=gen)
    with pytest.raises(ConfigError, match="data.n_values"):
        long_recall(2, seq_len=64, n_pairs=6, n_queries=3, n_values=10, n_filler=4, gap=24, generator=gen)
    data = load_lm_data(LMDataConfig(name="long_recall", seq_len=64, n_pairs=6, n_queries=3, n_values=48,
                                     n_filler=4, filler=24, n_train=4, n_val=4))
    assert data.vocab_size == 48 and data.train.loss_mask.all()  # the loss counts every token


def test_config_errors_name_the_key_before_training():
    with pytest.raises(ConfigError, match="longce.trunc_len"):
        get_method("longce").load_config(["longce.trunc_len=60", "longce.sliding_window=8"])
    with pytest.raises(ConfigError, match="longce.trunc_len"):
        get_method("longce").make_trainer(get_method("longce").load_config([*SMALL, "model.block_size=128",
                                                                            "longce.trunc_len=70"]))
    with pytest.raises(ConfigError, match="longppl.trunc_len"):
        get_method("longppl").load_config(["longppl.trunc_len=60"])


def test_longppl_measure_reads_cached_key_tokens_and_is_nan_off_long_dependency_data(tmp_path, monkeypatch):
    from shared.methods.llm import longppl_eval

    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path))
    spec = get_method("gpt")
    cfg = spec.load_config([*SMALL, "data.name=long_recall", "data.seq_len=64", "data.n_pairs=6",
                            "data.n_queries=3", "data.n_values=48", "data.n_filler=4", "data.filler=24",
                            "model.block_size=64"])
    trainer = spec.make_trainer(cfg)
    split = trainer.data.test
    key = torch.zeros_like(split.answer_mask)
    key[:4] = split.answer_mask[:4]  # a stand-in evaluator: the first four sequences' answers, the rest none
    key[0, 20] = True  # and one filler token
    path = tmp_path / "longppl" / f"{longppl_eval.cache_key(longppl_eval.reference_config(cfg))}.pt"
    path.parent.mkdir(parents=True)
    torch.save({"key": key}, path)
    out = longppl_eval.LongPPLEval(cfg, trainer.data).evaluate(trainer.artifact())
    losses = full_context_losses(trainer.artifact().eval(), split.tokens)
    assert math.isclose(out["longppl"], math.exp(float(losses[key].double().mean())), rel_tol=1e-5)
    assert out["key_recall"] == 12 / float(split.answer_mask.sum()) and out["key_precision"] == 12 / 13
    assert out["key_tokens"] == 13 / len(split)

    kv = spec.load_config(SMALL)  # kv_recall: no long-dependency tokens, nothing computed
    out = longppl_eval.LongPPLEval(kv, load_lm_data(kv.data)).evaluate(trainer.artifact())
    assert all(math.isnan(v) for v in out.values())
