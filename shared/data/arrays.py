"""``arrays``: your own images, labels and factors from one ``.npz`` or ``.parquet`` file (``data.path``).

    data.name=arrays data.path=/data/mine.npz data.images=x data.label=y data.factors=[size,angle]

``.npz`` (numpy.savez): ``data.images`` names an array of uint8 images (N, H, W, 3), (N, 3, H, W) or grey (N, H, W)
(floats are read as values in [0, 1]); ``data.label`` a 1-D array of N integers or strings; each name in
``data.factors`` a 1-D numeric array of N values. Saved without pickles (``allow_pickle=False`` is how it is read).

``.parquet`` (one row per image): ``data.images`` names a column of encoded image files (binary PNG/JPEG bytes, or
a struct with a ``bytes`` field as Hugging Face datasets write it) or of pixel lists (flat H*W*3 values in
height-width-channel order of a square image, or nested lists shaped like the arrays above); ``data.label`` and
``data.factors`` name scalar columns.

The file has no split: one seeded permutation gives the test rows (the first n_test, a count) and the train rows
(the next n_train, or the rest for -1). Images are resized to image_size. Factors: the ones you name (ints and
bools as int64, floats as float32), "hue" (measured by image_hue on the resized image, unless you name a factor
"hue" with values in [0, 1)), its bin "hue_bin", and "source_index" (the image's row in the file).
"""
from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from shared.config import ConfigError
from shared.data import DataConfig, DatasetNotFoundError, ImageDataset
from shared.data.user import check_split_sizes, encode_labels, make_split, split_indices

SUFFIXES = (".npz", ".parquet", ".pq")
DERIVED = ("hue_bin", "source_index")  # factors every split gets; a file cannot name its own


def _path(cfg: DataConfig) -> Path:
    if not cfg.path:
        raise ConfigError("data.path: arrays reads one .npz or .parquet file; set data.path=<file>")
    path = Path(cfg.path).expanduser()
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"data.path: {path} must end in {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise DatasetNotFoundError(f"data.path: {path} does not exist (or is not a file)")
    return path


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() != ".npz"


def npz_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Array name -> shape, read from the .npy headers inside the .npz (no array data is read)."""
    shapes = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            with archive.open(member) as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, _ = read_header(f)
            shapes[member[: -len(".npy")]] = tuple(shape)
    return shapes


def parquet_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Column name -> (rows,), from the file's footer (no column data is read)."""
    if importlib.util.find_spec("pyarrow") is None:
        raise ConfigError("data.path: reading .parquet needs pyarrow: pip install pyarrow==26.0.1")
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    return {name: (meta.num_rows,) for name in meta.schema.to_arrow_schema().names}


def _columns(cfg: DataConfig) -> list[tuple[str, str]]:
    """(config key, array or column name) of everything the config asks for."""
    return [("images", cfg.images), ("label", cfg.label), *(("factors", name) for name in cfg.factors)]


def _check_names(cfg: DataConfig, path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    clash = sorted(set(cfg.factors) & set(DERIVED)) or sorted({f for f in cfg.factors if cfg.factors.count(f) > 1})
    if clash or cfg.label in cfg.factors or cfg.images in cfg.factors:
        raise ConfigError(f"data.factors: {cfg.factors} repeats a name, or names the images, the label or one of "
                          f"{list(DERIVED)} (every split has those)")
    for key, name in _columns(cfg):
        if name not in shapes:
            raise ConfigError(f"data.{key}: {path} has no array or column {name!r}; it holds: "
                              f"{', '.join(sorted(shapes)) or 'nothing'}")


def _check_npz_shapes(cfg: DataConfig, shapes: dict[str, tuple[int, ...]]) -> None:
    """Images (N, H, W, 3), (N, 3, H, W) or (N, H, W); label and factors (N,). (Parquet has one row per image.)"""
    for key, name in _columns(cfg):
        shape, ndims = shapes[name], (3, 4) if key == "images" else (1,)
        if len(shape) not in ndims:
            raise ConfigError(f"data.{key}: array {name!r} has shape {shape}; expected "
                              f"{'(N, H, W, 3), (N, 3, H, W) or (N, H, W)' if key == 'images' else '(N,)'}")
        if shape[0] != shapes[cfg.images][0]:
            raise ConfigError(f"data.{key}: array {name!r} has {shape[0]} rows, the images {shapes[cfg.images][0]}")


def check(cfg: DataConfig) -> None:
    """The file exists and holds every named array/column, one row per image, enough rows for the sizes."""
    path = _path(cfg)
    try:
        shapes = parquet_shapes(path) if _is_parquet(path) else npz_shapes(path)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        kind = "a Parquet" if _is_parquet(path) else "an .npz"
        raise ConfigError(f"data.path: {path} cannot be read as {kind} file: {err}") from None
    _check_names(cfg, path, shapes)
    if not _is_parquet(path):
        _check_npz_shapes(cfg, shapes)
    check_split_sizes(cfg, shapes[cfg.images][0], f"{path}")


# ----------------------------------------------------------------------------------------------------
# reading


def to_uint8_nchw(images: np.ndarray, name: str) -> torch.Tensor:
    """(N, H, W, 3), (N, 3, H, W) or (N, H, W) of uint8, or floats in [0, 1] -> uint8 (N, 3, H, W)."""
    if images.ndim == 3:
        images = np.repeat(images[:, None], 3, axis=1)
    elif images.ndim == 4 and images.shape[-1] == 3:
        images = images.transpose(0, 3, 1, 2)
    elif images.ndim != 4 or images.shape[1] != 3:
        raise ConfigError(f"data.images: {name!r} has shape {images.shape}; expected (N, H, W, 3), (N, 3, H, W) "
                          "or (N, H, W)")
    if np.issubdtype(images.dtype, np.floating):
        images = np.round(np.clip(images, 0.0, 1.0) * 255.0)
    elif images.dtype != np.uint8 and (images.min(initial=0) < 0 or images.max(initial=0) > 255):
        raise ConfigError(f"data.images: {name!r} holds integers outside 0..255")
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8))


