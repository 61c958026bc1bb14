"""The study scheduler: runs a study's graph as Ray jobs and keeps its own state, so it can resume.

    from jobs.scheduler import StudyScheduler
    sched = StudyScheduler("http://127.0.0.1:8265")          # a Ray dashboard (jobs API) address
    study_id = sched.submit("configs/studies/care_vs_simclr.yaml")
    sched.wait(study_id)                                      # prints one line per node state change
    table = sched.results(study_id)                           # pyarrow.Table of the study's result rows

Every node is a Ray job (``JobSubmissionClient``) with a deterministic submission id per (study, node,
attempt), ``<study>--<node>--a<attempt>``, and metadata ``job_name`` (the dashboard's Name column),
``raystudy_study``, ``raystudy_node``, ``raystudy_attempt`` and ``raystudy_method``. The state
(``<storage>/studies/<study>/state.json``, written whole then renamed) records each node's status, attempts
and submission id. A scheduler started again on the same study resumes: finished nodes are not rerun; the
cluster's jobs of the study (found by submission id) are adopted when they are a node's current attempt
(followed, not resubmitted, even one submitted by a scheduler that died before recording it) and stopped
otherwise; a job the cluster lost (e.g. with an embedded Ray that died with its driver) is resubmitted
without counting against ``retries``, after stopping its driver if it still runs on this machine; failed
nodes are retried up to ``retries`` times, and each retry of a sweep retries its errored trials from their
checkpoints. Attempt numbers only grow, so no submission id is ever reused. A study succeeds only when every
node succeeded and every expected result row exists.

``working_dir``: the code the jobs run. By default the repository is uploaded with each job (what a
remote cluster needs). ``None`` runs the code installed on the cluster in place; use it for clusters
simulated on one machine (``ray.cluster_utils.Cluster``), whose nodes share one runtime-env folder:
there one node's clean-up can delete the working directory under another node's running job.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from jobs.studyconfig import (
    StudyConfig,
    all_measures,
    arm_measures,
    arm_seeds_items,
    arm_sweep_items,
    build_graph,
    figures_fingerprint,
    load_study,
    study_id,
)
from shared.config import ConfigError, to_dict
from shared.results import ResultsStore, storage_root

REPO = Path(__file__).resolve().parents[1]
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
# Kept out of every job's upload (Ray also skips what .gitignore lists). Gitignore patterns: "/data" is the top-level
# folder only; a bare "data" would also drop shared/data, and jobs would import it from an installed copy or not at all.
EXCLUDES = [".venv", ".git", "/data", "/results", "__pycache__", ".pytest_cache", ".ruff_cache"]
UNKNOWN = "UNKNOWN"  # a job status the cluster did not answer this poll (asked again at the next)
MAX_LOST = 5  # jobs of one node lost by the cluster before the node fails (lost jobs are not retries)


@dataclass
class NodeState:
    name: str
    kind: str
    arm: str
    deps: list[str]
    status: str = "PENDING"  # PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED
    attempts: int = 0
    submission_id: str = ""
    experiment: str = ""
    entrypoint: str = ""
    message: str = ""
    updated: float = 0.0
    failures: list[str] = field(default_factory=list)  # why earlier attempts failed (last log line)
    counted: int = 0  # failed attempts counted against the study's retries (a new submit of a failed study: 0)
    lost: int = 0  # attempts whose job the cluster lost (not counted against retries)


@dataclass
class StudyState:
    study_id: str
    study_file: str
    smoke: bool
    status: str = "PENDING"
    nodes: dict[str, NodeState] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    trackers: list[str] = field(default_factory=list)  # sweep flags (--tensorboard, --mlflow) every node passes on

    @staticmethod
    def from_json(text: str) -> StudyState:
        raw = json.loads(text)
        nodes = {k: NodeState(**v) for k, v in raw.pop("nodes").items()}
        return StudyState(**raw, nodes=nodes)


def submission_id(study: str, node: str, attempt: int) -> str:
    """The Ray job submission id of a node's attempt: the same on every scheduler, so a restarted one finds it."""
    return f"{study}--{node.replace(':', '-')}--a{attempt}"


