"""``image_folder``: your own images in torchvision's ImageFolder layout, read from ``data.root``.

    <root>/<class>/<image>                 one folder per class (any depth below it); split by data.seed
    <root>/train/<class>/<image>           or a split of your own: train/ and test/ side by side, with the
    <root>/test/<class>/<image>            same class folders (test may lack some)

Images are .png, .jpg, .jpeg, .bmp, .gif, .ppm, .pgm, .tif, .tiff or .webp files (hidden files and folders are
skipped), decoded with Pillow, converted to RGB and resized to image_size x image_size (bilinear; Pillow
antialiases when shrinking). Classes are the folder names in sorted order. Factors:
  hue           the image's dominant hue, measured by image_hue on the resized image; "hue_bin" bins it.
  source_index  the image's number in the sorted file list of its split (class folder order, then path).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from shared.config import ConfigError
from shared.data import DataConfig, DatasetNotFoundError, ImageDataset
from shared.data.user import check_split_sizes, check_subset_size, make_split, split_indices, subset_indices

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def class_files(folder: Path) -> dict[str, list[Path]]:
    """Class folder name -> its image files (sorted), for every visible sub-folder of ``folder``."""
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    out = {}
    for name in classes:
        files = [p for p in (folder / name).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                 and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
        out[name] = sorted(files)
    return out


def _root(cfg: DataConfig) -> Path:
    if not cfg.root:
        raise ConfigError("data.root: image_folder reads <root>/<class>/<image files>; set data.root=<folder>")
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"data.root: {root} is not a folder (image_folder reads <root>/<class>/<image>)")
    return root


def layout(cfg: DataConfig) -> dict[str, dict[str, list[Path]]]:
    """{"train": ..., "test": ...} when the root holds its own split, else {"all": ...}; each class -> files."""
    root = _root(cfg)
    if (root / "train").is_dir() and (root / "test").is_dir():
        return {"train": class_files(root / "train"), "test": class_files(root / "test")}
    return {"all": class_files(root)}


def _check_classes(classes: dict[str, list[Path]], where: Path) -> None:
    if len(classes) < 2:
        raise ConfigError(f"data.root: image_folder needs at least 2 class folders in {where}, found "
                          f"{len(classes)} ({', '.join(classes) or 'none'}); the layout is <root>/<class>/<image>")
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise ConfigError(f"data.root: class folder(s) {', '.join(empty)} in {where} hold no image files "
                          f"({', '.join(IMAGE_EXTENSIONS)})")


def check(cfg: DataConfig) -> None:
    """The folder exists, has at least two non-empty class folders, and enough images for the sizes asked."""
    parts = layout(cfg)
    root = _root(cfg)
    if "all" in parts:
        _check_classes(parts["all"], root)
        check_split_sizes(cfg, sum(map(len, parts["all"].values())), f"the image folder {root}")
        return
    _check_classes(parts["train"], root / "train")
    extra = sorted(set(parts["test"]) - set(parts["train"]))
    if extra:
        raise ConfigError(f"data.root: {root / 'test'} has class folder(s) {', '.join(extra)} that "
                          f"{root / 'train'} does not have")
    for key, split in (("n_train", "train"), ("n_test", "test")):
        check_subset_size(getattr(cfg, key), sum(map(len, parts[split].values())), key, f"{root / split}")


def _decode(paths: list[Path], size: int) -> torch.Tensor:
    """Image files -> uint8 (N, 3, size, size)."""
    from PIL import Image  # local import: only this loader needs Pillow

    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            out[i] = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _flatten(classes: dict[str, list[Path]], class_names: list[str]) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for name, paths in classes.items():
        files += paths
        labels += [class_names.index(name)] * len(paths)
    return files, np.asarray(labels, dtype=np.int64)


def load(cfg: DataConfig) -> ImageDataset:
    """Decode the images the seeded split picks; the same folder and config give identical tensors."""
    check(cfg)
    parts = layout(cfg)
    class_names = list(parts.get("all", parts.get("train")))
    if "all" in parts:
        files, labels = _flatten(parts["all"], class_names)
        train_idx, test_idx = split_indices(cfg, len(files))
        picked = {"train": (files, labels, train_idx), "test": (files, labels, test_idx)}
    else:
        rng = np.random.default_rng(cfg.seed)
        picked = {}
        for key, split in (("n_train", "train"), ("n_test", "test")):
            files, labels = _flatten(parts[split], class_names)
            picked[split] = (files, labels, subset_indices(rng, getattr(cfg, key), len(files)))
    splits = {split: make_split(_decode([files[i] for i in idx], cfg.image_size), labels[idx], idx, cfg)
              for split, (files, labels, idx) in picked.items()}
    return ImageDataset(name="image_folder", train=splits["train"], test=splits["test"], class_names=class_names,
                        hue_bins=cfg.hue_bins)
