"""Distributed training settings and the data sharding that makes it exact. Plain Python and PyTorch; no Ray.

A gradient method that can run under Ray Train + DeepSpeed (``MethodSpec.resources.distributed ==
"deepspeed"``) includes a :class:`DistributedConfig` section in its config::

    @dataclass
    class MyConfig(MethodConfig):
        distributed: DistributedConfig = field(default_factory=DistributedConfig)

so that ``distributed.workers=4 distributed.zero_stage=3`` are overrides like any other, validated before
compute. ``actors/distributed.py`` does the running; this module holds what does not need Ray:

- the config and its checks (which ZeRO stage / precision / backend combinations can run where);
- the DeepSpeed config built from it (micro-batch and accumulation given, the total batch derived);
- :func:`shard_batch`: a trainer's ``batches()`` yields *global* batches; every rank takes its slice of each
  batch along dim 0 and splits it into ``grad_accum`` micro-batches, each with the weight that makes the
  averaged gradient equal the single-process gradient of a mean loss. The loss trajectory then matches the
  plain loop (``GradientTrainer.fit_epoch``) up to float rounding.

A loss that is a mean over something other than samples (e.g. over the tokens a mask selects) declares it
with an optional trainer method ``batch_weight(batch) -> float`` (the count its mean divides by, additive over
a split of the batch); the default is the number of samples. Losses that couple the samples of a batch
(contrastive losses over the batch) change meaning when the batch is split: such methods are not exact under
sharding, whatever the weights.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.config import ConfigError, bounded

if TYPE_CHECKING:
    import torch

# What was measured on CPU (gloo, DS_ACCELERATOR=cpu) with deepspeed 0.19.8 + torch 2.13.0, 2 Ray Train
# workers: train, save_checkpoint and load_checkpoint (tests/test_distributed.py keeps the fp32 rows true).
# (stage, precision) -> None when it runs, else why it cannot. fp16 is refused before compute.
CPU_SUPPORT: dict[tuple[int, str], str | None] = {
    **{(stage, "fp32"): None for stage in range(4)},
    **{(stage, "bf16"): None for stage in range(4)},
    **{(stage, "fp16"): ("DeepSpeed's CPU accelerator has no fp16 (deepspeed.initialize fails with 'Type fp16 is "
                         "not supported on your device'); use precision=bf16 or fp32, or GPUs (use_gpu=true)")
       for stage in range(4)},
}


@dataclass
class DistributedConfig:
    """How a method's trainer runs under Ray Train + DeepSpeed (``actors/distributed.py``).

    The global batch is the method's own (what its ``batches()`` yields, e.g. ``batch_size``): each of the
    ``workers`` ranks takes a slice of it and splits it into ``grad_accum`` micro-batches, so the method's
    hyperparameters keep their meaning at any worker count. DeepSpeed is given the micro-batch and the
    accumulation steps and derives its total batch (micro x accum x workers), which equals the global batch.
    """

    workers: int = bounded(2, ge=1, help="Ray Train workers (DeepSpeed ranks)")
    zero_stage: int = bounded(2, choices=[0, 1, 2, 3], help="0: data parallel; 1: + optimizer state sharded; "
                                                               "2: + gradients; 3: + parameters")
    grad_accum: int = bounded(1, ge=1, help="micro-batches per rank per optimizer step")
    micro_batch: int = bounded(0, ge=0, help="samples per rank per micro-batch; 0: global batch / "
                                               "(workers x grad_accum); else it must equal that")
    precision: str = bounded("fp32", choices=["fp32", "bf16", "fp16"], help="fp16 needs GPUs")
    backend: str = bounded("auto", choices=["auto", "gloo", "nccl"], help="auto: nccl with GPUs, else gloo")
    use_gpu: bool = False
    cpus_per_worker: float = bounded(1.0, gt=0.0)
    max_failures: int = bounded(2, ge=0, help="restarts of the worker group from its last checkpoint")
    checkpoint_every: int = bounded(1, ge=1, help="epochs between DeepSpeed checkpoints (and the last epoch)")
    keep_checkpoints: int = bounded(2, ge=1)
    # ZeRO-3 keeps a parameter whole on every rank (never gathered, never released) when it has at most this many
    # elements: DeepSpeed's default 1e5 keeps every parameter of a small model whole, and ZeRO-3 then runs as
    # ZeRO-2 with sharded optimizer state. 0 partitions every parameter (tests and benchmarks do).
    param_persistence_threshold: int = bounded(
        100_000, ge=0, help="ZeRO-3 only: parameters of at most this many elements are not partitioned "
                            "(stage3_param_persistence_threshold; DeepSpeed's default 1e5); 0: partition all")
    model_persistence_threshold: int = bounded(
        sys.maxsize, ge=0, help="ZeRO-3 only: at most this many elements in all unpartitioned parameters together "
                                "(stage3_model_persistence_threshold; default: no limit)")

    @property
    def resolved_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        return "nccl" if self.use_gpu else "gloo"

    def check(self) -> None:
        if self.resolved_backend == "nccl" and not self.use_gpu:
            raise ConfigError("backend: nccl needs GPUs (NCCL has no CPU transport); set use_gpu=true, or use "
                              "backend=gloo (or auto) on CPU workers")
        if not self.use_gpu:
            reason = CPU_SUPPORT.get((self.zero_stage, self.precision))
            if reason:
                raise ConfigError(f"zero_stage={self.zero_stage} with precision={self.precision} cannot run on "
                                  f"CPU workers: {reason}")


def distributed_config(cfg: Any) -> DistributedConfig:
    """The method config's ``distributed`` section, or the defaults when it has none."""
    dist = getattr(cfg, "distributed", None)
    return dist if isinstance(dist, DistributedConfig) else DistributedConfig()


