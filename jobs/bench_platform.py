"""Benchmark: what the platform costs, measured side by side in one run (ratios printed, nothing asserted).

    python jobs/bench_platform.py [--trials 4] [--cpus 2] [--epochs 8] [--repeats 3]
    python jobs/bench_platform.py --first-result-only --fresh-starts 3
    ray job submit --working-dir . -- python jobs/bench_platform.py

1. Platform overhead: the same N CARE trials (i) as a Tune sweep through MethodTrainable (checkpoints
   every epoch, result rows, evaluation at the end) and (ii) as a plain PyTorch loop in a process pool
   with the same number of cores, alternately, ``--repeats`` times. The pool's workers are fresh
   interpreters that import torch and the method, as Tune's trial processes do (``--plain-start fork``: a
   pool that inherits this process's imports, torch._dynamo included). Prints each wall-time ratio and their
   median (target <= 1.10 for trials of 20 s or more), and the time from the sweep's start to its first
   reported result (target < 10 s on a local Ray): with the embedded Ray's start (the first repeat) and
   on the Ray already up (the later ones). The first repeat starts Ray as the user's command does (on a thread,
   beside Ray Tune's imports) and is the COLD figure; its CPU-seconds are sampled per process (trial processes,
   this driver, each of Ray's own processes) beside the plain loop's, and Ray's own share of the ratio is printed:
   its start plus its processes' CPU-seconds over the cores, which no change to the platform removes.
   Then the cold first result again in ``--fresh-starts`` new processes of each kind, as a median: (i) this
   benchmark's sweep, timed from the sweep's start (Ray's start included, no dashboard), and (ii) the
   user's command ``python jobs/sweep.py care ...``, timed from its launch (imports, the torch-free validation,
   then the embedded Ray's start beside Ray Tune's imports, no dashboard), with the command's own CPU-seconds
   until its sweep starts and where its seconds go (imports, validation, Ray's start, Tune's set-up, the trial's
   start and first epoch); the same command with Ray's start beside the validation (``RAYSTUDY_EARLY_RAY=1``)
   and after everything (``=0``), side by side; and a cold plain script's first epoch, with Ray's own share (the
   command's wait for Ray's start over the plain script's first epoch). ``--first-result-only`` runs only these.
   This machine's spread between single runs is a few seconds.
2. Training efficiency: CARE's achieved FLOP/s per training step (FLOPs counted by
   torch.utils.flop_counter) against this machine's measured matmul peak, on one thread.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")

import torch  # noqa: E402

from shared.registry import get_method  # noqa: E402
from shared.results import ResultsStore  # noqa: E402

# A trial of about 20-30 s on one core at 8 epochs. No evaluation during training on either side.
TRIAL = ["eval_every=0", "model.width=16", "data.n_train=1024", "data.n_test=512", "threads=1",
         "eval.equiv_pairs=2"]
LAMBDAS = [0.0, 0.03, 0.1, 0.3, 1.0, 0.01, 0.05, 0.5]
# A fresh start's trials: the first row is epoch 1's; with one epoch it would wait for the final evaluation.
FRESH_TRIAL = [*TRIAL, "epochs=2"]


def plain_trial(overrides: list[str]) -> float:
    """One trial with no platform: build, train every epoch, evaluate once. Returns its seconds."""
    start = time.perf_counter()
    torch.set_num_threads(1)
    spec = get_method("care")
    cfg = spec.load_config(overrides)
    trainer = spec.make_trainer(cfg)
    while not trainer.done:
        trainer.fit_epoch()
    spec.evaluate(cfg, trainer.artifact(), trainer.data)
    return time.perf_counter() - start


def plain_wall(configs: list[list[str]], cpus: int, start_method: str) -> tuple[float, float]:
    """The trials as a plain loop in a process pool of ``cpus`` workers: (wall seconds, mean trial seconds).

    With ``spawn`` each worker is a fresh interpreter that imports torch and the method once, as a Tune trial
    process (reused for the next trial) does. With ``fork`` the workers inherit this process's imports, among
    them torch._dynamo, which torch imports at the first optimizer step (about 1.4 CPU-seconds)."""
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=cpus, mp_context=multiprocessing.get_context(start_method)) as pool:
        per_trial = list(pool.map(plain_trial, configs))
    return time.perf_counter() - start, sum(per_trial) / len(per_trial)


# Ray's own processes, by what their command lines run: where a local Ray's CPU-seconds go besides the trials
RAY_DAEMONS = (("GCS", "gcs_server"), ("raylet", "raylet/raylet"), ("API server", "dashboard/dashboard.py"),
               ("dashboard agent", "dashboard/agent.py"), ("runtime-env agent", "runtime_env/agent"),
               ("log monitor", "log_monitor.py"), ("autoscaler monitor", "autoscaler/_private/monitor.py"))
WORKER_MARKS = ("default_worker.py", "ray::", "multiprocessing")  # Ray's trial processes; the plain loop's pool


class CpuSampler:
    """CPU-seconds spent while the block runs by this process ("driver") and by its descendants, grouped as trial
    or pool "workers", each of Ray's own processes (RAY_DAEMONS) and "other". Descendants are read every
    ``period_s`` (psutil): a process that ends between two reads loses its last fraction of a period, so the
    figures are lower bounds to about ``period_s`` per process. Processes already running when the block began
    (a Ray started by an earlier repeat) count from there. A joined cluster's processes are not descendants."""

    def __init__(self, period_s: float = 0.25) -> None:
        import threading

        import psutil

        self._psutil, self._me, self.period_s = psutil, psutil.Process(), period_s
        self._first: dict[int, float] = {}  # CPU-seconds of a process when first seen (0 for one born in the block)
        self._last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)
        self.by_kind: dict[str, float] = {}

    def __enter__(self) -> CpuSampler:
        self._driver0 = self._cpu(self._me)
        self._read(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()
        kinds: dict[str, float] = {"driver": self._cpu(self._me) - self._driver0}
        for pid, (kind, cpu) in self._last.items():
            kinds[kind] = kinds.get(kind, 0.0) + cpu - self._first.get(pid, 0.0)
        self.by_kind = kinds

    @staticmethod
    def _cpu(proc: object) -> float:
        times = proc.cpu_times()  # type: ignore[attr-defined]
        return times.user + times.system

    def _kind(self, proc: object) -> str:
        cmd = " ".join(proc.cmdline())  # type: ignore[attr-defined]
        daemon = next((name for name, mark in RAY_DAEMONS if mark in cmd), None)
        if daemon:  # first: the raylet's command line names the workers' (default_worker.py) among its arguments
            return daemon
        return "workers" if any(mark in cmd for mark in WORKER_MARKS) else "other"

    def _read(self, initial: bool = False) -> None:
        for proc in self._me.children(recursive=True):
            try:
                cpu = self._cpu(proc)
                # a child caught between fork and exec still shows its parent's command line: read it again later
                known = self._last.get(proc.pid, ("other", 0.0))[0]
                kind = known if known != "other" else self._kind(proc)
            except self._psutil.Error:  # it ended meanwhile: its last reading stands
                continue
            if initial:
                self._first[proc.pid] = cpu
            self._last[proc.pid] = (kind, cpu)

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self._read()

    def ray_daemons(self) -> float:
        return sum(v for k, v in self.by_kind.items() if k in dict(RAY_DAEMONS))


def sweep_overrides(trial: list[str], lams: list[float]) -> list[str]:
    """The plain loop's trials as one sweep: every lambda once, in order, no early stopping."""
    lam_grid = "[" + ",".join(str(lam) for lam in lams) + "]"
    # seed=0 as the plain loop's trials (configs/sweeps/care.yaml also sweeps seeds: fixed, one trial per lambda)
    return [*trial, "seed=0", "optim.lr=0.001", "temperature=0.5", "equiv_splits=16", "sweep.scheduler.name=fifo",
            "sweep.num_samples=1", f"sweep.search_space.lam={{grid: {lam_grid}}}"]


def tune_run(trial: list[str], lams: list[float], cpus: int) -> dict[str, float]:
    """The same trials as a Tune sweep on the embedded Ray (started by the first call, timed there)."""
    import ray

    from cluster import connect
    from cluster.connect import BackgroundConnect
    from jobs.sweep import import_sweep_modules, plan_sweep, run_sweep

    storage = tempfile.mkdtemp(prefix="raystudy-bench-")
    plan = plan_sweep("care", sweep_overrides(trial, lams), storage=storage)
    t0 = time.perf_counter()
    wall_t0 = time.time()
    if ray.is_initialized():
        connect()
    else:  # as the user's command starts it: Ray on a thread while Ray Tune and the sweep's modules are imported
        starting = BackgroundConnect(num_cpus=cpus, dashboard=False)
        import_sweep_modules()
        starting.wait()
    ray_start = time.perf_counter() - t0
    out = run_sweep(plan)
    row = {"tune_wall_s": time.perf_counter() - t0, "fit_s": out["fit_s"], "ray_start_s": ray_start,
           "first_result_s": first_row_after(storage, wall_t0)}
    shutil.rmtree(storage, ignore_errors=True)  # checkpoints and rows of a benchmark: nothing to keep
    return row


def bench_overhead(trials: int, cpus: int, epochs: int, repeats: int, start_method: str) -> list[dict[str, Any]]:
    """Plain loop then Tune sweep, ``repeats`` times side by side: one row per repeat. This machine's run-to-run
    spread (about 5%) is as large as the overhead itself, hence the repeats and the median."""
    trial = [*TRIAL, f"epochs={epochs}"]
    lams = LAMBDAS[:trials]
    configs = [[*trial, f"lam={lam}"] for lam in lams]
    rows = []
    for r in range(repeats):
        with CpuSampler() as plain_cpu:
            plain, mean_trial = plain_wall(configs, cpus, start_method)
        with CpuSampler() as tune_cpu:
            tuned = tune_run(trial, lams, cpus)
        row = {"mean_trial_s": mean_trial, "plain_wall_s": plain, **tuned, "plain_cpu": plain_cpu.by_kind,
               "tune_cpu": tune_cpu.by_kind, "ray_daemons_cpu_s": tune_cpu.ray_daemons()}
        row["fit_ratio"] = row["fit_s"] / plain
        row["ratio"] = row["tune_wall_s"] / plain
        print(f"repeat {r + 1}/{repeats}: plain loop {plain:.1f} s, Tune trials {row['fit_s']:.1f} s "
              f"(ratio {row['fit_ratio']:.3f}); whole sweep {row['tune_wall_s']:.1f} s incl. Ray start "
              f"{row['ray_start_s']:.1f} s; first result after {row['first_result_s']:.1f} s", flush=True)
        rows.append(row)
    return rows


def print_cpu_breakdown(cold: dict[str, Any], cpus: int) -> None:
    """Where the cold first sweep's CPU-seconds went beside the plain loop's, and the part of its ratio that Ray's
    own start and processes take whatever the platform does: while the trials keep every core busy, Ray's
    processes' CPU-seconds cost their share of the cores' wall time on top of its start."""
    sweep, plain = cold["tune_cpu"], cold["plain_cpu"]
    daemons = ", ".join(f"{name} {sweep[name]:.1f}" for name, _ in RAY_DAEMONS if sweep.get(name, 0.0) >= 0.05)
    print(f"  its CPU-s (sampled): trial processes {sweep.get('workers', 0.0):.1f} against the plain loop's workers "
          f"{plain.get('workers', 0.0):.1f}; this driver {sweep['driver']:.1f} against {plain['driver']:.1f}; "
          f"Ray's own processes {cold['ray_daemons_cpu_s']:.1f} ({daemons or 'none here: a joined cluster'}); "
          f"other {sweep.get('other', 0.0):.1f}")
    floor = (cold["ray_start_s"] + cold["ray_daemons_cpu_s"] / cpus) / cold["plain_wall_s"]
    print(f"  Ray's own share: its start ({cold['ray_start_s']:.1f} s, Tune's import beside it) and its processes' "
          f"CPU-s over {cpus} cores = {floor:.3f} of the plain loop; the rest of the cold overhead, "
          f"{cold['ratio'] - 1 - floor:.3f}, is the trials' processes, this driver and noise")


def first_row_after(storage: str, t0: float) -> float:
    """Seconds from ``t0`` (a time.time()) to the first result row written under ``storage``."""
    return min(os.path.getmtime(f) for f in ResultsStore(storage).files()) - t0


def cpu_seconds(pid: int) -> float:
    """User + system CPU-seconds a running process has spent so far (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


# The user's command, `python jobs/sweep.py care ...`, with the embedded Ray started (RAYSTUDY_EARLY_RAY): ``command``
# the default (once the input is valid, beside Ray Tune's imports); ``early`` beside the validation too (opt-in);
# ``serial`` after everything (opt-out): side by side.
COMMAND_KINDS = {"command": None, "early": "1", "serial": "0"}
# jobs/sweep.py's steps (its `[raystudy] phases` line), in order: what each one covers
PHASE_NAMES = (("imports", "interpreter and imports"), ("validated", "validation"),
               ("ray", "Ray's start (Tune's import and the resume check beside it)"), ("tuner", "Tune's set-up"))


def phase_breakdown(phases: dict[str, list[float]], first_result: float) -> dict[str, float]:
    """Seconds and the driver's CPU-seconds spent in each of jobs/sweep.py's steps up to the first result (from the
    process's launch, so the interpreter's start counts under imports), then to the first result (the trial
    process's start and its first epoch)."""
    out: dict[str, float] = {}
    wall0, cpu0 = phases["launch"][0], 0.0
    for name, _ in PHASE_NAMES:
        wall, cpu = phases[name]
        out[f"{name}_s"], out[f"{name}_cpu_s"] = wall - wall0, cpu - cpu0
        wall0, cpu0 = wall, cpu
    out["trial_s"] = phases["launch"][0] + first_result - wall0
    return out


def fresh_start(kind: str, lams: list[float], cpus: int) -> dict[str, float]:
    """One cold first result in a new process. ``probe``: this benchmark's sweep (``--cold-probe``), timed
    from the sweep's start as in the first repeat. Else ``python jobs/sweep.py care ...`` as a user runs it (the
    COMMAND_KINDS), timed from its launch, with where the seconds went (phase_breakdown) and ``ready_cpu_s`` the
    command's own CPU-seconds when its sweep starts (its imports, the validation, its share of Ray's start)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAYSTUDY_EARLY_RAY")}
    env["RAYSTUDY_PHASES"] = "1"
    if COMMAND_KINDS.get(kind):
        env["RAYSTUDY_EARLY_RAY"] = COMMAND_KINDS[kind]
    if kind == "probe":
        cmd = [sys.executable, __file__, "--cold-probe", "--trials", str(len(lams)), "--cpus", str(cpus)]
    else:
        storage = tempfile.mkdtemp(prefix="raystudy-bench-")
        cmd = [sys.executable, str(REPO / "jobs" / "sweep.py"), "care", *sweep_overrides(FRESH_TRIAL, lams),
               "--storage", storage, "--num-cpus", str(cpus)]
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    row: dict[str, float] = {}
    phases: dict[str, list[float]] = {}
    ready: float | None = None
    ready_cpu = float("nan")
    tail: list[str] = []
    for line in proc.stdout:  # type: ignore[union-attr]
        tail = [*tail[-20:], line]
        if line.startswith("COLD "):
            row = json.loads(line[5:])
        elif line.startswith("[raystudy] phases "):
            phases = json.loads(line[len("[raystudy] phases "):])
        elif line.startswith("[raystudy] sweep ") and ready is None:
            ready = time.time() - t0
            ready_cpu = cpu_seconds(proc.pid)
    if proc.wait() != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{''.join(tail)}")
    if kind == "probe":
        return {"first_result_s": row["first_result_s"], "ray_start_s": row["ray_start_s"]}
    first = first_row_after(storage, t0)
    shutil.rmtree(storage, ignore_errors=True)
    breakdown = phase_breakdown({**phases, "launch": [t0, 0.0]}, first) if phases else {}
    return {"first_result_s": first, "ready_s": float("nan") if ready is None else ready, "ready_cpu_s": ready_cpu,
            **breakdown}


# A user's plain script for the same first trial: a fresh interpreter that imports torch and the method, builds the
# same model and data and trains the same first epoch (the sweep's first trial: lambda 0, seed 0), one thread.
PLAIN_SCRIPT = """
import json, sys, time
t0 = time.time()
import torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[1])
from shared.registry import get_method
t_torch = time.time()
spec = get_method("care")
cfg = spec.load_config(json.loads(sys.argv[2]))
trainer = spec.make_trainer(cfg)
t_built = time.time()
trainer.fit_epoch()
t_epoch = time.time()
print("PLAIN " + json.dumps({"start": t0, "imports_s": t_torch - t0, "build_s": t_built - t_torch,
                             "epoch_s": t_epoch - t_built, "end": t_epoch}), flush=True)
"""


def cold_plain_script() -> dict[str, float]:
    """The cold plain script's first epoch, timed from its launch, with where the seconds go."""
    overrides = [item for item in sweep_overrides(FRESH_TRIAL, [LAMBDAS[0]]) if not item.startswith("sweep.")]
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", PLAIN_SCRIPT, str(REPO), json.dumps([*overrides, f"lam={LAMBDAS[0]}"])],
                         cwd=REPO, capture_output=True, text=True, check=True)
    row = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("PLAIN "))[6:])
    return {"first_epoch_s": row["end"] - t0, "launch_s": row["start"] - t0, "imports_s": row["imports_s"],
            "build_s": row["build_s"], "epoch_s": row["epoch_s"]}


