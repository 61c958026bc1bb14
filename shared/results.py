"""Results: tidy rows (one measured value each) in Parquet files under a storage root.

Layout under the root (``RAYSTUDY_STORAGE``, default ``~/raystudy``; a local path or a pyarrow
filesystem URI such as ``s3://bucket/prefix``)::

    results/<experiment>/<trial>/epoch=000012.parquet   rows of one trial's epoch
    results/<experiment>/<trial>/files/<name>            its evaluators' pictures of the final model
    reports/<experiment>/                                summary table and plots
    tune/<experiment>/                                   Tune's own state and checkpoints
    quarantine/results/<experiment>/<trial>/...          damaged (unreadable) result files, moved aside

Each file is written whole under a temporary name, fsync'd (local disks) and then renamed, so a crash loses at
most the rows in flight; a failed write removes its temporary file, and a full disk raises ``DiskFullError`` naming
the path and the bytes needed. A file that cannot be read is never skipped silently: ``read`` raises
``DamagedResultsError`` naming it, and ``quarantine`` moves it to ``quarantine/`` where reports list it as missing.
File names are deterministic per (experiment, trial, epoch): a trial that resumes from a
checkpoint and repeats an epoch rewrites the same file instead of adding duplicate rows.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from shared import atomic
from shared.config import ConfigError

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


class StorageError(ConfigError):
    """The storage root cannot hold results (not a directory, not writable); the message names the path."""


def check_storage_root(root: str | os.PathLike | None = None) -> str:
    """The storage root (as :func:`storage_root`), checked to be, or to be creatable as, a writable directory.

    Runs before Ray starts, so that a root such as ``/etc/passwd/x`` or a read-only mount fails at once with
    a message instead of after the first trial. Creates nothing: the deepest existing ancestor must be a
    directory this process can create files in (probed with an unnamed temporary file). URIs (``s3://``) are
    left to their filesystem.
    """
    resolved = storage_root(root)
    if "://" in resolved:
        return resolved
    path = Path(resolved)
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        why = "is not a directory" if existing == path else f"cannot be created: {existing} is not a directory"
        raise StorageError(f"storage root {resolved} {why} (set --storage or RAYSTUDY_STORAGE)")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        what = "is not writable" if existing == path else f"cannot be created in {existing}"
        raise StorageError(f"storage root {resolved} {what}: {err.strerror or err} "
                           "(set --storage or RAYSTUDY_STORAGE)") from None
    return resolved


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
        if isinstance(value, bool) or not isinstance(value, int | float):
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

    def __init__(self, root: str | os.PathLike | None = None, reserve: int = 0) -> None:
        self.root = storage_root(root)
        self.fs, self.base = _filesystem(self.root)
        self.reserve = reserve  # bytes a write must leave free on a local disk (else DiskFullError before writing)

    def path(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *parts])

    def _write_whole(self, final: str, data: bytes) -> str:
        """Write ``data`` at ``final`` whole: temporary name, then rename (fsync'd on a local disk); the
        temporary file is removed on any failure and a full disk raises ``DiskFullError`` naming the path."""
        if isinstance(self.fs, pafs.LocalFileSystem):
            if self.reserve:
                atomic.ensure_room(final, len(data), self.reserve)
            return atomic.write_bytes(final, data)
        parent = final.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/{atomic.TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            with self.fs.open_output_stream(tmp) as out:
                out.write(data)
            self.fs.move(tmp, final)
        except BaseException as err:
            with contextlib.suppress(OSError):
                self.fs.delete_file(tmp)
            if atomic.is_disk_full(err):
                raise atomic.disk_full(final, len(data)) from None
            raise
        return final

    def write_rows(self, rows: Iterable[Mapping[str, Any]], *relparts: str) -> str:
        """Write rows as one Parquet file at ``results/<relparts...>``: temporary name, then rename."""
        table = pa.Table.from_pylist(list(rows), schema=SCHEMA)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return self._write_whole(self.path("results", *relparts), sink.getvalue().to_pybytes())

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
        return self._write_whole(self.path(*relparts), text.encode())

    def put_file(self, local: str | os.PathLike, *relparts: str) -> str:
        """Copy a local file (a report, a plot) to ``<root>/<relparts...>``, written whole then renamed."""
        return self._write_whole(self.path(*relparts), Path(local).read_bytes())

    def names(self, *relparts: str) -> list[str]:
        """The names of the files directly under ``<root>/<relparts...>`` (none when it does not exist), sorted."""
        base = self.path(*relparts)
        if self.fs.get_file_info(base).type != pafs.FileType.Directory:
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=False))
        return sorted(i.base_name for i in infos
                      if i.type == pafs.FileType.File and not i.base_name.startswith(atomic.TMP_PREFIX))

    def read_bytes(self, *relparts: str) -> bytes:
        with self.fs.open_input_stream(self.path(*relparts)) as stream:
            return stream.read()

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
        """All rows under ``results/<experiment>`` (all experiments when empty), as one table. A damaged
        (unreadable) file raises ``DamagedResultsError`` naming it: rows are never silently left out."""
        table, damaged = self.read_checked(experiment)
        if damaged:
            raise DamagedResultsError(self, damaged)
        return table

    def read_checked(self, experiment: str = "") -> tuple[pa.Table, list[DamagedFile]]:
        """The rows of every readable file, and the files that could not be read (with why)."""
        tables, damaged = [], []
        for path in self.files(experiment):
            try:
                # the bytes in one read: read_table(path) opens the file twice, and a retried trial rewriting
                # the same epoch file (a rename) in between would make a sound file look damaged
                with self.fs.open_input_file(path) as src:
                    data = src.read()
                tables.append(pq.read_table(pa.BufferReader(data), schema=SCHEMA))
            except (pa.ArrowException, OSError) as err:  # truncated, empty, not Parquet, wrong columns
                damaged.append(DamagedFile(path, _read_error(err)))
        return (pa.concat_tables(tables) if tables else SCHEMA.empty_table()), damaged

    # -- damaged files: moved aside, never silently dropped --------------------------------------------
    def quarantine(self, damaged: Iterable[DamagedFile | str]) -> list[str]:
        """Move damaged result files to ``<root>/quarantine/results/...`` (same relative path, a numbered suffix
        if that name is taken), beside a ``.why`` note with the read error. Returns the new paths."""
        moved = []
        for item in damaged:
            path, reason = (item.path, item.reason) if isinstance(item, DamagedFile) else (item, "")
            rel = path[len(self.path("results")) + 1:]
            target = self.path(QUARANTINE, "results", rel)
            number = 1
            while self.fs.get_file_info(target).type != pafs.FileType.NotFound:
                target = self.path(QUARANTINE, "results", f"{rel}.{number}")
                number += 1
            self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            self.fs.move(path, target)
            self._write_whole(f"{target}.why", (reason or "damaged").encode())
            moved.append(target)
        return moved

    def quarantined(self, experiment: str) -> list[QuarantinedFile]:
        """The result files of ``experiment`` that were moved to quarantine, and whether each epoch has been
        written again since (the trial reran it)."""
        base = self.path(QUARANTINE, "results", experiment)
        if self.fs.get_file_info(base).type == pafs.FileType.NotFound:
            return []
        out = []
        for info in self.fs.get_file_info(pafs.FileSelector(base, recursive=True)):
            if info.type != pafs.FileType.File or info.path.endswith(".why"):
                continue
            rel = info.path[len(self.path(QUARANTINE, "results")) + 1:]
            original = re.sub(r"(\.parquet)\.\d+$", r"\1", rel)
            trial = original.split("/")[1] if original.count("/") >= 2 else ""
            epoch = re.search(r"epoch=(\d+)", original)
            why = self.read_text(QUARANTINE, "results", f"{rel}.why") or ""
            out.append(QuarantinedFile(info.path, trial, int(epoch.group(1)) if epoch else -1, why.strip(),
                                       rewritten=self.exists("results", original)))
        return sorted(out, key=lambda q: (q.trial, q.epoch, q.path))

    def remove_leftovers(self, experiment: str) -> list[str]:
        """Delete temporary files a killed or failed writer left under ``results/<experiment>``. Call it only
        when nothing writes there (before a sweep starts)."""
        if not isinstance(self.fs, pafs.LocalFileSystem) or not experiment:
            return []
        return atomic.remove_leftovers(self.path("results", experiment))


QUARANTINE = "quarantine"


def _read_error(err: BaseException) -> str:
    """pyarrow's reason in one line, without the path it repeats ("Could not open Parquet input source '...'")."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return re.sub(r"^Could not open Parquet input source '[^']*': ", "", text)


@dataclass(frozen=True)
class DamagedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class QuarantinedFile:
    path: str
    trial: str
    epoch: int
    reason: str
    rewritten: bool  # the epoch was computed again after the damaged file was moved aside


class DamagedResultsError(Exception):
    """Result files that cannot be read; the message names them and how to move them aside."""

    def __init__(self, store: ResultsStore | str, damaged: list[DamagedFile] | None = None) -> None:
        if isinstance(store, str):  # rebuilt from its message (pickled through Ray)
            super().__init__(store)
            self.damaged: list[DamagedFile] = []
            return
        self.damaged = list(damaged or [])
        lines = [f"{len(self.damaged)} damaged result file(s) cannot be read (their rows would be missing):"]
        lines += [f"  {d.path}: {d.reason}" for d in self.damaged]
        lines.append(f"move them to {store.path(QUARANTINE, 'results')}/... and report without their rows with "
                     "`python jobs/report.py EXPERIMENT --quarantine` (a resumed sweep does this itself; a trial "
                     "that reruns the epoch writes it again, else the report lists the rows as missing)")
        super().__init__("\n".join(lines))

    def __reduce__(self):
        return (DamagedResultsError, (str(self),))


def quarantine_damaged(store: ResultsStore, experiment: str, log: Any = print) -> list[QuarantinedFile]:
    """Before a sweep (re)starts: delete leftover temporary files and move damaged result files of the
    experiment to quarantine, saying which. Returns what was moved."""
    for leftover in store.remove_leftovers(experiment):
        log(f"[raystudy] removed a leftover temporary file: {leftover}")
    _, damaged = store.read_checked(experiment)
    moved = store.quarantine(damaged)
    for item, target in zip(damaged, moved, strict=True):
        log(f"[raystudy] WARNING damaged result file {item.path} ({item.reason}) moved to {target}; its rows are "
            "missing unless the trial computes that epoch again")
    return [q for q in store.quarantined(experiment) if q.path in set(moved)]
