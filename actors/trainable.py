"""Any registered method as a Tune trainable: one ``step`` is one epoch, checkpoints are the trainer's
state dict. Tune then gives every method schedulers (ASHA, PBT), search algorithms, fault tolerance and
resume at once. Nothing here knows about a particular method."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

# CPU-seconds of this process when it imported this module (a trial process: the Ray worker's start), and once its
# imports were done (Ray Tune's); with TRIAL_CPU_AT_SETUP below, the per-trial fixed cost that
# jobs/bench_scheduler.py breaks down.
PROCESS_CPU_AT_IMPORT = time.process_time()

import ray  # noqa: E402
from ray import tune  # noqa: E402

from actors.generation import attach_pool, detach_pool  # noqa: E402
from shared.atomic import TRIAL_RESERVE  # noqa: E402
from shared.checkpoint import ensure_room_for_copy, oldest_surviving_checkpoint, restore_with_fallback, save_checkpoint  # noqa: E402
from shared.config import flatten, to_dict  # noqa: E402
from shared.method import NonFiniteLossError  # noqa: E402
from shared.registry import get_method  # noqa: E402
from shared.results import ResultsStore, RunInfo  # noqa: E402

PROCESS_CPU_AFTER_IMPORTS = time.process_time()
TRIAL_CPU_AT_SETUP: list[float] = []  # the process's CPU-seconds when each of its trials' setup began

# A diagnostic row: the epoch a trial resumed from after skipping damaged checkpoints (0: from scratch).
CHECKPOINT_FALLBACK = "checkpoint_fallback"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class MethodTrainable(tune.Trainable):
    """Run with ``tune.with_parameters(MethodTrainable, run=...)``, where ``run`` holds the method's
    name, its fixed overrides and where results go; Tune's ``config`` is the sampled search-space point
    as dotted keys (``{"optim.lr": 0.001, "lam": 0.01}``)."""

    def setup(self, config: dict[str, Any], run: dict[str, Any]) -> None:
        TRIAL_CPU_AT_SETUP.append(time.process_time())
        # One "Checkpoint successfully created" line per trial and epoch drowns the progress table.
        logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
        # Tune's "setup took N s ... consider setting reuse_actors=True" is moot: the sweep reuses actors already.
        logging.getLogger("ray.tune.trainable.trainable").setLevel(logging.WARNING)
        self.run_info = run
        self._build(config)

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Tune reuses this actor for the next trial (``reuse_actors``): a new trainer, no new process."""
        self._build(new_config)
        # Ray records an actor's repr once, when it is created (the dashboard keeps the first trial's); the
        # driver's log prefix follows this marker, so the lines of the new trial carry its name.
        # (Ray's worker writes it to both streams at creation, and its log monitor drops the line itself.)
        for stream in (sys.stdout, sys.stderr):
            print(f":actor_name:{self!r}", file=stream, flush=True)
        return True

    def __repr__(self) -> str:
        """What the Ray dashboard and the driver's log prefix show for this actor instead of the bare
        ``ResourceTrainable``: the method, the trial id and the trial's hyperparameters."""
        method = getattr(getattr(self, "spec", None), "name", None) or getattr(self, "run_info", {}).get("method")
        trial = getattr(self, "_trial_info", None) and self.trial_id
        params = " ".join(f"{key.rsplit('.', 1)[-1]}={_short(value)}"
                          for key, value in sorted((getattr(self, "config", None) or {}).items()))
        text = " ".join(part for part in (method or "MethodTrainable", f"trial {trial}" if trial else "", params)
                        if part)
        return text if len(text) <= 120 else text[:117] + "..."

    def _build(self, config: dict[str, Any]) -> None:
        run = self.run_info
        self.spec = get_method(run["method"])
        self.cfg = self.spec.load_config({**run.get("overrides", {}), **config})
        if hasattr(self, "trainer"):
            detach_pool(self.trainer)  # a reused actor's previous trial: its generation actors go with it
        self.trainer = self.spec.make_trainer(self.cfg)
        attach_pool(self.trainer, self.cfg)  # the config's generation actors, in the trial's placement group
        self.evaluators = self.spec.make_evaluators(self.cfg, self.trainer.data)
        # A trial stops writing while Tune can still record its failure on the same disk (TRIAL_RESERVE).
        self.store = ResultsStore(run["storage"], reserve=TRIAL_RESERVE)
        data = getattr(self.cfg, "data", None)
        self.info = RunInfo(
            experiment=run["experiment"], method=self.spec.name, paper=self.spec.paper,
            dataset=getattr(data, "name", ""), seed=int(getattr(self.cfg, "seed", 0)), trial=self.trial_id,
            config_json=RunInfo.config_to_json(flatten(to_dict(self.cfg))),
            study=run.get("study", ""), job=run.get("job", ""), code_version=run.get("code_version", ""),
            node=ray.get_runtime_context().get_node_id(),
        )
        self.started = time.time()

    def cleanup(self) -> None:
        if hasattr(self, "trainer"):
            detach_pool(self.trainer)

    def step(self) -> dict[str, Any]:
        try:
            metrics = self.trainer.fit_epoch()
        except NonFiniteLossError as err:
            self.store.write_epoch(self.info, self.trainer.epoch + 1, {"nonfinite_loss": float("nan")},
                                   "error", time.time() - self.started)
            raise NonFiniteLossError(f"trial {self.trial_id} ({self.spec.name}): {err}") from None
        epoch, done = self.trainer.epoch, self.trainer.done
        every = self.cfg.eval_every
        if done or (every and epoch % every == 0):
            artifact = self.trainer.artifact()
            for evaluator in self.evaluators:
                metrics.update(evaluator.evaluate(artifact))
            if done:  # before the final row: a finished trial's pictures are there when its rows say so
                self._keep_files(artifact)
        metrics.update(getattr(self, "fallback_note", {}))  # the rows say the trial resumed from an older state
        self.fallback_note = {}
        self.store.write_epoch(self.info, epoch, metrics, "final" if done else "running",
                               time.time() - self.started)
        return {**metrics, "epoch": epoch, "done": done}

    def _keep_files(self, artifact: Any) -> None:
        """The evaluators' pictures of the final artifact (``Evaluator.write_files``), kept with the trial's rows."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="raystudy-files-") as tmp:
            for evaluator in self.evaluators:
                for path in evaluator.write_files(artifact, Path(tmp)):
                    self.store.put_file(path, "results", self.info.experiment, self.trial_id, "files", Path(path).name)

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        save_checkpoint(checkpoint_dir, self.spec, self.cfg, self.trainer)
        if self._local_storage():  # fail clearly before Tune copies a truncated checkpoint to a full disk
            ensure_room_for_copy(checkpoint_dir, f"{self.run_info['storage']}/tune/{self.run_info['experiment']}/"
                                                 f"{self.trial_id}", TRIAL_RESERVE)

    def _local_storage(self) -> bool:
        return "://" not in self.run_info["storage"]

    def restore(self, checkpoint_path: Any) -> None:
        """Tune's restore, except when the experiment state names a checkpoint Tune has deleted since (a driver
        killed between deleting a trial's old checkpoints and its next state snapshot): then the trial resumes
        from its oldest checkpoint still on disk instead of failing. The epochs' rows are deterministic, so
        the epochs trained again rewrite the same values; under ASHA, rung results between the two are not
        replayed to the scheduler (the warning says so)."""
        checkpoint = getattr(checkpoint_path, "checkpoint", None)
        if checkpoint is not None and self._local_storage() and not Path(checkpoint.path).exists():
            survivor = oldest_surviving_checkpoint(checkpoint.path)
            if survivor is not None:
                directory, epoch = survivor
                print(f"[raystudy] WARNING trial {self.trial_id}: Tune's experiment state names {checkpoint.path}, "
                      f"deleted since; resuming from {directory} (epoch {epoch})", file=sys.stderr, flush=True)
                checkpoint_path = type(checkpoint_path)(
                    checkpoint=tune.Checkpoint.from_directory(str(directory)),
                    metrics={**(checkpoint_path.metrics or {}), "training_iteration": epoch})
        super().restore(checkpoint_path)

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        restored = restore_with_fallback(Path(checkpoint_dir))
        if restored.fell_back:  # a damaged checkpoint: its predecessor, else a fresh start, never a retry loop
            if restored.state is None:
                self._build(self.config)
            print(f"[raystudy] WARNING trial {self.trial_id}: {restored.describe()}", file=sys.stderr, flush=True)
            self._iteration = restored.epoch  # Tune set the damaged checkpoint's; one iteration is one epoch
            self.fallback_note = {CHECKPOINT_FALLBACK: float(restored.epoch)}
        if restored.state is not None:
            self.trainer.load_state_dict(restored.state)
