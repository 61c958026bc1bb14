"""The data-set registry: one entry per data set gives its loader, its check and what it needs.

Like the method registry (``shared/registry.py``), the table names code by "module:function" strings and imports a
module only when its data set is checked or loaded, so importing this module imports neither torch's data code nor
any loader. An entry holds:

- ``kind``: "image" (the ``data:`` section is ``shared.data.DataConfig``; the loader returns an ``ImageDataset``) or
  "graph" (``shared.graphs.dataconfig.GraphDataConfig``; the loader returns a ``GraphTask`` without eigen-features);
- ``loader``: ``function(cfg) -> data set``;
- ``check``: ``function(cfg) -> None`` raising ``ConfigError`` (or ``FileNotFoundError``) for a config that cannot
  load; it may look at the config and the file system (names, sizes, headers), never read the data itself;
- ``requires``: the top-level Python modules the loader needs, each with how to install it; they are looked up
  (``importlib.util.find_spec``, nothing is imported) before the check runs, so a missing package is a config
  error before Ray starts rather than an ImportError inside a trial.

Adding a data set is one entry in ``_ENTRIES`` (see docs/datasets.md); ``register_dataset`` adds one at run time
(e.g. from a notebook: Ray workers only see entries made in the package or in code they import too).
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.config import ConfigError

KINDS = ("image", "graph")
_FUNCTION_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class DatasetEntry:
    """One registered data set (see the module docstring for the fields)."""

    name: str
    kind: str
    loader: str
    check: str = ""
    requires: tuple[tuple[str, str], ...] = ()  # (top-level module, how to install it)
    source: str = ""  # "generated", "package" (ships in an installed package), "local root", "your files"
    description: str = ""


class UnknownDatasetError(ConfigError):
    """The name is not registered for this kind of data; the message lists the registered names."""


class DatasetUnavailableError(ConfigError):
    """The data set is registered but cannot be used here: a package it needs is missing, or its entry is broken."""


_SKLEARN = ("sklearn", "pip install scikit-learn==1.9.1")
_ENTRIES = (
    DatasetEntry("shapes", "image", "shared.data.shapes:load", "shared.data.checks:check_shapes", source="generated",
                 description="coloured shapes; class, hue, saturation, value, rotation, position, scale known"),
    DatasetEntry("digits", "image", "shared.data.digits:load", "shared.data.checks:check_digits", (_SKLEARN,),
                 source="package", description="scikit-learn's 8x8 digits painted one random colour each"),
    DatasetEntry("cifar10", "image", "shared.data.real:load_cifar10", "shared.data.real:check_cifar10",
                 source="local root", description="CIFAR-10 in torchvision's layout under data.root"),
    DatasetEntry("stl10", "image", "shared.data.real:load_stl10", "shared.data.real:check_stl10",
                 source="local root", description="STL-10 labelled splits in torchvision's layout under data.root"),
    DatasetEntry("image_folder", "image", "shared.data.folder:load", "shared.data.folder:check",
                 (("PIL", "pip install pillow"),), source="your files",
                 description="data.root/<class>/<image> (torchvision ImageFolder), or with train/ and test/ inside"),
    DatasetEntry("arrays", "image", "shared.data.arrays:load", "shared.data.arrays:check", source="your files",
                 description="images, labels and factors from one .npz or .parquet file (data.path)"),
    DatasetEntry("zinc_like", "graph", "shared.graphs.data:load_zinc_like", "shared.graphs.dataconfig:check_zinc_like",
                 (("moses", "pip install --no-deps molsets==0.3.1"), ("rdkit", "pip install rdkit==2026.9.1")),
                 source="package", description="MOSES molecules featurised as ZINC-12k, penalized logP target"),
    DatasetEntry("zinc", "graph", "shared.graphs.data:load_zinc", "shared.graphs.dataconfig:check_zinc",
                 source="local root", description="the real ZINC-12k subset from data.root"),
    DatasetEntry("cycles", "graph", "shared.graphs.data:load_cycles", "shared.graphs.dataconfig:check_cycles",
                 (("networkx", "pip install networkx==3.6.1"),), source="generated",
                 description="ER graphs labelled with their 3-, 4-, 5-, 6-cycle counts"),
    DatasetEntry("grid_filter", "graph", "shared.graphs.data:load_grid_filter", "", (_SKLEARN,),
                 source="generated", description="spectral filters of digit images on a grid graph (node level)"),
    DatasetEntry("planted_motifs", "graph", "shared.graphs.tmd_data:planted_motif_task", "",
                 (("networkx", "pip install networkx==3.6.1"),), source="generated",
                 description="TMD's random labelled trees vs trees plus a labelled triangle; target = class"),
    DatasetEntry("sbm_homophily", "graph", "shared.graphs.tmd_data:sbm_homophily_task", "", source="generated",
                 description="two-block contextual SBM graphs at edge homophily 0.5 vs 0.7; target = class"),
    DatasetEntry("tu", "graph", "shared.graphs.local:load_tu", "shared.graphs.dataconfig:check_tu", source="your files",
                 description="a data set in TU format (<NAME>_A.txt, ...) read from data.root, never downloaded"),
    DatasetEntry("pyg_file", "graph", "shared.graphs.local:load_pyg_file", "shared.graphs.dataconfig:check_pyg_file",
                 source="your files", description="a PyG InMemoryDataset file (InMemoryDataset.save) at data.path"),
)

DATASETS: dict[str, DatasetEntry] = {entry.name: entry for entry in _ENTRIES}


def dataset_names(kind: str | None = None) -> list[str]:
    """Registered names, sorted; only those of one kind when ``kind`` is given."""
    return sorted(name for name, entry in DATASETS.items() if kind is None or entry.kind == kind)


def _validate_entry(entry: DatasetEntry) -> None:
    if not _NAME.match(entry.name):
        raise ConfigError(f"data set name {entry.name!r}: use letters, digits, '.', '_', '-' (at most 64)")
    if entry.kind not in KINDS:
        raise ConfigError(f"data set {entry.name!r}: kind must be one of {list(KINDS)}, got {entry.kind!r}")
    for what, path in (("loader", entry.loader), ("check", entry.check)):
        if (path or what == "loader") and not _FUNCTION_PATH.match(path):
            raise ConfigError(f"data set {entry.name!r}: {what} must be 'module:function', got {path!r}")
    for item in entry.requires:
        if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(s, str) for s in item)):
            raise ConfigError(f"data set {entry.name!r}: requires holds (module, how to install) pairs, got {item!r}")


def register_dataset(entry: DatasetEntry, replace: bool = False) -> None:
    """Add an entry at run time (the package's own sets are in ``_ENTRIES``). Checked here, so a malformed entry
    fails where it is made; ``replace`` must be set to change an existing name."""
    _validate_entry(entry)
    if entry.name in DATASETS and not replace:
        raise ConfigError(f"data set {entry.name!r} is already registered; pass replace=True to change it")
    DATASETS[entry.name] = entry


def unregister_dataset(name: str) -> None:
    """Remove a run-time entry (tests, notebooks)."""
    DATASETS.pop(name, None)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def get_dataset(name: str, kind: str) -> DatasetEntry:
    """The entry of a data set of this kind, or UnknownDatasetError listing the names a method of this kind takes."""
    entry = DATASETS.get(name)
    known = ", ".join(dataset_names(kind))
    if entry is None:
        raise UnknownDatasetError(f"data.name: unknown {kind} data set {name!r}; known: {known}")
    if entry.kind != kind:
        raise UnknownDatasetError(
            f"data.name: {name!r} is {_article(entry.kind)} {entry.kind} data set, and this method takes "
            f"{kind} data sets: {known}")
    return entry


def missing_requirements(entry: DatasetEntry) -> list[str]:
    """``"module (how to install)"`` for each required module that is not importable here (nothing is imported)."""
    return [f"{module} ({hint})" for module, hint in entry.requires if importlib.util.find_spec(module) is None]


def _top_level_names(module_name: str) -> set[str] | None:
    """The names a module's source binds at top level (def, class, assignment, import), read without importing it
    (a loader module imports torch); None when there is no source to read (then the module is imported)."""
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    names: set[str] = set()
    for node in ast.parse(Path(spec.origin).read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def resolve(entry: DatasetEntry, what: str, load: bool = True) -> Callable | None:
    """The entry's ``loader`` or ``check`` function (None for an entry without a check).

    A path that does not resolve is a DatasetUnavailableError naming the entry and the path, not a bare
    ImportError or AttributeError from deep inside a trial. ``load=False``: only check that it resolves, reading
    the module's source where it is not imported yet (returns None): a driver checks a loader without its torch.
    """
    path = getattr(entry, what)
    if not path:
        return None
    module_name, function = path.split(":")
    if not load and module_name not in sys.modules:
        try:
            names = _top_level_names(module_name)
        except (OSError, SyntaxError):
            names = None
        if names is None and importlib.util.find_spec(module_name) is None:
            raise DatasetUnavailableError(
                f"data.name: data set {entry.name!r} is registered with {what} {path!r}, but {module_name} cannot be "
                f"imported (ModuleNotFoundError: no module named {module_name!r}); registered {entry.kind} data sets: "
                f"{', '.join(dataset_names(entry.kind))}")
        if names is not None:
            if function not in names:
                raise DatasetUnavailableError(
                    f"data.name: data set {entry.name!r} is registered with {what} {path!r}, but {module_name} has "
                    f"no function {function!r}; registered {entry.kind} data sets: "
                    f"{', '.join(dataset_names(entry.kind))}")
            return None
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise DatasetUnavailableError(
            f"data.name: data set {entry.name!r} is registered with {what} {path!r}, but {module_name} cannot be "
            f"imported ({type(err).__name__}: {err}); registered {entry.kind} data sets: "
            f"{', '.join(dataset_names(entry.kind))}") from None
    found = getattr(module, function, None)
    if not callable(found):
        raise DatasetUnavailableError(
            f"data.name: data set {entry.name!r} is registered with {what} {path!r}, but {module_name} has no "
            f"function {function!r}; registered {entry.kind} data sets: {', '.join(dataset_names(entry.kind))}")
    return found


def check_entry(name: str, kind: str, cfg: object) -> DatasetEntry:
    """Everything that can be known before loading: the name is registered for this kind, the packages it needs
    are installed, its functions resolve, and its own check passes on ``cfg``. Returns the entry."""
    entry = get_dataset(name, kind)
    missing = missing_requirements(entry)
    if missing:
        raise DatasetUnavailableError(
            f"data.name: data set {name!r} is registered but unavailable here: it needs {', '.join(missing)}, "
            "which is not installed")
    resolve(entry, "loader", load=False)  # its module (torch) is imported where the data set is loaded
    check = resolve(entry, "check")
    if check is not None:
        check(cfg)
    return entry


def describe() -> str:
    """The registry as a fixed-width table (name, kind, source, description), from the entries alone."""
    entries = sorted(DATASETS.values(), key=lambda e: (e.kind, e.name))
    rows = [(e.name, e.kind, e.source, e.description) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{n:<{widths[0]}}  {k:<{widths[1]}}  {s:<{widths[2]}}  {d}" for n, k, s, d in rows)