def job_metadata(study: str, node: str, attempt: int, method: str) -> dict[str, str]:
    """What the dashboard shows of a node's job (``job_name`` is its Name column) and what names it."""
    return {"job_name": f"{study} {node} (attempt {attempt})", "raystudy_study": study, "raystudy_node": node,
            "raystudy_attempt": str(attempt), "raystudy_method": method}


def stop_local_drivers(study: str, node: str) -> int:
    """Stop the job drivers of a node that still run on this machine although their cluster lost them (an
    embedded Ray that died with the study's driver leaves them running, writing to the node's experiment).
    They are found by the labels every node's entrypoint carries (``--study <study> --job <node>``)."""
    import psutil

    victims = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if proc.pid != os.getpid() and _has_pair(cmd, "--study", study) and _has_pair(cmd, "--job", node):
            victims.append(proc)
    for proc in victims:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(victims, timeout=10)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    return len(victims)


def _has_pair(cmd: list[str], flag: str, value: str) -> bool:
    return any(a == flag and b == value for a, b in zip(cmd, cmd[1:], strict=False))


def parse_state(text: str, path: str) -> StudyState:
    """A study's state from its file's text; a damaged file (truncated, edited) is a ConfigError that names it
    and says what to do, not a JSONDecodeError."""
    try:
        return StudyState.from_json(text)
    except (ValueError, KeyError, TypeError, AttributeError) as err:  # JSONDecodeError is a ValueError
        raise ConfigError(
            f"the study's state file {path} is damaged ({type(err).__name__}: {err}). Move it aside and run the "
            "study again: it starts over, and sweeps that finished resume from their own records under tune/ "
            "(or restore the file from a backup)"
        ) from None


def check_state_file(storage: str | None, sid: str) -> None:
    """Before Ray starts: a damaged ``state.json`` of the study raises ConfigError naming it (absent is fine)."""
    store = ResultsStore(storage)
    text = store.read_text("studies", sid, "state.json")
    if text is not None:
        parse_state(text, store.path("studies", sid, "state.json"))


def _q(items: list[str]) -> str:
    return " ".join(shlex.quote(i) for i in items)


def _render(value: Any) -> str:
    """A value as OmegaConf dotlist text (JSON is valid YAML flow syntax)."""
    return json.dumps(value) if not isinstance(value, str) else value


