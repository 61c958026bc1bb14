"""Resource profiles: named sets of per-trial resources in ``configs/cluster/<name>.yaml``.

A study or sweep names a profile (``gpu-1``, ``gpu-half``, ...) instead of spelling out resources, so
the same study runs on a laptop (``local``) and on a GPU cluster by changing one word::

    profile = load_profile("gpu-half")
    trainable = tune.with_resources(trainable, profile.ray_resources())   # {"cpu": 2.0, "gpu": 0.5}
    ok, why = fits(profile, ray.nodes())                                   # before submitting 100 trials

File schema (unknown keys and wrong types are errors naming the key, as for every config)::

    description: str
    trial: {cpu: float, gpu: float, custom: {name: float}}
    distributed: {num_workers: int, backend: nccl|gloo, zero_stage: 0..3|null, bf16: bool}   # optional
    storage: local|shared                                                                    # optional hint

With ``distributed`` set, ``trial`` gives the resources of one Ray Train worker and a trial takes
``num_workers`` of them (see :meth:`ResourceProfile.scaling_kwargs`). This module does not import Ray.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from shared.config import CONFIG_ROOT, ConfigError, bounded, load_config

PROFILE_DIR = CONFIG_ROOT / "cluster"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Names Tune's resource dict (or Ray itself) treats specially; a custom resource may not use them.
_RESERVED = {"cpu", "gpu", "memory", "object_store_memory", "custom_resources"}
_EPS = 1e-9


@dataclass
class TrialSpec:
    cpu: float = bounded(1.0, gt=0.0, help="CPUs per trial (per worker when distributed)")
    gpu: float = bounded(0.0, ge=0.0, help="GPUs per trial; fractions below 1 share a GPU")
    custom: dict[str, float] = field(default_factory=dict)  # custom Ray resources, e.g. {"A100": 1}


@dataclass
class DistributedProfile:
    num_workers: int = bounded(1, ge=1, help="Ray Train workers per trial")
    backend: str = bounded("nccl", choices=["nccl", "gloo"])
    zero_stage: int | None = bounded(None, choices=[0, 1, 2, 3], help="DeepSpeed ZeRO stage; null: no DeepSpeed")
    bf16: bool = False


@dataclass
class ProfileFile:
    """The schema of ``configs/cluster/<name>.yaml``."""

    description: str = ""
    trial: TrialSpec = field(default_factory=TrialSpec)
    distributed: DistributedProfile | None = None
    storage: str | None = bounded(None, choices=["local", "shared"], help="where results must live")

    def check(self) -> None:
        gpu = self.trial.gpu
        if gpu > 1 and not float(gpu).is_integer():
            raise ConfigError(f"trial.gpu: above 1 a GPU request must be a whole number, got {gpu}")
        for key, value in self.trial.custom.items():
            if key.lower() in _RESERVED:
                raise ConfigError(f"trial.custom.{key}: reserved resource name; use trial.cpu / trial.gpu")
            if value < 0:
                raise ConfigError(f"trial.custom.{key}: must be >= 0, got {value}")
        d = self.distributed
        if d is not None and d.backend == "nccl" and (gpu < 1 or not float(gpu).is_integer()):
            raise ConfigError(
                f"distributed.backend: nccl needs a whole GPU per worker (trial.gpu >= 1), got trial.gpu={gpu}; "
                "use backend: gloo for CPU workers"
            )


@dataclass
class ResourceProfile:
    name: str
    description: str
    cpu: float
    gpu: float
    custom: dict[str, float] = field(default_factory=dict)
    distributed: DistributedProfile | None = None
    storage: str | None = None

    def ray_resources(self) -> dict[str, float]:
        """Resources of one trial (one Train worker when distributed) in ``tune.with_resources`` format."""
        return {"cpu": float(self.cpu), "gpu": float(self.gpu), **{k: float(v) for k, v in self.custom.items()}}

    def bundle(self) -> dict[str, float]:
        """The same resources as Ray names them (``ray.nodes()``, placement-group bundles)."""
        out = {"CPU": float(self.cpu), "GPU": float(self.gpu), **{k: float(v) for k, v in self.custom.items()}}
        return {k: v for k, v in out.items() if v > 0}

    @property
    def workers(self) -> int:
        return self.distributed.num_workers if self.distributed else 1

    def total(self) -> dict[str, float]:
        """Everything one trial holds at once (all its workers)."""
        return {k: v * self.workers for k, v in self.bundle().items()}

    def method_overrides(self) -> dict[str, Any]:
        """The ``distributed.*`` method-config keys that run a ``distributed: deepspeed`` method as this
        profile says (``shared.distributed.DistributedConfig``); empty for a profile without ``distributed``.
        Distributed workers take whole GPUs."""
        d = self.distributed
        if d is None:
            return {}
        out: dict[str, Any] = {"distributed.workers": d.num_workers, "distributed.backend": d.backend,
                               "distributed.use_gpu": self.gpu > 0, "distributed.cpus_per_worker": float(self.cpu),
                               "distributed.precision": "bf16" if d.bf16 else "fp32"}
        if d.zero_stage is not None:
            out["distributed.zero_stage"] = d.zero_stage
        return out

    def scaling_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``ray.train.ScalingConfig`` (a single worker when not distributed)."""
        per_worker = self.bundle()
        return {"num_workers": self.workers, "use_gpu": self.gpu > 0, "resources_per_worker": per_worker}


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str) -> ResourceProfile:
    """The profile ``configs/cluster/<name>.yaml``, validated.

    Raises:
        ConfigError (a ValueError): unknown name (the message lists the known ones), or a bad file (the
            message names the key).
    """
    path = PROFILE_DIR / f"{name}.yaml"
    if not _NAME.match(name or "") or not path.is_file():
        raise ConfigError(f"unknown resource profile {name!r}; known profiles: {', '.join(list_profiles())}")
    spec: ProfileFile = load_config(ProfileFile, path)
    return ResourceProfile(
        name=name,
        description=spec.description,
        cpu=spec.trial.cpu,
        gpu=spec.trial.gpu,
        custom=dict(spec.trial.custom),
        distributed=spec.distributed,
        storage=spec.storage,
    )


