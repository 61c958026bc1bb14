"""Results: tidy rows (one measured value each) in Parquet files under a storage root.

Layout under the root (``RAYSTUDY_STORAGE``, default ``~/raystudy``; a local path or a pyarrow
filesystem URI such as ``s3://bucket/prefix``)::

    results/<experiment>/<trial>/epoch=000012.parquet   rows of one trial's epoch
    reports/<experiment>/                                summary table and plots
    tune/<experiment>/                                   Tune's own state and checkpoints

Each file is written whole under a temporary name and then renamed, so a crash loses at most the rows
in flight. File names are deterministic per (experiment, trial, epoch): a trial that resumes from a
checkpoint and repeats an epoch rewrites the same file instead of adding duplicate rows.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("study", pa.string()),
        ("job", pa.string()),
        ("method", pa.string()),
        ("paper", pa.string()),
        ("dataset", pa.string()),
        ("seed", pa.int64()),
        ("trial", pa.string()),
        ("epoch", pa.int64()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("config", pa.string()),  # the trial's full method config as JSON
        ("code_version", pa.string()),
        # "running"; "final" (a trial's last epoch, trained to the end); "stopped" (the last epoch of a trial the
        # scheduler stopped early; written by the sweep's driver, jobs/trialstatus.py); "error"
        ("status", pa.string()),
        ("time", pa.timestamp("ms", tz="UTC")),
        ("elapsed_s", pa.float64()),  # seconds since the trial started (this attempt)
        ("node", pa.string()),  # the cluster node that computed the row (Ray node id), when known
    ]
)


def storage_root(root: str | os.PathLike | None = None) -> str:
    """The storage root: the argument, else ``RAYSTUDY_STORAGE``, else ``~/raystudy``; local paths absolute."""
    root = str(root or os.environ.get("RAYSTUDY_STORAGE") or "~/raystudy")
    if "://" in root:
        return root.rstrip("/")
    return str(Path(root).expanduser().resolve())


def _filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    if "://" in root:
        return pafs.FileSystem.from_uri(root)
    return pafs.LocalFileSystem(), root


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the code (``-dirty`` when it has uncommitted changes), else the package version."""
    repo = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=repo, capture_output=True, text=True, timeout=5, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"raystudy-{version('raystudy')}"
        except PackageNotFoundError:
            return "unknown"


@dataclass(frozen=True)
class RunInfo:
    """Who produced a row: the labels every row of one trial shares."""

    experiment: str
    method: str
    paper: str
    dataset: str
    seed: int
    trial: str
    config_json: str
    study: str = ""
    job: str = ""
    code_version: str = ""
    node: str = ""

    @staticmethod
    def config_to_json(config: Mapping[str, Any]) -> str:
        return json.dumps(config, sort_keys=True, default=str)


def metric_rows(
    info: RunInfo, epoch: int, metrics: Mapping[str, Any], status: str, elapsed_s: float
) -> list[dict[str, Any]]:
    """One row per finite-or-not numeric metric; non-numeric values are skipped."""
    now = int(time.time() * 1000)
    rows = []
    for name, value in sorted(metrics.items()):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        rows.append(
            {
                "study": info.study, "job": info.job, "method": info.method, "paper": info.paper,
                "dataset": info.dataset, "seed": info.seed, "trial": info.trial, "epoch": epoch,
                "metric": name, "value": float(value), "config": info.config_json,
                "code_version": info.code_version, "status": status, "time": now, "elapsed_s": elapsed_s,
                "node": info.node,
            }
        )
    return rows


class ResultsStore:
    """Reads and writes result rows under a storage root (local path or pyarrow filesystem URI)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = storage_root(root)
        self.fs, self.base = _filesystem(self.root)

    def path(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *parts])

    def write_rows(self, rows: Iterable[Mapping[str, Any]], *relparts: str) -> str:
        """Write rows as one Parquet file at ``results/<relparts...>``: temporary name, then rename."""
        table = pa.Table.from_pylist(list(rows), schema=SCHEMA)
        final = self.path("results", *relparts)
        parent = final.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}.parquet"
        with self.fs.open_output_stream(tmp) as out:
            pq.write_table(table, out)
        self.fs.move(tmp, final)
        return final

    def write_epoch(self, info: RunInfo, epoch: int, metrics: Mapping[str, Any], status: str,
                    elapsed_s: float) -> str:
        rows = metric_rows(info, epoch, metrics, status, elapsed_s)
        return self.write_rows(rows, info.experiment, info.trial, f"epoch={epoch:06d}.parquet")

    def exists(self, *relparts: str) -> bool:
        return self.fs.get_file_info(self.path(*relparts)).type != pafs.FileType.NotFound

    def read_text(self, *relparts: str) -> str | None:
        """A small text file under the root (state, records), or None when absent."""
        if not self.exists(*relparts):
            return None
        with self.fs.open_input_stream(self.path(*relparts)) as src:
            return src.read().decode()

    def write_text(self, text: str, *relparts: str) -> str:
        """Write a small text file whole: temporary name, then rename."""
        final = self.path(*relparts)
        parent = final.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        with self.fs.open_output_stream(tmp) as out:
            out.write(text.encode())
        self.fs.move(tmp, final)
        return final

    def put_file(self, local: str | os.PathLike, *relparts: str) -> str:
        """Copy a local file (a report, a plot) to ``<root>/<relparts...>``, written whole then renamed."""
        final = self.path(*relparts)
        parent = final.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        with self.fs.open_output_stream(tmp) as out, open(local, "rb") as src:
            out.write(src.read())
        self.fs.move(tmp, final)
        return final

    def set_aside(self, experiment: str) -> str | None:
        """Move an experiment's rows out of the way (``<experiment>.orphaned-<time>``), e.g. rows of a run
        that died before Tune recorded its trials, so that a new run under the same name starts clean."""
        if not self.files(experiment):
            return None
        target = self.path("results", f"{experiment}.orphaned-{time.strftime('%Y%m%d-%H%M%S')}")
        self.fs.move(self.path("results", experiment), target)
        return target

    def experiments(self, prefix: str = "") -> list[str]:
        """Names of the experiments under ``results/`` that start with ``prefix``."""
        base = self.path("results")
        if self.fs.get_file_info(base).type == pafs.FileType.NotFound:
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=False))
        return sorted(i.base_name for i in infos
                      if i.type == pafs.FileType.Directory and i.base_name.startswith(prefix))

    def files(self, experiment: str = "") -> list[str]:
        base = self.path("results", experiment) if experiment else self.path("results")
        info = self.fs.get_file_info(base)
        if info.type == pafs.FileType.NotFound:
            return []
        sel = pafs.FileSelector(base, recursive=True)
        return sorted(
            f.path for f in self.fs.get_file_info(sel)
            if f.type == pafs.FileType.File and f.path.endswith(".parquet") and "/.tmp-" not in f.path
        )

    def read(self, experiment: str = "") -> pa.Table:
        """All rows under ``results/<experiment>`` (all experiments when empty), as one table."""
        files = self.files(experiment)
        if not files:
            return SCHEMA.empty_table()
        return pa.concat_tables([pq.read_table(f, filesystem=self.fs, schema=SCHEMA) for f in files])
