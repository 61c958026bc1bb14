"""Unit tests of shared.data: generators, colour maths, and the real-set loaders on tiny fake files."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import shared.data as data
from shared.data import (
    DATASETS,
    DataConfig,
    DatasetNotFoundError,
    check_dataset,
    hsv_to_rgb,
    hue_bin,
    hue_shift,
    image_hue,
    load_dataset,
    real,
    rgb_to_hsv,
    shapes,
)
from shared.data.registry import dataset_names


def circular_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = (a - b).abs() % 1.0
    return torch.minimum(d, 1.0 - d)


def assert_splits_equal(a: data.ImageSplit, b: data.ImageSplit) -> None:
    assert torch.equal(a.images, b.images)
    assert torch.equal(a.labels, b.labels)
    assert a.factors.keys() == b.factors.keys()
    for key in a.factors:
        assert torch.equal(a.factors[key], b.factors[key]), key


def assert_common_contract(ds: data.ImageDataset, size: int, bins: int) -> None:
    for split in (ds.train, ds.test):
        n = len(split)
        assert split.images.dtype == torch.uint8 and split.images.shape == (n, 3, size, size)
        assert split.labels.dtype == torch.int64 and split.labels.shape == (n,)
        assert 0 <= int(split.labels.min()) and int(split.labels.max()) < ds.num_classes
        hue = split.factors["hue"]
        assert hue.dtype == torch.float32 and hue.shape == (n,)
        assert float(hue.min()) >= 0.0 and float(hue.max()) < 1.0
        assert torch.equal(split.factors["hue_bin"], hue_bin(hue, bins))
        assert split.factors["hue_bin"].dtype == torch.int64
    assert ds.hue_bins == bins


# ----------------------------------------------------------------------------------------------------
# config checks


def test_registry_names():
    assert set(dataset_names("image")) == {"shapes", "digits", "cifar10", "stl10", "image_folder", "arrays"}
    assert set(dataset_names("graph")) == {"zinc_like", "zinc", "cycles", "grid_filter", "tu", "pyg_file",
                                         "planted_motifs", "sbm_homophily"}
    assert set(DATASETS) == set(dataset_names())


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match=r"^data\.name:") as err:
        check_dataset(DataConfig(name="imagenet"))
    for name in dataset_names("image"):
        assert name in str(err.value)


@pytest.mark.parametrize(
    "key,value",
    [("n_train", 0), ("n_train", -2), ("n_test", 0), ("image_size", 4), ("hue_bins", 1)],
)
def test_bad_sizes_name_the_key(key, value):
    with pytest.raises(ValueError, match=rf"^data\.{key}:"):
        check_dataset(DataConfig(**{key: value}))


def test_generated_set_has_no_all():
    with pytest.raises(ValueError, match=r"^data\.n_train:"):
        check_dataset(DataConfig(name="shapes", n_train=-1))


def test_digits_sizes_checked():
    with pytest.raises(ValueError, match=r"^data\.n_train:"):
        check_dataset(DataConfig(name="digits", n_train=4096, n_test=100))
    with pytest.raises(ValueError, match=r"^data\.n_test:"):
        check_dataset(DataConfig(name="digits", n_train=-1, n_test=-1))
    check_dataset(DataConfig(name="digits", n_train=-1, n_test=360))


def test_check_dataset_does_not_load(monkeypatch, tmp_path):
    def boom(*args, **kwargs):
        raise AssertionError("check_dataset loaded data")

    monkeypatch.setattr(shapes, "load", boom)
    monkeypatch.setattr("sklearn.datasets.load_digits", boom)
    monkeypatch.setattr(real, "_unpickle", boom)
    monkeypatch.setattr(real, "_stl10_images", boom)
    check_dataset(DataConfig(name="shapes"))
    check_dataset(DataConfig(name="digits", n_train=100, n_test=100))
    # empty placeholder files: present, so the check passes, though reading them would fail
    for folder, files in ((real.CIFAR10_DIR, real.CIFAR10_FILES), (real.STL10_DIR, real.STL10_FILES)):
        (tmp_path / folder).mkdir()
        for f in files:
            (tmp_path / folder / f).touch()
    check_dataset(DataConfig(name="cifar10", root=str(tmp_path)))
    check_dataset(DataConfig(name="stl10", root=str(tmp_path)))


def test_omegaconf_schema():
    from omegaconf import OmegaConf
    from omegaconf.errors import ValidationError

    cfg = OmegaConf.merge(OmegaConf.structured(DataConfig), {"name": "digits", "n_train": -1, "n_test": 100})
    check_dataset(cfg)  # a DictConfig works wherever a DataConfig does
    with pytest.raises(ValidationError):
        OmegaConf.merge(OmegaConf.structured(DataConfig), {"n_train": "many"})


def test_package_import_is_lazy_and_ray_free():
    code = (
        "import sys, shared.data; "
        "assert 'ray' not in sys.modules; "
        "assert 'shared.data.shapes' not in sys.modules and 'sklearn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------------------------------
# colour maths


def test_hue_bin_hand_cases():
    hue = torch.tensor([0.0, 0.124, 0.125, 0.5, 0.874, 0.875, 0.999, 1.0, -0.1])
    assert hue_bin(hue, 8).tolist() == [0, 0, 1, 4, 6, 7, 7, 7, 0]
    assert hue_bin(torch.tensor([0.49, 0.5]), 2).tolist() == [0, 1]
    assert hue_bin(hue, 8).dtype == torch.int64


def test_rgb_hsv_round_trip():
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(hsv_to_rgb(*rgb_to_hsv(x)), x, atol=1e-5)


def test_rgb_to_hsv_primaries():
    rgb = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1], [0.5, 0.5, 0.5]])
    h, s, v = rgb_to_hsv(rgb.float().T.reshape(3, 7, 1))
    expected = torch.tensor([0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 0])
    assert torch.allclose(h.flatten(), expected, atol=1e-6)
    assert torch.allclose(s.flatten(), torch.tensor([1.0] * 6 + [0.0]))
    assert torch.allclose(v.flatten(), torch.tensor([1.0] * 6 + [0.5]))


def test_hue_shift_identities():
    x = torch.rand(5, 3, 7, 9, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(hue_shift(x, 0.0), x, atol=1e-5)
    assert torch.allclose(hue_shift(x, 1.0), x, atol=1e-5)
    assert torch.allclose(hue_shift(hue_shift(x, 0.3), -0.3), x, atol=1e-5)
    assert hue_shift(x, 0.3).shape == x.shape


def solid(rgb, n: int = 1, size: int = 4) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(n, 3, size, size).clone()


def test_hue_shift_third_maps_red_to_green_to_blue():
    red, green, blue = solid([1, 0, 0]), solid([0, 1, 0]), solid([0, 0, 1])
    assert torch.allclose(hue_shift(red, 1 / 3), green, atol=1e-5)
    assert torch.allclose(hue_shift(green, 1 / 3), blue, atol=1e-5)
    assert torch.allclose(hue_shift(blue, 1 / 3), red, atol=1e-5)


def test_hue_shift_per_image_delta():
    reds = solid([1, 0, 0], n=3)
    out = hue_shift(reds, torch.tensor([0.0, 1 / 3, 2 / 3]))
    assert torch.allclose(out, torch.cat([solid([1, 0, 0]), solid([0, 1, 0]), solid([0, 0, 1])]), atol=1e-5)


def test_hue_shift_preserves_grey():
    grey = torch.linspace(0, 1, 16).view(1, 1, 4, 4).expand(2, 3, 4, 4)
    assert torch.allclose(hue_shift(grey, 0.37), grey, atol=1e-6)
    assert torch.allclose(hue_shift(grey, torch.tensor([0.1, 0.8])), grey, atol=1e-6)


@pytest.mark.parametrize("hue", [0.0, 1 / 6, 1 / 3, 0.45, 2 / 3, 5 / 6, 0.97])
def test_image_hue_of_pure_colour(hue):
    one = torch.ones(1, 8, 8)
    img = hsv_to_rgb(torch.full((1, 8, 8), hue), one, one)
    img[:, :, :, :4] = 0.3  # half the image grey: weight s*v = 0, must not move the hue
    got = image_hue(torch.round(img * 255).to(torch.uint8))
    assert got.shape == (1,) and got.dtype == torch.float32
    assert 0.0 <= float(got) < 1.0
    assert float(circular_distance(got, torch.tensor([hue]))) < 1e-3


def test_image_hue_is_a_circular_mean():
    one = torch.ones(1, 8, 8)
    img = hsv_to_rgb(torch.full((1, 8, 8), 0.95), one, one)
    img[:, :, :, :4] = hsv_to_rgb(torch.full((1, 8, 4), 0.05), one[:, :, :4], one[:, :, :4])
    got = image_hue(torch.round(img * 255).to(torch.uint8))
    assert float(circular_distance(got, torch.tensor([0.0]))) < 1e-3  # not 0.5, the linear mean


# ----------------------------------------------------------------------------------------------------
# shapes


SMALL_SHAPES = DataConfig(name="shapes", n_train=96, n_test=48, image_size=32, seed=3, hue_bins=6)


def test_shapes_contract_and_factor_ranges():
    ds = load_dataset(SMALL_SHAPES)
    assert ds.name == "shapes" and ds.class_names == shapes.CLASS_NAMES and ds.num_classes >= 4
    assert len(ds.train) == 96 and len(ds.test) == 48
    assert_common_contract(ds, 32, 6)
    f = ds.train.factors
    for key in ("rotation", "pos_x", "pos_y", "scale", "sat", "val"):
        assert f[key].dtype == torch.float32 and f[key].shape == (96,)
    assert 0 <= float(f["rotation"].min()) and float(f["rotation"].max()) < 2 * math.pi
    jitter, (lo, hi) = shapes.POS_JITTER, shapes.SCALE_RANGE
    for key in ("pos_x", "pos_y"):
        assert 0.5 - jitter <= float(f[key].min()) and float(f[key].max()) <= 0.5 + jitter
    assert lo <= float(f["scale"].min()) and float(f["scale"].max()) <= hi


def test_shapes_deterministic_per_seed():
    a, b = load_dataset(SMALL_SHAPES), load_dataset(SMALL_SHAPES)
    assert_splits_equal(a.train, b.train)
    assert_splits_equal(a.test, b.test)
    c = load_dataset(DataConfig(**{**SMALL_SHAPES.__dict__, "seed": 4}))
    assert not torch.equal(a.train.images, c.train.images)
    assert not torch.equal(a.train.factors["hue"], c.train.factors["hue"])


def test_shapes_test_split_independent_of_train_size():
    a = load_dataset(SMALL_SHAPES)
    b = load_dataset(DataConfig(**{**SMALL_SHAPES.__dict__, "n_train": 10}))
    assert_splits_equal(a.test, b.test)
    assert not set(a.train.factors["hue"].tolist()) & set(a.test.factors["hue"].tolist())


def test_shapes_image_size_other_than_32():
    ds = load_dataset(DataConfig(name="shapes", n_train=8, n_test=8, image_size=17))
    assert ds.train.images.shape == (8, 3, 17, 17)


def test_shapes_drawn_colour_is_the_hue_factor():
    split = load_dataset(SMALL_SHAPES).train
    assert float(circular_distance(image_hue(split.images), split.factors["hue"]).max()) < 0.01


def test_shapes_visible_and_inside_the_frame():
    images = load_dataset(SMALL_SHAPES).train.images.int()
    chroma = images.max(1).values - images.min(1).values  # grey background has ~0 chroma
    coloured = (chroma > 60).flatten(1).sum(1)
    assert int(coloured.min()) >= 40  # every shape covers a clearly visible patch of a 32x32 image
    border = torch.cat([chroma[:, 0], chroma[:, -1], chroma[:, :, 0], chroma[:, :, -1]], dim=1)
    assert int(border.max()) <= 10  # and no shape touches the edge


def test_shapes_hue_independent_of_class():
    cfg = DataConfig(name="shapes", n_train=2400, n_test=8, image_size=16, seed=0, hue_bins=4)
    split = load_dataset(cfg).train
    table = np.zeros((len(shapes.CLASS_NAMES), 4))
    np.add.at(table, (split.labels.numpy(), split.factors["hue_bin"].numpy()), 1)
    assert table.min() > 0
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2 = ((table - expected) ** 2 / expected).sum()
    assert chi2 < 37.7  # 99.9% quantile of chi-square with (6-1)*(4-1) = 15 dof
    # and hue is roughly uniform within each class, classes roughly balanced
    assert (table / table.sum(1, keepdims=True)).min() > 0.15
    assert table.sum(1).min() > 0.7 * 2400 / len(shapes.CLASS_NAMES)


def test_hue_shift_moves_image_hue():
    split = load_dataset(SMALL_SHAPES).test
    delta = torch.linspace(0, 0.9, len(split))
    shifted = hue_shift(split.images.float() / 255, delta)
    got = image_hue(torch.round(shifted * 255).to(torch.uint8))
    assert float(circular_distance(got, split.factors["hue"] + delta).max()) < 0.01


# ----------------------------------------------------------------------------------------------------
# digits


def test_digits_contract_labels_and_colour():
    from sklearn.datasets import load_digits

    ref = load_digits()
    cfg = DataConfig(name="digits", n_train=-1, n_test=300, image_size=8, seed=1, hue_bins=5)
    ds = load_dataset(cfg)
    assert ds.name == "digits" and ds.num_classes == 10
    assert len(ds.test) == 300 and len(ds.train) == 1797 - 300
    assert_common_contract(ds, 8, 5)
    idx = torch.cat([ds.train.factors["source_index"], ds.test.factors["source_index"]])
    assert sorted(idx.tolist()) == list(range(1797))  # disjoint and complete
    for split in (ds.train, ds.test):
        src = split.factors["source_index"].numpy()
        assert torch.equal(split.labels, torch.from_numpy(ref.target[src]).long())
        # at native size the brightest channel of HSV(h, 1, 1) * intensity is the intensity itself
        expected = torch.round(torch.from_numpy(ref.images[src]).float() / 16 * 255)
        assert torch.equal(split.images.max(1).values.float(), expected)
        assert float(circular_distance(image_hue(split.images), split.factors["hue"]).max()) < 0.01


def test_digits_deterministic_and_resized():
    cfg = DataConfig(name="digits", n_train=200, n_test=100, image_size=32, seed=0)
    a, b = load_dataset(cfg), load_dataset(cfg)
    assert_splits_equal(a.train, b.train)
    assert_splits_equal(a.test, b.test)
    assert a.train.images.shape == (200, 3, 32, 32)
    c = load_dataset(DataConfig(**{**cfg.__dict__, "seed": 1}))
    assert not torch.equal(a.train.factors["source_index"], c.train.factors["source_index"])
    assert not torch.equal(a.train.images, c.train.images)


# ----------------------------------------------------------------------------------------------------
# real sets on tiny fake files in the real on-disk formats

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_fake_cifar(root, per_batch: int = 4, n_test: int = 10):
    """Five train batches and a test batch as torchvision's cifar-10-batches-py pickles."""
    base = root / real.CIFAR10_DIR
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(name, n):
        d = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, size=n).tolist()
        with open(base / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": y, b"data": d, b"filenames": []}, f)
        return d.reshape(n, 3, 32, 32), np.array(y)

    train = [batch(f"data_batch_{i}", per_batch) for i in range(1, 6)]
    test = batch("test_batch", n_test)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in CIFAR_NAMES], b"num_cases_per_batch": per_batch}, f)
    train_x = np.concatenate([x for x, _ in train])
    train_y = np.concatenate([y for _, y in train])
    train = (torch.from_numpy(train_x), torch.from_numpy(train_y))
    return train, (torch.from_numpy(test[0]), torch.from_numpy(test[1]))