def _decode_files(blobs: list[bytes]) -> np.ndarray:
    from PIL import Image

    decoded = []
    for blob in blobs:
        with Image.open(io.BytesIO(blob)) as image:
            decoded.append(np.asarray(image.convert("RGB")))
    if len({d.shape for d in decoded}) > 1:
        # different sizes: bring them to the first one's so that they stack (resize() then sets image_size)
        side = decoded[0].shape[:2][::-1]
        decoded = [np.asarray(Image.fromarray(d).resize(side, Image.BILINEAR)) for d in decoded]
    return np.stack(decoded)


def _image_column(column, name: str) -> np.ndarray:
    """A pyarrow column of images -> a numpy image array (layouts as in the module docstring)."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0:
        column, kind = column.field("bytes"), column.type.field("bytes").type
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return _decode_files(column.to_pylist())
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        if pa.types.is_list(kind.value_type) or pa.types.is_fixed_size_list(kind.value_type):
            return np.asarray(column.to_pylist())
        flat = np.stack([np.asarray(row) for row in column.to_pylist()])
        side = int(round((flat.shape[1] / 3) ** 0.5))
        if side * side * 3 != flat.shape[1]:
            raise ConfigError(f"data.images: rows of {name!r} hold {flat.shape[1]} values; a flat row is a square "
                              "image's H*W*3 values (height, width, channel order)")
        return flat.reshape(-1, side, side, 3)
    raise ConfigError(f"data.images: column {name!r} has type {kind}; expected encoded image bytes or pixel lists")


def _factor(values: np.ndarray, name: str) -> torch.Tensor:
    if values.dtype == bool or np.issubdtype(values.dtype, np.integer):
        return torch.from_numpy(values.astype(np.int64))
    if np.issubdtype(values.dtype, np.floating):
        return torch.from_numpy(values.astype(np.float32))
    raise ConfigError(f"data.factors: {name!r} holds {values.dtype} values; factors must be numbers")


def _read(cfg: DataConfig, path: Path, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(images, labels, factors) of the chosen rows, in that order."""
    if not _is_parquet(path):
        with np.load(path, allow_pickle=False) as arrays:
            return (arrays[cfg.images][rows], arrays[cfg.label][rows],
                    {name: arrays[name][rows] for name in cfg.factors})
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=[cfg.images, cfg.label, *cfg.factors]).take(rows)
    images = _image_column(table.column(cfg.images).combine_chunks(), cfg.images)
    return (images, table.column(cfg.label).to_numpy(),
            {name: table.column(name).to_numpy() for name in cfg.factors})


def _labels(cfg: DataConfig, path: Path) -> tuple[np.ndarray, list[str]]:
    """Class indices of every row, and the class names, from the whole label array (so both splits agree)."""
    if not _is_parquet(path):
        with np.load(path, allow_pickle=False) as arrays:
            return encode_labels(arrays[cfg.label])
    import pyarrow.parquet as pq

    return encode_labels(pq.read_table(path, columns=[cfg.label]).column(cfg.label).to_numpy())


def load(cfg: DataConfig) -> ImageDataset:
    """Read the seeded train and test rows; the same file and config give identical tensors."""
    check(cfg)
    path = _path(cfg)
    labels, class_names = _labels(cfg, path)
    splits = {}
    for split, rows in zip(("train", "test"), split_indices(cfg, labels.shape[0]), strict=True):
        images, _, factors = _read(cfg, path, rows)
        factors = {name: _factor(np.asarray(values), name) for name, values in factors.items()}
        hue = factors.get("hue")
        if hue is not None and (hue.dtype != torch.float32 or float(hue.min()) < 0 or float(hue.max()) >= 1):
            raise ConfigError("data.factors: a factor named 'hue' must hold floats in [0, 1) (a fraction of the "
                              "colour circle); rename it to have the hue measured from the images instead")
        splits[split] = make_split(to_uint8_nchw(np.asarray(images), cfg.images), labels[rows], rows, cfg, factors)
    return ImageDataset(name="arrays", train=splits["train"], test=splits["test"], class_names=class_names,
                        hue_bins=cfg.hue_bins)
