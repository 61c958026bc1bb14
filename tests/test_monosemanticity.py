"""NCL, the top-k SAE and the monosemanticity measures (Zhang et al., 2024), on cases computed by hand."""
import math

import pytest
import torch
import torch.nn.functional as F

from shared.methods.ssl.ncl import activation_loss, rep_relu
from shared.metrics import (
    active_dims,
    effective_rank,
    nonneg_ratio,
    random_sparse_like,
    semantic_consistency,
    semantic_consistency_control,
    sparsity,
    symmetric_label_noise,
)
from shared.models.sae import TopKSAE, normalized_mse
from tests.helpers import tiny
from tests.test_care import train


def test_feature_statistics_by_hand():
    z = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.5, 3.0, 0.0], [0.0, 0.0, -1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert nonneg_ratio(z) == pytest.approx(11 / 12)
    assert sparsity(z) == pytest.approx(7 / 12)
    assert active_dims(z) == 3
    # dim 0 fires for labels (0, 0, 1): 2/3; dim 1 for (1): 1; dim 2 for (1): 1
    assert semantic_consistency(z, labels) == pytest.approx((2 / 3 + 1 + 1) / 3)


def test_random_sparse_control_keeps_each_samples_number_of_non_zeros():
    z = torch.tensor([[1.0, 0.0, 0.0, -2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.5, 0.0]])
    generator = torch.Generator().manual_seed(0)
    codes = [random_sparse_like(z, generator) for _ in range(20)]
    for code in codes:
        assert code.shape == z.shape and (code >= 0).all()
        assert (code > 0).sum(dim=1).tolist() == [2, 0, 4, 1]
    assert len({tuple(code[0].nonzero().flatten().tolist()) for code in codes}) > 1  # positions are drawn anew


def test_semantic_consistency_control_by_hand():
    labels = torch.tensor([0, 0, 0, 1])
    # a dense code: every dimension fires for every sample, so the control is the largest class's share, exactly
    assert semantic_consistency_control(torch.ones(4, 3), labels) == pytest.approx(3 / 4)
    # one dimension: whatever the positions, it fires for every active sample
    assert semantic_consistency_control(torch.tensor([[1.0], [1.0], [0.0], [1.0]]), labels) == pytest.approx(2 / 3)
    # a perfectly monosemantic one-hot code of two balanced classes over 4 dimensions scores 1; random one-hot codes
    # put about 250 samples of both classes on each dimension: about 0.5 (plus the chance excess of the larger class)
    labels = torch.arange(1000) % 2
    monosemantic = F.one_hot(labels * 2 + (torch.arange(1000) // 2) % 2, 4).float()
    assert semantic_consistency(monosemantic, labels) == 1.0
    control = semantic_consistency_control(monosemantic, labels)
    assert 0.5 < control < 0.56


def test_effective_rank_counts_equal_singular_values():
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=torch.Generator().manual_seed(0)))
    assert effective_rank(q[:, :5] * 3.0) == pytest.approx(5.0, rel=1e-4)
    assert effective_rank(torch.outer(torch.ones(20), torch.ones(7))) == pytest.approx(1.0, rel=1e-4)


def test_symmetric_label_noise_changes_exactly_the_share_asked_to_other_classes():
    labels = torch.arange(6).repeat(1000)
    noisy = symmetric_label_noise(labels, 0.6, 6, torch.Generator().manual_seed(0))
    changed = noisy != labels
    assert changed.sum().item() == 3600
    offsets = ((noisy - labels) % 6)[changed]
    counts = torch.bincount(offsets, minlength=6)
    assert counts[0] == 0 and counts[1:].min() > 0.85 * 720  # every other class about equally likely


def test_topk_sae_codes_are_k_sparse_non_negative_and_tied_decoder_is_the_transpose():
    sae = TopKSAE(dim=6, width=10, k=3)
    x = torch.randn(8, 6)
    code, recon = sae(x)
    assert ((code > 0).sum(dim=1) <= 3).all() and (code >= 0).all()
    assert torch.allclose(recon, sae.decoder(code) + sae.pre_bias)
    tied = TopKSAE(dim=6, width=10, k=3, tied=True)
    code = tied.encode(x)
    assert torch.allclose(tied.decode(code), code @ tied.encoder.weight + tied.pre_bias)
    with pytest.raises(ValueError, match="k=11"):
        TopKSAE(dim=6, width=10, k=11)


def test_normalized_mse_by_hand():
    x = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    x_hat = torch.tensor([[3.0, 3.0], [0.0, 0.0]])
    assert normalized_mse(x_hat, x).item() == pytest.approx((1 / 25 + 1 / 1) / 2)


def test_activation_loss_and_straight_through_relu():
    z = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]])
    # normalised rows: (0.6, 0.8, 0), (0, 0, 1); mean |.| per dim: 0.3, 0.4, 0.5; mean over dims: 0.4
    assert activation_loss(z).item() == pytest.approx(-0.4)
    x = torch.tensor([-1.0, 0.5], requires_grad=True)
    y = rep_relu(x)
    assert torch.equal(y, F.relu(x.detach()))
    y.sum().backward()
    gelu_grad = [0.5 * (1 + math.erf(v / math.sqrt(2))) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)
                 for v in (-1.0, 0.5)]
    assert x.grad.tolist() == pytest.approx(gelu_grad, rel=1e-5)


def test_ncl_codes_are_non_negative():
    from shared.registry import get_method

    spec = get_method("ncl")
    cfg = spec.load_config(tiny("epochs=1", method="simclr"))
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()
    z = trainer.artifact().features(trainer.data.test, "test", "projection")
    assert nonneg_ratio(z) == 1.0


def test_sae_probe_trains_simclrs_encoder_then_only_the_sae():
    sae_hist, sae_state = train("sae_probe", tiny("epochs=3", "encoder_epochs=2", "sae_width=32", "sae_k=4",
                                                   method="simclr"))
    simclr_hist, simclr_state = train("simclr", tiny("epochs=2", method="simclr"))
    assert [h["loss"] for h in sae_hist[:2]] == [h["loss"] for h in simclr_hist]
    for key, value in simclr_state["model"].items():  # the SAE phase leaves the encoder untouched
        assert torch.equal(value, sae_state["model"][key]), key
    assert "sae_nmse" in sae_hist[2] and sae_state["epoch"] == 3


def test_sae_probe_started_from_simclrs_final_state_is_the_full_run():
    """What jobs/reproduce.py relies on to train the monosemanticity reproduction's shared encoder once."""
    from shared.registry import get_method

    sae_items = tiny("epochs=3", "encoder_epochs=2", "sae_width=32", "sae_k=4", "eval.feature=projection",
                     method="simclr")
    spec = get_method("sae_probe")
    cfg = spec.load_config(sae_items)
    _, full_state = train("sae_probe", sae_items)
    method, simclr_cfg = cfg.prefix_run()
    assert method == "simclr" and simclr_cfg == get_method("simclr").load_config(
        tiny("epochs=2", "eval.feature=projection", method="simclr"))
    _, simclr_state = train("simclr", tiny("epochs=2", "eval.feature=projection", method="simclr"))
    trainer = spec.make_trainer(cfg)
    trainer.load_prefix_state(simclr_state)
    trainer.fit_epoch()
    assert trainer.done
    state = trainer.state_dict()
    for part in ("model", "sae"):
        for key, value in full_state[part].items():
            assert torch.equal(value, state[part][key]), (part, key)
    assert torch.equal(full_state["rng"]["generator"], state["rng"]["generator"])
    assert spec.load_config([*sae_items, "optim.schedule=cosine"]).prefix_run() is None  # decays over all epochs
