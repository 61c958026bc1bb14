"""The small language-model stack: tokenizer, corpora, generated tasks, the decoder and the dense `gpt` method."""
import copy
import math

import pytest
import torch

from shared.config import ConfigError
from shared.lm import corpora
from shared.lm.data import LMDataConfig, load_lm_data, task_split
from shared.lm.model import GPT, CausalSelfAttention, GPTConfig, attention_mask, token_losses
from shared.lm.tasks import kv_recall
from shared.lm.tokenizer import GPT2_FILE_HASHES, get_tokenizer, gpt2_files
from shared.registry import get_method


def test_gpt2_tokenizer_matches_the_published_ids_and_checks_file_hashes():
    tok = get_tokenizer("gpt2")
    assert tok.encode("Hello world") == [15496, 995]  # GPT-2's ids, as every GPT-2 tokenizer gives them
    assert tok.n_vocab == 50257 and tok.eot == 50256
    text = "Key tokens aren't answers, are they? 42 + 17 = 59."
    assert tok.decode(tok.encode(text)) == text
    assert set(gpt2_files()) == set(GPT2_FILE_HASHES)


def test_byte_tokenizer_round_trips():
    tok = get_tokenizer("char")
    assert tok.decode(tok.encode("naïve café")) == "naïve café"
    with pytest.raises(ConfigError, match="unknown tokenizer"):
        get_tokenizer("llama")


def test_lee_corpus_is_real_english_and_splits_without_overlap():
    docs = corpora.lee_documents()
    assert len(docs) == 300 and "bushfire" in docs[0]
    data = load_lm_data(LMDataConfig(name="lee", tokenizer="gpt2", seq_len=64))
    assert data.vocab_size == 50257 and data.seq_len == 65
    # consecutive training windows share exactly one token: every token is a target once
    assert torch.equal(data.train.tokens[0, -1], data.train.tokens[1, 0])
    n_train = data.train.tokens.shape[0] * 64
    assert n_train > 5 * data.val.tokens.shape[0] * 64  # 80/10/10 split of the stream
    assert not data.train.answer_mask.any() and data.train.loss_mask.all()


def test_wiki_markup_is_stripped():
    from gensim.corpora.wikicorpus import filter_wiki  # noqa: F401  (the stripper the corpus uses)

    raw = "'''Anarchism''' is a [[political philosophy]] that advocates {{cite|x}} [[self-governance|self-governed]] " \
          "societies based on voluntary institutions.&lt;ref&gt;Woodcock&lt;/ref&gt;"
    clean = corpora._clean_wiki(raw)
    assert "[[" not in clean and "{{" not in clean and "'''" not in clean
    assert clean.startswith("Anarchism is a political philosophy")


def test_kv_recall_answers_are_the_values_of_the_queried_keys():
    gen = torch.Generator().manual_seed(0)
    tokens, answers = kv_recall(50, n_pairs=6, n_queries=3, n_keys=10, n_values=7, filler=5, n_filler=4,
                                generator=gen)
    assert tokens.shape == (50, 6 * 2 + 5 + 3 * 2) and answers.shape == (50, tokens.shape[1] - 1)
    assert answers.sum(1).eq(3).all()
    for seq, ans in zip(tokens, answers, strict=True):
        table = {int(seq[2 * i]): int(seq[2 * i + 1]) for i in range(6)}
        assert len(table) == 6  # keys distinct within a sequence
        for pos in ans.nonzero().flatten().tolist():
            assert int(seq[pos + 1]) == table[int(seq[pos])]  # the target after a query key is its value
        assert all(17 <= int(t) < 21 for t in seq[12:17])  # filler ids lie after keys and values


def test_the_torch_free_task_names_are_the_generated_tasks():
    """A driver checks data.name against shared/lm/config.py's TASK_NAMES, without torch: they are TASKS's keys."""
    from shared.lm.config import TASK_NAMES
    from shared.lm.data import TASKS

    assert tuple(TASKS) == TASK_NAMES


def test_task_data_is_deterministic_per_seed_and_fresh_draws_differ():
    cfg = LMDataConfig(name="kv_recall", n_train=20, n_val=10)
    a, b = load_lm_data(cfg, seed=3), load_lm_data(cfg, seed=3)
    assert torch.equal(a.train.tokens, b.train.tokens) and torch.equal(a.test.tokens, b.test.tokens)
    assert not torch.equal(a.train.tokens, load_lm_data(cfg, seed=4).train.tokens)
    fresh = task_split(cfg, 20, torch.Generator().manual_seed(1))
    assert not torch.equal(fresh.tokens, a.train.tokens)
    with pytest.raises(ConfigError, match="data.name"):
        load_lm_data(LMDataConfig(name="openwebtext"))


