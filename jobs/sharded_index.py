"""Corpus encoding and inverted-index building over shards, as Ray tasks (one machine here; the same code on a
cluster): each task codes one shard of the corpus (a trained coder's forward, or synthetic codes with the learnt
codes' shape for the benchmark) and returns it as a scipy CSR block; the driver stacks the blocks in shard order
and builds one :class:`InvertedIndex` (``InvertedIndex.from_shards``). The result equals coding the whole corpus
in one process: rows are independent, and shards keep their order.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import ray
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from shared.sparse.index import InvertedIndex, to_csr


@ray.remote(num_cpus=1)
def _code_shard(coder: Any, x: torch.Tensor, normalize: bool) -> sp.csr_matrix:
    with torch.no_grad():
        codes = coder(x)
    return to_csr(F.normalize(codes, dim=1) if normalize else codes)


@ray.remote(num_cpus=1)
def _synthetic_shard(n: int, latents: int, k: int, seed: list[int]) -> sp.csr_matrix:
    from jobs.bench_retrieval import synthetic_codes

    return synthetic_codes(n, latents, k, np.random.default_rng(seed))


def shard_sizes(n: int, shards: int) -> list[int]:
    """``shards`` sizes that sum to n and differ by at most one (no empty shard when n >= shards)."""
    base, extra = divmod(n, shards)
    return [base + (i < extra) for i in range(shards) if base + (i < extra) > 0]


def encode_sharded(coder: Any, x: torch.Tensor, shards: int, normalize: bool = True) -> InvertedIndex:
    """The index of ``coder(x)`` (unit-normalised rows when ``normalize``), coded in ``shards`` Ray tasks."""
    coder_ref = ray.put(coder)  # sent to the object store once, read by every task
    pieces = torch.split(x, shard_sizes(len(x), shards))
    return InvertedIndex.from_shards(ray.get([_code_shard.remote(coder_ref, p, normalize) for p in pieces]))


def synthetic_sharded(n: int, latents: int, k: int, seed: int, shards: int) -> sp.csr_matrix:
    """n synthetic codes (``jobs/bench_retrieval.py``'s shape) generated in ``shards`` Ray tasks, seeded per shard."""
    sizes = shard_sizes(n, shards)
    blocks = ray.get([_synthetic_shard.remote(size, latents, k, [seed, k, i]) for i, size in enumerate(sizes)])
    return sp.vstack(blocks, format="csr")
