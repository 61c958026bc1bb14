"""Trials of one sweep share their processes (Tune's ``reuse_actors``: a process's start and imports are paid once
per process, not once per trial), and a trial that inherits a process starts from its own state (issue 24 item 1).
On a real local Ray with the `hold` tool method (no computation)."""
from __future__ import annotations

import os
from pathlib import Path

from jobs.sweep import main
from shared.results import ResultsStore


def test_six_trials_two_at_a_time_run_in_two_processes_each_from_its_own_state(local_ray, tmp_path, capsys):
    storage = tmp_path / "store"
    args = ["hold", "hold_s=0.05", "epochs=2", "--seeds", "0,1,2,3,4,5", "--storage", str(storage), "--name", "reuse"]
    assert main(args) == 0, capsys.readouterr().err
    rows = ResultsStore(storage).read("reuse").to_pandas()
    wide = rows.pivot_table(index=["trial", "epoch"], columns="metric", values="value").reset_index()
    assert wide["trial"].nunique() == 6
    pids = wide.groupby("trial")["process_id"].agg(set)
    assert all(len(p) == 1 for p in pids), pids  # a trial stays in its process
    processes = {p for (p,) in pids}
    assert len(processes) <= 2, pids  # the local Ray's 2 CPUs: two processes train all six trials
    first = wide[wide["epoch"] == 1].set_index("trial")
    assert first["new_process"].sum() == len(processes)  # the other trials were built in a reused process
    # A reused process's trial starts from scratch: its own epochs 1 and 2, its own seed, its own held time.
    assert all(sorted(wide.loc[wide["trial"] == t, "epoch"]) == [1, 2] for t in pids.index)
    final = wide[wide["epoch"] == 2]
    assert ((final["held_s"] - 0.1).abs() < 1e-6).all(), final[["trial", "held_s"]]
    seeds = rows.drop_duplicates("trial").set_index("trial")["seed"]
    assert sorted(seeds) == [0, 1, 2, 3, 4, 5]


def test_the_sweeps_callback_telemetry_counts_what_rays_does_without_importing_mlflow():
    """run_sweep replaces Tune's callback telemetry (which imports MLflow, W&B, Comet and Aim to read four class
    names: about 0.6 CPU-s per sweep driver) by a count by name; the counts are Ray's."""
    import subprocess
    import sys

    from ray import tune
    from ray.air._internal.usage import _count_callbacks
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, LoggerCallback

    from jobs.progress import sweep_progress
    from jobs.sweep import count_callbacks_by_name, plan_sweep
    from shared.registry import get_method

    class OwnLogger(LoggerCallback):
        pass

    plan = plan_sweep("hold", ["hold_s=0"], seeds=[0])
    callbacks = [CSVLoggerCallback(), JsonLoggerCallback(), sweep_progress(get_method("hold"), plan.sweep),
                 OwnLogger(), tune.Callback(), "not a callback"]
    assert count_callbacks_by_name(callbacks) == dict(_count_callbacks(callbacks))
    probe = ("import sys, jobs.sweep as s; from ray.tune.logger import CSVLoggerCallback; "
             "s._cheap_callback_telemetry(); "
             "from ray.air._internal import usage; usage.tag_callbacks([CSVLoggerCallback()]); "
             "print('mlflow' in sys.modules)")
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=repo,
                         env={**os.environ, "PYTHONPATH": str(repo)})
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr


def test_a_torch_free_spec_names_the_classes_a_trial_builds():
    """CARE's and SimCLR's specs name their trainer and evaluators (LazyClass) with the metrics each reports, so that
    the driver needs no torch: the names resolve to the classes the trials build, and the metrics are the classes'."""
    from shared.methods.ssl.care import CARETrainer
    from shared.methods.ssl.common import SimCLRTrainer
    from shared.methods.ssl.evaluators import SSL_EVALUATORS
    from shared.registry import get_method

    for name, trainer in (("care", CARETrainer), ("simclr", SimCLRTrainer)):
        spec = get_method(name)
        assert spec.trainer.resolve() is trainer
        assert [ev.resolve() for ev in spec.evaluators] == list(SSL_EVALUATORS)
        assert [ev.metrics for ev in spec.evaluators] == [ev.metrics for ev in SSL_EVALUATORS]
    import pickle

    assert pickle.loads(pickle.dumps(get_method("care"))).trainer.resolve() is CARETrainer


def test_the_commands_ray_starts_only_once_the_input_is_valid():
    """By default the command starts its local Ray once the input is valid (beside Ray Tune's import): a typo is
    refused, exit 2, with no Ray started and neither torch nor Ray Tune imported (the refusal takes a fraction of a
    second)."""
    import subprocess
    import sys

    probe = ("import sys, ray; from jobs.sweep import main; "
             "code = main(['care', 'lamm=0.1', 'sweep.search_space.lam={grid: [0.0, 0.3]}'], ray_start='validated'); "
             "print(code, ray.is_initialized(), 'torch' in sys.modules, 'ray.tune' in sys.modules)")
    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=repo,
                         env={**env, "PYTHONPATH": str(repo)})
    assert out.stdout.strip().splitlines()[-1] == "2 False False False", out.stdout + out.stderr
    assert "lamm: unknown key" in out.stderr