def deepspeed_config(dist: DistributedConfig, micro_batch: int, grad_clip: float = 0.0) -> dict[str, Any]:
    """The DeepSpeed config: micro-batch and accumulation given, ``train_batch_size`` left for DeepSpeed to
    derive from the real world size (a stated total that disagrees is an assertion error inside DeepSpeed).

    bf16 / fp16 use DeepSpeed's ``torch_autocast`` mode: weights, gradients and optimizer state stay fp32
    (sharded as the stage says), the forward runs under ``torch.autocast`` and the Linear/Conv gradients are
    reduced in the low precision. Unlike DeepSpeed's ``bf16`` section (a bf16 copy of the model, which expects
    its inputs cast by the caller: "mat1 and mat2 must have the same dtype" on CUDA otherwise), it runs any
    method's batches unchanged."""
    half = {"bf16": "bfloat16", "fp16": "float16"}.get(dist.precision)
    zero: dict[str, Any] = {"stage": int(dist.zero_stage)}
    if dist.zero_stage == 3:
        zero["stage3_param_persistence_threshold"] = int(dist.param_persistence_threshold)
        zero["stage3_model_persistence_threshold"] = int(dist.model_persistence_threshold)
    if half:
        # ZeRO-3's memory-efficient linear (an autograd function replacing F.linear) is left out with autocast.
        zero["memory_efficient_linear"] = False
    return {
        "train_micro_batch_size_per_gpu": int(micro_batch),
        "gradient_accumulation_steps": int(dist.grad_accum),
        "gradient_clipping": float(grad_clip),
        "zero_optimization": zero,
        **({"torch_autocast": {"enabled": True, "dtype": half}} if half else {}),
        # The method's own torch optimizer is passed in (no DeepSpeed CPUAdam: it is a compiled op).
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**12,
        "wall_clock_breakdown": False,
    }


# -- batches --------------------------------------------------------------------------------------------------
def _leaves(batch: Any) -> list[torch.Tensor]:
    import torch

    if isinstance(batch, torch.Tensor):
        return [batch]
    if isinstance(batch, Mapping):
        return [t for v in batch.values() for t in _leaves(v)]
    if isinstance(batch, tuple | list):
        return [t for v in batch for t in _leaves(v)]
    return []


