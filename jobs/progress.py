"""Compact sweep progress for a terminal and for job logs, in place of Tune's status table.

Tune's own table is 177 columns wide, reprinted every 30 s, has no column for the measure the sweep is
about, and its "current best trial" can name a worse one. Here instead:

- a progress line over trial-epochs (all trials x their epochs; a trial the scheduler stops early takes its
  unrun epochs out of the total) with running / finished / stopped / error counts, the best trial by the
  headline measure and an ETA;
- a short table (trial, key hyperparameters, epoch, status, headline measure), best first, every
  ``table_every`` seconds and at the end;
- one line when a trial ends (finished, stopped by the scheduler, error with its message).

On a terminal (a TTY) the progress line is redrawn in place at most once a second; anywhere else (``ray job
submit`` logs, files) every line is plain text without control codes, the progress line every
``line_every`` seconds. The headline measure is the method's first declared headline measure
(``spec.headline[0]``), else (or when the trials do not report it) the sweep's ``metric``/``mode``. The best
trial is the one whose latest reported value of that measure is best in its direction.

``ProgressBoard`` holds the state and renders text (no Ray); ``SweepProgress`` feeds it from Tune's callbacks.
"""
from __future__ import annotations

import math
import shutil
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ray.tune import Callback

WIDTH = 100  # the widest line written when the terminal's width is unknown (and never wider than the terminal)
CLEAR_LINE = "\r\x1b[K"
STATUSES = ("running", "finished", "stopped", "error")


def trial_count(search_space: dict[str, Any], num_samples: int) -> int:
    """How many trials a sweep runs: every grid point (the product of the grid lengths) times num_samples."""
    points = 1
    for domain in search_space.values():
        if isinstance(domain, dict) and "grid" in domain:
            points *= max(len(domain["grid"]), 1)
    return points * num_samples


def headline_measure(spec: Any, metric: str, mode: str) -> tuple[str, str]:
    """(name, mode) of the measure progress leads with: the method's first headline measure, else the sweep's."""
    headline = getattr(spec, "headline", ()) or ()
    if headline:
        first = headline[0]
        return first.name, getattr(first, "mode", "max")
    return metric, mode


def key_parameters(spec: Any, search_space: dict[str, Any]) -> list[str]:
    """The hyperparameters that vary between trials, the ones the method's comparison is about first."""
    varying = [key for key, domain in search_space.items() if isinstance(domain, dict)]
    compare = [key for key in getattr(spec, "compare", ()) or () if key in varying]
    return compare + [key for key in varying if key not in compare]