def bench_fresh_starts(starts: int, cpus: int, probe: bool = True) -> dict[str, list[dict[str, float]]]:
    import ray

    ray.shutdown()  # a Ray left up holds the ports a new one wants first: its start then takes seconds longer
    lams = LAMBDAS[:cpus]  # the first result comes from the first wave of trials: one per core
    kinds = [*(["probe"] if probe else []), *COMMAND_KINDS, "plain"]
    out: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for i in range(starts):  # the kinds alternate, so that a slow minute of the machine hits them alike
        for kind in out:
            out[kind].append(cold_plain_script() if kind == "plain" else fresh_start(kind, lams, cpus))
            first = out[kind][-1]["first_epoch_s" if kind == "plain" else "first_result_s"]
            print(f"fresh start {i + 1}/{starts} ({kind}): first result after {first:.1f} s", flush=True)
    return out


def print_first_results(fresh: dict[str, list[dict[str, float]]], cpus: int) -> None:
    median = statistics.median
    plain = fresh["plain"]

    def spread(rows: list[dict[str, float]], key: str, unit: str = "s") -> str:
        values = sorted(r[key] for r in rows)
        return f"median {median(values):.1f} {unit} ({', '.join(f'{v:.1f}' for v in values)})"

    print(f"first reported result over {len(plain)} fresh processes, {cpus} trials at once:")
    if fresh.get("probe"):
        print(f"  this benchmark's sweep, from the sweep's start incl. the embedded Ray's start: "
              f"{spread(fresh['probe'], 'first_result_s')}; Ray's start {spread(fresh['probe'], 'ray_start_s')} "
              "(target < 10 s)")
    names = {"command": "Ray's start once the input is valid, beside Tune's imports (the default)",
             "early": "Ray's start beside the validation too (RAYSTUDY_EARLY_RAY=1)",
             "serial": "Ray's start after everything (RAYSTUDY_EARLY_RAY=0)"}
    for kind, name in names.items():
        rows = fresh[kind]
        print(f"  `python jobs/sweep.py care ...` from its launch, {name}: {spread(rows, 'first_result_s')}; "
              f"sweep starting after {spread(rows, 'ready_s')}, the command's CPU by then "
              f"{spread(rows, 'ready_cpu_s', 'CPU-s')}")
        if all("trial_s" in r for r in rows):
            parts = "; ".join(f"{label} {median(r[f'{key}_s'] for r in rows):.2f} s "
                              f"({median(r[f'{key}_cpu_s'] for r in rows):.2f} CPU-s)" for key, label in PHASE_NAMES)
            print(f"    where the seconds go (medians; the driver's CPU-s): {parts}; then the trial's process start "
                  f"and first epoch {median(r['trial_s'] for r in rows):.2f} s")
    print(f"  a cold plain script (`python` that imports torch and the method, builds the model and data, trains "
          f"the first epoch): {spread(plain, 'first_epoch_s')}; of it imports {spread(plain, 'imports_s')}, "
          f"build {spread(plain, 'build_s')}, epoch {spread(plain, 'epoch_s')}")
    for kind, name in names.items():
        ratios = [c["first_result_s"] / p["first_epoch_s"] for c, p in zip(fresh[kind], plain, strict=True)]
        label = "" if kind == "command" else f" ({name})"
        print(f"FIRST RESULT{label}, user's command / cold plain script (side by side): median {median(ratios):.2f} "
              f"(each: {', '.join(f'{r:.2f}' for r in ratios)}; goal <= 1.5)")
    if all("ray_s" in r for r in fresh["command"]):
        # the command's first result comes after Ray's start and then everything the plain script does
        shares = [c["ray_s"] / p["first_epoch_s"] for c, p in zip(fresh["command"], plain, strict=True)]
        print(f"  Ray's own share: the default command's wait for Ray's start (Tune's import beside it), median "
              f"{median(r['ray_s'] for r in fresh['command']):.2f} s = {median(shares):.2f} of the cold plain script's "
              f"first epoch: the ratio stays above {1 + median(shares):.2f} while the command starts a local Ray")


