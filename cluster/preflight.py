"""Checks of what a local Ray would hold, made before starting it.

Without ``--address`` (and without ``RAY_ADDRESS``) a raystudy entrypoint starts a local Ray with this machine's
CPUs (or ``--num-cpus``) and GPUs. A trial asking for more would wait forever; these checks refuse it before
Ray starts, with a message naming the key. On a cluster the entrypoints check the cluster's nodes once connected.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import ray

from shared.config import ConfigError


def local_capacity(num_cpus: int | None = None) -> dict[str, float]:
    """The CPUs and GPUs a local Ray started by this process would have."""
    from ray._private.accelerators import get_accelerator_manager_for_resource

    gpus = get_accelerator_manager_for_resource("GPU").get_current_node_num_accelerators()
    return {"CPU": float(num_cpus or os.cpu_count() or 1), "GPU": float(gpus)}


def starts_local_ray(address: str | None) -> bool:
    """Whether ``connect(address)`` would start a new local Ray (no address, none in the environment, and
    no Ray already connected in this process)."""
    return not (address or os.environ.get("RAY_ADDRESS") or ray.is_initialized())


def check_local_fit(need: Mapping[str, float], address: str | None, key_prefix: str,
                    num_cpus: int | None = None) -> None:
    """Refuse a trial needing more CPUs or GPUs than the local Ray to be started would have.

    Args:
        need: ``{"CPU": 1.0, "GPU": 0.0}`` per trial.
        address: the ``--address`` given (None: local, unless ``RAY_ADDRESS`` is set).
        key_prefix: the configuration section the amounts come from, for the message (``sweep.resources``).
        num_cpus: ``--num-cpus`` of the local Ray, when given.
    """
    if not starts_local_ray(address):
        return
    have = local_capacity(num_cpus)
    for key, amount in need.items():
        if amount > have.get(key, 0.0):
            raise ConfigError(f"{key_prefix}.{key.lower()}: each trial asks for {amount:g} {key}, but this machine "
                              f"(the local Ray started without --address) has {have.get(key, 0.0):g}")
