"""Any gradient method marked ``distributed: deepspeed`` trained under Ray Train + DeepSpeed.

    from actors.distributed import run_distributed
    out = run_distributed("gpt", ["distributed.workers=2", "distributed.zero_stage=3"], storage="/tmp/rs")

The method's own ``build_model`` / ``batches`` / ``loss`` / ``configure_optimizer`` / ``learning_rate`` run
unchanged: a :class:`~ray.train.torch.TorchTrainer` starts ``distributed.workers`` workers, each builds the
method's trainer and hands its model and torch optimizer to ``deepspeed.initialize`` (ZeRO stage, precision,
micro-batch and accumulation from the config's ``distributed`` section, :class:`shared.distributed.DistributedConfig`).
Every rank walks the same global batches and trains on its slice of each (``shared.distributed.shard_batch``),
so the loss trajectory is the plain loop's. CPU workers use gloo and ``DS_ACCELERATOR=cpu``; GPU workers NCCL;
nothing else changes between them.

Per epoch: the mean training metrics (all-reduced over ranks), the method's evaluators on rank 0 every
``eval_every`` epochs and at the end (the full fp32 weights are gathered from every rank first, a collective,
and loaded into a plain copy of the trainer whose ``artifact()`` the evaluators consume), rows to the results
store (rank 0), and a DeepSpeed checkpoint saved by every rank and reported through ``ray.train.report``.
A worker that dies restarts the worker group from the last checkpoint (``distributed.max_failures``); running
the same command again (same run name and storage) resumes a stopped run. The last checkpoint also holds the
platform's own format (``trainer.pt`` + ``meta.json``: the model weights, a fresh optimizer), so
``EvaluatorActor.evaluate_checkpoint`` and ``shared.checkpoint.load_trainer`` read it.
A trainer with state outside its model (e.g. a frozen reference policy) may expose it as ``extra_state()`` /
``load_extra_state(state)``: it travels in the DeepSpeed checkpoints and reaches the evaluators' plain copy.

Generation actors (``MethodConfig.generation_actors``: an RL method's rollouts, ``actors/generation.py``): the driver
reserves a placement group for the pool next to the worker group's (Ray Train's own group holds exactly one bundle per
worker and offers no way to add bundles for actors a worker starts), by default carving the actors' CPUs out of the
workers' (``pool_shares``), and removes it when the run ends. Rank 0 owns the pool: each step it publishes its module's
weights (whole on every rank under ZeRO 0-2), samples through the pool and broadcasts the rollouts to the other ranks
(``BroadcastShardMap``), which then walk the same global batches as before. One publisher and one collective per step,
as OpenRLHF's DeepSpeed learner broadcasts its weights from rank 0 to its vLLM engines; every rank sampling its own
shard would need every step's rollouts gathered again anyway (GRPO normalises over whole groups, and each rank
computes the old and reference log-probabilities of the whole step).

Tune sweeps of such methods run :func:`distributed_trial`: each trial is a small TorchTrainer run.
Nothing here knows about a particular method.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import ray

from shared.checkpoint import load_deepspeed_checkpoint
from shared.config import ConfigError, flatten, to_dict
from shared.distributed import (
    DistributedConfig,
    batch_size,
    deepspeed_config,
    distributed_config,
    resolve_micro_batch,
    shard_batch,
    to_device,
)
from shared.method import MethodSpec, NonFiniteLossError, rng_state, set_rng_state, split_loss
from shared.registry import get_method
from shared.results import ResultsStore, RunInfo, code_version, storage_root

Overrides = Mapping[str, Any] | Iterable[str] | None
FATAL_FILE = "fatal_error.json"  # what a run that cannot succeed left for its driver (see _fatal)
_DETERMINISTIC = (ConfigError, NonFiniteLossError)  # the same on every rank and on every retry
POOL_GROUP_PREFIX = "generation-pool-"  # the name of a run's generation pool's placement group


def resolve_spec(method: str | MethodSpec) -> MethodSpec:
    spec = method if isinstance(method, MethodSpec) else get_method(method)
    if spec.resources.distributed not in ("deepspeed", "deepspeed-optional"):
        raise ConfigError(f"method {spec.name!r} is not marked distributed='deepspeed' (its resource hint is "
                          f"{spec.resources.distributed!r}); train it with jobs/sweep.py or TrainerActor")
    return spec


def run_name(spec: MethodSpec, cfg: Any) -> str:
    """Deterministic per method and config: running the same command again resumes the same run."""
    digest = hashlib.sha1(json.dumps(flatten(to_dict(cfg)), sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{spec.name}-ds-{digest}"


def check_cluster(dist: DistributedConfig, pool_cpus: float = 0.0) -> None:
    """Refuse a run whose workers (and generation pool: ``pool_cpus`` more CPUs) can never all be placed (Ray Train
    would wait for them forever)."""
    total = ray.cluster_resources()
    need = {"CPU": dist.workers * dist.cpus_per_worker + pool_cpus, "GPU": float(dist.workers) if dist.use_gpu else 0.0}
    for key, amount in need.items():
        if amount > total.get(key, 0.0) + 1e-9:
            per = dist.cpus_per_worker if key == "CPU" else 1
            pool = f" + {pool_cpus:g} for generation actors" if key == "CPU" and pool_cpus else ""
            raise ConfigError(
                f"distributed.workers: {dist.workers} workers x {per:g} {key}{pool} = {amount:g} {key}, but the "
                f"cluster has {total.get(key, 0.0):g}; lower distributed.workers"
                + (" or distributed.cpus_per_worker (or the CPUs each generation actor reserves)" if key == "CPU"
                   else " or set distributed.use_gpu=false"))


def pool_layout(cfg: Any) -> dict[str, Any] | None:
    """The generation pool of a run whose config asks for one: ``{"actors", "cpus"`` (each), ``"worker_cpus"``
    (each worker's, less than ``distributed.cpus_per_worker`` when the actors share the workers' CPUs),
    ``"extra_cpus"`` (what the run asks for beyond its workers)}; None without generation actors."""
    from actors.generation import generation_request, pool_shares

    actors, actor_cpus = generation_request(cfg)
    if actors < 1:
        return None
    dist = distributed_config(cfg)
    worker, each = pool_shares(dist.cpus_per_worker, dist.workers, actors, actor_cpus)
    return {"actors": actors, "cpus": each, "worker_cpus": worker,
            "extra_cpus": max(dist.workers * worker + actors * each - dist.workers * dist.cpus_per_worker, 0.0)}


def scaling(dist: DistributedConfig, cpus_per_worker: float | None = None) -> dict[str, Any]:
    """ScalingConfig / TorchConfig / worker environment of one run (``cpus_per_worker``: instead of the config's,
    when a generation pool shares them)."""
    from ray.train import ScalingConfig
    from ray.train.torch import TorchConfig

    cpus = dist.cpus_per_worker if cpus_per_worker is None else cpus_per_worker
    per_worker = {"CPU": float(cpus), **({"GPU": 1.0} if dist.use_gpu else {})}
    # No worker runtime env of its own (DS_ACCELERATOR is set by the train function itself): a worker whose
    # env differs from its job's must unpack the job's working_dir package again, and under concurrent jobs
    # of one study that package can already be gone from the GCS (ray#46625; the study's seeds nodes failed
    # with "Failed to download runtime_env file package"). Inheriting the job's env reuses the unpacked one.
    return {
        "scaling_config": ScalingConfig(num_workers=dist.workers, use_gpu=dist.use_gpu,
                                        resources_per_worker=per_worker),
        "torch_config": TorchConfig(backend=dist.resolved_backend),
    }


def run_distributed(
    method: str | MethodSpec,
    overrides: Overrides = None,
    *,
    name: str | None = None,
    storage: str | None = None,
    train_storage: str | None = None,
    experiment: str | None = None,
    trial: str = "train",
    study: str = "",
    job: str = "",
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Train one configuration under Ray Train + DeepSpeed on the connected Ray; resume it if a run of the
    same name exists under the storage root. Validation happens before any worker starts.

    Returns ``{"name", "metrics" (last epoch, rank 0), "checkpoint" (its path), "path"}``; raises
    :class:`NonFiniteLossError` or :class:`ConfigError` when the run cannot succeed (the workers stop at once,
    without retries), and Ray Train's ``TrainingFailedError`` when it failed more than ``max_failures`` times.
    """
    spec = resolve_spec(method)
    cfg = spec.load_config(overrides)
    root = storage_root(storage)
    name = name or run_name(spec, cfg)
    info = _run_info(spec, cfg, experiment or name, trial, study, job)
    fatal = ("train", "fatal", f"{info.experiment}-{trial}-{name}.json")
    result = _fit(spec, [{"cfg": cfg, "info": info, "fatal": fatal}], root, name,
                  train_storage or f"{root}/train", checkpoints=True, callbacks=callbacks)
    _raise_fatal(ResultsStore(root), spec, name, fatal)
    return {"name": name, "metrics": result.metrics, "path": result.path,
            "checkpoint": result.checkpoint.path if result.checkpoint else None}