def write_fake_stl10(root, n_train: int = 20, n_test: int = 12):
    """STL-10 binaries: uint8 images 3x96x96 stored column-major, labels 1..10."""
    base = root / real.STL10_DIR
    base.mkdir(parents=True)
    rng = np.random.default_rng(1)
    out = []
    for prefix, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(n, 3, 96, 96), dtype=np.uint8)  # row-major (C, H, W)
        y = rng.integers(1, 11, size=n).astype(np.uint8)
        x.transpose(0, 1, 3, 2).tofile(base / f"{prefix}_X.bin")  # what the real files hold
        y.tofile(base / f"{prefix}_y.bin")
        out.append((torch.from_numpy(x), torch.from_numpy(y.astype(np.int64) - 1)))
    (base / "class_names.txt").write_text("\n".join(CIFAR_NAMES[:10]) + "\n")
    return out


def assert_matches_source(split: data.ImageSplit, source_x: torch.Tensor, source_y: torch.Tensor) -> None:
    idx = split.factors["source_index"]
    assert len(set(idx.tolist())) == len(idx)
    assert torch.equal(split.images, source_x[idx])
    assert torch.equal(split.labels, source_y[idx])
    assert torch.allclose(split.factors["hue"], image_hue(split.images))


def test_cifar10_loads_all(tmp_path):
    (train_x, train_y), (test_x, test_y) = write_fake_cifar(tmp_path)
    ds = load_dataset(DataConfig(name="cifar10", root=str(tmp_path), n_train=-1, n_test=-1))
    assert ds.class_names == CIFAR_NAMES and ds.num_classes == 10
    assert len(ds.train) == 20 and len(ds.test) == 10
    assert_common_contract(ds, 32, 8)
    assert_matches_source(ds.train, train_x, train_y)
    assert_matches_source(ds.test, test_x, test_y)


