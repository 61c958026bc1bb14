"""Run a study: its graph of Ray jobs (sweep each arm -> retrain the best over the seeds -> report).

    python jobs/study.py configs/studies/care_vs_simclr.yaml [--smoke]
    python jobs/study.py configs/studies/care_vs_simclr.yaml --status | --cancel
    ray job submit --working-dir . -- python jobs/study.py configs/studies/care_vs_simclr.yaml --smoke

Without a cluster (no RAY_ADDRESS, no --address) a local Ray with its dashboard is started for the
study's jobs. Running the same command again resumes the study: finished nodes are not rerun, the jobs a
killed driver left running are adopted (followed, not submitted again), a job the cluster lost is submitted
again without spending a retry, and the nodes of a failed study are retried as new attempts.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

from shared.config import ConfigError  # noqa: E402


def jobs_address(address: str | None) -> str:
    """The jobs API (dashboard) address: given, else the running cluster's, else a new local Ray's."""
    if address and address.startswith("http"):
        return address
    from cluster import connect

    conn = connect(address, jobs=True)
    if not conn.dashboard_url:
        raise ConfigError("the Ray cluster has no dashboard, which the jobs API needs (start it with one)")
    return f"http://{conn.dashboard_url}"


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    from jobs.trackers import add_tracker_arguments, tracker_flags, trackers_from_args

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", help="a configs/studies/*.yaml file")
    parser.add_argument("--smoke", action="store_true", help="every node at smoke scale (a few minutes)")
    parser.add_argument("--address", help="Ray address or dashboard URL (default: $RAY_ADDRESS, else local)")
    parser.add_argument("--storage", help="storage root (default: $RAYSTUDY_STORAGE or ~/raystudy)")
    parser.add_argument("--status", action="store_true", help="print the study's state and exit")
    parser.add_argument("--cancel", action="store_true", help="stop the study's running jobs")
    parser.add_argument("--timeout", type=_positive_seconds, help="give up waiting after this many seconds")
    add_tracker_arguments(parser)  # passed to every sweep and seeds node
    args = parser.parse_args(argv)

    from jobs.studyconfig import load_study, study_id
    from shared.results import ResultsStore, check_storage_root

    try:
        trackers = tracker_flags(trackers_from_args(args))  # a tracker that is not installed: refused here
        study = load_study(args.study, smoke=args.smoke)  # validated before anything is submitted
        sid = study_id(study, args.smoke)
        storage = check_storage_root(args.storage)
        if (args.status or args.cancel) and not ResultsStore(storage).exists("studies", sid, "state.json"):
            raise ConfigError(f"study {sid} was never run under {storage} (no studies/{sid}/state.json); "
                              "run it first, or give the --storage it ran with")
        if not (args.status or args.cancel):
            from cluster.preflight import check_local_fit
            from jobs.studyconfig import study_trial_resources

            cpu, gpu = study_trial_resources(study)
            check_local_fit({"CPU": cpu, "GPU": gpu}, args.address, f"{args.study}: resources")
        from jobs.scheduler import StudyScheduler, check_state_file

        check_state_file(storage, sid)  # a damaged state file is named before Ray starts
        scheduler = StudyScheduler(jobs_address(args.address), storage=storage)
        if args.status:
            print(scheduler.status(sid))
            return 0
        if args.cancel:
            print(scheduler.cancel(sid)["status"])
            return 0
        print(f"[study {sid}] {len(study.arms)} arm(s), seeds {study.seeds}; storage {scheduler.storage}", flush=True)
        scheduler.submit(args.study, smoke=args.smoke, trackers=trackers)  # checks the trials fit the nodes first
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ConnectionError as err:  # a dashboard URL where nothing answers
        print(f"error: {err} (check --address / RAY_ADDRESS)", file=sys.stderr)
        return 2
    final = scheduler.wait(sid, timeout=args.timeout, progress=lambda line: print(line, flush=True))
    text = scheduler.store.read_text("reports", sid, "report.md")
    if text:
        print(text)
    print(f"[study {sid}] report: {scheduler.store.path('reports', sid, 'report.md')}")
    return 0 if final["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
