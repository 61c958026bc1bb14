"""A generation pool: N Ray actors, each holding a copy of a torch module, that map a sampling function over shards
of work with the learner's current weights. The shape real RL fine-tuning systems have (verl, OpenRLHF): rollouts
come from a pool separate from the learner, whose weights are synchronised each step. Nothing here knows a method.

The contract with a trainer (``shared.method.ShardMap``, whose in-process form is ``LocalShardMap``):

- ``trainer.generation_factory()``: a picklable callable that builds the module each actor holds;
- ``trainer.shard_map``: what the trainer samples through, ``sync(state_dict)`` then ``map(fn, payloads)`` (``fn``
  a picklable ``fn(module, payload)``); ``attach_pool`` sets it to a ``GenerationPool`` when the method's config asks
  for generation actors (``MethodConfig.generation_actors()``).

Where the actors live. Inside a Tune trial (``jobs/sweep.py``) and a reproduction run (``jobs/reproduce.py``, whose
driver creates a run's placement group only once the run can start and removes it when the run ends) they take the
bundles of the run's placement group after the first (the learner's); ``placement_bundles`` by default splits the
run's resources between the learner and the actors, so a run asks for what it asked for without actors and never
waits on a CPU it cannot get. Under Ray Train + DeepSpeed (``actors/distributed.py``) the pool has a placement group
of its own next to the worker group's, and rank 0 drives it. Actors are owned by the process that started them and
die with it (and with ``close``).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ray
from ray.util.placement_group import get_current_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

if TYPE_CHECKING:  # a trial of a method without tensors never imports torch (tests/test_layers.py)
    import torch


@ray.remote
class GenerationActor:
    """Holds one copy of a module (built by ``factory``); loads the weights it is sent and runs what it is asked."""

    def __init__(self, factory: Callable[[], torch.nn.Module]) -> None:
        self.module = factory()

    def sync(self, weights: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(weights)

    def run(self, fn: Callable[[torch.nn.Module, Any], Any], payload: Any) -> Any:
        return fn(self.module, payload)

    def weights(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()


class GenerationPool:
    """``size`` generation actors. ``sync`` publishes the learner's weights once (one ``ray.put`` that every actor
    reads); ``map`` runs ``fn`` on payload i in actor i mod size, and returns the results in payload order."""

    def __init__(self, size: int, factory: Callable[[], torch.nn.Module], num_cpus: float = 1.0,
                 placement: Any = None, first_bundle: int = 0) -> None:
        if size < 1:
            raise ValueError(f"a generation pool needs >= 1 actor, not {size}")

        def options(i: int) -> dict[str, Any]:
            if placement is None:
                return {"num_cpus": num_cpus}
            return {"num_cpus": num_cpus, "scheduling_strategy": PlacementGroupSchedulingStrategy(
                placement, placement_group_bundle_index=first_bundle + i)}

        self.actors = [GenerationActor.options(**options(i)).remote(factory) for i in range(size)]
        self._synced: list[Any] = []
        self.wait_s = 0.0  # seconds the caller has waited in ``map`` (the learner's wait on rollouts)

    def __len__(self) -> int:
        return len(self.actors)

    def sync(self, state_dict: dict[str, torch.Tensor]) -> None:
        weights = ray.put({k: v.detach().clone() for k, v in state_dict.items()})
        self._synced = [a.sync.remote(weights) for a in self.actors]  # each actor runs its calls in order

    def map(self, fn: Callable[[torch.nn.Module, Any], Any], payloads: Sequence[Any]) -> list[Any]:
        start = time.perf_counter()
        ray.get(self._synced)  # a failed sync is raised here, not hidden behind the results
        refs = [self.actors[i % len(self.actors)].run.remote(fn, p) for i, p in enumerate(payloads)]
        out = ray.get(refs)
        self.wait_s += time.perf_counter() - start
        return out

    def weights(self) -> list[dict[str, torch.Tensor]]:
        """Each actor's current copy of the weights (for checks)."""
        return ray.get([a.weights.remote() for a in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


def pool_shares(cpu: float, learners: int, actors: int, actor_cpus: float = 0.0) -> tuple[float, float]:
    """(CPUs per learner process, CPUs per generation actor) of a run whose ``learners`` processes ask for ``cpu``
    CPUs each, with ``actors`` generation actors. ``actor_cpus`` > 0: the learners keep theirs and each actor reserves
    ``actor_cpus`` (generation on its own cores, as real systems give it its own GPUs). 0: the run's CPUs split evenly
    over learners and actors, so the run asks for what it asked for without actors (synchronous RL: the learners wait
    while the pool samples, the cores serve both in turn)."""
    if actors < 1:
        return cpu, 0.0
    if actor_cpus > 0:
        return cpu, actor_cpus
    share = max(round(cpu * learners / (learners + actors), 4), 1e-4)  # Ray refuses an empty bundle
    return share, share


def placement_bundles(cpu: float, gpu: float, actors: int, actor_cpus: float = 0.0) -> list[dict[str, float]]:
    """The bundles of one run (a Tune trial, a reproduction task) with ``actors`` generation actors: the learner's
    first (with the GPU), then one per actor (``pool_shares``)."""
    learner, actor = pool_shares(cpu, 1, actors, actor_cpus)
    return [{"CPU": learner, **({"GPU": gpu} if gpu else {})}] + [{"CPU": actor}] * actors


def trial_placement(cpu: float, gpu: float, actors: int, actor_cpus: float = 0.0) -> Any:
    """A Tune trial's resources with ``actors`` generation actors: one placement group of ``placement_bundles``
    (by default what the trial asks for without them, split evenly between the learner and the actors)."""
    from ray.tune import PlacementGroupFactory

    return PlacementGroupFactory(placement_bundles(cpu, gpu, actors, actor_cpus))


def generation_request(config: Any) -> tuple[int, float]:
    """(generation actors, CPUs each reserves; 0 = a share of the run's) that a method config asks for."""
    actors = int(config.generation_actors()) if hasattr(config, "generation_actors") else 0
    cpus = float(config.generation_cpus()) if hasattr(config, "generation_cpus") else 0.0
    return actors, cpus


def attach_pool(trainer: Any, config: Any) -> GenerationPool | None:
    """Give ``trainer`` a generation pool when ``config.generation_actors()`` asks for one (else None, and the trainer
    samples in its own process). Inside a placement group whose bundles ``trial_placement`` laid out, the actors take
    bundles 1..N and their CPU shares; elsewhere (a plain driver, a reproduction task) they ask for 1 CPU each."""
    size = generation_request(config)[0]
    if size < 1:
        return None
    group = get_current_placement_group()
    if group is not None and len(group.bundle_specs) != size + 1:
        # its actors would be placed in the group (Tune captures a trial's children) and wait there for ever
        raise RuntimeError(f"generation_actors={size} needs a placement group of {size + 1} bundles (trial_placement), "
                           f"this trial has {len(group.bundle_specs)}: the sweep lays them out from its fixed "
                           "overrides, so the number of generation actors cannot be searched over")
    if group is not None:
        pool = GenerationPool(size, trainer.generation_factory(), num_cpus=group.bundle_specs[1].get("CPU", 0.0),
                              placement=group, first_bundle=1)
    else:
        pool = GenerationPool(size, trainer.generation_factory())
    trainer.shard_map = pool
    return pool


def detach_pool(trainer: Any) -> None:
    """Close the pool ``attach_pool`` gave ``trainer`` (if any); the trainer samples in its own process again."""
    pool = getattr(trainer, "shard_map", None)
    if isinstance(pool, GenerationPool):
        pool.close()
        trainer.shard_map = None