def batch_size(batch: Any) -> int:
    """Samples in a batch: the common size along dim 0 of its tensors (tensors, tuples/lists/dicts of them;
    other leaves are passed to every shard unchanged)."""
    sizes = {int(t.shape[0]) for t in _leaves(batch) if t.dim() > 0}
    if len(sizes) != 1:
        raise ValueError(f"cannot shard a batch whose tensors disagree on dim 0 (sizes {sorted(sizes)}) or that "
                         "holds no tensor with a batch dimension")
    return sizes.pop()


def _take(batch: Any, start: int, stop: int) -> Any:
    import torch

    if isinstance(batch, torch.Tensor):
        return batch[start:stop] if batch.dim() > 0 else batch
    if isinstance(batch, Mapping):
        return type(batch)({k: _take(v, start, stop) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(_take(v, start, stop) for v in batch))
    if isinstance(batch, tuple | list):
        return type(batch)(_take(v, start, stop) for v in batch)
    return batch


def _bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ranges covering ``range(n)``, sizes differing by at most one (as tensor_split)."""
    base, extra = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def default_weight(batch: Any) -> float:
    return float(batch_size(batch))


def shard_batch(batch: Any, rank: int, world: int, grad_accum: int,
                weight: Callable[[Any], float] | None = None) -> list[tuple[Any, float]]:
    """This rank's micro-batches of one global batch, each with its loss scale.

    The batch is cut along dim 0 into ``world`` contiguous slices (rank r takes slice r), each slice into
    ``grad_accum`` micro-batches. The scale of a micro-batch is ``w_micro / w_batch * world * grad_accum``
    (w: :func:`default_weight`, the sample count, or the trainer's ``batch_weight``): DeepSpeed divides by
    ``grad_accum`` in ``backward`` and averages over ranks, so the step's gradient is
    ``sum(w_micro / w_batch * grad(mean loss of micro))`` = the gradient of the batch's mean loss, even when
    the slices differ in size by one. ``scale / (world * grad_accum) * loss`` summed over all ranks and
    micro-batches is the batch's mean loss (what the plain loop logs).
    """
    weight = weight or default_weight
    n = batch_size(batch)
    parts = world * grad_accum
    if n < parts:
        raise ValueError(f"a global batch of {n} samples cannot feed {world} workers x {grad_accum} micro-batches "
                         f"({parts} non-empty micro-batches needed): raise the method's batch size or lower "
                         "distributed.workers / distributed.grad_accum")
    total = float(weight(batch))
    if not total > 0:
        raise ValueError(f"batch_weight of a global batch is {total}; it must be > 0")
    lo, hi = _bounds(n, world)[rank]
    out = []
    for a, b in _bounds(hi - lo, grad_accum):
        micro = _take(batch, lo + a, lo + b)
        out.append((micro, float(weight(micro)) / total * parts))
    return out


def to_device(batch: Any, device: Any) -> Any:
    """Move every tensor of a batch (tensors, tuples/lists/dicts of them) to ``device``."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, tuple | list):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def resolve_micro_batch(dist: DistributedConfig, global_batch: int) -> int:
    """The micro-batch DeepSpeed is told: ``distributed.micro_batch`` when set (it must describe the method's
    global batch exactly), else the global batch over workers x accumulation (rounded down when uneven)."""
    parts = dist.workers * dist.grad_accum
    if dist.micro_batch:
        if dist.micro_batch * parts != global_batch:
            raise ConfigError(
                f"distributed.micro_batch: {dist.micro_batch} x grad_accum {dist.grad_accum} x workers "
                f"{dist.workers} = {dist.micro_batch * parts}, but the method's batches hold {global_batch} "
                "samples; set distributed.micro_batch=0 (derived) or change the method's batch size")
        return dist.micro_batch
    if global_batch < parts:
        raise ConfigError(
            f"distributed: a global batch of {global_batch} samples cannot feed workers {dist.workers} x "
            f"grad_accum {dist.grad_accum}; raise the method's batch size or lower workers / grad_accum")
    return global_batch // parts
