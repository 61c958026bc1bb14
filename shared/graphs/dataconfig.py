"""The graph methods' ``data:`` sections and the checks of the graph data sets, torch-free: a sweep's driver loads and
validates a graph method's config without importing torch, PyG or networkx (the loaders, in ``data.py``, ``local.py``,
``molecules.py`` and ``links.py``, import them in the trials, and what moved here from them).

The data-set registry (``shared/data/registry.py``) names the checks below: each looks at the config and the file
system (names, sizes, a package's files), never at the data itself.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from shared.config import ConfigError, bounded
from shared.data import DatasetNotFoundError
from shared.data.registry import check_entry
from shared.graphs.tu_files import TU_REQUIRED, TU_TARGETS, tu_folder

# grid_filter's spectral responses: the names of shared.graphs.generated.FILTERS (checked equal in the tests)
GRID_FILTERS = ("low", "high", "band", "rejection", "comb")


@dataclass
class GraphDataConfig:
    """The `data:` section of a graph method's config."""

    name: str = bounded("zinc_like", help="a registered graph data set (shared/data/registry.py)")
    root: str | None = None  # local folder: the real ZINC benchmark (zinc), a TU data set (tu)
    path: str | None = None  # a PyG InMemoryDataset file (pyg_file)
    tu_name: str | None = None  # tu: the data set's file prefix, e.g. MUTAG for MUTAG_A.txt
    n_train: int = bounded(2000, ge=1)
    n_val: int = bounded(250, ge=1)
    n_test: int = bounded(250, ge=1)
    seed: int = bounded(0, ge=0, help="seeds the molecule subset, the generated graphs and the split")
    pe_k: int = bounded(16, ge=1, help="Laplacian eigenpairs per graph (zero-padded when a graph has fewer)")
    keep_trivial: bool = bounded(True, help="keep the first eigenpair (eigenvalue 0)")
    n_min: int = bounded(15, ge=3, help="cycles: fewest nodes per graph")
    n_max: int = bounded(25, ge=3, help="cycles: most nodes per graph")
    avg_degree: float = bounded(2.0, gt=0.0, help="cycles: expected degree of the ER graphs")
    grid_side: int = bounded(12, ge=3, help="grid_filter: the grid is side x side")
    filter: str = bounded("band", choices=list(GRID_FILTERS), help="grid_filter: the spectral response")

    def check(self) -> None:
        """The name is a registered graph set that is available here, and its own check passes (before Ray)."""
        check_entry(self.name, "graph", self)


@dataclass
class LinkDataConfig:
    """The `data:` section of link prediction on nearly symmetric graphs (``shared/graphs/links.py``)."""

    base: str = bounded("er", choices=["er", "ba"], help="the copied base graph: Erdos-Renyi or Barabasi-Albert")
    nodes: int = bounded(300, ge=4, help="nodes of each copy")
    copies: int = bounded(2, ge=1)
    p: float = bounded(0.05, gt=0.0, le=1.0, help="ER edge probability")
    m: int = bounded(5, ge=1, help="BA edges per new node")
    extra_edges: int = bounded(300, ge=0, help="random edges added over the whole graph")
    val_share: float = bounded(0.1, gt=0.0, lt=0.5)
    test_share: float = bounded(0.1, gt=0.0, lt=0.5)
    pe_k: int = bounded(16, ge=1, help="eigenvectors (after dropping the trivial one)")
    seed: int = bounded(0, ge=0)


# ----------------------------------------------------------------------------------------------------
# zinc_like and zinc (shared/graphs/molecules.py reads them)


class MoleculeSourceError(FileNotFoundError):
    """The shipped molecule files or RDKit are missing; the message says what to install."""