HEAVY = ("torch", "torch_geometric", "transformers", "deepspeed", "sklearn", "ot", "pandas")


def test_every_sweep_driver_validates_its_method_without_torch(tmp_path):
    """A sweep's driver (every study node) plans a smoke sweep of every registered method without importing torch,
    PyG, transformers or the other heavy libraries its trials use (1.7-10 CPU-s per driver before the specs and
    configs moved to torch-free modules): one process for all of them, since none may import any."""
    import subprocess
    import sys

    from shared.registry import REGISTRY

    free = sorted(REGISTRY)
    probe = ("import sys; from jobs.sweep import plan_sweep\n"
             f"for name in {free!r}:\n"
             f"    plan_sweep(name, [], smoke=True, storage={str(tmp_path)!r})\n"
             f"    heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
             "    if heavy: print(name, 'imported', heavy); break\n"
             "else: print('torch-free')\n")
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=repo,
                         env={**os.environ, "PYTHONPATH": str(repo)})
    assert out.stdout.strip().splitlines()[-1:] == ["torch-free"], out.stdout + out.stderr[-3000:]


def test_every_named_class_resolves_and_declares_its_metrics():
    """Each LazyClass a spec names resolves to a class, and the metrics it declares are the class's own."""
    from shared.method import LazyClass
    from shared.registry import REGISTRY, get_method

    for name in sorted(REGISTRY):
        spec = get_method(name)
        for ref in (spec.trainer, *spec.evaluators):
            if isinstance(ref, LazyClass):
                cls = ref.resolve()
                assert isinstance(cls, type), (name, ref)
                if "metrics" in ref.known:
                    assert tuple(ref.known["metrics"]) == tuple(cls.metrics), (name, ref)


# Run in a process of its own: a test worker's process tree may hold a local Ray, whose processes the sampler counts.
SAMPLER_PROBE = """
import json, subprocess, sys, time
from jobs.bench_platform import CpuSampler

SPIN = ("import time\\nend = time.process_time() + {0}\\nwhile time.process_time() < end: pass\\n"
        "print('spun', flush=True)\\ntime.sleep(120)")


def spinner(seconds, *args):
    return subprocess.Popen([sys.executable, "-c", SPIN.format(seconds), *args], stdout=subprocess.PIPE, text=True)


before = spinner(0.6, "log_monitor.py")  # "log_monitor.py" in its command line: one of Ray's processes to the sampler
children = [before]
try:
    assert before.stdout.readline().strip() == "spun"  # its 0.6 CPU-s are spent before the block
    with CpuSampler(period_s=0.05) as sampler:
        children.append(spinner(0.5))
        end = time.process_time() + 0.3
        while time.process_time() < end:  # the driver's own work
            pass
        assert children[-1].stdout.readline().strip() == "spun"
finally:
    for child in children:
        child.kill()
        child.wait()
print(json.dumps({**sampler.by_kind, "ray_daemons": sampler.ray_daemons()}))
"""


def test_the_platform_benchmarks_cpu_sampler_charges_each_child_to_its_kind():
    """jobs/bench_platform.py's CpuSampler (where a cold sweep's CPU-seconds go): a child that spins for half a
    CPU-second is charged to its kind, one that spun before the block counts only from the block's start, and the
    sampling process's own work is the driver's. Each child says when it has spun, so a loaded machine only slows
    the test down."""
    import json
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", SAMPLER_PROBE], capture_output=True, text=True, timeout=300, cwd=repo,
                         env={**os.environ, "PYTHONPATH": str(repo)})
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    kinds = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0.45 <= kinds.get("other", 0.0) <= 0.9, kinds  # its half CPU-second and its interpreter's start
    assert kinds.get("log monitor", 0.0) < 0.1, kinds  # it only slept during the block
    assert kinds["ray_daemons"] == kinds.get("log monitor", 0.0), kinds
    assert 0.28 <= kinds["driver"] <= 0.7, kinds


def test_the_scheduler_benchmark_separates_the_starts_shared_cores_serialise(capsys):
    """bench_scheduler's estimate for a cluster whose nodes start their trial processes on their own cores: the
    larger run's extra start CPU-seconds over this machine's cores come off its wall time, nothing else."""
    from jobs.bench_scheduler import print_shared_core_starts

    cores = len(os.sched_getaffinity(0))
    walls = {1: (128.0, 130.0), 4: (40.0, 42.0)}
    print_shared_core_starts(4, 1, walls, {1: 2.0, 4: 2.0 + 3.0 * cores})
    out = capsys.readouterr().out
    assert f"{128.0 / 37.0 / 4:.2f} (an estimate" in out, out
    assert "3.0 s more" in out, out