def _tiny(**kw) -> GPTConfig:
    return GPTConfig(**{"n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 32, "vocab_size": 11, **kw})


@pytest.mark.parametrize("pos,shift", [("learned", False), ("rope", False), ("none", False), ("learned", True)])
def test_decoder_is_causal(pos, shift):
    torch.manual_seed(0)
    model = GPT(_tiny(pos=pos, token_shift=shift)).eval()
    x = torch.randint(0, 11, (2, 12))
    y = model(x)
    x2 = x.clone()
    x2[:, 7] = (x2[:, 7] + 1) % 11
    y2 = model(x2)
    assert torch.allclose(y[:, :7], y2[:, :7], atol=1e-6)  # positions before 7 cannot see token 7
    assert not torch.allclose(y[:, 7:], y2[:, 7:])


def test_window_attention_sees_only_the_last_w_tokens():
    torch.manual_seed(0)
    model = GPT(_tiny(n_layer=1, window=4)).eval()
    x = torch.randint(0, 11, (1, 12))
    x2 = x.clone()
    x2[0, 2] = (x2[0, 2] + 1) % 11
    diff = (model(x) - model(x2)).abs().amax(-1)[0]
    assert diff[2:6].gt(0).all() and diff[6:].eq(0).all()  # token 2 is in the window of positions 2..5 only
    mask = attention_mask(5, prefix=2, window=2)
    assert mask.tolist()[3] == [True, True, False, False, True, True, False]


def test_qk_dim_changes_only_the_score_width():
    attn = CausalSelfAttention(_tiny(qk_dim=4), 0)
    assert attn.q.out_features == 2 * 4 and attn.v.out_features == 2 * 8
    q, k, v = attn.project(torch.randn(3, 5, 16))
    assert q.shape == (3, 2, 5, 4) and v.shape == (3, 2, 5, 8)


def test_token_losses_match_cross_entropy_by_hand():
    logits = torch.tensor([[[0.0, math.log(3.0)]]])  # p(target=1) = 3/4
    assert token_losses(logits, torch.tensor([[1]])).item() == pytest.approx(-math.log(0.75))


def test_config_errors_name_the_key():
    spec = get_method("gpt")
    with pytest.raises(ConfigError, match="model.n_head"):
        spec.load_config(["model.n_head=0"])
    with pytest.raises(ConfigError, match="model.n_embd"):
        spec.load_config(["model.n_embd=30", "model.n_head=4"])
    with pytest.raises(ConfigError, match="block_size"):
        spec.make_trainer(spec.load_config(["model.block_size=8"]))


def test_gpt_method_trains_resumes_exactly_and_reports_its_measures():
    spec = get_method("gpt")
    cfg = spec.load_config(["epochs=3", "steps_per_epoch=15", "batch_size=16", "model.n_embd=32",
                            "data.n_train=240", "data.n_val=32"])
    a = spec.make_trainer(cfg)
    first = a.fit_epoch()
    state = copy.deepcopy(a.state_dict())  # state_dict holds live parameter tensors
    rest_a = [a.fit_epoch()["loss"] for _ in range(2)]
    b = spec.make_trainer(cfg)
    b.load_state_dict(state)
    rest_b = [b.fit_epoch()["loss"] for _ in range(2)]
    assert rest_a == pytest.approx(rest_b, abs=1e-6)  # fresh task draws come from the saved generator
    assert rest_a[-1] < first["loss"]
    out = spec.evaluate(cfg, a.artifact(), a.data)
    assert set(out) == set(spec.metric_names()) - {"loss"}
    assert 0.0 <= out["recall_acc"] <= 1.0 and out["tokens_per_s"] > 0
    assert out["val_ppl"] == pytest.approx(math.exp(out["val_loss"]))


@pytest.mark.slow
def test_gpt_with_token_shift_learns_key_value_recall():
    spec = get_method("gpt")
    cfg = spec.load_config([])  # the shipped config: 3 epochs of 62 steps; recall 0.963 / 0.995 / 0.999 (seeds 0-2)
    trainer = spec.make_trainer(cfg)
    while not trainer.done:
        trainer.fit_epoch()
    # chance is 1/32; the model without token shift stays near 0.4 for thousands of steps (configs/methods/gpt.yaml)
    assert spec.evaluate(cfg, trainer.artifact(), trainer.data)["recall_acc"] > 0.9


@pytest.mark.parametrize("pos, shift", [("learned", False), ("learned", True), ("rope", False), ("none", True)])
def test_incremental_decoding_with_a_kv_cache_equals_the_full_forward(pos, shift):
    """Reading a sequence in pieces (a prompt, then one token at a time) through a KVCache gives the full forward's
    logits at every position, with learned, rotary or no positions and the token shift."""
    from shared.lm.model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=24, vocab_size=11, pos=pos,
                          token_shift=shift)).eval()
    idx = torch.randint(0, 11, (3, 20))
    with torch.no_grad():
        full = model(idx)
        cache = model.new_cache()
        pieces = [model(idx[:, :7], cache)] + [model(idx[:, t:t + 1], cache) for t in range(7, 20)]
    assert cache.length == 20 and cache.keys[1].shape[2] == 20
    assert (torch.cat(pieces, dim=1) - full).abs().max() < 1e-5
    with pytest.raises(ValueError, match="longer than model.block_size"):
        model(idx[:, :5], cache)
