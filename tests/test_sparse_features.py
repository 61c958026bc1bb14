"""CSR on the features of the project's own SSL encoder: a SimCLR run at smoke scale is checkpointed, its backbone
features are read from the checkpoint once (cached by the state's SHA-256) and CSR trains on them; bad checkpoint
paths are ConfigErrors before any compute. The ``ssl`` source trains the encoder itself, once per encoder config and
data seed (the CSR claim on SSL features, per seed).  And the bench's accuracy-against-latency plot of learnt codes."""
from __future__ import annotations

import pytest
import torch

from shared.checkpoint import save_checkpoint
from shared.config import ConfigError
from shared.registry import get_method

SIMCLR_SMOKE = ["epochs=1", "batch_size=64", "threads=1", "data.n_train=128", "data.n_test=64", "model.width=8",
                "model.proj_hidden=32", "model.proj_dim=16"]


@pytest.fixture(scope="module")
def simclr_checkpoint(tmp_path_factory) -> str:
    spec = get_method("simclr")
    cfg = spec.load_config(SIMCLR_SMOKE)
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()
    return save_checkpoint(tmp_path_factory.mktemp("simclr") / "checkpoint_000001", spec, cfg, trainer)


def test_csr_trains_on_cached_features_of_an_ssl_checkpoint(simclr_checkpoint, tmp_path, monkeypatch):
    import shared.checkpoint

    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path))
    spec = get_method("csr")
    cfg = spec.load_config(["epochs=1", "batch_size=32", "threads=1", "k=4", "data.source=checkpoint",
                            f"data.checkpoint={simclr_checkpoint}"])
    trainer = spec.make_trainer(cfg)
    d = trainer.data
    assert d.train_x.shape[0] == 128 and d.test_x.shape[0] == 64 and d.dim == 64  # the width-8 convnet's backbone
    torch.testing.assert_close(d.train_x.norm(dim=1), torch.ones(128))
    assert len(list((tmp_path / "sparse_embeddings").glob("encoder-simclr-*.pt"))) == 1
    trainer.fit_epoch()
    out = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert out["active_dims"] <= 4 and 0 <= out["nn_acc"] <= 1

    def no_encoder(*_):
        raise AssertionError("the feature cache was missed")

    monkeypatch.setattr(shared.checkpoint, "load_trainer", no_encoder)
    again = spec.make_trainer(cfg)  # the folder above the checkpoint names it too
    assert torch.equal(again.data.train_x, d.train_x)


def test_bad_checkpoint_paths_are_config_errors(simclr_checkpoint, tmp_path):
    spec = get_method("csr")
    with pytest.raises(ConfigError, match="data.checkpoint"):
        spec.load_config(["data.source=checkpoint"])
    with pytest.raises(ConfigError, match="not a directory"):
        spec.load_config(["data.source=checkpoint", f"data.checkpoint={tmp_path / 'missing'}"])
    with pytest.raises(ConfigError, match="holds no checkpoint"):
        spec.load_config(["data.source=checkpoint", f"data.checkpoint={tmp_path}"])
    not_an_encoder = tmp_path / "csr_run"
    not_an_encoder.mkdir()
    (not_an_encoder / "meta.json").write_text('{"method": "csr", "config": {"k": 4, "data.source": "digits"}}')
    with pytest.raises(ConfigError, match="not of an image SSL encoder"):
        spec.load_config(["data.source=checkpoint", f"data.checkpoint={not_an_encoder}"])
    parent = str(simclr_checkpoint).rsplit("/", 1)[0]
    assert spec.load_config(["data.source=checkpoint", f"data.checkpoint={parent}"]).data.checkpoint == parent


def test_ssl_source_trains_the_encoder_once_per_config_and_data_seed(tmp_path, monkeypatch):
    import shared.sparse.encoder_features as features

    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path))
    encoder = dict(kv.split("=") for kv in SIMCLR_SMOKE)
    spec = get_method("mrl")

    def heads(seed: int):  # noqa: ANN202
        cfg = spec.load_config({"epochs": 1, "batch_size": 32, "threads": 1, "k": 4, "data.seed": seed,
                                "data.source": "ssl", "data.encoder_overrides": encoder})
        return spec.make_trainer(cfg).data

    first, other_seed = heads(0), heads(1)
    assert first.train_x.shape == (128, 64) and first.test_x.shape == (64, 64)
    assert not torch.equal(first.train_x, other_seed.train_x)  # another seed: other images, another encoder
    cached = sorted(p.name for p in (tmp_path / "sparse_embeddings").iterdir())
    assert [n.split("-")[:3] for n in cached] == [["ssl", "simclr", "seed0"], ["ssl", "simclr", "seed1"]]

    def no_training(*_):
        raise AssertionError("the SSL feature cache was missed")

    monkeypatch.setattr(features, "encode", no_training)
    assert torch.equal(heads(0).train_x, first.train_x)  # a second trial reads the cache, never retrains
    with pytest.raises(ConfigError, match="data.encoder: 'csr' is not an image SSL encoder"):
        spec.load_config(["data.source=ssl", "data.encoder=csr"])
    with pytest.raises(ConfigError, match="data.encoder_overrides: model.nope"):
        spec.load_config({"data.source": "ssl", "data.encoder_overrides": {"model.nope": 1}})
    with pytest.raises(ConfigError, match="data.encoder: unknown method"):
        spec.load_config(["data.source=ssl", "data.encoder=nope"])