def test_cifar10_subset_resize_and_determinism(tmp_path):
    write_fake_cifar(tmp_path)
    cfg = DataConfig(name="cifar10", root=str(tmp_path), n_train=7, n_test=3, image_size=16, seed=5)
    a, b = load_dataset(cfg), load_dataset(cfg)
    assert a.train.images.shape == (7, 3, 16, 16) and a.test.images.shape == (3, 3, 16, 16)
    assert_splits_equal(a.train, b.train)
    c = load_dataset(DataConfig(**{**cfg.__dict__, "seed": 6}))
    assert not torch.equal(a.train.factors["source_index"], c.train.factors["source_index"])
    with pytest.raises(ValueError, match=r"^data\.n_train:"):
        load_dataset(DataConfig(**{**cfg.__dict__, "n_train": 21}))


def test_stl10_loads_column_major(tmp_path):
    (train_x, train_y), (test_x, test_y) = write_fake_stl10(tmp_path)
    ds = load_dataset(DataConfig(name="stl10", root=str(tmp_path), n_train=-1, n_test=-1, image_size=96))
    assert ds.class_names == CIFAR_NAMES and len(ds.train) == 20 and len(ds.test) == 12
    assert_common_contract(ds, 96, 8)
    assert_matches_source(ds.train, train_x, train_y)
    assert_matches_source(ds.test, test_x, test_y)


