"""DisentangledSSL (Wang et al., ICLR 2025): the losses by hand on tiny cases, the synthetic generator, the
vMF approximation, the augmentation, and exact resume across the two steps."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from shared.checkpoint import load_trainer, save_checkpoint
from shared.config import ConfigError
from shared.data.multimodal import MultimodalDataConfig, generate
from shared.methods.multimodal.disentangled_ssl import (
    augment,
    cross_view_supcon,
    orthogonality_penalty,
    skl_vmf,
    vmf_sample,
)
from shared.registry import get_method

TINY = ["epochs=4", "step1_epochs=2", "batch_size=64", "hidden_dim=16", "embed_dim=8", "data.n=400",
        "data.latent_dim=4", "eval.probe_max_iter=20", "threads=1"]


def rows(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def dot(u: list[float], v: list[float]) -> float:
    return sum(x * y for x, y in zip(u, v, strict=True))


def test_supcon_has_only_cross_view_negatives_by_brute_force():
    """The official SupConLoss on [a, b]: anchor a_i (or b_i) against the N rows of the other view only."""
    a, b = rows(3, 4, 0), rows(3, 4, 1)
    tau = 0.3
    an, bn = F.normalize(a, dim=1).tolist(), F.normalize(b, dim=1).tolist()
    total = 0.0
    for anchors, others in ((an, bn), (bn, an)):
        for i, q in enumerate(anchors):
            logits = [dot(q, k) / tau for k in others]  # no same-view term, no self term
            total += -logits[i] + math.log(sum(math.exp(v) for v in logits))
    assert cross_view_supcon(a, b, tau).item() == pytest.approx(total / 6, rel=1e-5)


def test_supcon_differs_from_simclr_with_same_view_negatives():
    from shared.losses.contrastive import info_nce

    a, b = rows(4, 5, 2), rows(4, 5, 3)
    assert cross_view_supcon(a, b, 0.5).item() < info_nce(a, b, 0.5).item()  # fewer negatives, smaller loss


def test_skl_is_minus_the_mean_cosine_of_the_means():
    mu1 = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    mu2 = torch.tensor([[5.0, 0.0], [3.0, 4.0], [-1.0, -1.0]])  # cosines 1, 0.8, -1; the scale does not matter
    assert skl_vmf(mu1, mu2).item() == pytest.approx(-(1.0 + 0.8 - 1.0) / 3, rel=1e-6)
    assert skl_vmf(mu1, mu1).item() == pytest.approx(-1.0)


def test_orthogonality_penalty_by_hand():
    s1, c1, s2, c2 = rows(5, 3, 4), rows(5, 2, 5), rows(5, 3, 6), rows(5, 4, 7)

    def frob(s: torch.Tensor, c: torch.Tensor) -> float:
        sn, cn = F.normalize(s, dim=1).tolist(), F.normalize(c, dim=1).tolist()
        entries = [sum(sn[i][p] * cn[i][q] for i in range(len(sn)))
                   for p in range(len(sn[0])) for q in range(len(cn[0]))]
        return math.sqrt(sum(e * e for e in entries))

    expected = 0.5 * (frob(s1, c1) + frob(s2, c2))
    assert orthogonality_penalty(s1, c1, s2, c2).item() == pytest.approx(expected, rel=1e-5)


def test_orthogonality_penalty_is_zero_for_orthogonal_blocks_and_not_squared():
    # columns of S (in sample space) orthogonal to every column of C: S^T C = 0
    s = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    c = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert orthogonality_penalty(s, c, s, c).item() == pytest.approx(0.0, abs=1e-7)
    # a batch repeated twice doubles S^T C: the Frobenius norm doubles (a squared norm would quadruple)
    s1, c1 = rows(6, 3, 8), rows(6, 3, 9)
    once = orthogonality_penalty(s1, c1, s1, c1).item()
    twice = orthogonality_penalty(torch.cat([s1, s1]), torch.cat([c1, c1]), torch.cat([s1, s1]), torch.cat([c1, c1]))
    assert twice.item() == pytest.approx(2 * once, rel=1e-5)
    # rows are normalised: rescaling embeddings changes nothing
    assert orthogonality_penalty(3 * s1, 0.1 * c1, s1, c1).item() == pytest.approx(once, rel=1e-5)


def test_vmf_approximation_has_the_vmf_mean_resultant_length():
    """E[cos(z, mu)] of vMF(mu, kappa) in R^d is A_d(kappa) = I_{d/2}(kappa) / I_{d/2-1}(kappa)."""
    from scipy.special import ive

    d, kappa = 32, 1000.0
    mu = F.normalize(rows(4000, d, 10), dim=1)
    z = vmf_sample(mu, kappa, torch.Generator().manual_seed(0))
    assert torch.allclose(z.norm(dim=1), torch.ones(4000), atol=1e-5)
    mean_cos = (z * mu).sum(1).mean().item()
    assert mean_cos == pytest.approx(ive(d / 2, kappa) / ive(d / 2 - 1, kappa), abs=5e-4)
    # reparameterised: gradients flow to mu
    m = mu[:3].clone().requires_grad_()
    vmf_sample(m, kappa, torch.Generator().manual_seed(1)).sum().backward()
    assert m.grad is not None and m.grad.abs().sum() > 0


def test_augmentation_is_noise_drop_or_identity_per_sample():
    x = rows(300, 20, 11) + 5.0  # no zero coordinates to begin with
    out = augment(x, torch.Generator().manual_seed(0), noise_scale=0.01, drop_fraction=0.1)
    same = (out == x).all(1)
    zeros = (out == 0).sum(1)
    noisy = ~same & (zeros == 0)
    assert set(zeros.tolist()) == {0, 2}  # 20 // 10 coordinates zeroed, elsewhere untouched
    dropped = zeros == 2
    assert torch.equal(out[dropped], x[dropped] * (out[dropped] != 0))
    assert (out[noisy] - x[noisy]).abs().max() < 0.1
    for part in (same, dropped, noisy):
        assert 60 < int(part.sum()) < 140  # about a third each
    again = augment(x, torch.Generator().manual_seed(0), noise_scale=0.01, drop_fraction=0.1)
    assert torch.equal(out, again)


def test_generator_is_deterministic_per_seed_and_follows_the_model():
    cfg = MultimodalDataConfig(n=1000, latent_dim=6, seed=3)
    a, b = generate(cfg), generate(cfg)
    assert torch.equal(a.train.x1, b.train.x1) and torch.equal(a.test.x2, b.test.x2)
    assert all(torch.equal(a.train.labels[k], b.train.labels[k]) for k in a.train.labels)
    other = generate(MultimodalDataConfig(n=1000, latent_dim=6, seed=4))
    assert not torch.equal(a.train.x1, other.train.x1)
    assert len(a.train) == 800 and len(a.test) == 200 and a.train.x1.shape[1] == 12
    for split in (a.train, a.test):  # X_m = [Z_m, Z_s] T_m
        t1, t2 = a.mixing
        assert torch.allclose(split.x1, torch.cat([split.latents["z1"], split.latents["zs"]], 1) @ t1, atol=1e-5)
        assert torch.allclose(split.x2, torch.cat([split.latents["z2"], split.latents["zs"]], 1) @ t2, atol=1e-5)
    assert a.train.latents["zs"].var().item() == pytest.approx(0.5, rel=0.1)


def test_labels_are_balanced_and_read_their_own_factor():
    data = generate(MultimodalDataConfig(n=4000, latent_dim=5))
    for name in ("ys1", "yc", "ys2"):
        both = torch.cat([data.train.labels[name], data.test.labels[name]])
        assert both.dtype == torch.int64 and set(both.unique().tolist()) == {0, 1}
        assert both.float().mean().item() == pytest.approx(0.5, abs=1e-3)  # thresholded at the median
    from shared.metrics import linear_probe

    tr, te = data.train, data.test
    zs = linear_probe(tr.latents["zs"], tr.labels["yc"], te.latents["zs"], te.labels["yc"])
    wrong = linear_probe(tr.latents["zs"], tr.labels["ys1"], te.latents["zs"], te.labels["ys1"])
    assert zs > 0.7 and abs(wrong - 0.5) < 0.06


def test_step1_epochs_beyond_epochs_is_refused():
    with pytest.raises(ConfigError, match="step1_epochs"):
        get_method("disentangled_ssl").load_config(["epochs=3", "step1_epochs=4"])


def train_tiny(extra: list[str]) -> tuple[list[dict], dict]:
    spec = get_method("disentangled_ssl")
    trainer = spec.make_trainer(spec.load_config([*TINY, *extra]))
    history = [trainer.fit_epoch() for _ in range(trainer.config.epochs)]
    return history, trainer.state_dict()


def test_each_step_trains_only_its_own_encoders():
    spec = get_method("disentangled_ssl")
    trainer = spec.make_trainer(spec.load_config(TINY))
    before = {k: v.clone() for k, v in trainer.state_dict()["step2"].items()}
    h1 = trainer.fit_epoch()
    assert h1["step"] == 1 and "skl" in h1
    assert all(torch.equal(v, trainer.step2.state_dict()[k]) for k, v in before.items())
    trainer.fit_epoch()
    frozen = {k: v.clone() for k, v in trainer.step1.state_dict().items()}
    h3 = trainer.fit_epoch()
    assert h3["step"] == 2 and h3["loss"] == pytest.approx(h3["specific"] + h3["orth"], rel=1e-4)  # lam = 1
    assert all(torch.equal(v, trainer.step1.state_dict()[k]) for k, v in frozen.items())
    metrics = spec.evaluate(trainer.config, trainer.artifact(), trainer.data)
    assert sorted(metrics) == sorted(spec.metric_names()[1:])
    assert all(0.0 <= metrics[k] <= 1.0 for k in metrics if "_acc_" in k)


@pytest.mark.parametrize("stop", [1, 3])  # inside step 1, inside step 2
def test_resume_from_checkpoint_is_exact(tmp_path: Path, stop: int):
    spec = get_method("disentangled_ssl")
    straight_hist, straight_state = train_tiny([])

    cfg = spec.load_config(TINY)
    first = spec.make_trainer(cfg)
    for _ in range(stop):
        first.fit_epoch()
    save_checkpoint(tmp_path / "ckpt", spec, cfg, first)
    del first
    _, _, resumed = load_trainer(tmp_path / "ckpt")  # weights_only load
    assert resumed.epoch == stop
    losses = [resumed.fit_epoch()["loss"] for _ in range(cfg.epochs - stop)]
    assert losses == [h["loss"] for h in straight_hist[stop:]]
    state = resumed.state_dict()
    for part in ("step1", "step2"):
        for key, value in straight_state[part].items():
            assert torch.equal(value, state[part][key]), (part, key)
    assert torch.equal(straight_state["rng"]["generator"], state["rng"]["generator"])


def test_runs_that_differ_only_in_step_2_start_from_one_step_1_run():
    """What jobs/reproduce.py relies on to train the orthogonality reproduction's shared step 1 once."""
    spec = get_method("disentangled_ssl")
    lam0, lam1 = (spec.load_config([*TINY, f"lam={lam}", "lr_step2=3e-3"]) for lam in (0.0, 1.0))
    method, step1 = lam1.prefix_run()
    assert lam0.prefix_run() == (method, step1) and step1.epochs == 2 and step1.prefix_run() is None
    _, prefix_state = train_tiny(["epochs=2"])
    assert spec.load_config([*TINY, "epochs=2"]) == step1
    _, straight = train_tiny(["lam=1.0", "lr_step2=3e-3"])
    trainer = spec.make_trainer(lam1)
    trainer.load_prefix_state(prefix_state)
    while not trainer.done:
        trainer.fit_epoch()
    state = trainer.state_dict()
    for part in ("step1", "step2"):
        for key, value in straight[part].items():
            assert torch.equal(value, state[part][key]), (part, key)
    assert torch.equal(straight["rng"]["generator"], state["rng"]["generator"])


def test_seed_changes_the_run_and_the_same_seed_repeats_it():
    a, _ = train_tiny(["epochs=1", "step1_epochs=1"])
    b, _ = train_tiny(["epochs=1", "step1_epochs=1"])
    c, _ = train_tiny(["epochs=1", "step1_epochs=1", "seed=5"])
    assert a[0]["loss"] == b[0]["loss"] != c[0]["loss"]
