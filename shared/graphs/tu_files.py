"""Where a TU-format data set's files are, from the file system alone (torch-free): a sweep's driver checks a
``data.name=tu`` config without importing PyG, which reads the files in the trials (``shared/graphs/local.py`` locates
them here too; the graph data sets' check is ``shared/graphs/dataconfig.py``'s ``check_tu``)."""
from __future__ import annotations

from pathlib import Path

from shared.config import ConfigError
from shared.data import DatasetNotFoundError

TU_REQUIRED = ("A", "graph_indicator")
TU_TARGETS = ("graph_attributes", "graph_labels")


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