def run_variants(
    method: str | MethodSpec,
    variants: Mapping[str, Overrides],
    *,
    experiment: str,
    storage: str | None = None,
) -> dict[str, Exception | None]:
    """Train several configurations one after another on ONE worker group (no checkpoints, no resume): each
    saves the group's start-up (about 20 s on 2 cores), for parity checks and benchmarks. ``variants`` maps a
    label to its overrides; rows go to the results store under ``experiment`` with the label as the trial.
    All variants must ask for the same workers (count, CPUs, GPUs, backend). Returns label -> None, or the
    error that stopped that variant (the others still run)."""
    spec = resolve_spec(method)
    root = storage_root(storage)
    runs = []
    for label, overrides in variants.items():
        cfg = spec.load_config(overrides)
        runs.append({"cfg": cfg, "info": _run_info(spec, cfg, experiment, label, "", ""),
                     "fatal": ("train", "fatal", f"{experiment}-{label}.json")})
    shapes = {(*_placement(distributed_config(r["cfg"])), repr(pool_layout(r["cfg"]))) for r in runs}
    if len(shapes) != 1:
        raise ConfigError(f"run_variants: the variants ask for different workers {sorted(shapes)}; one worker "
                          "group runs them all, so workers, cpus_per_worker, use_gpu, backend and generation actors "
                          "must agree")
    _fit(spec, runs, root, experiment, f"{root}/train", checkpoints=False)
    store = ResultsStore(root)
    out: dict[str, Exception | None] = {}
    for run in runs:
        try:
            _raise_fatal(store, spec, run["info"].trial, run["fatal"])
            out[run["info"].trial] = None
        except (ConfigError, NonFiniteLossError) as err:
            out[run["info"].trial] = err
    return out