def test_stl10_subset_and_resize(tmp_path):
    (train_x, _), _ = write_fake_stl10(tmp_path)
    ds = load_dataset(DataConfig(name="stl10", root=str(tmp_path), n_train=5, n_test=4, image_size=32))
    assert ds.train.images.shape == (5, 3, 32, 32) and ds.test.images.shape == (4, 3, 32, 32)
    src = train_x[ds.train.factors["source_index"]].float()
    # antialiased shrinking averages: each output pixel is the mean of its 3x3 input block (interior)
    block_mean = torch.nn.functional.avg_pool2d(src, 3)
    diff = (ds.train.images.float() - block_mean)[:, :, 2:-2, 2:-2].abs()
    assert float(diff.mean()) < 30  # random pixels: bilinear taps differ from a box, but not by much
    assert float((ds.train.images.float().mean((1, 2, 3)) - src.mean((1, 2, 3))).abs().max()) < 3


def test_resize_is_identity_at_native_size_and_keeps_flat_colour():
    flat = torch.full((2, 3, 96, 96), 77, dtype=torch.uint8)
    assert real.resize(flat, 96) is flat
    assert torch.equal(real.resize(flat, 32), torch.full((2, 3, 32, 32), 77, dtype=torch.uint8))


CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
STL_URL = "https://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"


@pytest.mark.parametrize(
    "name,folder,first,url",
    [
        ("cifar10", "cifar-10-batches-py", "data_batch_1", CIFAR_URL),
        ("stl10", "stl10_binary", "train_X.bin", STL_URL),
    ],
)
def test_missing_real_data_says_what_to_download(tmp_path, name, folder, first, url):
    with pytest.raises(DatasetNotFoundError) as err:
        check_dataset(DataConfig(name=name, root=None))
    assert url in str(err.value) and f"{folder}/{first}" in str(err.value) and "data.root" in str(err.value)
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset(DataConfig(name=name, root=str(tmp_path)))
    assert url in str(err.value) and str(tmp_path / folder / first) in str(err.value)
    assert isinstance(err.value, FileNotFoundError)
