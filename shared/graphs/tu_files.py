"""Where a TU-format data set's files are and whether they are complete, from the file system alone (torch-free): a
sweep's driver checks tmd's ``data.name=tu`` config without importing PyG, which reads the files in the trials
(``shared/graphs/local.py`` and ``shared/graphs/tmd_data.py`` locate them here too; the graph data sets' check is
``shared/graphs/dataconfig.py``'s ``check_tu``)."""
from __future__ import annotations

from pathlib import Path

from shared.config import ConfigError
from shared.data import DatasetNotFoundError

TU_REQUIRED = ("A", "graph_indicator")
TU_TARGETS = ("graph_attributes", "graph_labels")
TU_ARCHIVES = "https://www.chrsmrrs.com/graphkerneldatasets/<NAME>.zip"


def tu_folder(root: str | None, name: str | None) -> Path:
    """The folder holding <name>_A.txt, or an error that says where it was looked for."""
    if not root or not name:
        raise ConfigError("data.root: tu reads a TU-format data set from a local folder: set data.root=<folder> and "
                          "data.tu_name=<NAME> (the prefix of <NAME>_A.txt)")
    base = Path(root).expanduser()
    candidates = [base / name / "raw", base / name, base]
    for folder in candidates:
        if (folder / f"{name}_A.txt").is_file():
            return folder
    raise DatasetNotFoundError(f"data.root: no {name}_A.txt in {', '.join(map(str, candidates))}; unpack "
                               f"{name}.zip from the TU collection into {base} (nothing is downloaded)")


def check_tu_classes(root: str | None, tu_name: str | None) -> None:
    """The TU files are there and carry graph labels (TMD-SVM classifies); a ConfigError says what to download and
    where otherwise."""
    try:
        folder = tu_folder(root, tu_name)
    except DatasetNotFoundError as err:
        raise ConfigError(f"{err}; the archive is {TU_ARCHIVES.replace('<NAME>', str(tu_name))}") from None
    missing = [f"{tu_name}_{part}.txt" for part in (*TU_REQUIRED, "graph_labels")
               if not (folder / f"{tu_name}_{part}.txt").is_file()]
    if missing:
        raise ConfigError(f"data.tu_name: {folder} lacks {', '.join(missing)} (TMD-SVM needs the graph classes); "
                          f"unpack {TU_ARCHIVES.replace('<NAME>', str(tu_name))} there")