def _placement(dist: DistributedConfig) -> tuple[Any, ...]:
    return (dist.workers, dist.cpus_per_worker, dist.use_gpu, dist.resolved_backend)


def _run_info(spec: MethodSpec, cfg: Any, experiment: str, trial: str, study: str, job: str) -> RunInfo:
    data = getattr(cfg, "data", None)
    return RunInfo(
        experiment=experiment, method=spec.name, paper=spec.paper, dataset=str(getattr(data, "name", "")),
        seed=int(getattr(cfg, "seed", 0)), trial=trial, config_json=RunInfo.config_to_json(flatten(to_dict(cfg))),
        study=study, job=job, code_version=code_version(),
    )


def _fit(spec: MethodSpec, runs: list[dict[str, Any]], root: str, name: str, train_storage: str,
         checkpoints: bool, callbacks: list[Any] | None = None) -> Any:
    from ray.util.placement_group import placement_group, remove_placement_group

    dist = distributed_config(runs[0]["cfg"])
    pool = pool_layout(runs[0]["cfg"])
    check_cluster(dist, pool["extra_cpus"] if pool else 0.0)
    sc = scaling(dist, pool["worker_cpus"] if pool else None)
    payload = {"spec": spec, "storage": root, "runs": runs, "checkpoints": checkpoints, "pool": pool}
    if pool is not None:  # the generation actors' own placement group, next to the worker group's
        pool["placement"] = placement_group([{"CPU": pool["cpus"]}] * pool["actors"],
                                            name=f"{POOL_GROUP_PREFIX}{name}-{os.urandom(4).hex()}")
        ray.get(pool["placement"].ready())
    try:
        return _fit_workers(payload, sc, dist, name, train_storage, checkpoints, callbacks)
    finally:
        if pool is not None:
            remove_placement_group(pool["placement"])