def moses_smiles_file(split: str = "test") -> Path:
    """The MOSES SMILES file inside the installed ``molsets`` package (located without importing it)."""
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise MoleculeSourceError("zinc_like needs the molecules shipped in the molsets package: "
                                  "pip install --no-deps molsets==0.3.1 (scripts/setup.sh does)")
    path = Path(spec.submodule_search_locations[0]) / "dataset" / "data" / f"{split}.csv.gz"
    if not path.exists():
        raise MoleculeSourceError(f"molsets is installed but {path} is missing; reinstall molsets==0.3.1")
    return path


ZINC_RAW_FILES = ("train.pickle", "val.pickle", "test.pickle", "train.index", "val.index", "test.index")


def check_zinc_root(root: str | None) -> Path:
    """The local root of the real ZINC benchmark, or an error naming what to download and where."""
    if not root:
        raise FileNotFoundError("data.root: the zinc data set reads the real ZINC benchmark from a local folder; "
                                "set data.root (or use data.name=zinc_like, built offline)")
    raw = Path(root).expanduser() / "raw"
    processed = Path(root).expanduser() / "subset" / "processed"
    if processed.exists() or all((raw / f).exists() for f in ZINC_RAW_FILES):
        return Path(root).expanduser()
    raise FileNotFoundError(
        f"data.root: ZINC not found under {root}: download https://www.dropbox.com/s/feo9qle74kg48gy/molecules.zip "
        f"and unzip its molecules/ folder as {raw}/ (train/val/test.pickle), and the split files "
        f"https://raw.githubusercontent.com/graphdeeplearning/benchmarking-gnns/master/data/molecules/"
        f"{{train,val,test}}.index into the same folder (the files PyG's ZINC loader reads)")


def check_zinc_like(cfg: GraphDataConfig) -> None:
    """The molecules ship in molsets (found without importing it); the registry has checked that it is there."""
    try:
        moses_smiles_file("test")
    except MoleculeSourceError as err:
        raise ConfigError(f"data.name: {err}") from None


def check_zinc(cfg: GraphDataConfig) -> None:
    try:
        check_zinc_root(cfg.root)
    except FileNotFoundError as err:
        raise ConfigError(str(err)) from None


def check_cycles(cfg: GraphDataConfig) -> None:
    if cfg.n_min > cfg.n_max:
        raise ConfigError(f"data.n_min: {cfg.n_min} is larger than data.n_max={cfg.n_max}")


# ----------------------------------------------------------------------------------------------------
# your own files: tu (its folder rules are tu_files.py's) and pyg_file (shared/graphs/local.py reads them)


def check_tu(cfg: GraphDataConfig) -> None:
    folder = tu_folder(cfg.root, cfg.tu_name)
    files = [f"{cfg.tu_name}_{part}.txt" for part in TU_REQUIRED]
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise DatasetNotFoundError(f"data.root: {folder} lacks {', '.join(missing)}")
    targets = [folder / f"{cfg.tu_name}_{part}.txt" for part in TU_TARGETS]
    present = [path for path in targets if path.is_file()]
    if not present:
        raise ConfigError(f"data.tu_name: {cfg.tu_name} in {folder} has no target: the graph methods need "
                          f"{' or '.join(p.name for p in targets)}")
    with open(present[0]) as f:  # one line per graph: the count, without reading the graphs
        check_split_sizes(cfg, sum(1 for line in f if line.strip()), f"{cfg.tu_name} in {folder}")


def check_pyg_file(cfg: GraphDataConfig) -> None:
    if not cfg.path:
        raise ConfigError("data.path: pyg_file reads a file written by InMemoryDataset.save; set data.path=<file>")
    if not Path(cfg.path).expanduser().is_file():
        raise DatasetNotFoundError(f"data.path: {cfg.path} does not exist (or is not a file)")


def check_split_sizes(cfg: GraphDataConfig, available: int, what: str) -> None:
    asked = cfg.n_train + cfg.n_val + cfg.n_test
    if asked > available:
        raise ConfigError(f"data.n_train: n_train + n_val + n_test = {cfg.n_train} + {cfg.n_val} + {cfg.n_test} = "
                          f"{asked} graphs, but {what} has {available}; set smaller counts")