class StudyScheduler:
    """Submits, follows, resumes and cancels studies on a Ray cluster through its jobs API."""

    def __init__(self, address: str | None = None, storage: str | None = None, poll_s: float = 1.0,
                 working_dir: str | Path | None = REPO, max_jobs: int | None = None) -> None:
        from ray.job_submission import JobSubmissionClient

        from cluster import ensure_token_auth

        ensure_token_auth()
        # Ray logs every file it leaves out of each job's upload; the node lines are the progress.
        for name in ("ray._private.runtime_env.packaging", "ray.dashboard.modules.dashboard_sdk"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.client = JobSubmissionClient(address)
        self.storage = storage_root(storage)
        self.store = ResultsStore(self.storage)
        self.poll_s = poll_s
        self.working_dir = str(working_dir) if working_dir else None
        self._studies: dict[str, StudyConfig] = {}
        self._saved: dict[str, str] = {}  # the state text last written per study
        self._polled: dict[str, Any] | None = None  # wait_all's one answer for all its studies' jobs, this poll
        # Node jobs the cluster may hold at once (0: no cap; None: its CPUs + 1, read when first needed). A job
        # started while every CPU is taken only waits, and its driver and Ray's job supervisor (~5 CPU-s to start
        # on 2 cores) slow the trials that do run: nine smoke studies on 2 CPUs started ~25 jobs at once.
        self.max_jobs = max_jobs
        self._slots: int | None = None  # free job slots this poll (None: not counted yet)
        self._active_node_jobs = 0  # study-node jobs RUNNING or PENDING at the last list_jobs

    # -- state on disk ------------------------------------------------------------------------
    def _save(self, state: StudyState) -> None:
        text = json.dumps(asdict(state), indent=1)
        if self._saved.get(state.study_id) == text:
            return  # a poll that changed nothing writes nothing
        self.store.write_text(text, "studies", state.study_id, "state.json")
        self._saved[state.study_id] = text

    def _load(self, sid: str) -> StudyState:
        text = self.store.read_text("studies", sid, "state.json")
        if text is None:
            raise KeyError(f"no study {sid!r} under {self.storage}/studies")
        state = parse_state(text, self.store.path("studies", sid, "state.json"))
        self._saved[sid] = text  # what is on disk: saving the same state again writes nothing
        return state

    def _study(self, state: StudyState) -> StudyConfig:
        if state.study_id not in self._studies:
            self._studies[state.study_id] = load_study(state.study_file, smoke=state.smoke)
        return self._studies[state.study_id]

    # -- public API -----------------------------------------------------------------------------
    def submit(self, study_file: str | Path, smoke: bool = False, trackers: list[str] | None = None) -> str:
        """Validate the study, create (or resume) its state and submit the nodes that are ready. ``trackers``:
        sweep flags (``jobs.trackers.tracker_flags``) that every sweep and seeds node passes on; a resumed
        study keeps the ones it was started with unless new ones are given."""
        study = load_study(study_file, smoke=smoke)
        self.check_resources(study)
        sid = study_id(study, smoke)
        self._studies[sid] = study
        if self.store.exists("studies", sid, "state.json"):
            state = self._load(sid)
            if state.status in ("FAILED", "CANCELLED"):  # a new submit retries what did not succeed
                for node in state.nodes.values():  # attempts go on counting: new attempts get new job ids
                    if node.status != "SUCCEEDED":
                        node.status, node.counted, node.message = "PENDING", 0, ""
                state.status = "PENDING"
            if trackers:
                state.trackers = list(trackers)
            self._redraw_if_figures_changed(state, study)
            self._adopt(state)
        else:
            state = StudyState(sid, str(Path(study_file).resolve()), smoke, trackers=list(trackers or []))
            for node in build_graph(study):
                state.nodes[node.name] = NodeState(node.name, node.kind, node.arm, list(node.deps))
        self._slots = None
        self._advance(state)
        return sid

    def _free_slot(self) -> bool:
        """Whether one more node job may start now (and take that slot): the cluster's study-node jobs that are
        RUNNING or PENDING, whichever scheduler submitted them, against ``max_jobs``, counted once per poll (a
        study's own driver, itself a job under `ray job submit`, is not counted: it never waits for a CPU)."""
        if self._slots is None:
            cap = self._job_cap()
            if not cap:
                return True
            if self._polled is None and self._poll_jobs() is None:
                return True  # the count failed: do not hold the study back on a failed request
            self._slots = cap - self._active_node_jobs
        if self._slots <= 0:
            return False
        self._slots -= 1
        return True

    def _job_cap(self) -> int:
        if self.max_jobs is None:
            from ray.util.state import list_nodes

            try:
                nodes = list_nodes(address=self.client._address, limit=10_000)
            except Exception:  # noqa: BLE001  (an unreadable cluster state: no cap rather than no progress)
                self.max_jobs = 0
                return 0
            cpus = sum(n.resources_total.get("CPU", 0.0) for n in nodes if n.state == "ALIVE")
            self.max_jobs = int(cpus) + 1
        return self.max_jobs

    def _redraw_if_figures_changed(self, state: StudyState, study: StudyConfig) -> None:
        """Figures are not part of a study's id: a finished study whose figures were edited gets its report node
        run again (nothing else), so that the report draws what the study now declares."""
        report = state.nodes.get("report")
        drawn = self.store.read_text("reports", state.study_id, "figures.json")
        if report is None or report.status != "SUCCEEDED" or drawn == figures_fingerprint(study):
            return
        report.status, report.counted, report.message = "PENDING", 0, "the study's figures changed: redrawn"
        state.status = "PENDING"

    def check_resources(self, study: StudyConfig) -> None:
        """Refuse a study whose trials cannot fit on any node of the cluster (they would wait forever)."""
        from ray.util.state import list_nodes

        need = self._trial_resources(study)
        nodes = [n for n in list_nodes(address=self.client._address, limit=10_000) if n.state == "ALIVE"]
        for key, amount in need.items():
            most = max((n.resources_total.get(key, 0.0) for n in nodes), default=0.0)
            if amount > most:
                raise ConfigError(f"{study.name}: resources: a trial asks for {amount:g} {key} but the largest "
                                  f"node of the cluster has {most:g}")

    def _trial_resources(self, study: StudyConfig) -> dict[str, float]:
        cpu, gpu = study.resources.cpu, study.resources.gpu
        if study.resources.profile:
            from cluster.profiles import load_profile

            profile = load_profile(study.resources.profile)
            cpu, gpu = profile.cpu, profile.gpu
        return {k: v for k, v in {"CPU": cpu, "GPU": gpu}.items() if v > 0}

    def status(self, sid: str) -> dict[str, Any]:
        """The study's recorded state (``wait`` is what moves it forward)."""
        state = self._load(sid)
        return {"study": sid, "status": state.status,
                "nodes": {n.name: {"status": n.status, "attempts": n.attempts, "job": n.submission_id,
                                   "message": n.message, "counted": n.counted, "lost": n.lost}
                          for n in state.nodes.values()}}

    def wait(self, sid: str, timeout: float | None = None,
             progress: Callable[[str], None] | None = print) -> dict[str, Any]:
        """Follow the study until it ends; one progress line per node state change."""
        return self.wait_all([sid], timeout, progress)[sid]

    def wait_all(self, sids: list[str], timeout: float | None = None,
                 progress: Callable[[str], None] | None = print) -> dict[str, dict[str, Any]]:
        """Follow several studies until they all end, advancing each on every poll (as if each had its own
        follower: none waits for another to finish before its next nodes are submitted); returns each study's
        final status."""
        deadline = None if timeout is None else time.time() + timeout
        seen: dict[tuple[str, str], str] = {}
        finals: dict[str, dict[str, Any]] = {}
        while True:
            # Several studies: one `list_jobs` request per poll answers them all (the dashboard serves each request
            # with every job of the cluster, and nine studies polled one by one keep its process busy).
            self._polled = self._poll_jobs() if len(set(sids)) > 1 else None
            self._slots = None
            try:
                for sid in sids:
                    if sid in finals:
                        continue
                    state = self._load(sid)
                    if state.status not in TERMINAL:
                        self._advance(state)
                    for node in state.nodes.values():
                        label = f"{node.status}{f' (attempt {node.attempts})' if node.attempts > 1 else ''}"
                        if progress and seen.get((sid, node.name)) != label:
                            extra = f"  {node.submission_id}" if node.submission_id else ""
                            msg = f"  {node.message}" if node.message else ""
                            progress(f"[study {sid}] {node.name:24s} {label}{extra}{msg}")
                        seen[(sid, node.name)] = label
                    if state.status in TERMINAL:
                        if progress:
                            progress(f"[study {sid}] {state.status}")
                        finals[sid] = self.status(sid)
            finally:
                self._polled = None
            if len(finals) == len(set(sids)):
                return finals
            if deadline is not None and time.time() > deadline:
                waiting = {sid: self._load(sid).status for sid in sids if sid not in finals}
                raise TimeoutError(f"studies still running after {timeout}s: {waiting}")
            time.sleep(self.poll_s)

    def cancel(self, sid: str) -> dict[str, Any]:
        """Stop every running job of the study and mark the study cancelled."""
        state = self._load(sid)
        for node in state.nodes.values():
            if node.status == "RUNNING" and node.submission_id:
                try:
                    self.client.stop_job(node.submission_id)
                except RuntimeError:
                    pass  # already gone
            if node.status not in ("SUCCEEDED", "FAILED"):
                node.status, node.message = "CANCELLED", "cancelled"
        state.status = "CANCELLED"
        self._save(state)
        for node in state.nodes.values():  # wait until the jobs have really stopped
            if node.submission_id:
                self._wait_stopped(node.submission_id)
        return self.status(sid)

    def results(self, sid: str) -> pa.Table:
        """Every result row of the study (all its nodes), as one pyarrow table."""
        tables = [self.store.read(exp) for exp in self.store.experiments(prefix=f"{sid}--")]
        return pa.concat_tables(tables) if tables else self.store.read("__none__")

    # -- after a restart ------------------------------------------------------------------------
    def _study_jobs(self, sid: str, nodes: dict[str, NodeState]) -> dict[str, list[tuple[int, Any]]]:
        """The cluster's jobs of the study per node, as (attempt, JobDetails), found by submission id."""
        by_key = {name.replace(":", "-"): name for name in nodes}
        pattern = re.compile(rf"{re.escape(sid)}--(.+)--a(\d+)")
        out: dict[str, list[tuple[int, Any]]] = {}
        for job in self.client.list_jobs():
            match = pattern.fullmatch(job.submission_id or "")
            if match and match.group(1) in by_key:
                out.setdefault(by_key[match.group(1)], []).append((int(match.group(2)), job))
        return out

    def _adopt(self, state: StudyState) -> None:
        """Reconcile the recorded state with the cluster's jobs of the study, as a restarted scheduler must: a
        node's current attempt is adopted (followed, not submitted again), including one submitted by a
        scheduler that died before recording it; any other running job of the study is stopped."""
        from ray.job_submission import JobStatus

        live = (JobStatus.PENDING, JobStatus.RUNNING)
        for name, jobs in self._study_jobs(state.study_id, state.nodes).items():
            node = state.nodes[name]
            attempt, newest = max(jobs, key=lambda item: item[0])
            if node.status in ("PENDING", "RUNNING") and attempt > node.attempts:
                node.attempts, node.submission_id, node.status = attempt, newest.submission_id, "RUNNING"
                node.experiment = f"{state.study_id}--{node.name.replace(':', '-')}"
                node.entrypoint, node.updated = newest.entrypoint, time.time()
                node.message = f"adopted {newest.submission_id} ({newest.status.value}), submitted before a restart"
            elif node.status == "RUNNING" and newest.submission_id == node.submission_id and newest.status in live:
                node.message = f"adopted {node.submission_id} (still {newest.status.value}) after a restart"
            for _, job in jobs:
                if job.status in live and not (node.status == "RUNNING" and job.submission_id == node.submission_id):
                    try:
                        self.client.stop_job(job.submission_id)
                    except RuntimeError:
                        continue  # it ended meanwhile
                    node.failures.append(f"stopped {job.submission_id} after a restart: not the node's current "
                                         f"attempt (node {node.status}, attempt {node.attempts})")
        self._save(state)

    # -- the graph's progress -------------------------------------------------------------------
    def _advance(self, state: StudyState) -> None:
        study = self._study(state)
        followed = [n for n in state.nodes.values() if n.status == "RUNNING"]
        statuses = self._job_statuses([n.submission_id for n in followed])
        for node in followed:
            self._follow(state, node, study, statuses.get(node.submission_id))
        running = sum(n.status == "RUNNING" for n in state.nodes.values())
        for node in state.nodes.values():
            if node.status != "PENDING":
                continue
            deps = [state.nodes[d] for d in node.deps]
            if any(d.status in ("FAILED", "CANCELLED") for d in deps):
                node.status, node.message = "FAILED", "a node it depends on failed"
            elif (all(d.status == "SUCCEEDED" for d in deps) and (not study.max_running or running < study.max_running)
                  and self._free_slot()):
                self._start(state, node, study)
                running += 1
        statuses = {n.status for n in state.nodes.values()}
        if statuses == {"SUCCEEDED"}:
            state.status = "SUCCEEDED"
        elif "RUNNING" in statuses or "PENDING" in statuses:
            state.status = "RUNNING"
        else:
            state.status = "CANCELLED" if "CANCELLED" in statuses else "FAILED"
        self._save(state)

    def _start(self, state: StudyState, node: NodeState, study: StudyConfig) -> None:
        node.attempts += 1
        node.experiment = f"{state.study_id}--{node.name.replace(':', '-')}"
        try:
            node.entrypoint = self._entrypoint(state, node, study)
        except (ConfigError, LookupError) as err:
            node.status, node.message = "FAILED", str(err)
            return
        node.submission_id = submission_id(state.study_id, node.name, node.attempts)
        runtime_env: dict[str, Any] = {"env_vars": {"RAYSTUDY_STORAGE": self.storage, "RAY_AUTH_MODE": "token"}}
        if self.working_dir:
            runtime_env.update(working_dir=self.working_dir, excludes=EXCLUDES)
        method = study.arms[node.arm].method if node.arm else ""
        self._submit_job(
            entrypoint=node.entrypoint, submission_id=node.submission_id, runtime_env=runtime_env,
            metadata=job_metadata(state.study_id, node.name, node.attempts, method),
        )
        node.status, node.message, node.updated = "RUNNING", "", time.time()

    def _submit_job(self, timeout: float = 120, **kwargs: Any) -> None:
        """Submit, waiting for the cluster's job agent: for a few seconds after a head node starts, Ray
        answers "No available agent to submit job, please try again later"."""
        deadline = time.time() + timeout
        while True:
            try:
                self.client.submit_job(**kwargs)
                return
            except RuntimeError as err:
                if "already exists" in str(err):
                    return  # submitted by a scheduler that died before it saved its state: reattach
                if "No available agent" not in str(err) or time.time() > deadline:
                    raise
                time.sleep(1.0)

    def _job_statuses(self, submission_ids: list[str]) -> dict[str, Any]:
        """The Ray job status of each id the cluster knows: one ``list_jobs`` request when several jobs run
        instead of one ``get_job_status`` request per job (each is served by the dashboard process); ``wait_all``'s
        poll of several studies answers from the one request it made for them all."""
        polled = getattr(self, "_polled", None)
        if polled is not None:  # jobs submitted since that request are followed from the next poll on
            return {sid: polled[sid] for sid in submission_ids if sid in polled}
        if len(submission_ids) < 2:
            out: dict[str, Any] = {}
            for sid in submission_ids:
                try:
                    out[sid] = self.client.get_job_status(sid)
                except RuntimeError as err:  # absent: the cluster no longer knows the job (e.g. it was restarted)
                    if "does not exist" not in str(err) and "404" not in str(err):
                        out[sid] = UNKNOWN  # a failed request says nothing about the job: ask again
            return out
        wanted = set(submission_ids)
        return {k: v for k, v in self._all_job_statuses().items() if k in wanted}

    def _all_job_statuses(self) -> dict[str, Any]:
        jobs = self.client.list_jobs()
        self._active_node_jobs = sum(1 for j in jobs if (j.metadata or {}).get("raystudy_node")
                                     and str(j.status.value) in ("RUNNING", "PENDING"))
        return {j.submission_id: j.status for j in jobs if j.submission_id}

    def _poll_jobs(self) -> dict[str, Any] | None:
        """Every job's status in one request, or None when the request failed (each study then asks for its own)."""
        try:
            return self._all_job_statuses()
        except RuntimeError:
            return None

    def _follow(self, state: StudyState, node: NodeState, study: StudyConfig, status: Any) -> None:
        """Act on a running node's job status (None: the cluster no longer knows the job: run it again)."""
        from ray.job_submission import JobStatus

        if status in (JobStatus.PENDING, JobStatus.RUNNING, UNKNOWN):
            return
        if status is None:
            self._resubmit_lost(state, node, study)
            return
        if status == JobStatus.SUCCEEDED:
            missing = self._missing_rows(state, node, study)
            if not missing:
                node.status, node.message, node.updated = "SUCCEEDED", "", time.time()
                return
            why = f"the job succeeded but {missing}"
        else:
            why = f"job {status.value if status else 'lost'}: {self._last_log_line(node.submission_id)}"
        node.failures.append(f"attempt {node.attempts}: {why}")
        node.counted += 1
        if node.counted <= study.retries:
            self._start(state, node, study)
            node.message = f"retried after: {why}"
        else:
            node.status, node.message = "FAILED", why

    def _resubmit_lost(self, state: StudyState, node: NodeState, study: StudyConfig) -> None:
        """The cluster lost the node's job (not the job's fault): stop its driver if it still runs here and
        submit the node again, without counting it against the study's retries."""
        stopped = stop_local_drivers(state.study_id, node.name)
        node.lost += 1
        why = f"job {node.submission_id} lost by the cluster" + (f" ({stopped} driver(s) left here stopped)"
                                                               if stopped else "")
        node.failures.append(f"attempt {node.attempts}: {why}; not counted against retries")
        if node.lost > MAX_LOST:
            node.status, node.message = "FAILED", f"{why}; the cluster lost {node.lost} of its jobs"
            return
        self._start(state, node, study)
        node.message = f"resubmitted after: {why}"

    def _missing_rows(self, state: StudyState, node: NodeState, study: StudyConfig) -> str:
        """What expected result is absent ('' when complete)."""
        if node.kind == "report":
            if not self.store.exists("reports", state.study_id, "report.md"):
                return "no report"
            drawn = self.store.read_text("reports", state.study_id, "figures.json")
            return "" if drawn == figures_fingerprint(study) else "the report's figures are not the study's"
        rows = self.store.read_checked(node.experiment)[0].to_pandas()  # damaged files: their rows count as absent
        final = rows[rows["status"] == "final"]
        if node.kind == "sweep":
            return "" if not final.empty else "no trial finished"
        found = set(final["seed"].unique())
        missing = [s for s in study.seeds if s not in found]
        if missing:
            return f"seeds {missing} have no final rows"
        absent = [m for m in arm_measures(study, node.arm) if m not in set(final["metric"])]
        return f"measures {absent} were not written" if absent else ""

    def _last_log_line(self, submission_id: str) -> str:
        try:
            lines = [ln for ln in self.client.get_job_logs(submission_id).splitlines() if ln.strip()]
        except RuntimeError:
            return "no logs"
        errors = [ln for ln in lines if "Error" in ln or "error:" in ln]
        return (errors or lines or ["no logs"])[-1][-300:]

    def _wait_stopped(self, submission_id: str, timeout: float = 60) -> None:
        from ray.job_submission import JobStatus

        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.client.get_job_status(submission_id) not in (JobStatus.PENDING, JobStatus.RUNNING):
                    return
            except RuntimeError:
                return
            time.sleep(0.5)

    # -- what each node runs --------------------------------------------------------------------
    def _script(self, name: str) -> str:
        """A job script: relative to the uploaded working directory, or absolute when the cluster runs the
        installed code in place (``working_dir=None``)."""
        return f"jobs/{name}" if self.working_dir else str(REPO / "jobs" / name)

    def _python(self) -> str:
        """The interpreter: the cluster's ``python`` for uploaded code; for code run in place, this one
        (its packages are the ones installed beside that code, whatever PATH the cluster inherited)."""
        return "python" if self.working_dir else sys.executable

    def _entrypoint(self, state: StudyState, node: NodeState, study: StudyConfig) -> str:
        labels = ["--name", node.experiment, "--study", state.study_id, "--job", node.name, *state.trackers]
        smoke = ["--smoke"] if state.smoke else []
        if node.kind == "report":
            return _q([self._python(), self._script("report.py"), "--study", state.study_id,
                       "--measures", ",".join(all_measures(study)), "--minimize", ",".join(study.minimize),
                       "--title", study.description, "--quarantine",  # damaged files: listed as missing
                       *(["--figures", json.dumps(to_dict(study)["figures"])] if study.figures else [])])
        arm = study.arms[node.arm]
        if node.kind == "sweep":
            items = arm_sweep_items(study, node.arm, state.smoke)
            return _q([self._python(), self._script("sweep.py"), arm.method, *items, *labels, *smoke])
        items = arm_seeds_items(study, node.arm, state.smoke)
        if arm.sweep:
            sweep_node = state.nodes[f"sweep:{node.arm}"]
            items += [f"{k}={_render(v)}" for k, v in self.best_config(sweep_node.experiment).items()]
        seeds = ",".join(str(s) for s in study.seeds)
        data_seed = ["--data-seed"] if study.data_seed else []
        return _q([self._python(), self._script("sweep.py"), arm.method, *items, "--seeds", seeds, *data_seed,
                   *labels, *smoke])

    def best_config(self, experiment: str) -> dict[str, Any]:
        """The searched keys' values of the best finished trial of a sweep (by the sweep's own metric)."""
        record = self.store.read_text("reports", experiment, "sweep.json")
        if record is None:
            raise LookupError(f"sweep {experiment} left no record (reports/{experiment}/sweep.json)")
        meta = json.loads(record)
        rows = self.store.read(experiment).to_pandas()
        scored = rows[(rows["metric"] == meta["metric"]) & rows["value"].notna()]
        if scored.empty:
            raise LookupError(f"sweep {experiment} has no {meta['metric']!r} rows")
        last = scored.sort_values("epoch").groupby("trial").tail(1)
        # Prefer trials that ran to the end (ASHA stops others early, at a less trained epoch).
        final_trials = set(rows.loc[rows["status"] == "final", "trial"])
        pool = last[last["trial"].isin(final_trials)] if final_trials else last
        best = pool.sort_values("value", ascending=(meta["mode"] == "min")).iloc[0]
        config = json.loads(best["config"])
        return {k: config[k] for k in meta["search_space"] if k in config and k != "seed"}