def test_pareto_front_by_hand():
    from jobs.retrieval_pareto import mark_pareto

    rows = [{"ndcg_at_10": 0.9, "ms_per_query": 1.0}, {"ndcg_at_10": 0.8, "ms_per_query": 0.1},
            {"ndcg_at_10": 0.8, "ms_per_query": 0.5}, {"ndcg_at_10": 0.95, "ms_per_query": 1.0}]
    # (0.8, 0.5) is beaten by (0.8, 0.1); (0.9, 1.0) by (0.95, 1.0)
    assert [r["pareto"] for r in mark_pareto(rows)] == [False, True, False, True]


def test_bench_writes_the_accuracy_latency_plot_of_learnt_codes(tmp_path, capsys):
    from jobs.bench_retrieval import main

    main(["--docs", "300", "--latents", "64", "--queries", "4", "--ks", "8", "--repeats", "1", "--epochs", "1",
          "--pareto", str(tmp_path / "out")])
    text = (tmp_path / "out" / "pareto.csv").read_text().splitlines()
    assert text[0] == "point,method,k,search,ndcg_at_10,ms_per_query,pareto"
    assert [line.split(",")[0] for line in text[1:]] == ["csr k=8 index", "csr k=8 faiss", "mrl k=8 faiss",
                                                         "full faiss"]
    rows = [line.split(",") for line in text[1:]]
    # exact index and FAISS flat rank the same codes: equal nDCG up to the order of tied scores
    assert abs(float(rows[0][4]) - float(rows[1][4])) < 0.01 and float(rows[3][4]) > 0.5
    assert any(r[6] == "True" for r in rows)
    assert (tmp_path / "out" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Pareto" in capsys.readouterr().out


# The CSR claim on the project's SSL image features: per seed, a SimCLR (width-8 convnet, 2 epochs, 512 shapes
# images drawn from the seed) is trained through data.source=ssl (seed = data.seed = the encoder's seed and its image
# set's: each seed has its own images, split and encoder), its backbone features (64-d) are the frozen embeddings;
# CSR and MRL at k = 4 (20 epochs); tolerances from seeds 0, 1, asserted on held-out seeds 2, 3 (seed 4 and the SAE
# without CL measured, in REPRODUCTION.md; not run here, to keep the test's time: ~5 CPU s, loaded machine).
SSL_CLAIM_ENCODER = {"epochs": 2, "batch_size": 64, "threads": 1, "data.n_train": 512, "data.n_test": 256,
                     "model.width": 8, "model.proj_hidden": 32, "model.proj_dim": 16}
SSL_CLAIM_HEADS = {"csr": ("csr", {}), "mrl": ("mrl", {})}  # the SAE row of REPRODUCTION.md: ("csr", {"cl_coef": 0})
SSL_CLAIM_SEEDS = (2, 3)


def ssl_feature_runs(seeds: tuple[int, ...]) -> dict[str, list[dict[str, float]]]:
    """Each head's evaluation per seed on the SSL features of that seed's encoder (RAYSTUDY_CACHE set by the caller)."""
    out: dict[str, list[dict[str, float]]] = {name: [] for name in SSL_CLAIM_HEADS}
    for seed in seeds:
        for name, (method, extra) in SSL_CLAIM_HEADS.items():
            head = get_method(method)
            cfg = head.load_config({"epochs": 20, "batch_size": 64, "threads": 1, "k": 4, "seed": seed,
                                    "data.seed": seed, "data.source": "ssl", "data.encoder": "simclr",
                                    "data.encoder_overrides": SSL_CLAIM_ENCODER, **extra})
            trainer = head.make_trainer(cfg)
            for _ in range(cfg.epochs):
                trainer.fit_epoch()
            out[name].append(head.evaluate(cfg, trainer.artifact(), trainer.data))
    return out


@pytest.fixture(scope="module")
def ssl_feature_heads(tmp_path_factory) -> dict[str, list[dict[str, float]]]:
    mp = pytest.MonkeyPatch()
    mp.setenv("RAYSTUDY_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        return ssl_feature_runs(SSL_CLAIM_SEEDS)
    finally:
        mp.undo()


def _mean(runs: list[dict[str, float]], key: str) -> float:
    return sum(r[key] for r in runs) / len(runs)


@pytest.mark.slow
def test_the_data_seed_draws_the_encoders_images_and_split(ssl_feature_heads):
    # one encoder per seed: the full features' 1-NN accuracy (and PCA-4's) differ between seeds
    assert len({round(r["nn_acc_full"], 6) for r in ssl_feature_heads["mrl"]}) == len(SSL_CLAIM_SEEDS)


@pytest.mark.slow
def test_csr_on_ssl_features_is_no_worse_than_mrl_at_k4(ssl_feature_heads):
    # nn_acc, seeds 0, 1 | 2, 3 (data seed = seed): CSR 0.266 0.258 | 0.250 0.270, MRL 0.242 0.281 | 0.250 0.238
    # (tuning 0, 1: CSR - MRL +0.000; held-out +0.016)
    h = ssl_feature_heads
    assert _mean(h["csr"], "nn_acc") >= _mean(h["mrl"], "nn_acc") - 0.03
    assert all(r["active_dims"] <= 4 for r in h["csr"])


@pytest.mark.slow
def test_csr_on_ssl_features_beats_pca_at_k4(ssl_feature_heads):
    # nn_acc, seeds 0, 1 | 2, 3 (data seed = seed): CSR 0.266 0.258 | 0.250 0.270 vs PCA-4 0.289 0.258 | 0.223 0.223
    # (tuning 0, 1: -0.012 on the mean, within the noise of 256 test images; held-out 2, 3: +0.037; seed 4: +0.082)
    h = ssl_feature_heads
    assert _mean(h["csr"], "nn_acc") >= _mean(h["csr"], "nn_acc_pca") - 0.01