def _fit_workers(payload: dict[str, Any], sc: dict[str, Any], dist: DistributedConfig, name: str,
                 train_storage: str, checkpoints: bool, callbacks: list[Any] | None) -> Any:
    from ray.train import CheckpointConfig, FailureConfig, RunConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=payload,
        scaling_config=sc["scaling_config"],
        torch_config=sc["torch_config"],
        run_config=RunConfig(
            name=name, storage_path=train_storage,
            failure_config=FailureConfig(max_failures=dist.max_failures if checkpoints else 0),
            checkpoint_config=CheckpointConfig(num_to_keep=dist.keep_checkpoints),
            callbacks=callbacks,
        ),
    )
    return trainer.fit()


def _raise_fatal(store: ResultsStore, spec: MethodSpec, name: str, fatal: tuple[str, ...]) -> None:
    """Raise what a run's workers recorded as the reason it cannot succeed (and forget it: a rerun tries again)."""
    text = store.read_text(*fatal)
    if text is None:
        return
    store.fs.delete_file(store.path(*fatal))
    err = json.loads(text)
    kind = NonFiniteLossError if err["type"] == "NonFiniteLossError" else ConfigError
    raise kind(f"{spec.name} ({name}): {err['message']}")


# -- the workers ---------------------------------------------------------------------------------------------
def _quiet() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="deepspeed")
    for name in ("DeepSpeed", "deepspeed"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _peek_batch_size(trainer: Any) -> int:
    """Samples in the first global batch, leaving the trainer's RNG streams as they were."""
    state = rng_state(trainer.generator)
    try:
        first = next(iter(trainer.batches()))
    except StopIteration:
        raise ConfigError("the method's batches() yields nothing for an epoch") from None
    set_rng_state(trainer.generator, state)
    return batch_size(first)


def train_loop_per_worker(payload: dict[str, Any]) -> None:
    """Ray Train's function on every worker: the method's trainer under a DeepSpeed engine, for each run of
    the payload in turn (one for :func:`run_distributed`)."""
    spec: MethodSpec = payload["spec"]
    if not distributed_config(payload["runs"][0]["cfg"]).use_gpu:
        os.environ["DS_ACCELERATOR"] = "cpu"  # chosen once per process, when deepspeed is first imported
    import gc

    import torch.distributed as tdist

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    store = ResultsStore(payload["storage"])
    for run in payload["runs"]:
        try:
            _train(run, spec, rank, world, store, payload["checkpoints"], payload.get("pool"))
        except _DETERMINISTIC as err:
            # Every rank reaches the same error at the same point (the checks use all-reduced values or the
            # identical global batch): record it once and return, so Ray Train does not retry what cannot
            # succeed; the driver raises it.
            if rank == 0:
                store.write_text(json.dumps({"type": type(err).__name__, "message": str(err)}), *run["fatal"])
                if isinstance(err, NonFiniteLossError):
                    store.write_epoch(run["info"], int(getattr(err, "epoch", 0)), {"nonfinite_loss": float("nan")},
                                      "error", 0.0)
            if tdist.is_initialized():
                tdist.barrier()
        gc.collect()


def _train(run: dict[str, Any], spec: MethodSpec, rank: int, world: int, store: ResultsStore,
           checkpoints: bool, pool: dict[str, Any] | None = None) -> None:
    import deepspeed  # inside the worker (ray#50406), after DS_ACCELERATOR is set
    import torch
    import torch.distributed as tdist
    from ray.train import Checkpoint

    _quiet()
    started = time.time()
    cfg = run["cfg"]
    dist = distributed_config(cfg)
    info: RunInfo = dataclasses.replace(run["info"], node=ray.get_runtime_context().get_node_id())
    trainer = spec.make_trainer(cfg)
    weight_fn = getattr(trainer, "batch_weight", None)
    micro = resolve_micro_batch(dist, _peek_batch_size(trainer))
    ds_config = deepspeed_config(dist, micro, float(getattr(cfg, "grad_clip", 0.0) or 0.0))
    module = trainer.model
    _reset_deepspeed_process_state(dist.precision)
    if not dist.use_gpu:
        _skip_shm_inference_op(deepspeed)
    engine, _, _, _ = deepspeed.initialize(model=module, optimizer=trainer.optimizer, config=ds_config)
    trainer.model = engine  # the method's loss calls self.model(...): through the engine (attributes pass through)
    device = engine.device
    if rank == 0 and engine.zero_optimization_stage() == 3:
        partitioned, total = zero3_partitioned(module)
        print(f"[raystudy] {info.method} ({info.trial}): ZeRO-3 partitions {partitioned} of {total} parameter "
              f"tensors over {world} ranks (param_persistence_threshold {dist.param_persistence_threshold})",
              flush=True)

    ckpt = ray.train.get_checkpoint() if checkpoints else None
    if ckpt is not None:
        with ckpt.as_directory() as d:
            path, client = load_deepspeed_checkpoint(engine, d)  # weights only: a crafted file is refused
        if path is None:
            raise RuntimeError(f"rank {rank}: no DeepSpeed checkpoint in {ckpt.path}")
        trainer.epoch, trainer.global_step = int(client["epoch"]), int(client["global_step"])
        set_rng_state(trainer.generator, client["rng"])
        if "extra" in client:
            trainer.load_extra_state(client["extra"])
        if rank == 0:
            print(f"[raystudy] resumed {info.method} from {ckpt.path} at epoch {trainer.epoch}", flush=True)

    shard_map = attach_broadcast_pool(trainer, pool, rank)
    try:
        autocast = None  # the method's loss (outside the engine's forward) under the same autocast as the forward
        if dist.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if dist.precision == "bf16" else torch.float16
            autocast = (torch.device(device).type, dtype)
        evaluation: dict[str, Any] = {}
        while not trainer.done:
            metrics = _run_epoch(trainer, engine, dist, rank, world, weight_fn, device, autocast)
            if shard_map is not None and rank == 0:  # the rows say the rollouts came from the pool; rank 0's wait
                metrics.update(generation_actors=float(len(shard_map.pool)), rollout_wait_s=shard_map.take_wait_s())
            epoch, final = trainer.epoch, trainer.done
            every = int(getattr(cfg, "eval_every", 0) or 0)
            full = None
            if final or (every and epoch % every == 0):
                full = gather_full_state(module, rank)
                if rank == 0:
                    metrics.update(_evaluate(spec, cfg, trainer, full, evaluation))
            if rank == 0:
                store.write_epoch(info, epoch, metrics, "final" if final else "running", time.time() - started)
            report = {**metrics, "epoch": epoch}
            if checkpoints and (final or epoch % dist.checkpoint_every == 0):
                tmp = tempfile.mkdtemp(prefix="rs-ds-ckpt-")
                client = {"epoch": epoch, "global_step": trainer.global_step, "rng": rng_state(trainer.generator),
                          **_extra_state(trainer)}
                engine.save_checkpoint(tmp, tag=f"epoch_{epoch:06d}", client_state=client)
                if rank == 0:
                    _write_meta(tmp, spec, cfg, dist, world, epoch, final, evaluation.get("trainer"))
                tdist.barrier()
                ray.train.report(report, checkpoint=Checkpoint.from_directory(tmp),
                                 checkpoint_dir_name=f"checkpoint_epoch={epoch:06d}",
                                 delete_local_checkpoint_after_upload=True)
            else:
                ray.train.report(report)
    finally:
        if shard_map is not None:
            shard_map.close()


def attach_broadcast_pool(trainer: Any, pool: dict[str, Any] | None, rank: int) -> BroadcastShardMap | None:
    """Rank 0 starts the run's generation actors in the pool's placement group; every rank samples through a
    ``BroadcastShardMap`` (rank 0 drives the pool, the others receive its results)."""
    if pool is None:
        return None
    from actors.generation import GenerationPool

    actors = None
    if rank == 0:
        actors = GenerationPool(pool["actors"], trainer.generation_factory(), num_cpus=pool["cpus"],
                                placement=pool["placement"])
    trainer.shard_map = BroadcastShardMap(actors, rank)
    return trainer.shard_map


class BroadcastShardMap:
    """A shard map (``shared.method.ShardMap``) for the ranks of a data-parallel learner: rank 0 publishes its
    weights to a generation pool and runs the shards there; every rank gets the results by one broadcast. The other
    ranks' weights are rank 0's (data parallel), so they publish nothing."""

    def __init__(self, pool: Any, rank: int) -> None:
        self.pool, self.rank = pool, rank

    def sync(self, state_dict: dict[str, Any]) -> None:
        if self.rank == 0:
            self.pool.sync(state_dict)

    def map(self, fn: Any, payloads: list[Any]) -> list[Any]:
        import torch.distributed as tdist

        box = [self.pool.map(fn, payloads) if self.rank == 0 else None]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def take_wait_s(self) -> float:
        """Seconds rank 0 waited on the pool since the last call."""
        wait, self.pool.wait_s = self.pool.wait_s, 0.0
        return wait

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def zero3_partitioned(module: Any) -> tuple[int, int]:
    """(partitioned, total) parameter tensors of a module under a ZeRO-3 engine. A persistent parameter
    (``ds_persist``: at most ``param_persistence_threshold`` elements) stays whole on every rank, so a model
    whose parameters all persist never runs ZeRO-3's gather and release."""
    params = list(module.parameters())
    return sum(not getattr(p, "ds_persist", False) for p in params), len(params)


def _skip_shm_inference_op(deepspeed: Any) -> None:
    """On the CPU accelerator DeepSpeed's communication backend JIT-compiles a shared-memory all-reduce
    (``deepspeed_shm_comm``: two C++ files, about 90 CPU-s of gcc, on a fresh machine and again for every new venv
    path) when its first engine is built, yet only its tensor-parallel inference calls it
    (``TorchBackend.inference_all_reduce``); training all-reduces through torch.distributed (gloo) either way.
    Marking the op incompatible, as on a machine without a compiler, skips the build and changes no number.
    DeepSpeed caches the probed table in ``deepspeed.ops`` so that edits to it persist."""
    compatible = getattr(deepspeed.ops, "__compatible_ops__", None)
    if isinstance(compatible, dict):
        compatible["deepspeed_shm_comm"] = False


def _reset_deepspeed_process_state(precision: str) -> None:
    """DeepSpeed keeps some choices of an engine in process globals, which leak into the next engine built in
    the same process (``run_variants``): after a bf16/fp16 engine its ZeRO optimizers believe torch autocast
    is on (gradient buckets per autocast dtype, an fp16 grad scaler: an fp32 run then drifts from the plain
    loop, seen on an H100), and after an fp32 ZeRO-3 engine torch's F.linear stays replaced by DeepSpeed's
    memory-efficient linear, which autocast does not reach. Undo both before each engine; a half-precision
    engine sets its autocast state again in ``deepspeed.initialize``."""
    import torch

    try:
        import deepspeed.runtime.torch_autocast as autocast_state
        from deepspeed.runtime.zero.partition_parameters import InsertPostInitMethodToModuleSubClasses as Zero3
    except ImportError:  # a DeepSpeed without them
        return
    autocast_state.TORCH_AUTOCAST_INITIALIZED = False
    autocast_state.TORCH_AUTOCAST_DTYPE = None
    original = getattr(Zero3, "linear_bk", None)
    if precision != "fp32" and original is not None:
        torch.nn.functional.linear = original


def _run_epoch(trainer: Any, engine: Any, dist: DistributedConfig, rank: int, world: int, weight_fn: Any,
               device: Any, autocast: tuple[str, Any] | None) -> dict[str, float]:
    """One epoch of global batches; returns the plain loop's metrics (means over the epoch's batches of each
    batch's mean loss and parts), all-reduced over the ranks."""
    import contextlib

    import torch
    import torch.distributed as tdist

    engine.train()
    parts_total = dist.workers * dist.grad_accum
    sums: dict[str, float] = defaultdict(float)
    n = 0
    start = time.perf_counter()
    for batch in trainer.batches():
        lr = trainer.learning_rate()
        for group in engine.optimizer.param_groups:
            group["lr"] = lr
        for micro, scale in shard_batch(batch, rank, world, dist.grad_accum, weight_fn):
            micro = to_device(micro, device)
            ctx = torch.autocast(autocast[0], dtype=autocast[1]) if autocast else contextlib.nullcontext()
            with ctx:
                loss, parts = split_loss(trainer.loss(micro))
            engine.backward(loss * scale)
            engine.step()
            share = scale / parts_total  # this micro-batch's fraction of the global batch
            sums["loss"] += share * float(loss.detach())
            for k, v in parts.items():
                sums[k] += share * float(v)
        trainer.global_step += 1
        n += 1
    keys = sorted(sums)
    totals = torch.tensor([sums[k] for k in keys] + [float(n)], dtype=torch.float64, device=device)
    tdist.all_reduce(totals)  # on the engine's device: gloo on CPU, NCCL on GPUs
    totals = totals.cpu()
    trainer.epoch += 1
    batches = max(int(totals[-1].item()) // world, 1)
    metrics = {k: float(totals[i]) / batches for i, k in enumerate(keys)}
    if not all(map(_finite, metrics.values())):
        err = NonFiniteLossError(
            f"loss is {metrics.get('loss')} in epoch {trainer.epoch} (lr={trainer.learning_rate():.3g}); this "
            "configuration diverged: lower the learning rate or check the inputs")
        err.epoch = trainer.epoch  # type: ignore[attr-defined]
        raise err
    metrics["lr"] = trainer.learning_rate() if n or not hasattr(trainer.config, "optim") else float(
        trainer.config.optim.lr)
    metrics["epoch_time_s"] = time.perf_counter() - start
    return metrics


def _extra_state(trainer: Any) -> dict[str, Any]:
    """A trainer's state outside its model, optimizer and RNG (e.g. a frozen reference model its loss and
    evaluators read), when it has any: ``extra_state()`` / ``load_extra_state(state)``, tensors and numbers only.
    Kept in the DeepSpeed checkpoints and handed to the plain copy the evaluators read."""
    get = getattr(trainer, "extra_state", None)
    return {"extra": get()} if get is not None else {}


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def gather_full_state(module: Any, rank: int) -> dict[str, Any] | None:
    """The module's full fp32 weights (the optimizer's master copy under bf16/fp16, whole tensors under ZeRO
    1-3) and its buffers, on rank 0's CPU. A collective: every rank must call it."""
    from deepspeed.utils import safe_get_full_fp32_param

    out: dict[str, Any] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        full = safe_get_full_fp32_param(param)  # all-gathers under ZeRO; None for plain (stage 0 fp32) params
        if rank == 0:
            out[name] = (param if full is None else full).detach().float().cpu().clone()
    if rank != 0:
        return None
    for name, buf in module.named_buffers(remove_duplicate=False):
        out[name] = buf.detach().cpu().clone()
    return out


def _evaluate(spec: MethodSpec, cfg: Any, trainer: Any, full: dict[str, Any] | None,
              holder: dict[str, Any]) -> dict[str, float]:
    """Rank 0: load the gathered weights into a plain copy of the trainer (built once) and run the method's
    evaluators on its ``artifact()``, as the Tune trainable does."""
    import torch

    if "trainer" not in holder:
        state = torch.get_rng_state()  # building a trainer seeds torch; rank 0's training stream stays as it was
        plain = spec.make_trainer(cfg)
        torch.set_rng_state(state)
        holder["trainer"] = plain
        holder["evaluators"] = spec.make_evaluators(cfg, plain.data)
    plain = holder["trainer"]
    keys = set(plain.model.state_dict())
    plain.model.load_state_dict({k: v for k, v in (full or {}).items() if k in keys}, strict=True)
    plain.epoch, plain.global_step = trainer.epoch, trainer.global_step
    if "extra" in (extra := _extra_state(trainer)):
        plain.load_extra_state(extra["extra"])
    out: dict[str, float] = {}
    artifact = plain.artifact()
    for evaluator in holder["evaluators"]:
        out.update(evaluator.evaluate(artifact))
    return out


def _write_meta(directory: str, spec: MethodSpec, cfg: Any, dist: DistributedConfig, world: int, epoch: int,
                final: bool, plain: Any) -> None:
    """Rank 0's part of a checkpoint: what it is (``meta.json``) and, at the end, the platform's own format."""
    from shared import atomic
    from shared.checkpoint import META_FILE, save_checkpoint

    if final and plain is not None:
        save_checkpoint(directory, spec, cfg, plain)  # trainer.pt (weights; a fresh optimizer) + meta.json
    meta_path = os.path.join(directory, META_FILE)
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {
        "method": spec.name, "config": flatten(to_dict(cfg)), "epoch": epoch, "code_version": code_version()}
    meta["deepspeed"] = {"tag": f"epoch_{epoch:06d}", "zero_stage": dist.zero_stage, "world_size": world,
                         "precision": dist.precision,
                         "trainer_pt": "model weights; optimizer state is DeepSpeed's" if final else None}
    atomic.write_text(meta_path, json.dumps(meta, indent=1, default=str))  # whole or not at all (a full disk)


# -- Tune ----------------------------------------------------------------------------------------------------
def distributed_trial(config: dict[str, Any], run: dict[str, Any]) -> None:
    """A Tune function trainable whose trial is one small TorchTrainer run (Ray Train V2's documented way to
    tune distributed training). Run it with ``tune.with_parameters(distributed_trial, run=...)``; ``run`` as for
    :class:`actors.trainable.MethodTrainable` (``method`` may also be a MethodSpec). Metrics reach Tune through
    ``TuneReportCallback`` once per epoch (rank 0's); the Train run lives under
    ``<storage>/train/<experiment>/<trial id>``, so a retried or restored trial resumes from its checkpoint."""
    from ray import tune
    from ray.tune.integration.ray_train import TuneReportCallback

    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
    trial = tune.get_context().get_trial_id()
    run_distributed(
        run["method"], {**run.get("overrides", {}), **config}, name=trial, storage=run["storage"],
        train_storage=f"{storage_root(run['storage'])}/train/{run['experiment']}", experiment=run["experiment"],
        trial=trial, study=run.get("study", ""), job=run.get("job", ""), callbacks=[TuneReportCallback()],
    )


def trial_resources(method: str | MethodSpec, overrides: Overrides = None) -> dict[str, float]:
    """What the Tune trial itself holds: next to nothing. Its workers ask for their own resources when the
    trial's TorchTrainer starts; a trial that held a CPU would keep a 2-core machine from ever placing 2
    workers. Tune refuses an empty request, so the trial asks for one byte of Ray's ``memory`` resource."""
    resolve_spec(method)
    return {"cpu": 0.0, "gpu": 0.0, "memory": 1.0}


def is_distributed(method: str | MethodSpec) -> bool:
    spec = method if isinstance(method, MethodSpec) else get_method(method)
    return spec.resources.distributed == "deepspeed"