def _fmt(res: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in sorted(res.items())) or "nothing"


def _node_name(node: dict[str, Any], i: int) -> str:
    return str(node.get("NodeManagerAddress") or (node.get("NodeID") or "")[:8] or f"node {i}")


def _capacity(need: dict[str, float], have: dict[str, float]) -> int:
    """How many copies of ``need`` fit in ``have``."""
    counts = [math.floor(have.get(k, 0.0) / v + _EPS) for k, v in need.items() if v > 0]
    return min(counts) if counts else 10**9


def fits(profile: ResourceProfile, nodes: list[dict[str, Any]]) -> tuple[bool, str]:
    """Whether one trial of ``profile`` can be placed on the alive nodes of ``nodes`` (``ray.nodes()``).

    A plain trial must fit on one node. A distributed trial's workers may spread over nodes: it fits when
    the nodes together hold ``num_workers`` whole workers. Total resources are compared, not what is free
    now: a refusal means the trial would wait forever (or until the autoscaler adds a bigger node).
    """
    need = profile.bundle()
    alive = [(i, n) for i, n in enumerate(nodes) if n.get("Alive", True)]
    if not alive:
        return False, f"profile {profile.name!r}: no alive node"
    caps = [(_node_name(n, i), dict(n.get("Resources") or {})) for i, n in alive]
    per_node = [(name, have, _capacity(need, have)) for name, have in caps]

    what = "per worker" if profile.distributed else "per trial"
    if profile.workers == 1:
        for name, _have, cap in per_node:
            if cap >= 1:
                return True, f"profile {profile.name!r} ({_fmt(need)} {what}) fits on {name}"
    else:
        placed = sum(cap for _, _, cap in per_node)
        if placed >= profile.workers:
            return True, (f"profile {profile.name!r}: {profile.workers} workers x ({_fmt(need)}) fit, "
                          f"room for {placed} on {len(per_node)} node(s)")

    # Explain with the node that comes closest: the fewest missing resource kinds, then the least missing.
    def shortfall(have: dict[str, float]) -> dict[str, float]:
        return {k: v - have.get(k, 0.0) for k, v in need.items() if have.get(k, 0.0) + _EPS < v}

    best_name, best_have, _ = min(per_node, key=lambda t: (len(shortfall(t[1])), sum(shortfall(t[1]).values())))
    short = shortfall(best_have)
    missing = sorted({k for _, have, _ in per_node for k in shortfall(have)})
    if profile.workers > 1 and not short:
        placed = sum(cap for _, _, cap in per_node)
        return False, (f"profile {profile.name!r} needs {profile.workers} workers x ({_fmt(need)}) = "
                       f"{_fmt(profile.total())}; the {len(per_node)} alive node(s) hold only {placed} such "
                       f"worker(s): add nodes with {', '.join(sorted(need))}")
    detail = ", ".join(f"{k} (needs {need[k]:g}, has {best_have.get(k, 0.0):g})" for k in sorted(short))
    return False, (f"profile {profile.name!r} needs {_fmt(need)} {what}; no alive node has enough "
                   f"{', '.join(missing)}. Closest: {best_name} is short of {detail} "
                   f"({len(per_node)} alive node(s))")
