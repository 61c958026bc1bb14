"""E-SSL's pretext transformations and training modes (Wang et al., NeurIPS 2024)."""
import pytest
import torch

from shared.methods.ssl.essl import GradientReversal
from shared.pretext import JIGSAW_PERMUTATIONS, TASKS, apply_transform, jigsaw, random_labels
from shared.registry import get_method

TINY = ["epochs=1", "batch_size=32", "model.width=4", "head_hidden=16", "data.n_train=64", "data.n_test=40",
        "eval.knn_k=10", "eval.equiv_pairs=1", "threads=1"]


def images(n: int = 6, size: int = 8) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_rotation_label_is_the_quarter_turns_applied():
    x = images()
    labels = torch.tensor([0, 1, 2, 3, 1, 2])
    out = apply_transform("rotation", x, labels)
    for i, k in enumerate(labels.tolist()):
        assert torch.equal(torch.rot90(out[i], -k, dims=(-2, -1)), x[i])
    assert torch.equal(out[1][:, 0, :], x[1][:, :, -1])  # 90 degrees counter-clockwise: top row was the right column


@pytest.mark.parametrize("task", ["hflip", "vflip", "invert"])
def test_involutions_undo_themselves_and_label_zero_is_identity(task):
    x = images()
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    twice = apply_transform(task, apply_transform(task, x, labels), labels)
    assert torch.allclose(twice, x, atol=1e-6)
    once = apply_transform(task, x, labels)
    assert torch.equal(once[labels == 0], x[labels == 0]) and not torch.allclose(once[labels == 1], x[labels == 1])


def test_grayscale_and_blur_levels():
    x = images(4, 32)
    gray = apply_transform("grayscale", x, torch.tensor([1, 1, 0, 0]))
    assert torch.equal(gray[:2, 0], gray[:2, 1]) and torch.equal(gray[2:], x[2:])
    blurred = apply_transform("blur", x, torch.tensor([0, 1, 2, 3]))
    assert torch.equal(blurred[0], x[0])
    roughness = [(b[..., 1:] - b[..., :-1]).abs().mean().item() for b in blurred[1:]]
    assert roughness[0] > roughness[1] > roughness[2]  # larger kernels smooth more


def test_jigsaw_permutations_are_24_distinct_and_invertible():
    assert len(set(JIGSAW_PERMUTATIONS)) == 24 == TASKS["jigsaw"]
    x = images(1)
    outs = {tuple(jigsaw(x, p).flatten().tolist()) for p in JIGSAW_PERMUTATIONS}
    assert len(outs) == 24
    for p in JIGSAW_PERMUTATIONS:
        inverse = tuple(sorted(range(4), key=lambda i: p[i]))
        assert torch.equal(jigsaw(jigsaw(x, p), inverse), x)
    tl = jigsaw(x, (3, 0, 1, 2))[..., :4, :4]
    assert torch.equal(tl, x[..., 4:, 4:])  # top-left quadrant of the output is the input's bottom-right


@pytest.mark.parametrize("task", list(TASKS))
def test_labels_are_uniform(task):
    n, k = 24000, TASKS[task]
    counts = torch.bincount(random_labels(task, n, torch.Generator().manual_seed(1)), minlength=k).float()
    assert counts.min() > 0.85 * n / k and counts.max() < 1.15 * n / k


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.randn(3, 4, requires_grad=True)
    GradientReversal.apply(x, 0.5).sum().backward()
    assert torch.equal(x.grad, torch.full((3, 4), -0.5))


def grads(trainer, batch):
    trainer.model.zero_grad()
    loss, _ = trainer.loss(batch)
    loss.backward()
    return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}


def test_eliminate_reverses_only_the_encoders_share_of_the_class_gradient():
    """Encoder: grad(CE_rot) - lam grad(CE_cls); classifier: grad(CE_cls). Checked against add with lam=1
    (grad CE_rot + grad CE_cls) and normal (grad CE_rot) from the same state and the same random draws."""
    spec = get_method("essl")
    out = {}
    for mode, lam in (("normal", 1.0), ("add", 1.0), ("eliminate", 0.5)):
        trainer = spec.make_trainer(spec.load_config([*TINY, f"mode={mode}", f"lam={lam}"]))
        trainer.model.eval()  # BN in eval mode: the three passes see identical statistics
        out[mode] = grads(trainer, next(iter(trainer.batches())))
    for name, g in out["eliminate"].items():
        if name.startswith("classifier"):
            assert torch.allclose(g, out["add"][name], atol=1e-6), name
        elif name.startswith("backbone"):
            class_part = out["add"][name] - out["normal"][name]
            assert torch.allclose(g, out["normal"][name] - 0.5 * class_part, atol=1e-5), name


def test_random_init_baseline_trains_no_weight_but_sets_batchnorm_statistics():
    spec = get_method("essl")
    trainer = spec.make_trainer(spec.load_config([*TINY, "pretrain=false"]))
    before = {k: v.clone() for k, v in trainer.model.named_parameters()}
    trainer.fit_epoch()
    assert all(torch.equal(v, dict(trainer.model.named_parameters())[k]) for k, v in before.items())
    # the first BatchNorm's running mean is the mean of its input over the train batches (not its initial 0)
    first_conv, first_norm = trainer.model.backbone.features[0][0], trainer.model.backbone.features[0][1]
    with torch.no_grad():
        inputs = torch.cat([first_conv(trainer.augment.normalize(x)) for x, _ in trainer.batches()])
    assert first_norm.momentum == 0.1
    # to float32 rounding: channels-last batch norm sums 65,536 values per channel in its own order (3e-5 here)
    assert torch.allclose(first_norm.running_mean, inputs.mean(dim=(0, 2, 3)), atol=1e-4)


def test_shuffled_class_control_keeps_each_images_label_fixed_but_meaningless():
    spec = get_method("essl")
    true = spec.make_trainer(spec.load_config([*TINY, "mode=eliminate"]))
    control = spec.make_trainer(spec.load_config([*TINY, "mode=eliminate", "shuffle_classes=true"]))
    assert torch.equal(true.class_labels, true.data.train.labels)
    assert torch.equal(control.class_labels.sort().values, true.data.train.labels.sort().values)  # same label counts
    assert (control.class_labels != true.data.train.labels).float().mean() > 0.5
    again = spec.make_trainer(spec.load_config([*TINY, "mode=eliminate", "shuffle_classes=true"]))
    assert torch.equal(again.class_labels, control.class_labels)  # drawn once from the seed


def test_training_reports_transform_accuracy_and_evaluators_add_it():
    spec = get_method("essl")
    cfg = spec.load_config([*TINY, "task=jigsaw"])
    trainer = spec.make_trainer(cfg)
    assert trainer.model.head[-1].out_features == 24
    hist = trainer.fit_epoch()
    assert 0.0 <= hist["transform_acc"] <= 1.0 and hist["transform_ce"] > 0
    metrics = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert {"transform_acc", "linear_probe_acc", "equiv_error"} <= set(metrics)
