"""Splitting one partition's projections across workers: every copy in the solver state is indexed first by the
minibatch example, and no node touches two examples' copies, so the divide step on chunks of examples is the
divide step on the whole (``jobs/bench_pjax.py`` runs the chunks as Ray tasks)."""
from __future__ import annotations

import torch

from shared.pjax.solver import State


def split_state(state: State, x: torch.Tensor, labels: torch.Tensor, parts: int
                ) -> list[tuple[State, torch.Tensor, torch.Tensor]]:
    bounds = torch.linspace(0, len(x), parts + 1).round().long().tolist()
    return [({k: v[lo:hi].clone() for k, v in state.items()}, x[lo:hi], labels[lo:hi])
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def merge_states(chunks: list[State]) -> State:
    return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}
