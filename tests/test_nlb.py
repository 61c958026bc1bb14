"""No-label backdoors (Wang et al., arXiv 2404.06694), a robustness measure: the selection rules, the purity
(TPR), the trigger and the two-phase trainer's exact resume, on cases small enough to check by hand."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from shared.checkpoint import load_trainer, save_checkpoint
from shared.poison import (
    add_checkerboard,
    clustering_selection,
    contrastive_scores,
    contrastive_selection,
    majority_label,
    purity,
    random_selection,
    trigger_box,
)
from shared.registry import get_method
from tests.helpers import tiny


def spread(n: int, d: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def with_tight_cluster(n_rest: int = 60, m: int = 8, d: int = 16, seed: int = 0) -> tuple[torch.Tensor, set[int]]:
    """n_rest points spread over the sphere and m points within a small cap around e_0, shuffled."""
    g = torch.Generator().manual_seed(seed)
    rest = spread(n_rest, d, seed + 1)
    centre = torch.zeros(d)
    centre[0] = 1.0
    cluster = F.normalize(centre + 0.05 * torch.randn(m, d, generator=g), dim=1)
    order = torch.randperm(n_rest + m, generator=g)
    features = torch.cat([rest, cluster])[order]
    return features, {i for i, src in enumerate(order.tolist()) if src >= n_rest}


def test_contrastive_selection_returns_m_unique_ids_with_the_best_anchor_first():
    features = spread(50, 8, seed=0)
    for m in (1, 7, 25):
        chosen = contrastive_selection(features, m)
        assert chosen.shape == (m,) and chosen.dtype == torch.int64
        assert len(set(chosen.tolist())) == m
        assert chosen[0].item() == int(contrastive_scores(features, m).argmax())


def test_contrastive_selection_includes_the_anchor_even_among_duplicates():
    features = torch.cat([spread(10, 4, seed=1), spread(1, 4, seed=2).repeat(6, 1)])  # rows 10..15 identical
    chosen = contrastive_selection(features, 3)
    anchor = int(contrastive_scores(features, 3).argmax())
    assert anchor in chosen.tolist() and len(set(chosen.tolist())) == 3


def test_contrastive_selection_finds_the_tight_well_separated_cluster():
    for seed in range(3):
        features, cluster = with_tight_cluster(seed=seed)
        assert set(contrastive_selection(features, len(cluster)).tolist()) == cluster


def test_contrastive_scores_by_hand():
    # three unit vectors: e0, e0 (a duplicate) and e1. Sorted similarities: row 0: (1, 1, 0), row 2: (1, 0, 0)
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # m = 1: first term s(1), second term s(2)
    assert contrastive_scores(features, 1).tolist() == pytest.approx([1 - 1, 1 - 1, 1 - 0])
    assert contrastive_selection(features, 1).tolist() == [2]


def test_contrastive_scores_are_invariant_to_rescaling_the_features():
    features, cluster = with_tight_cluster(seed=4)
    scale = torch.rand(features.shape[0], 1, generator=torch.Generator().manual_seed(5)) * 100 + 0.01
    assert torch.allclose(contrastive_scores(features * scale, 8), contrastive_scores(features, 8), atol=1e-5)
    assert torch.equal(contrastive_selection(features * scale, 8), contrastive_selection(features, 8))
    assert torch.allclose(contrastive_scores(features, 8, chunk=7), contrastive_scores(features, 8), atol=1e-6)


def test_contrastive_selection_rejects_sizes_it_cannot_score():
    with pytest.raises(ValueError, match="2 \\* m"):
        contrastive_selection(spread(10, 3, seed=0), 6)
    with pytest.raises(ValueError, match=">= 1"):
        contrastive_selection(spread(10, 3, seed=0), 0)


def clusters(sizes: list[int], d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Well separated clusters around orthogonal axes, members interleaved in data order."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.full((s,), k) for k, s in enumerate(sizes)])
    labels = labels[torch.randperm(labels.shape[0], generator=g)]
    features = F.one_hot(labels, d).float() + 0.02 * torch.randn(labels.shape[0], d, generator=g)
    return features, labels


def test_clustering_selection_takes_the_smallest_cluster_with_enough_members():
    features, labels = clusters([30, 12, 20, 5])
    for m, expected in ((10, 1), (13, 2), (25, 0), (4, 3)):
        chosen = clustering_selection(features, m, n_clusters=4, seed=0)
        members = torch.nonzero(labels == expected).flatten()
        assert chosen.tolist() == members[:m].tolist(), m  # its first m members, in data order
    with pytest.raises(ValueError, match="no cluster"):
        clustering_selection(features, 31, n_clusters=4, seed=0)


def test_clustering_selection_is_seeded_and_reads_directions_only():
    features, _ = clusters([15, 25, 20], seed=3)
    a = clustering_selection(features, 12, n_clusters=3, seed=7)
    assert torch.equal(a, clustering_selection(features, 12, n_clusters=3, seed=7))
    assert torch.equal(a, clustering_selection(features * 3.0, 12, n_clusters=3, seed=7))


def test_random_selection_is_m_unique_ids_from_its_generator():
    a = random_selection(100, 30, torch.Generator().manual_seed(0))
    assert len(set(a.tolist())) == 30 and 0 <= a.min() and a.max() < 100
    assert torch.equal(a, random_selection(100, 30, torch.Generator().manual_seed(0)))
    assert not torch.equal(a, random_selection(100, 30, torch.Generator().manual_seed(1)))


def test_purity_by_hand():
    labels = torch.tensor([0, 0, 1, 2, 1, 1, 2])
    assert purity(torch.tensor([0, 2, 4, 5]), labels) == pytest.approx(3 / 4)  # labels 0, 1, 1, 1
    assert majority_label(torch.tensor([0, 2, 4, 5]), labels) == 1
    assert purity(torch.tensor([3, 6, 0]), labels) == pytest.approx(2 / 3)
    assert purity(torch.tensor([0, 3]), labels) == 0.5 and majority_label(torch.tensor([0, 3]), labels) == 0


def test_trigger_changes_exactly_the_centre_3x3_patch():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(1, 255, (4, 3, 32, 32), dtype=torch.uint8, generator=g)  # no pixel is 0 or 255
    out = add_checkerboard(images)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    changed = (out != images).any(dim=(0, 1))
    expected = torch.zeros(32, 32, dtype=torch.bool)
    expected[14:17, 14:17] = True  # the official centre pixel (15, 15)
    assert torch.equal(changed, expected)
    pattern = torch.tensor([[0, 0, 255], [0, 255, 0], [255, 0, 255]], dtype=torch.uint8)
    assert torch.equal(out[:, :, 14:17, 14:17], pattern.expand(4, 3, 3, 3))  # the same on R, G and B
    assert torch.equal(images, torch.randint(1, 255, (4, 3, 32, 32), dtype=torch.uint8,
                                             generator=torch.Generator().manual_seed(0)))  # input untouched


def test_trigger_on_float_images_odd_sizes_and_blending():
    x = torch.full((3, 9, 11), 0.5)
    rows, cols = trigger_box(9, 11)
    assert (rows, cols) == (slice(3, 6), slice(4, 7))
    out = add_checkerboard(x)
    assert torch.equal(out[:, rows, cols][0], torch.tensor([[0.0, 0, 1], [0, 1, 0], [1, 0, 1]]))
    mask = torch.zeros(9, 11, dtype=torch.bool)
    mask[rows, cols] = True
    assert torch.equal(out[:, ~mask], x[:, ~mask])
    half = add_checkerboard(torch.full((1, 3, 8, 8), 100, dtype=torch.uint8), alpha=0.5)
    assert sorted(set(half[0, 0, 2:5, 2:5].flatten().tolist())) == [50, 177]  # int(0.5*100 + 0.5*255) = 177


# -- the method -----------------------------------------------------------------------------------------------

def nlb(*extra: str) -> list[str]:
    return tiny("epochs=3", "surrogate_epochs=1", "batch_size=32", *extra, method="simclr")


def test_split_is_per_class_disjoint_and_fixed_across_trial_seeds():
    from shared.methods.ssl.nlb import load_nlb_data

    spec = get_method("nlb")
    data = load_nlb_data(spec.load_config(nlb()))
    other = load_nlb_data(spec.load_config(nlb("seed=5")))
    assert torch.equal(data.pretrain.images, other.pretrain.images)
    n_pre, n_down = len(data.pretrain), len(data.downstream)
    assert n_pre + n_down == 128
    for c in range(data.num_classes):
        total = int((data.pretrain.labels == c).sum() + (data.downstream.labels == c).sum())
        assert int((data.pretrain.labels == c).sum()) == int(0.9 * total)


@pytest.mark.parametrize("selection", ["contrastive", "clustering", "random"])
def test_selection_poisons_exactly_the_selected_pretraining_images(selection: str):
    spec = get_method("nlb")
    cfg = spec.load_config(nlb(f"selection={selection}", "epochs=1"))
    trainer = spec.make_trainer(cfg)
    assert trainer.artifact().poison_indices is None
    metrics = trainer.fit_epoch()
    assert trainer.done and "selection_time_s" in metrics
    idx = trainer.poison_indices
    m = int(0.6 * len(trainer.data.pretrain) / trainer.data.num_classes)
    assert idx.shape == (m,) and len(set(idx.tolist())) == m
    differs = (trainer.data.train.images != trainer.data.pretrain.images).flatten(1).any(1)
    assert set(torch.nonzero(differs).flatten().tolist()) == set(idx.tolist())
    assert torch.equal(trainer.data.train.labels, trainer.data.pretrain.labels)
    assert trainer.target_class == majority_label(idx, trainer.data.pretrain.labels)


def test_evaluators_before_and_after_the_selection():
    spec = get_method("nlb")
    cfg = spec.load_config(nlb("epochs=1"))
    trainer = spec.make_trainer(cfg)
    before = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert math.isnan(before["poison_purity"]) and math.isnan(before["attack_success_rate"])
    assert 0.0 <= before["clean_acc"] <= 1.0
    trainer.fit_epoch()
    out = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert set(out) == set(spec.metric_names()) - {"loss"}
    assert out["poison_purity"] == pytest.approx(purity(trainer.poison_indices, trainer.data.pretrain.labels))
    assert 0.0 <= out["clean_acc"] <= 1.0 and 0.0 <= out["attack_success_rate"] <= 1.0
    # evaluators that load the data themselves agree with those given the trainer's
    assert spec.evaluate(cfg, trainer.artifact()) == out


def test_victim_trains_from_scratch_with_its_own_schedule():
    spec = get_method("nlb")
    cfg = spec.load_config(nlb("optim.schedule=cosine", "epochs=3"))
    trainer = spec.make_trainer(cfg)
    steps = trainer.steps_per_epoch()
    trainer.global_step = steps - 1  # the surrogate's last step: its cosine is nearly at zero
    assert trainer.learning_rate() < 0.5 * cfg.optim.lr
    trainer.global_step = 0
    trainer.fit_epoch()
    surrogate = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.start_victim()
    fresh = trainer.model.state_dict()
    assert any(not torch.equal(surrogate[k], fresh[k]) for k in surrogate if k.endswith("weight"))
    assert trainer.learning_rate() == pytest.approx(cfg.optim.lr)  # the victim's cosine starts again


def test_victim_initialisation_is_no_trial_surrogate_initialisation():
    """The victim used to be seeded ``seed + 1``: trial 0's victim started from trial 1's surrogate weights."""
    from shared.methods.ssl.nlb import victim_seed

    spec = get_method("nlb")
    trainer = spec.make_trainer(spec.load_config(nlb("epochs=1")))
    trainer.start_victim()
    victim = trainer.model.state_dict()
    for other in (0, 1):  # its own surrogate, and the next trial's (the old collision)
        surrogate = spec.make_trainer(spec.load_config(nlb("epochs=1", f"seed={other}"))).model.state_dict()
        assert any(not torch.equal(victim[k], surrogate[k]) for k in victim if k.endswith("weight")), other
    seeds = [victim_seed(s) for s in range(1000)]
    assert len(set(seeds)) == 1000 and min(seeds) >= 1 << 63  # distinct, and above every plain trial seed
    assert seeds == [victim_seed(s) for s in range(1000)]  # deterministic (a resumed run draws the same)


def test_resume_is_exact_at_the_selection_and_inside_the_victim_phase(tmp_path: Path):
    spec = get_method("nlb")
    cfg = spec.load_config(nlb("epochs=3", "surrogate_epochs=1"))
    straight = spec.make_trainer(cfg)
    losses = [straight.fit_epoch()["loss"] for _ in range(3)]
    final = straight.state_dict()
    for stop in (1, 2):  # right after the selection (victim not started), then inside the victim phase
        first = spec.make_trainer(cfg)
        for _ in range(stop):
            first.fit_epoch()
        save_checkpoint(tmp_path / str(stop), spec, cfg, first)
        del first
        _, _, resumed = load_trainer(tmp_path / str(stop))  # weights_only load
        assert resumed.epoch == stop
        assert [resumed.fit_epoch()["loss"] for _ in range(3 - stop)] == losses[stop:]
        state = resumed.state_dict()
        assert torch.equal(state["poison_indices"], final["poison_indices"])
        assert torch.equal(resumed.data.train.images, straight.data.train.images)
        for key, value in final["model"].items():
            assert torch.equal(value, state["model"][key]), (stop, key)


@pytest.mark.parametrize("extra", [["selection=clustering"], ["selection=random", "poison_rate=0.3"]])
def test_a_run_started_from_the_shared_surrogate_is_the_full_run(extra: list[str]):
    """What jobs/reproduce.py relies on to train the selection reproduction's surrogate once per seed."""
    spec = get_method("nlb")
    cfg = spec.load_config(nlb(*extra))
    method, surrogate = cfg.prefix_run()
    assert method == "nlb" and surrogate == spec.load_config(nlb("epochs=1")) and surrogate.prefix_run() is None
    first = spec.make_trainer(surrogate)
    first.fit_epoch()  # trains the surrogate and makes the default (contrastive) selection
    started = spec.make_trainer(cfg)
    started.load_prefix_state(first.state_dict())
    assert started.epoch == 1 and started.poison_indices is not None
    straight = spec.make_trainer(cfg)
    straight.fit_epoch()
    assert torch.equal(started.poison_indices, straight.poison_indices)
    assert torch.equal(started.data.train.images, straight.data.train.images)
    losses = [started.fit_epoch()["loss"] for _ in range(2)]  # the victim phase
    assert losses == [straight.fit_epoch()["loss"] for _ in range(2)]
    for key, value in straight.state_dict()["model"].items():
        assert torch.equal(value, started.state_dict()["model"][key]), key
