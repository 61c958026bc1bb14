"""CSR, CSRv2 and MRL as registered methods: the MRL nested loss, CSRv2's schedule inside the trainer, the
evaluators' measures by hand, and the cached text embeddings (encoded once, keyed by encoder and text)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from shared.methods.sparse.common import dead_fraction, nn_accuracy, retrieval_scores
from shared.methods.sparse.mrl import MatryoshkaHead, PrefixCoder, nested_loss
from shared.registry import get_method

FAST = ["epochs=2", "batch_size=128", "threads=1"]


def trained(name: str, *overrides: str):
    spec = get_method(name)
    cfg = spec.load_config([*FAST, *overrides])
    trainer = spec.make_trainer(cfg)
    while not trainer.done:
        trainer.fit_epoch()
    return spec, cfg, trainer


def test_mrl_with_one_nesting_is_the_plain_loss_and_prefix_terms_ignore_later_coordinates():
    torch.manual_seed(0)
    head = MatryoshkaHead(6, 3)
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    plain = F.cross_entropy(head.classifier(head.linear(x)), y)
    torch.testing.assert_close(nested_loss(head, x, y, [6]), plain)
    z = head.linear(x).detach().requires_grad_(True)
    F.cross_entropy(z[:, :2] @ head.classifier.weight[:, :2].T + head.classifier.bias, y).backward()
    assert z.grad[:, 2:].abs().sum() == 0 and z.grad[:, :2].abs().sum() > 0
    # the nested loss is the sum of the prefix losses
    parts = [nested_loss(head, x, y, [m]) for m in (2, 4, 6)]
    torch.testing.assert_close(nested_loss(head, x, y, [2, 4, 6]), sum(parts))


def test_mrl_accuracy_rises_with_the_prefix_length():
    spec, cfg, trainer = trained("mrl", "epochs=4")
    d = trainer.data
    accs = []
    for k in (1, 4, 32):
        coder = PrefixCoder(trainer.model.linear, k)
        with torch.no_grad():
            accs.append(nn_accuracy(coder(d.train_x), d.train_y, coder(d.test_x), d.test_y))
    assert accs[0] < accs[1] < accs[2]


def test_csr_trains_codes_with_k_non_zeros_and_resumes_its_dead_latent_counts():
    spec, cfg, trainer = trained("csr", "k=4")
    assert trainer.model.steps_idle.sum() > 0  # counts were kept
    codes = trainer.artifact()(trainer.data.test_x)
    assert ((codes != 0).sum(1) <= 4).all() and (codes >= 0).all()
    again = spec.make_trainer(cfg)
    again.load_state_dict(trainer.state_dict())
    assert torch.equal(again.model.steps_idle, trainer.model.steps_idle)
    out = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert set(out) == set(spec.metric_names()) - {"loss"}
    assert out["active_dims"] <= 4 and 0 <= out["dead_fraction"] <= 1


def test_csr_v2_anneals_k_over_global_steps_to_the_target():
    spec = get_method("csr_v2")
    cfg = spec.load_config([*FAST, "k=2", "k_init=64", "epochs=4"])
    trainer = spec.make_trainer(cfg)
    assert trainer.current_k() == 64  # hidden 256 / 4 = 64: not clipped
    seen = []
    while not trainer.done:
        seen.append(trainer.fit_epoch()["k"])
    assert seen[0] > seen[1] > seen[-1] and trainer.current_k() == 2
    direct = spec.make_trainer(spec.load_config([*FAST, "k=2", "k_init=0"]))
    assert direct.current_k() == 2


def test_measures_by_hand():
    assert dead_fraction(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])) == pytest.approx(1 / 3)
    ranked = torch.tensor([[0, 1, 2], [2, 1, 0]])
    corpus_y = torch.tensor([5, 6, 5])
    out = retrieval_scores(ranked, torch.tensor([5, 6]), corpus_y)
    # query 0: relevant {0, 2} at ranks 1, 3: recall 1, nDCG (1 + 1/2) / (1 + 1/log2(3));
    # query 1: relevant {1} at rank 2: recall 1, nDCG (1/log2(3)) / 1
    ndcg0 = 1.5 / (1 + 1 / torch.log2(torch.tensor(3.0)).item())
    ndcg1 = 1 / torch.log2(torch.tensor(3.0)).item()
    assert out["recall_at_10"] == pytest.approx(1.0)
    assert out["ndcg_at_10"] == pytest.approx((ndcg0 + ndcg1) / 2, rel=1e-5)
    train, test = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[2.0, 0.1], [0.1, 3.0]])
    assert nn_accuracy(train, torch.tensor([0, 1]), test, torch.tensor([0, 0])) == 0.5


def test_text_embeddings_are_encoded_once_and_read_back_from_the_cache(tmp_path, monkeypatch):
    import shared.text
    from shared.sparse.embeddings import EmbeddingDataConfig, load_embeddings

    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path))
    cfg = EmbeddingDataConfig(source="text", n_docs=4)
    first = load_embeddings(cfg)
    assert len(list((tmp_path / "sparse_embeddings").glob("text-lee-*.pt"))) == 1
    assert first.corpus_x.shape == (4, 384) and set(first.query_y.tolist()) <= {0, 1, 2, 3}

    def no_encoder(*_):
        raise AssertionError("the cache was missed")

    monkeypatch.setattr(shared.text, "encode_texts", no_encoder)
    again = load_embeddings(cfg)
    assert torch.equal(again.train_x, first.train_x)
    other_split = load_embeddings(EmbeddingDataConfig(source="text", n_docs=4, seed=1))
    assert not torch.equal(other_split.test_y, first.test_y) or not torch.equal(other_split.test_x, first.test_x)


def test_bench_retrieval_smoke_gives_the_same_top_scores_as_faiss_and_the_matmul(capsys):
    from jobs.bench_retrieval import main

    rows = main(["--docs", "500", "--latents", "64", "--queries", "8", "--ks", "2", "8", "--repeats", "1"])
    assert [r["k"] for r in rows] == [2, 8] and all(r["same_scores"] for r in rows)
    assert "faiss/index" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad:
        main(["--ks", "0"])
    assert bad.value.code == 2
