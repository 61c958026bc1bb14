"""TensorBoard and MLflow logging of a sweep, through Tune's own logger callbacks.

Both are off by default: TensorBoardX's import pulls in torch (about 2 CPU-seconds of driver start-up) and
MLflow's several seconds more. raystudy's Parquet rows stay the results of record; these are views of the
same per-epoch metrics for people who follow runs in those tools.

- TensorBoard: one event file per trial in the trial's Tune directory (``<storage>/tune/<experiment>/<trial>``);
  ``tensorboard --logdir <storage>/tune/<experiment>``.
- MLflow: one MLflow run per trial in the MLflow experiment named after the sweep, tracked by default in a
  file store under the storage root (``file://<storage>/mlflow``); ``mlflow ui --backend-store-uri <that>``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import ConfigError


@dataclass(frozen=True)
class Trackers:
    tensorboard: bool = False
    mlflow: bool = False
    mlflow_uri: str = ""  # empty: file://<storage>/mlflow

    def check(self) -> None:
        """Refuse, before Ray starts, a tracker whose package is missing."""
        import importlib.util

        if self.tensorboard and importlib.util.find_spec("tensorboardX") is None:
            raise ConfigError("--tensorboard: the tensorboardX package is not installed")
        if self.mlflow and importlib.util.find_spec("mlflow") is None:
            raise ConfigError("--mlflow: the mlflow-skinny package is not installed (pip install -e .)")


def mlflow_uri(trackers: Trackers, storage: str) -> str:
    return trackers.mlflow_uri or Path(storage, "mlflow").resolve().as_uri()


def tracker_callbacks(trackers: Trackers | None, storage: str, experiment: str) -> list[Any]:
    """Tune callbacks for the trackers asked for (none by default)."""
    callbacks: list[Any] = []
    if trackers is None:
        return callbacks
    if trackers.tensorboard:
        from ray.tune.logger import TBXLoggerCallback

        callbacks.append(TBXLoggerCallback())
        print(f"[raystudy] TensorBoard: tensorboard --logdir {Path(storage, 'tune', experiment)}", flush=True)
    if trackers.mlflow:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        uri = mlflow_uri(trackers, storage)
        if uri.startswith("file:"):
            # MLflow 3 keeps its file store in "maintenance mode" and refuses it unless asked: it is the store
            # that needs no server and no database package (mlflow-skinny has neither), so ask for it.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        callbacks.append(MLflowLoggerCallback(tracking_uri=uri, experiment_name=experiment,
                                              tags={"raystudy.experiment": experiment}))
        print(f"[raystudy] MLflow: experiment {experiment} at {uri} (mlflow ui --backend-store-uri {uri})", flush=True)
    return callbacks


def add_tracker_arguments(parser: Any) -> None:
    """``--tensorboard``, ``--mlflow`` and ``--mlflow-uri`` on a sweep's argument parser."""
    parser.add_argument("--tensorboard", action="store_true",
                        help="also log every trial's metrics for TensorBoard (in its Tune trial directory)")
    parser.add_argument("--mlflow", action="store_true",
                        help="also log every trial to MLflow (default tracking: file://<storage>/mlflow)")
    parser.add_argument("--mlflow-uri", metavar="URI", default="",
                        help="MLflow tracking URI (implies --mlflow), e.g. http://127.0.0.1:5000")


def tracker_flags(trackers: Trackers | None) -> list[str]:
    """The sweep command-line flags that ask for ``trackers`` (a study passes them to each node's sweep)."""
    if trackers is None:
        return []
    flags = ["--tensorboard"] if trackers.tensorboard else []
    if trackers.mlflow_uri:
        flags += ["--mlflow-uri", trackers.mlflow_uri]
    elif trackers.mlflow:
        flags.append("--mlflow")
    return flags


def trackers_from_args(args: Any) -> Trackers:
    """The trackers the command line asks for; ConfigError (before Ray starts) when one is not installed."""
    trackers = Trackers(tensorboard=bool(args.tensorboard), mlflow=bool(args.mlflow or args.mlflow_uri),
                        mlflow_uri=args.mlflow_uri or "")
    trackers.check()
    return trackers
