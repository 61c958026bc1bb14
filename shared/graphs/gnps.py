"""A reader of the GNPS input SMILES of GrAFF-MS (murphy17/graff-ms, data/gnps/gnps.tsv), torch-free: graff_ms's config
check reads the file before Ray starts without importing the spectra code (``shared/graphs/spectra.py``: torch)."""
from __future__ import annotations

from pathlib import Path

GNPS_COLUMNS = ("Spectrum", "SMILES", "Precursor_type", "NCE", "Instrument")


def read_gnps_smiles(path: Path) -> list[str]:
    """The distinct SMILES, in file order, of a file in the format of murphy17/graff-ms's data/gnps/gnps.tsv: tab
    separated, no header, one spectrum a row with the columns :data:`GNPS_COLUMNS`. ValueError naming the first
    malformed row."""
    smiles: dict[str, None] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(GNPS_COLUMNS) or not fields[1].strip():
            raise ValueError(f"{path} line {number}: expected {len(GNPS_COLUMNS)} tab-separated fields "
                             f"({', '.join(GNPS_COLUMNS)}; no header) with a SMILES, got {line[:80]!r}")
        smiles.setdefault(fields[1].strip(), None)
    if not smiles:
        raise ValueError(f"{path} holds no rows")
    return list(smiles)