def matmul_peak(n: int = 1024, repeats: int = 10) -> float:
    """FLOP/s of a square fp32 matmul on the current thread count (the best of several runs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def bench_step_efficiency() -> dict[str, float]:
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(1)
    spec = get_method("care")
    cfg = spec.load_config(["model.width=32", "data.n_train=512", "data.n_test=256", "threads=1"])
    trainer = spec.make_trainer(cfg)
    batch = next(trainer.batches())

    def step() -> None:
        loss, _ = trainer.loss(batch)
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()

    step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    steps = 5
    t = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - t) / steps
    peak = matmul_peak()
    return {"flops_per_step": flops, "step_s": seconds, "achieved_flops": flops / seconds,
            "peak_flops": peak, "fraction_of_peak": flops / seconds / peak}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=4, choices=range(1, len(LAMBDAS) + 1))
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=8, help="epochs per trial (8: about 20 s on one core)")
    parser.add_argument("--repeats", type=int, default=3, help="plain loop and Tune sweep, side by side, N times")
    parser.add_argument("--plain-start", choices=("spawn", "fork"), default="spawn",
                        help="how the plain loop's pool starts its workers (spawn: fresh interpreters, like Tune's)")
    parser.add_argument("--fresh-starts", type=int, default=3,
                        help="cold first results measured in N new processes of each kind (0: none)")
    parser.add_argument("--first-result-only", action="store_true",
                        help="only the fresh starts' first results: the user's command (Ray's start beside the "
                        "validation, and after it) against a cold plain script")
    parser.add_argument("--cold-probe", action="store_true", help=argparse.SUPPRESS)  # one fresh start's sweep
    args = parser.parse_args(argv)
    if args.cold_probe:
        row = tune_run(FRESH_TRIAL, LAMBDAS[:args.trials], args.cpus)
        print("COLD " + json.dumps(row), flush=True)
        return 0
    if args.first_result_only:
        print_first_results(bench_fresh_starts(max(args.fresh_starts, 1), args.cpus, probe=False), args.cpus)
        return 0

    eff = bench_step_efficiency()
    print(f"CARE training step (width 32, batch 256, 4 views, 1 thread): "
          f"{eff['flops_per_step'] / 1e9:.1f} GFLOP in {eff['step_s']:.2f} s = "
          f"{eff['achieved_flops'] / 1e9:.1f} GFLOP/s; matmul peak {eff['peak_flops'] / 1e9:.1f} GFLOP/s; "
          f"fraction of peak {eff['fraction_of_peak']:.2f}", flush=True)
    rows = bench_overhead(args.trials, args.cpus, args.epochs, args.repeats, args.plain_start)
    median = statistics.median
    print(f"{args.trials} CARE trials of about {median(r['mean_trial_s'] for r in rows):.0f} s on {args.cpus} cores, "
          f"{len(rows)} repeats side by side (plain loop: a {args.plain_start}ed pool):")
    each = ", ".join(f"{r['fit_ratio']:.3f}" for r in rows)
    print(f"overhead ratio, Tune trials / plain loop: median {median(r['fit_ratio'] for r in rows):.3f} "
          f"(each: {each}; target <= 1.10)")
    cold, warm = rows[0], rows[1:]  # only the first repeat starts Ray
    print(f"COLD first sweep (first repeat) / plain loop: trials {cold['fit_ratio']:.3f}; whole sweep incl. the "
          f"embedded Ray's start and report {cold['ratio']:.3f} (goal <= 1.10)")
    print_cpu_breakdown(cold, args.cpus)
    if warm:
        print(f"WARM sweeps (repeats 2-{len(rows)}) / plain loop: trials median "
              f"{median(r['fit_ratio'] for r in warm):.3f} (goal <= 1.05)")
    print(f"first reported result: {cold['first_result_s']:.1f} s with the embedded Ray's start "
          f"({cold['ray_start_s']:.1f} s)" + (f"; {median(r['first_result_s'] for r in warm):.1f} s (median) "
                                            "on the Ray already up" if warm else "") + " (target < 10 s)")
    if args.fresh_starts > 0 and os.environ.get("RAY_ADDRESS"):
        print("fresh starts skipped: this run joined a Ray cluster (RAY_ADDRESS), so nothing here starts cold")
    elif args.fresh_starts > 0:
        print_first_results(bench_fresh_starts(args.fresh_starts, args.cpus), args.cpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
