"""Bring your own data: the data-set registry (one entry gives loading and checking), the config-only loaders
(image folders, .npz / Parquet arrays, TU and PyG files) on small sets written here, one real epoch of an existing
method on each, and registered-but-unavailable sets refused before Ray starts."""
from __future__ import annotations

import io
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from shared.config import ConfigError
from shared.data import DataConfig, DatasetNotFoundError, ImageDataset, check_dataset, hsv_to_rgb, load_dataset
from shared.data.registry import (
    DATASETS,
    DatasetEntry,
    DatasetUnavailableError,
    UnknownDatasetError,
    register_dataset,
    unregister_dataset,
)
from shared.registry import get_method
from tests.helpers import REPO, tiny

HUES = {"red": 0.0, "green": 1 / 3, "blue": 2 / 3}  # class -> the hue its images are painted


def painted(hue: float, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A uint8 (H, W, 3) image: a square of one colour on a grey, slightly noisy background."""
    colour = hsv_to_rgb(*(torch.tensor([[value]]) for value in (hue, 0.9, 0.9))).view(3).numpy()
    image = np.full((height, width, 3), 0.5, dtype=np.float32) + 0.02 * rng.standard_normal((height, width, 1))
    image[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = colour
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_image_folder(root, per_class: int = 6, classes=("red", "blue")) -> None:
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            (root / name / f"{i}.png").write_bytes(png_bytes(painted(HUES[name], 10 + i, 12, rng)))


def circular_distance(a: torch.Tensor, b: float) -> torch.Tensor:
    d = (a - b).abs() % 1.0
    return torch.minimum(d, 1.0 - d)


def assert_hue_follows_class(ds: ImageDataset) -> None:
    for split in (ds.train, ds.test):
        for label, hue in zip(split.labels.tolist(), split.factors["hue"], strict=True):
            assert float(circular_distance(hue, HUES[ds.class_names[label]])) < 0.03


def one_epoch(method: str, overrides: list[str], metrics: list[str] | None = None) -> dict[str, float]:
    """Train one real epoch of a registered method and run its evaluators (those reporting ``metrics``)."""
    spec = get_method(method)
    cfg = spec.load_config(overrides)
    trainer = spec.make_trainer(cfg)
    assert math.isfinite(trainer.fit_epoch()["loss"])
    out = spec.evaluate(cfg, trainer.artifact(), trainer.data, metrics=metrics)
    assert out and all(math.isfinite(v) for v in out.values()), out
    return out


SIMCLR_MEASURES = ["linear_probe_acc", "colour_probe_acc", "knn_acc"]  # the class and colour probes, kNN


def simclr_on(*data: str) -> list[str]:
    return tiny("epochs=1", "batch_size=4", "data.image_size=16", "eval.knn_k=3", *data, method="simclr")


# ----------------------------------------------------------------------------------------------------
# the registry


@pytest.fixture
def scratch_entries():
    names: list[str] = []

    def add(entry: DatasetEntry) -> None:
        register_dataset(entry)
        names.append(entry.name)

    yield add
    for name in names:
        unregister_dataset(name)


def load_two_colours(cfg: DataConfig) -> ImageDataset:
    """A data set defined in a test module: registered with one entry, it is checked and loaded like the others."""
    from shared.data.user import make_split

    rng = np.random.default_rng(cfg.seed)

    def split(n: int):
        labels = np.arange(n) % 2
        images = np.stack([painted(HUES["red" if y == 0 else "blue"], 12, 12, rng) for y in labels])
        return make_split(torch.from_numpy(images).permute(0, 3, 1, 2), labels, np.arange(n), cfg)

    return ImageDataset("two_colours", split(cfg.n_train), split(cfg.n_test), ["red", "blue"], cfg.hue_bins)


def check_two_colours(cfg: DataConfig) -> None:
    if cfg.n_train == -1:
        raise ConfigError("data.n_train: two_colours is generated; give a count")


def test_one_entry_gives_checking_and_loading(scratch_entries):
    scratch_entries(DatasetEntry("two_colours", "image", f"{__name__}:load_two_colours",
                                 f"{__name__}:check_two_colours"))
    with pytest.raises(ConfigError, match=r"^data\.n_train: two_colours"):
        get_method("simclr").load_config(simclr_on("data.name=two_colours", "data.n_train=-1"))
    ds = load_dataset(DataConfig(name="two_colours", n_train=6, n_test=4, image_size=16))
    assert ds.train.images.shape == (6, 3, 16, 16) and ds.class_names == ["red", "blue"]
    assert_hue_follows_class(ds)


@pytest.mark.parametrize("loader,check,match", [
    ("shared.data.no_such_module:load", "", r"shared\.data\.no_such_module cannot be imported"),
    ("shared.data.shapes:no_such_function", "", r"shared\.data\.shapes has no function 'no_such_function'"),
    ("shared.data.shapes:load", "shared.data.shapes:no_check", r"shared\.data\.shapes has no function 'no_check'"),
])
def test_half_registered_set_is_a_clear_config_error(scratch_entries, loader, check, match):
    scratch_entries(DatasetEntry("half", "image", loader, check))
    with pytest.raises(DatasetUnavailableError, match=match) as err:
        check_dataset(DataConfig(name="half"))
    assert str(err.value).startswith("data.name: data set 'half' is registered with")
    assert "shapes, stl10" in str(err.value)  # the registered names, as for an unknown one


def test_missing_package_is_named_with_how_to_install(scratch_entries):
    scratch_entries(DatasetEntry("needs_pkg", "image", "shared.data.shapes:load", "shared.data.shapes:check",
                                 requires=(("raystudy_no_such_package", "pip install raystudy-no-such==1.0"),)))
    with pytest.raises(DatasetUnavailableError, match=r"registered but unavailable here: it needs "
                       r"raystudy_no_such_package \(pip install raystudy-no-such==1\.0\)"):
        check_dataset(DataConfig(name="needs_pkg"))


@pytest.mark.parametrize("entry,match", [
    (DatasetEntry("bad kind", "image", "m:f"), "name"),
    (DatasetEntry("x", "audio", "m:f"), "kind must be one of"),
    (DatasetEntry("x", "image", "m.f"), "loader must be 'module:function'"),
    (DatasetEntry("x", "image", "m:f", requires=("moses",)), "requires holds"),
    (DatasetEntry("shapes", "image", "m:f"), "already registered"),
])
def test_malformed_entries_fail_where_they_are_made(entry, match):
    with pytest.raises(ConfigError, match=match):
        register_dataset(entry)


def test_a_set_of_the_other_kind_is_refused_with_the_right_list():
    with pytest.raises(UnknownDatasetError, match=r"'cycles' is a graph data set, and this method takes image data "
                       r"sets: arrays, cifar10"):
        get_method("simclr").load_config(["data.name=cycles"])
    with pytest.raises(UnknownDatasetError, match=r"^data\.name: unknown graph data set 'qm9'; known: cycles"):
        get_method("lappe").load_config(["data.name=qm9"])


# ----------------------------------------------------------------------------------------------------
# image_folder


def test_image_folder_loads_classes_hue_and_a_seeded_split(tmp_path):
    write_image_folder(tmp_path)
    (tmp_path / "red" / "notes.txt").write_text("not an image")
    (tmp_path / ".cache").mkdir()  # hidden: not a class
    cfg = DataConfig(name="image_folder", root=str(tmp_path), n_train=-1, n_test=4, image_size=16)
    ds = load_dataset(cfg)
    assert ds.class_names == ["blue", "red"]
    assert len(ds.train) == 8 and len(ds.test) == 4
    assert ds.train.images.shape == (8, 3, 16, 16) and ds.train.images.dtype == torch.uint8
    assert_hue_follows_class(ds)
    rows = torch.cat([ds.train.factors["source_index"], ds.test.factors["source_index"]])
    assert sorted(rows.tolist()) == list(range(12))  # every file once, in train or test
    again = load_dataset(cfg)
    assert torch.equal(again.train.images, ds.train.images) and torch.equal(again.test.labels, ds.test.labels)


def test_image_folder_with_its_own_train_and_test(tmp_path):
    write_image_folder(tmp_path / "train", per_class=5)
    write_image_folder(tmp_path / "test", per_class=2)
    ds = load_dataset(DataConfig(name="image_folder", root=str(tmp_path), n_train=-1, n_test=-1, image_size=8))
    assert (len(ds.train), len(ds.test), ds.class_names) == (10, 4, ["blue", "red"])
    assert_hue_follows_class(ds)
    with pytest.raises(ConfigError, match=r"^data\.n_test: asked for 5 images"):
        check_dataset(DataConfig(name="image_folder", root=str(tmp_path), n_train=-1, n_test=5))


def test_image_folder_config_errors(tmp_path):
    def fails(match: str, error=ConfigError, **kwargs) -> None:
        with pytest.raises(error, match=match):
            get_method("simclr").load_config(simclr_on("data.name=image_folder", *(f"data.{k}={v}"
                                                                                   for k, v in kwargs.items())))

    fails(r"^data\.root: image_folder reads")
    fails(r"^data\.root: .* is not a folder", DatasetNotFoundError, root=tmp_path / "missing")
    write_image_folder(tmp_path / "one", classes=("red",))
    fails(r"^data\.root: image_folder needs at least 2 class folders", root=tmp_path / "one")
    write_image_folder(tmp_path / "two")
    (tmp_path / "two" / "green").mkdir()
    fails(r"^data\.root: class folder\(s\) green .* hold no image files", root=tmp_path / "two")
    (tmp_path / "two" / "green").rmdir()
    fails(r"^data\.n_train: 9 \+ n_test 4 exceeds the 12 images", root=tmp_path / "two", n_train=9, n_test=4)
    fails(r"^data\.n_test: .* no test split of its own", root=tmp_path / "two", n_train=4, n_test=-1)


def test_simclr_trains_and_evaluates_on_an_image_folder(tmp_path):
    write_image_folder(tmp_path, classes=("red", "green", "blue"))
    out = one_epoch("simclr", simclr_on("data.name=image_folder", f"data.root={tmp_path}",
                                        "data.n_train=12", "data.n_test=6"), SIMCLR_MEASURES)
    assert set(SIMCLR_MEASURES) <= set(out)


# ----------------------------------------------------------------------------------------------------
# arrays: .npz and Parquet


def colour_arrays(n: int = 16) -> dict[str, np.ndarray]:
    """Images painted by class, a string label, a float and an int factor, and a user-given hue."""
    rng = np.random.default_rng(1)
    names = np.array(["red", "blue"])[np.arange(n) % 2]
    return {
        "x": np.stack([painted(HUES[c], 12, 12, rng) for c in names]),
        "kind": names,
        "size": rng.random(n).astype(np.float64),
        "index": np.arange(n) * 10,
    }


def assert_rows_kept_together(ds: ImageDataset, arrays: dict[str, np.ndarray]) -> None:
    for split in (ds.train, ds.test):
        rows = split.factors["source_index"].numpy()
        assert np.allclose(split.factors["size"].numpy(), arrays["size"][rows])
        assert split.factors["size"].dtype == torch.float32 and split.factors["index"].dtype == torch.int64
        assert np.array_equal(split.factors["index"].numpy(), arrays["index"][rows])
        assert [ds.class_names[y] for y in split.labels.tolist()] == arrays["kind"][rows].tolist()
    assert_hue_follows_class(ds)


def arrays_cfg(path, **kwargs) -> DataConfig:
    return DataConfig(**{"name": "arrays", "path": str(path), "images": "x", "label": "kind",
                         "factors": ["size", "index"], "n_train": 10, "n_test": 4, "image_size": 16, **kwargs})


@pytest.mark.parametrize("layout", ["nhwc", "nchw", "float"])
def test_npz_arrays_load_with_named_label_and_factors(tmp_path, layout):
    arrays = colour_arrays()
    stored = dict(arrays)
    if layout == "nchw":
        stored["x"] = arrays["x"].transpose(0, 3, 1, 2)
    elif layout == "float":
        stored["x"] = arrays["x"].astype(np.float32) / 255.0
    np.savez(tmp_path / "mine.npz", **stored)
    ds = load_dataset(arrays_cfg(tmp_path / "mine.npz"))
    assert ds.class_names == ["blue", "red"] and (len(ds.train), len(ds.test)) == (10, 4)
    assert ds.train.images.shape == (10, 3, 16, 16) and ds.train.images.dtype == torch.uint8
    assert_rows_kept_together(ds, arrays)


def write_parquet(path, arrays: dict[str, np.ndarray], images: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if images == "png":
        column = pa.array([png_bytes(image) for image in arrays["x"]], type=pa.binary())
    elif images == "hf":  # Hugging Face datasets' Image feature: a struct of bytes and path
        column = pa.array([{"bytes": png_bytes(image), "path": None} for image in arrays["x"]])
    else:  # flat pixel lists, height-width-channel order
        column = pa.array([image.reshape(-1).tolist() for image in arrays["x"]], type=pa.list_(pa.uint8()))
    table = pa.table({"x": column, "kind": arrays["kind"].tolist(), "size": arrays["size"], "index": arrays["index"]})
    pq.write_table(table, path)


@pytest.mark.parametrize("images", ["png", "hf", "pixels"])
def test_parquet_arrays_load_encoded_images_and_pixel_lists(tmp_path, images):
    arrays = colour_arrays()
    write_parquet(tmp_path / "mine.parquet", arrays, images)
    ds = load_dataset(arrays_cfg(tmp_path / "mine.parquet"))
    assert ds.class_names == ["blue", "red"] and ds.train.images.shape == (10, 3, 16, 16)
    assert_rows_kept_together(ds, arrays)
    npz = tmp_path / "same.npz"
    np.savez(npz, **arrays)
    same = load_dataset(arrays_cfg(npz))  # the same rows whatever the file format
    assert torch.equal(same.test.factors["source_index"], ds.test.factors["source_index"])
    assert torch.equal(same.test.labels, ds.test.labels)


def test_a_given_hue_factor_is_used_instead_of_the_measured_one(tmp_path):
    arrays = colour_arrays()
    np.savez(tmp_path / "mine.npz", **arrays, hue=np.linspace(0, 0.9, 16).astype(np.float32))
    ds = load_dataset(arrays_cfg(tmp_path / "mine.npz", factors=["hue"]))
    rows = ds.test.factors["source_index"].numpy()
    assert np.allclose(ds.test.factors["hue"].numpy(), np.linspace(0, 0.9, 16)[rows])


def test_arrays_config_errors(tmp_path):
    arrays = colour_arrays()
    np.savez(tmp_path / "mine.npz", **arrays)
    np.savez(tmp_path / "short.npz", **{**arrays, "size": arrays["size"][:5]})
    write_parquet(tmp_path / "mine.parquet", arrays, "png")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")

    def fails(match: str, error=ConfigError, **kwargs) -> None:
        with pytest.raises(error, match=match):
            check_dataset(arrays_cfg(kwargs.pop("path", tmp_path / "mine.npz"), **kwargs))

    fails(r"^data\.path: arrays reads one", path="")
    fails(r"^data\.path: .* must end in \.npz", path=tmp_path / "mine.csv")
    fails(r"^data\.path: .* does not exist", DatasetNotFoundError, path=tmp_path / "absent.npz")
    fails(r"^data\.path: .* cannot be read as an \.npz file", path=tmp_path / "broken.npz")
    fails(r"^data\.label: .* has no array or column 'y'; it holds: index, kind, size, x", label="y")
    fails(r"^data\.label: .* has no array or column 'y'; it holds: index, kind, size, x",
          path=tmp_path / "mine.parquet", label="y")
    fails(r"^data\.factors: .* has no array or column 'colour'", factors=["size", "colour"])
    fails(r"^data\.factors: \['size', 'hue_bin'\] repeats a name, or names", factors=["size", "hue_bin"])
    fails(r"^data\.factors: array 'size' has 5 rows, the images 16", path=tmp_path / "short.npz")
    fails(r"^data\.images: array 'kind' has shape \(16,\)", images="kind", label="index", factors=["size"])
    fails(r"^data\.n_train: 13 \+ n_test 4 exceeds the 16 images", n_train=13)
    # all of it before Ray: the method's config check is where a sweep meets them
    with pytest.raises(ConfigError, match=r"^data\.label:"):
        get_method("simclr").load_config(simclr_on("data.name=arrays", f"data.path={tmp_path / 'mine.npz'}",
                                                   "data.images=x", "data.label=y"))


@pytest.mark.parametrize("suffix", ["npz", "parquet"])
def test_simclr_trains_and_evaluates_on_arrays(tmp_path, suffix):
    arrays = colour_arrays(24)
    path = tmp_path / f"mine.{suffix}"
    np.savez(path, **arrays) if suffix == "npz" else write_parquet(path, arrays, "png")
    out = one_epoch("simclr", simclr_on("data.name=arrays", f"data.path={path}", "data.images=x",
                                        "data.label=kind", "data.factors=[size,index]", "data.n_train=16",
                                        "data.n_test=8"), SIMCLR_MEASURES)
    assert set(SIMCLR_MEASURES) <= set(out)


# ----------------------------------------------------------------------------------------------------
# graphs: TU files and PyG InMemoryDataset files


@pytest.fixture
def graph_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path / "cache"))


def write_tu(folder, name: str = "TOY", n_graphs: int = 12) -> None:
    """Cycles (label 1) and paths (label -1) of 4..7 nodes in TU format: 1-based node ids, both edge directions,
    node labels (degree), edge labels (0 or 1 alternating)."""
    folder.mkdir(parents=True)
    edges, indicator, node_labels, edge_labels, graph_labels = [], [], [], [], []
    first = 1
    for g in range(n_graphs):
        n, cycle = 4 + g % 4, g % 2 == 0
        pairs = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if cycle else [])
        for k, (a, b) in enumerate(pairs):
            edges += [(first + a, first + b), (first + b, first + a)]
            edge_labels += [k % 2, k % 2]
        degree = [sum(v in p for p in pairs) for v in range(n)]
        indicator += [g + 1] * n
        node_labels += degree
        graph_labels.append(1 if cycle else -1)
        first += n
    write = lambda part, rows: (folder / f"{name}_{part}.txt").write_text("\n".join(rows) + "\n")  # noqa: E731
    write("A", [f"{a}, {b}" for a, b in edges])
    write("graph_indicator", map(str, indicator))
    write("node_labels", map(str, node_labels))
    write("edge_labels", map(str, edge_labels))
    write("graph_labels", map(str, graph_labels))


def graph_overrides(*data: str) -> list[str]:
    return ["epochs=1", "batch_size=4", "hidden=8", "layers=2", "pe_dim=4", "data.pe_k=4", "data.n_train=8",
            "data.n_val=2", "data.n_test=2", *data]


@pytest.mark.parametrize("where", ["TOY/raw", "TOY", "."])
def test_tu_files_become_a_graph_task(tmp_path, graph_cache, where):
    from shared.graphs.data import GraphDataConfig, load_graph_task

    write_tu(tmp_path / "tu" / where)
    task = load_graph_task(GraphDataConfig(name="tu", root=str(tmp_path / "tu"), tu_name="TOY", n_train=8, n_val=2,
                                           n_test=2, pe_k=4))
    assert (task.level, task.target_dim, task.counts) == ("graph", 1, True)
    assert task.node_types == 0 and task.node_features == 2  # degree labels 1, 2 one-hot (TU node labels)
    assert task.edge_types == 3  # two edge labels, as types 1 and 2
    graphs = task.train + task.val + task.test
    assert len(graphs) == 12 and sorted({float(g.y) for g in graphs}) == [0.0, 1.0]
    for g in graphs:  # a cycle has as many edges as nodes: label 1 (TU's "1", after PyG's 0-based relabelling)
        assert float(g.y) == float(g.edge_index.shape[1] == 2 * g.num_nodes)
        assert g.eigvecs.shape == (g.num_nodes, 4)


def test_tu_config_errors_before_loading(tmp_path):
    spec = get_method("lappe")
    with pytest.raises(ConfigError, match=r"^data\.root: tu reads a TU-format data set"):
        spec.load_config(graph_overrides("data.name=tu"))
    with pytest.raises(DatasetNotFoundError, match=r"^data\.root: no TOY_A\.txt in"):
        spec.load_config(graph_overrides("data.name=tu", f"data.root={tmp_path}", "data.tu_name=TOY"))
    write_tu(tmp_path / "TOY")
    with pytest.raises(ConfigError, match=r"^data\.n_train: .* = 14 graphs, but TOY in .* has 12"):
        spec.load_config(graph_overrides("data.name=tu", f"data.root={tmp_path}", "data.tu_name=TOY",
                                         "data.n_test=4"))
    (tmp_path / "TOY" / "TOY_graph_labels.txt").unlink()
    with pytest.raises(ConfigError, match=r"^data\.tu_name: TOY in .* has no target"):
        spec.load_config(graph_overrides("data.name=tu", f"data.root={tmp_path}", "data.tu_name=TOY"))


def test_lappe_trains_and_evaluates_on_tu_files(tmp_path, graph_cache):
    write_tu(tmp_path / "TOY")
    out = one_epoch("lappe", graph_overrides("data.name=tu", f"data.root={tmp_path}", "data.tu_name=TOY"))
    assert {"val_mae", "test_mae", "count_acc"} <= set(out)


def write_pyg_file(path, n_graphs: int = 12, node_level: bool = False, as_tu_dataset: bool = False) -> None:
    """Random graphs with float node features and a float target per graph (or per node), saved as
    InMemoryDataset.save does, or as TUDataset's processed file (which adds a dict of sizes)."""
    from torch_geometric.data import Data, InMemoryDataset

    generator = torch.Generator().manual_seed(0)
    graphs = []
    for g in range(n_graphs):
        n = 5 + g % 3
        ring = torch.arange(n)
        edge_index = torch.stack([torch.cat([ring, (ring + 1) % n]), torch.cat([(ring + 1) % n, ring])])
        x = torch.randn(n, 3, generator=generator)
        y = x.sum(1, keepdim=True) if node_level else x.sum().view(1, 1)
        graphs.append(Data(x=x, edge_index=edge_index, edge_attr=torch.randn(2 * n, 2, generator=generator), y=y))
    if as_tu_dataset:
        data, slices = InMemoryDataset.collate(graphs)
        torch.save((data.to_dict(), slices, {"num_node_labels": 0}, Data), path)
    else:
        InMemoryDataset.save(graphs, str(path))


@pytest.mark.parametrize("node_level,as_tu_dataset", [(False, False), (True, False), (False, True)])
def test_pyg_file_becomes_a_graph_task(tmp_path, graph_cache, node_level, as_tu_dataset):
    from shared.graphs.data import GraphDataConfig, load_graph_task

    write_pyg_file(tmp_path / "data.pt", node_level=node_level, as_tu_dataset=as_tu_dataset)
    task = load_graph_task(GraphDataConfig(name="pyg_file", path=str(tmp_path / "data.pt"), n_train=8, n_val=2,
                                           n_test=2, pe_k=4))
    assert task.level == ("node" if node_level else "graph") and task.target_dim == 1 and not task.counts
    assert (task.node_types, task.node_features, task.edge_types) == (0, 3, 1)  # float edge attributes: unused
    for g in task.train:
        assert g.edge_attr is None and g.y.shape == ((g.num_nodes, 1) if node_level else (1, 1))
        assert torch.allclose(g.y.sum(), g.x.sum())


def test_pyg_file_errors(tmp_path):
    spec = get_method("no_pe")
    with pytest.raises(ConfigError, match=r"^data\.path: pyg_file reads"):
        spec.load_config(graph_overrides("data.name=pyg_file"))
    with pytest.raises(DatasetNotFoundError, match=r"^data\.path: .* does not exist"):
        spec.load_config(graph_overrides("data.name=pyg_file", f"data.path={tmp_path / 'absent.pt'}"))
    torch.save({"not": "a dataset"}, tmp_path / "dict.pt")
    from shared.graphs.data import GraphDataConfig, load_graph_task

    with pytest.raises(ConfigError, match=r"^data\.path: .* is not an InMemoryDataset\.save file"):
        load_graph_task(GraphDataConfig(name="pyg_file", path=str(tmp_path / "dict.pt")))


def test_no_pe_trains_and_evaluates_on_a_pyg_file(tmp_path, graph_cache):
    write_pyg_file(tmp_path / "data.pt")
    out = one_epoch("no_pe", graph_overrides("data.name=pyg_file", f"data.path={tmp_path / 'data.pt'}"))
    assert {"val_mae", "test_mae"} <= set(out) and "count_acc" not in out


# ----------------------------------------------------------------------------------------------------
# registered but unavailable: refused before Ray starts

# Runs in a fresh interpreter where the package zinc_like needs (molsets, module `moses`) cannot be found:
# sys.modules[name] = None is how Python marks a module as not importable, and importlib.util.find_spec honours it.
WITHOUT_MOLSETS = "import sys; sys.modules['moses'] = None\n"


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_zinc_like_without_its_package_is_refused_and_its_sweep_exits_2_before_ray_starts():
    code = WITHOUT_MOLSETS + (
        "from shared.config import ConfigError\n"
        "from shared.registry import get_method\n"
        "try:\n"
        "    get_method('lappe').load_config(['data.name=zinc_like'])\n"
        "except ConfigError as err:\n"
        "    print('REFUSED', err)\n"
        "else:\n"
        "    sys.exit('zinc_like was accepted')  # and a sweep would start Ray: stop here\n"
        "from jobs.sweep import main\n"
        "status = main(['lappe', 'data.name=zinc_like'])\n"
        "import ray\n"
        "print('RAY STARTED' if ray.is_initialized() else 'NO RAY')\n"
        "sys.exit(status)\n")
    out = run_python(code)
    assert "REFUSED data.name: data set 'zinc_like' is registered but unavailable here: it needs moses " \
           "(pip install --no-deps molsets==0.3.1)" in out.stdout
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "NO RAY"
    assert "error: data.name: data set 'zinc_like' is registered but unavailable here" in out.stderr
    assert "Traceback" not in out.stderr


def test_sweep_script_refuses_an_unconfigured_own_data_set_with_exit_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "jobs/sweep.py", "simclr", "data.name=arrays",
                          f"data.path={tmp_path / 'absent.npz'}"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"error: data.path: {tmp_path / 'absent.npz'} does not exist" in out.stderr


def test_listing_names_every_registered_set():
    out = run_python("import runpy; runpy.run_module('shared.data', run_name='__main__')")
    assert out.returncode == 0, out.stderr
    listed = {line.split()[0]: line.split()[1] for line in out.stdout.splitlines()}
    assert listed == {name: entry.kind for name, entry in DATASETS.items()}


def test_pyg_file_reads_what_pyg_s_tudataset_processed(tmp_path, graph_cache):
    """A PyG data set processed once by PyG itself (here TUDataset over local raw files, so nothing downloads):
    its processed/data.pt is a pyg_file, and gives the same graphs as reading the raw files with data.name=tu."""
    from torch_geometric.datasets import TUDataset

    from shared.graphs.data import GraphDataConfig, load_graph_task

    write_tu(tmp_path / "TOY" / "raw")
    TUDataset(str(tmp_path), "TOY")
    sizes = {"n_train": 8, "n_val": 2, "n_test": 2, "pe_k": 4}
    from_file = load_graph_task(GraphDataConfig(name="pyg_file", path=str(tmp_path / "TOY" / "processed" / "data.pt"),
                                                **sizes))
    from_raw = load_graph_task(GraphDataConfig(name="tu", root=str(tmp_path), tu_name="TOY", **sizes))
    for a, b in zip(from_file.train + from_file.test, from_raw.train + from_raw.test, strict=True):
        assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.y, b.y) and torch.equal(a.x, b.x)
