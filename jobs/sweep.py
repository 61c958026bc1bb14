"""Sweep one registered method's hyperparameters with Ray Tune.

    python jobs/sweep.py --list
    python jobs/sweep.py care [key=value ...] [sweep.key=value ...] [--smoke] [--name NAME] [--fresh]
    python jobs/sweep.py care --smoke --tensorboard --mlflow     # also log to TensorBoard / MLflow
    ray job submit --working-dir . -- python jobs/sweep.py care --smoke

The sweep is ``configs/sweeps/<method>.yaml``. ``key=value`` fixes a method-config key for every trial;
``sweep.key=value`` changes the sweep (``sweep.num_samples=16``, ``sweep.resources.gpu=1``). Everything is
validated before Ray starts, without torch where the method's spec allows (CARE's does); the embedded local Ray then
starts on a thread while Ray Tune is imported (``RAYSTUDY_EARLY_RAY=0``: one step after the other;
``RAYSTUDY_EARLY_RAY=1``: Ray starts beside the validation too, and a bad input then stops it before any trial).
Results land as Parquet under the storage root (``RAYSTUDY_STORAGE``, default ``~/raystudy``); at the end a
Markdown summary and a PNG plot are written beside them.

Running the same command again resumes the same experiment (finished trials are not rerun; trials that
ended in error are retried from their last checkpoints); ``--fresh`` starts a new one. A name already used
by another method or configuration is refused (exit 2), naming the difference. A sweep with a trial in
error exits 1 and names the trial.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Where a user's command spends its time before the first trial (jobs/bench_platform.py reads it): wall clock and
# this process's CPU-seconds at each step, printed as one `[raystudy] phases` line when RAYSTUDY_PHASES=1.
PHASES: dict[str, tuple[float, float]] = {"start": (time.time(), time.process_time())}

# Under `ray job submit --working-dir .` the code is importable from the working directory, not from an
# installed package: put the repository root on the path in both cases.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__" and "--list" in sys.argv[1:]:
    # The listing is static metadata in the registry: answer it before the imports below (ray.tune, the
    # results store) so that `--list` starts in well under a second and imports no method, torch or Ray.
    from jobs.listing import print_listing

    sys.exit(print_listing())

# Ray reads the authentication mode once, when it is imported: token authentication on every path.
os.environ.setdefault("RAY_AUTH_MODE", "token")
# Tune checks that every result carries the scheduler's metric; methods evaluate every eval_every epochs
# only, and the sweep checks the metric name itself before starting (validate_sweep).
os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
# Tune's default loggers include TensorBoardX's, whose import pulls in torch (about 2 CPU-seconds per sweep
# driver in one cProfile run; tests/test_layers.py checks that a `hold` sweep's driver never imports torch).
# run_sweep asks for Tune's CSV and JSON loggers only (its experiment analysis reads them); results of record
# are raystudy's Parquet rows.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
# Tune's progress output is replaced by jobs/progress.py (run_sweep runs Tune with verbose=0). Tune's newer output
# engine still prints an experiment box and a TensorBoard path into Ray's session directory at verbose=0; the
# older one prints nothing at verbose=0.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

from cluster.connect import BackgroundConnect  # noqa: E402
from jobs.listing import print_listing  # noqa: E402
from jobs.runrecord import check_same_run, stored_record, write_record  # noqa: E402
from jobs.sweepconfig import SweepConfig, experiment_name, load_sweep, to_tune_domain, validate_sweep  # noqa: E402
from jobs.trackers import Trackers, add_tracker_arguments, tracker_callbacks, trackers_from_args  # noqa: E402
from shared.atomic import DiskFullError  # noqa: E402
from shared.config import MAX_INT, ConfigError  # noqa: E402
from shared.names import check_name  # noqa: E402
from shared.registry import get_method  # noqa: E402
from shared.results import ResultsStore, check_storage_root, code_version, quarantine_damaged  # noqa: E402
from shared.trust import check_storage_trusted  # noqa: E402

PHASES["imports"] = (time.time(), time.process_time())


def mark(phase: str) -> None:
    """Record when ``phase`` ended (see PHASES)."""
    PHASES[phase] = (time.time(), time.process_time())


@dataclass
class SweepPlan:
    """A validated sweep, ready to run."""

    method: str
    sweep: SweepConfig
    experiment: str
    storage: str
    smoke: bool
    study: str = ""  # labels written into every result row when the sweep is a node of a study
    job: str = ""


def plan_sweep(method: str, overrides: list[str] | None = None, smoke: bool = False,
               name: str | None = None, storage: str | None = None, seeds: list[int] | None = None,
               study: str = "", job: str = "", data_seed: bool = False) -> SweepPlan:
    """Validate everything that can be validated without Ray (raises ConfigError naming the key)."""
    spec = get_method(method)
    if data_seed and seeds is None:
        raise ConfigError("--data-seed: give --seeds too (each seed then seeds the data as well)")
    sweep = load_sweep(spec, overrides, smoke=smoke, seeds=seeds, data_seed=data_seed)
    validate_sweep(spec, sweep)
    experiment = check_name(name, "--name") if name else experiment_name(spec, sweep, smoke)
    root = check_storage_root(storage)  # a writable directory (or creatable as one), before Ray
    check_storage_trusted(root, f"tune/{experiment}", f"train/{experiment}")  # before Ray
    return SweepPlan(method=spec.name, sweep=sweep, experiment=experiment,
                     storage=root, smoke=smoke, study=study, job=job)


def check_resources(sweep: SweepConfig, method: str | None = None) -> None:
    """A trial that asks for more than any node of the cluster has would wait forever: refuse it. A trial of
    a distributed method is a Ray Train run: its workers (the method's ``distributed`` section) may spread
    over nodes, but the cluster must hold them all."""
    import ray

    if method is not None and get_method(method).resources.distributed == "deepspeed":
        from actors.distributed import check_cluster
        from shared.distributed import distributed_config

        check_cluster(distributed_config(get_method(method).load_config(sweep.overrides)))
        return
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    need = {"CPU": sweep.resources.cpu, "GPU": sweep.resources.gpu}
    if method is not None:  # generation actors that reserve CPUs of their own (grpo.generation_cpus) add theirs
        from actors.generation import generation_request, placement_bundles

        bundles = placement_bundles(sweep.resources.cpu, 0.0, *generation_request(
            get_method(method).load_config(sweep.overrides)))
        need["CPU"] = max(need["CPU"], sum(b["CPU"] for b in bundles))
    for key, amount in need.items():
        if amount <= 0:
            continue
        most = max((n.get(key, 0.0) for n in nodes), default=0.0)
        if most < amount:
            total = sum(n.get(key, 0.0) for n in nodes)
            raise ConfigError(
                f"sweep.resources.{key.lower()}: each trial asks for {amount:g} {key}, but no node of the cluster "
                f"has that many (largest node: {most:g}, cluster total: {total:g})"
            )


def check_resumable(plan: SweepPlan, fresh: bool) -> None:
    """Before Ray starts: an existing experiment of this name must be this run (raises ConfigError)."""
    from ray import tune

    if not fresh and tune.Tuner.can_restore(f"{plan.storage}/tune/{plan.experiment}"):
        check_same_run(plan)


def report_errors(out: dict[str, Any]) -> int:
    """Name every trial that ended in error (stderr); the exit status: 1 if any did, else 0. A search that lost
    some trials exits 1 too: its answer is incomplete, and running the same command again retries those trials
    from their last checkpoints (what a study node's retry does)."""
    if not out["errors"]:
        return 0
    print(f"[raystudy] {len(out['errors'])} of {out['trials']} trial(s) of {out['experiment']} ended in error; "
          f"run the same command again to retry them from their last checkpoints", file=sys.stderr)
    for path, error in out["errors"]:  # last: the last line of stderr is a trial's own error (what a study shows)
        last = (str(error).strip().splitlines() or ["(no message)"])[-1]
        print(f"[raystudy] trial failed: {Path(path).name}: {last}", file=sys.stderr)
    return 1


# Built-in callbacks Ray Tune's usage telemetry counts by class name (ray.air._internal.usage._count_callbacks).
_TELEMETRY_CALLBACKS = frozenset({"WandbLoggerCallback", "MLflowLoggerCallback", "CometLoggerCallback",
                                  "AimLoggerCallback", "CSVLoggerCallback", "JsonLoggerCallback", "TBXLoggerCallback"})


def count_callbacks_by_name(callbacks: list[Any] | None) -> dict[str, int]:
    """Ray Tune's callback telemetry (``ray.air._internal.usage._count_callbacks``) without its imports: Ray's
    imports the MLflow, W&B, Comet and Aim integrations only to read their class names, and MLflow's import costs
    every sweep driver about 0.6 CPU-s (0.63 measured; the 70 sweep drivers of the nine family studies' smoke run:
    about 45 CPU-s). Same counts (tests/test_fixed_costs.py)."""
    from ray.tune import Callback
    from ray.tune.logger import LoggerCallback

    counts: dict[str, int] = {}
    for callback in callbacks or []:
        if not isinstance(callback, Callback):
            continue
        name = type(callback).__name__
        key = name if name in _TELEMETRY_CALLBACKS else (
            "CustomLoggerCallback" if isinstance(callback, LoggerCallback) else "CustomCallback")
        counts[key] = counts.get(key, 0) + 1
    return counts


def _cheap_callback_telemetry() -> None:
    """Tune's run calls ``air_usage.tag_callbacks`` on every sweep: give it the same counts, computed by name."""
    import json

    from ray._common.usage.usage_lib import TagKey, record_extra_usage_tag
    from ray.air._internal import usage as air_usage

    def tag_callbacks(callbacks: list[Any] | None) -> bool:
        counts = count_callbacks_by_name(callbacks)
        if counts:
            record_extra_usage_tag(TagKey.AIR_CALLBACKS, json.dumps(counts))
        return bool(callbacks)

    air_usage.tag_callbacks = tag_callbacks


def run_sweep(plan: SweepPlan, fresh: bool = False, trackers: Trackers | None = None) -> dict[str, Any]:
    """Run (or resume) the sweep on the connected Ray; returns where results and the report are.
    ``trackers``: TensorBoard / MLflow logging (jobs/trackers.py), off by default."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from actors.trainable import MethodTrainable
    from jobs.progress import sweep_progress
    from jobs.report import write_sweep_report
    from jobs.trialstatus import record_trial_statuses

    sweep, spec = plan.sweep, get_method(plan.method)
    # A method marked distributed='deepspeed' runs each trial as a small Ray Train run (actors/distributed.py):
    # a Tune function trainable that builds and fits a TorchTrainer. Its workers hold the resources (the
    # method's `distributed` section), the trial itself none; its epochs are reported through Ray Train.
    distributed = spec.resources.distributed == "deepspeed"
    tune_root = f"{plan.storage}/tune"
    resume = tune.Tuner.can_restore(f"{tune_root}/{plan.experiment}")
    if fresh and resume:
        plan.experiment = f"{plan.experiment}-{time.strftime('%Y%m%d-%H%M%S')}"
        resume = False
    exp_path = f"{tune_root}/{plan.experiment}"
    if resume:
        check_same_run(plan)  # a name reused for another method or configuration resumes nothing of it
        # damaged rows of the run being resumed: moved aside (a trial that reruns the epoch writes it again)
        quarantine_damaged(ResultsStore(plan.storage), plan.experiment)
    else:
        moved = ResultsStore(plan.storage).set_aside(plan.experiment)
        if moved:
            print(f"[raystudy] rows of an earlier, unrecorded run of {plan.experiment} moved to {moved}", flush=True)
    if not resume or stored_record(plan) is None:
        write_record(plan)
    run_info = {"method": plan.method, "overrides": dict(sweep.overrides), "storage": plan.storage,
                "experiment": plan.experiment, "code_version": code_version(), "study": plan.study,
                "job": plan.job}
    if distributed:
        from actors.distributed import distributed_trial, trial_resources

        with_run = tune.with_parameters(distributed_trial, run=run_info)
        # Tune names a function trial's actor (its dashboard repr) and the trial after the function
        with_run.__name__ = f"{plan.method}_deepspeed_trial"
        trainable = tune.with_resources(with_run, trial_resources(spec, sweep.overrides))
    else:
        from actors.generation import generation_request, trial_placement

        # Generation actors (e.g. an RL method's rollouts) share the trial's resources, in its placement group.
        actors, actor_cpus = generation_request(spec.load_config(sweep.overrides))
        trainable = tune.with_resources(
            tune.with_parameters(MethodTrainable, run=run_info),
            trial_placement(sweep.resources.cpu, sweep.resources.gpu, actors, actor_cpus) if actors else
            {"cpu": sweep.resources.cpu, "gpu": sweep.resources.gpu},
        )
    if resume:
        print(f"[raystudy] resuming experiment {plan.experiment} from {exp_path}", flush=True)
        # Errored trials are retried from their last checkpoint: a rerun (a study node's retry) retries them.
        tuner = tune.Tuner.restore(exp_path, trainable=trainable, resume_unfinished=True,
                                   resume_errored=True, restart_errored=False)
    else:
        epochs = spec.load_config(sweep.overrides).epochs
        if sweep.scheduler.name == "asha":
            # A distributed trial whose worker group restarted reports its repeated epochs again: count epochs.
            scheduler = ASHAScheduler(time_attr="epoch" if distributed else "training_iteration", max_t=epochs,
                                      grace_period=sweep.scheduler.grace_period,
                                      reduction_factor=sweep.scheduler.reduction_factor)
        else:
            scheduler = FIFOScheduler()
        tuner = tune.Tuner(
            trainable,
            param_space={k: to_tune_domain(k, v) for k, v in sweep.search_space.items()},
            tune_config=tune.TuneConfig(
                metric=sweep.metric, mode=sweep.mode, num_samples=sweep.num_samples, scheduler=scheduler,
                search_alg=BasicVariantGenerator(random_state=sweep.seed,
                                                 max_concurrent=sweep.max_concurrent),
                trial_dirname_creator=lambda trial: trial.trial_id,
                # A finished trial's process trains the next one: no start-up cost (a distributed trial's
                # workers are Ray Train's, started per trial whatever Tune does).
                reuse_actors=not distributed,
                time_budget_s=sweep.time_budget_s or None,
            ),
            run_config=tune.RunConfig(
                name=plan.experiment, storage_path=tune_root,
                # Tune's status table is off (verbose=0): jobs/progress.py writes compact progress instead.
                callbacks=[CSVLoggerCallback(), JsonLoggerCallback(), sweep_progress(spec, sweep),
                           *tracker_callbacks(trackers, plan.storage, plan.experiment)],
                failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
                # Distributed trials checkpoint through Ray Train (every rank's DeepSpeed shards); a retried
                # or restored trial resumes its Train run from them.
                checkpoint_config=tune.CheckpointConfig() if distributed else tune.CheckpointConfig(
                    checkpoint_frequency=1, num_to_keep=2, checkpoint_at_end=True),
                verbose=0,
            ),
        )
    _cheap_callback_telemetry()
    mark("tuner")
    if os.environ.get("RAYSTUDY_PHASES") == "1":
        print(f"[raystudy] phases {json.dumps(PHASES)}", flush=True)
    started = time.perf_counter()
    grid = tuner.fit()
    fit_s = time.perf_counter() - started
    errors = [(r.path, r.error) for r in grid if r.error is not None]
    # How each trial ended (stopped by the scheduler, failed) is known here only: record it in the rows.
    record_trial_statuses(ResultsStore(plan.storage), plan.experiment, grid, spec, dict(sweep.overrides), run_info)
    report = write_sweep_report(ResultsStore(plan.storage), plan.experiment, sweep, spec.metric_names(),
                                quarantine=True)
    return {"experiment": plan.experiment, "results": ResultsStore(plan.storage).path("results", plan.experiment),
            "tune": exp_path, "errors": errors, "trials": len(grid), "fit_s": fit_s, **report}


def profile_items(method: str, profile: str | None) -> list[str]:
    """A resource profile as command-line items (given before the user's, which win)."""
    if not profile:
        return []
    from cluster.profiles import load_profile

    prof = load_profile(profile)
    if get_method(method).resources.distributed == "deepspeed" and prof.distributed is not None:
        return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in prof.method_overrides().items()]
    return [f"sweep.resources.cpu={prof.cpu}", f"sweep.resources.gpu={prof.gpu}"]


def _int_list(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(not 0 <= s <= MAX_INT for s in seeds):  # numpy's seed range
        raise argparse.ArgumentTypeError(f"seeds must lie in [0, {MAX_INT}], got {text!r}")
    return seeds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def parse_args(argv: list[str] | None = None, method: str | None = None, prog: str | None = None,
               description: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=description or __doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if method is None:
        parser.add_argument("method", nargs="?", help="a registered method (see --list)")
    parser.add_argument("overrides", nargs="*", help="key=value (method config) or sweep.key=value")
    parser.add_argument("--list", action="store_true", help="list the registered methods and their papers")
    parser.add_argument("--smoke", action="store_true", help="smoke scale (the sweep's smoke: section)")
    parser.add_argument("--name", help="experiment name (default: method and a hash of the sweep)")
    parser.add_argument("--fresh", action="store_true", help="start a new experiment instead of resuming")
    parser.add_argument("--storage", help="storage root (default: $RAYSTUDY_STORAGE or ~/raystudy)")
    parser.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--num-cpus", type=_positive_int, help="CPUs of the embedded local Ray (default: all)")
    parser.add_argument("--dashboard", action="store_true",
                        help="start the embedded local Ray with its dashboard on 127.0.0.1 (off by default: it adds "
                        "seconds before the first trial; a cluster keeps its own)")
    parser.add_argument("--seeds", type=_int_list, metavar="0,1,2",
                        help="no search: train the configuration once per seed")
    parser.add_argument("--data-seed", action="store_true",
                        help="with --seeds: each trial sets data.seed to its seed too (the seeds vary the data)")
    parser.add_argument("--profile", help="a configs/cluster/ profile: its distributed section for methods marked "
                        "distributed=deepspeed (distributed.* keys), else its per-trial resources")
    parser.add_argument("--study", default="", help="study label written into the result rows")
    parser.add_argument("--job", default="", help="job label written into the result rows")
    add_tracker_arguments(parser)
    # Intermixed: overrides may follow options (`care --smoke epochs=8`), as they may precede them.
    args = parser.parse_intermixed_args(argv)
    if method is not None:
        args.method = method
    return args


RAY_STARTS = ("validated", "early", "serial")


def ray_start_mode() -> str:
    """When the embedded local Ray starts, from ``RAYSTUDY_EARLY_RAY``: unset, ``validated`` (the default): once the
    input is valid, on a thread, while this process imports Ray Tune and the sweep's modules and checks the resume
    (bad input is refused before Ray starts); ``1`` (``early``): as soon as the method's name is known, beside the
    validation too (a method whose spec imports torch: about a second sooner; bad input then stops that Ray before
    any trial starts); ``0`` (``serial``): after everything, one step after the other."""
    return {"1": "early", "0": "serial"}.get(os.environ.get("RAYSTUDY_EARLY_RAY", ""), "validated")


def start_ray_early(args: argparse.Namespace) -> BackgroundConnect | None:
    """The embedded local Ray's start (seconds of wall time, mostly spent waiting for its processes) on a thread,
    joined once the rest is ready (ray_start_mode says when it begins). Bad input found meanwhile still exits 2
    before any trial starts (that Ray is stopped first). Only for a new local Ray, and only once the method's name
    is known, so a typo in the name costs no Ray. Its trials' fit is then checked on the started Ray
    (check_resources)."""
    from cluster.preflight import starts_local_ray
    from shared.registry import METHODS

    if not starts_local_ray(args.address) or args.method not in METHODS:
        return None
    return BackgroundConnect(args.address, num_cpus=args.num_cpus, dashboard=args.dashboard)


def import_sweep_modules() -> None:
    """What run_sweep imports (Ray Tune and its schedulers, the trainable, the report: about a CPU-second), imported
    while the embedded Ray starts on its thread."""
    import ray.tune.schedulers  # noqa: F401
    import ray.tune.search.basic_variant  # noqa: F401

    import actors.trainable  # noqa: F401
    import jobs.progress  # noqa: F401
    import jobs.report  # noqa: F401
    import jobs.trialstatus  # noqa: F401


def main(argv: list[str] | None = None, method: str | None = None, prog: str | None = None,
         description: str | None = None, early_ray: bool = False, ray_start: str | None = None) -> int:
    """``ray_start``: when the embedded local Ray starts (``ray_start_mode``; the command line passes it, in-process
    callers get ``serial`` unless they ask); ``early_ray=True`` is ``ray_start="early"``."""
    args = parse_args(argv, method, prog, description)
    if args.list:
        return print_listing()
    if not args.method:
        print("error: name a method (or --list)", file=sys.stderr)
        return 2
    mode = "early" if early_ray else (ray_start or "serial")
    if mode not in RAY_STARTS:
        raise ValueError(f"ray_start: one of {RAY_STARTS}, got {mode!r}")
    early = start_ray_early(args) if mode == "early" else None
    try:
        overrides = profile_items(args.method, args.profile) + list(args.overrides)
        plan = plan_sweep(args.method, overrides, smoke=args.smoke, name=args.name, storage=args.storage,
                          seeds=args.seeds, study=args.study, job=args.job, data_seed=args.data_seed)
        trackers = trackers_from_args(args)
        from cluster import connect
        from cluster.preflight import check_local_fit

        # Train workers (deepspeed), and the trials of an early Ray: checked once connected (check_resources)
        if early is None and get_method(plan.method).resources.distributed != "deepspeed":
            check_local_fit({"CPU": plan.sweep.resources.cpu, "GPU": plan.sweep.resources.gpu}, args.address,
                            "sweep.resources", num_cpus=args.num_cpus)
        mark("validated")
        if mode == "validated":  # the input is valid: Ray starts now, beside Tune's imports and the resume check
            early = start_ray_early(args)
            if early is not None:
                import_sweep_modules()
        check_resumable(plan, args.fresh)
        conn = early.wait() if early else connect(args.address, num_cpus=args.num_cpus, dashboard=args.dashboard)
        mark("ray")
        check_resources(plan.sweep, plan.method)
    except (ConfigError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        if early:  # after the message: the user reads it while the Ray started meanwhile stops
            early.abandon()
        return 2
    from jobs.progress import describe_trials  # Ray Tune's import: after the early Ray's start began

    print(f"[raystudy] {conn.describe()}", flush=True)
    print(f"[raystudy] sweep {plan.experiment}: {describe_trials(plan.sweep)}; results under {plan.storage}",
          flush=True)
    try:
        out = run_sweep(plan, fresh=args.fresh, trackers=trackers)
    except DiskFullError as err:  # names the path and the bytes needed; a traceback would bury that
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"[raystudy] results: {out['results']}")
    print(f"[raystudy] report:  {out['report']}")
    if out["plot"]:
        print(f"[raystudy] plot:    {out['plot']}")
    # The exit status is what a study's scheduler (and `ray job status`) sees: any trial in error fails the job.
    return report_errors(out)


if __name__ == "__main__":
    sys.exit(main(ray_start=ray_start_mode()))