def short_name(key: str, keys: list[str]) -> str:
    """``optim.lr`` -> ``lr`` unless another key ends the same way."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key


def format_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    return str(value)


def format_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class TrialRow:
    trial_id: str
    params: dict[str, Any]
    epochs: int  # epochs the trial would run to the end
    epoch: int = 0
    status: str = "pending"  # pending | running | finished | stopped | error
    value: float | None = None  # latest reported headline measure
    error: str = ""


@dataclass
class ProgressBoard:
    """Progress state of one sweep, and its rendering as text lines no wider than ``width``."""

    total_trials: int
    epochs: int  # epochs per trial unless a trial's config says otherwise
    metric: str
    mode: str = "max"
    params: list[str] = field(default_factory=list)
    width: int = WIDTH
    max_rows: int = 12
    trials: dict[str, TrialRow] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    epochs_this_run: int = 0  # results received since this driver started (a resumed sweep's rate)
    # the sweep's own metric: led with instead when the trials report it but not the method's headline measure
    # (e.g. one cell of a grid reports its accuracy, not the whole curve's summary)
    fallback: str = ""
    fallback_mode: str = "max"

    def add(self, trial_id: str, config: dict[str, Any]) -> TrialRow:
        if trial_id not in self.trials:
            self.trials[trial_id] = TrialRow(trial_id, {k: config.get(k) for k in self.params},
                                             int(config.get("epochs", self.epochs) or self.epochs))
        return self.trials[trial_id]

    def result(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> None:
        row = self.add(trial_id, config)
        row.status = "running"
        row.epoch = int(result.get("epoch") or result.get("training_iteration") or row.epoch + 1)
        if (self.fallback and self.metric not in result and self.fallback in result
                and all(r.value is None for r in self.trials.values())):
            self.metric, self.mode = self.fallback, self.fallback_mode
        value = result.get(self.metric)
        if isinstance(value, int | float) and not isinstance(value, bool):
            row.value = float(value)
        self.epochs_this_run += 1

    def end(self, trial_id: str, config: dict[str, Any], status: str, error: str = "") -> TrialRow:
        row = self.add(trial_id, config)
        row.status, row.error = status, error
        return row

    # what the board shows
    def counts(self) -> dict[str, int]:
        return {status: sum(row.status == status for row in self.trials.values()) for status in STATUSES}

    def epoch_totals(self) -> tuple[int, int]:
        """(trial-epochs done, trial-epochs in all): an ended trial counts the epochs it ran, a trial not yet
        started its full length."""
        done = sum(row.epoch for row in self.trials.values())
        total = sum(row.epoch if row.status in ("finished", "stopped", "error") else row.epochs
                    for row in self.trials.values())
        total += max(self.total_trials - len(self.trials), 0) * self.epochs
        return done, max(total, done)

    def best(self) -> TrialRow | None:
        scored = [row for row in self.trials.values() if row.value is not None and not math.isnan(row.value)]
        if not scored:
            return None
        return max(scored, key=lambda row: row.value) if self.mode == "max" else min(scored, key=lambda r: r.value)

    def eta(self, done: int, total: int) -> str:
        elapsed = time.monotonic() - self.started
        if done >= total:
            return format_duration(0)
        if self.epochs_this_run == 0 or elapsed <= 0:
            return "?"
        return format_duration((total - done) * elapsed / self.epochs_this_run)

    def progress_line(self, bar: int = 10) -> str:
        """``##........ 34/240 trial-epochs 14% | ETA 5:12 (0:42 elapsed) | 4 running, 2 finished | best acc 0.81
        (a1b2c_00003)``; its tail is dropped step by step until it fits ``width`` (the table names the best
        trial in any case)."""
        done, total = self.epoch_totals()
        fraction = done / total if total else 1.0
        filled = int(round(bar * fraction))
        eta = self.eta(done, total)
        best = self.best()
        # No "[raystudy]" prefix: the line is recognisable as it is, and the 11 columns let the best value fit.
        head = f"{'#' * filled}{'.' * (bar - filled)} {done}/{total} trial-epochs {fraction:.0%}"
        tally = ", ".join(f"{n} {status}" for status, n in self.counts().items() if n) or "starting"
        value = format_value(best.value) if best else "-"
        named = f"best {self.metric} {value}"
        trial = f" ({best.trial_id})" if best else ""
        timed = f"ETA {eta} ({format_duration(time.monotonic() - self.started)} elapsed)"
        for parts in ([head, timed, tally, named + trial], [head, f"ETA {eta}", tally, named + trial],
                      [head, f"ETA {eta}", tally, named], [head, f"ETA {eta}", tally, f"best {value}{trial}"],
                      [head, f"ETA {eta}", tally, f"best {value}"], [head, f"ETA {eta}", tally]):
            line = " | ".join(parts)
            if len(line) <= self.width:
                return line
        return line[: self.width]

    def table(self) -> list[str]:
        """The trials that started, best first (then those with no value yet), at most ``max_rows`` of them;
        trials not started yet are only counted."""
        started = sorted((row for row in self.trials.values() if row.status != "pending"), key=self._rank)
        shown = started[: self.max_rows]
        names = [short_name(key, self.params) for key in self.params]
        header = ["trial", *names, "epoch", "status", self.metric]
        rows = [[row.trial_id, *(format_value(row.params.get(k)) for k in self.params), f"{row.epoch}/{row.epochs}",
                 row.status, format_value(row.value) if row.value is not None else "-"] for row in shown]
        direction = "highest" if self.mode == "max" else "lowest"
        title = f"[raystudy] {plural(len(started), 'trial')} started, {direction} {self.metric} first:"
        lines = [title, *self._columns(header, rows)] if started else ["[raystudy] no trial started yet"]
        more = [plural(len(started) - len(shown), "more trial")] if len(started) > len(shown) else []
        pending = max(self.total_trials, len(self.trials)) - len(started)
        more += [f"{pending} not started yet"] if pending > 0 else []
        if more:
            lines.append(f"  ... {', '.join(more)}")
        return lines

    def _rank(self, row: TrialRow) -> tuple[int, float]:
        if row.value is None or math.isnan(row.value):
            return (1, 0.0)
        return (0, -row.value if self.mode == "max" else row.value)

    def _columns(self, header: list[str], rows: list[list[str]]) -> list[str]:
        """Aligned columns; hyperparameter cells are cut (with ~) when the line would be wider than ``width``."""
        table = [header, *rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        params = range(1, 1 + len(self.params))
        while sum(widths) + 2 * (len(widths) - 1) + 2 > self.width and any(widths[i] > 4 for i in params):
            widest = max(params, key=lambda i: widths[i])
            widths[widest] -= 1
        return ["  " + "  ".join(_fit(cell, w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]


def _fit(cell: str, width: int) -> str:
    return cell.ljust(width) if len(cell) <= width else cell[: width - 1] + "~"


class SweepProgress(Callback):
    """Tune callback that writes a ``ProgressBoard`` to ``stream`` (stdout by default); run the Tuner with
    ``verbose=0`` so that Tune's own table stays off."""

    def __init__(self, board: ProgressBoard, stream: TextIO | None = None, tty: bool | None = None,
                 line_every: float | None = None, table_every: float | None = None) -> None:
        self.board = board
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        if self.tty:
            self.board.width = min(self.board.width, shutil.get_terminal_size((WIDTH, 24)).columns - 1)
        self.line_every = line_every if line_every is not None else (1.0 if self.tty else 30.0)
        self.table_every = table_every if table_every is not None else (60.0 if self.tty else 120.0)
        self.last_line = self.last_table = time.monotonic()
        self.bar_shown = False

    def __getstate__(self) -> dict[str, Any]:
        """Tune pickles its run config (callbacks included) into tuner.pkl for a later resume: keep the
        sweep's shape, not the stream, the clock or the trials seen."""
        board = self.board
        return {"board": ProgressBoard(board.total_trials, board.epochs, board.metric, board.mode, board.params)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["board"])

    # Tune's callbacks
    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._sync(trials)
        now = time.monotonic()
        if now - self.last_table >= self.table_every:
            self.write_table()
        elif now - self.last_line >= self.line_every:
            self.write_progress()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.board.result(trial.trial_id, trial.config, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self.board.add(trial.trial_id, trial.config)
        # Not the result's "done": Tune sets it on the last result of a trial its scheduler stops, too.
        finished = row.epoch >= row.epochs
        self.board.end(trial.trial_id, trial.config, "finished" if finished else "stopped")
        value = f", {self.board.metric} {format_value(row.value)}" if row.value is not None else ""
        how = "finished" if finished else "stopped early (scheduler or time budget)"
        self.event(f"[raystudy] trial {row.trial_id} {how} at epoch {row.epoch}/{row.epochs}{value}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        message = error_message(trial)
        row = self.board.end(trial.trial_id, trial.config, "error", message)
        self.event(f"[raystudy] trial {row.trial_id} failed in epoch {row.epoch + 1}: {message}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self.board.add(trial.trial_id, trial.config)
        self.event(f"[raystudy] trial {row.trial_id} failed in epoch {row.epoch + 1}; retrying from its last "
                   f"checkpoint: {error_message(trial)}")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._sync(trials)
        self.write_lines(self.board.table())
        if not (self.tty and self.bar_shown):
            self.write_progress()
        if self.tty:  # end the in-place line: what the driver prints next starts on a line of its own
            self.stream.write("\n")
            self.bar_shown = False
        self.stream.flush()

    # output
    def write_progress(self) -> None:
        line = self.board.progress_line()
        if self.tty:
            self.stream.write(CLEAR_LINE + line)
            self.bar_shown = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last_line = time.monotonic()

    def write_table(self) -> None:
        self.write_lines(self.board.table())
        self.write_progress()
        self.last_table = time.monotonic()

    def event(self, text: str) -> None:
        """One event (a trial ended, failed), wrapped to the width with its continuation lines indented."""
        self.write_lines(textwrap.wrap(text, self.board.width, subsequent_indent="    ", break_on_hyphens=False))

    def write_lines(self, lines: list[str]) -> None:
        """Whole lines above the in-place progress line (which is redrawn after them on a terminal)."""
        if self.tty and self.bar_shown:
            self.stream.write(CLEAR_LINE)
        self.stream.write("".join(line + "\n" for line in lines))
        if self.tty and self.bar_shown:
            self.stream.write(self.board.progress_line())
        self.stream.flush()

    def _sync(self, trials: list) -> None:
        """Trials Tune knows of but that reported nothing to this driver: those of a resumed sweep that ended
        before, and those not started yet."""
        for trial in trials:
            if trial.trial_id in self.board.trials:
                continue
            row = self.board.add(trial.trial_id, trial.config)
            last = trial.last_result or {}
            if last:
                row.epoch = int(last.get("epoch") or last.get("training_iteration") or 0)
                row.value = _last_value(trial, self.board.metric)
            if trial.status == "TERMINATED":
                row.status = "finished" if row.epoch >= row.epochs else "stopped"
            elif trial.status == "ERROR":
                row.status = "error"


def _last_value(trial: Any, metric: str) -> float | None:
    """The latest value of ``metric`` Tune saw for a trial (results between evaluations lack it)."""
    value = (getattr(trial, "metric_analysis", {}) or {}).get(metric, {}).get("last")
    return float(value) if isinstance(value, int | float) else None


def error_message(trial: Any) -> str:
    """The last line of a failed trial's error (its type and message), not the whole traceback. Tune has just
    written it to the trial's local error.txt (the copy in storage follows later)."""
    text = ""
    try:
        local = getattr(trial, "error_file", None)
        if local and Path(local).is_file():
            text = Path(local).read_text(errors="replace")
        else:
            text = str(trial.get_error() or "")
    except Exception:  # noqa: BLE001 - a message is a courtesy; error.txt is what the user reads later
        pass
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "see the trial's error.txt"


def sweep_progress(spec: Any, sweep: Any) -> SweepProgress:
    """The progress callback of a sweep (``jobs.sweepconfig.SweepConfig``) of the method ``spec``."""
    metric, mode = headline_measure(spec, sweep.metric, sweep.mode)
    epochs = int(getattr(spec.load_config(sweep.overrides), "epochs", 1) or 1)
    board = ProgressBoard(trial_count(sweep.search_space, sweep.num_samples), epochs, metric, mode,
                          key_parameters(spec, sweep.search_space), fallback=sweep.metric, fallback_mode=sweep.mode)
    return SweepProgress(board)


def describe_trials(sweep: Any) -> str:
    """The start line's account of a sweep: '12 trials (4 grid points x 3 samples) over [...]'."""
    trials = trial_count(sweep.search_space, sweep.num_samples)
    points = trials // max(sweep.num_samples, 1)
    how = f" ({plural(points, 'grid point')} x {plural(sweep.num_samples, 'sample')})" if points > 1 else ""
    return f"{plural(trials, 'trial')}{how} over {list(sweep.search_space) or 'no search space'}"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
