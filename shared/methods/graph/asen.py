"""ASEN: "Any-Subgroup Equivariant Networks via Symmetry Breaking" (Goel, Lim, Lawrence, Jegelka, Huang; ICLR 2026).

An S_n-equivariant base f(X, A) (node features X, edge features A) becomes exactly G-equivariant when A is fixed to a
symmetry-breaking input A_G with Aut(A_G) = G (Sec. 3):  f(gX, A_G) = f(gX, g.A_G) = g.f(X, A_G)  for g in G.
With edge features (K = 2) A_G colours each ordered pair by its orbital, so the network is equivariant to the
2-closure of G (``shared.graphs.symmetry``). One network serves many groups by swapping A_G: the multitask setting.

Base network, as in the official ``Multi_GAT.py``: GATv2 layers over the complete graph on the n positions
(self-pairs included), edge attributes from an embedding of the pair's colour. Colours are numbered per group,
so the edge embedding table has one block per task; everything else is shared. ``symmetry: none`` gives every
ordered pair its own colour (the trivial group: the non-equivariant baseline).

Tasks (synthetic length-n sequences over ``vocab`` tokens, per-position classification, as in the official
``SyntheticTaskSeq/data.py``), each with its group:
- ``cyclic_sum`` (cyclic group C_n): y_i = (x_i + 2 x_{i+1 mod n}) mod vocab;
- ``palindrome`` (reflection i -> n-1-i): y_i = [x_i == x_{n-1-i}];
- ``intersect`` (S_{n/2} x S_{n/2}): y_i = [x_i occurs in the other half of the sequence].

Measures: ``acc_<task>`` (held-out per-position accuracy; NaN for a task the run did not train), ``mean_acc``,
``equiv_error`` (max |f(gX) - g f(X)| over each trained task's generators g, random inputs) and ``break_error``
(the same for a permutation outside every trained task's group: > 0 means the symmetry really is a subgroup's).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GATv2Conv

from shared.graphs.symmetry import Permutation, named_group, orbitals, preserves, transposition, unique_pairs
from shared.method import Evaluator, GradientTrainer
from shared.methods.graph.pe_config import TASK_GROUPS, ASENConfig  # torch-free
from shared.methods.graph.pe_specs import ASEN as SPEC  # noqa: F401  (torch-free: the registry's entry)

TASK_CLASSES = {"cyclic_sum": None, "palindrome": 2, "intersect": 2}  # None: vocab classes


def task_labels(task: str, x: torch.Tensor, vocab: int) -> torch.Tensor:
    """Per-position labels (B, n) of a batch of sequences x (B, n)."""
    n = x.shape[1]
    if task == "cyclic_sum":
        return (x + 2 * x.roll(-1, dims=1)) % vocab
    if task == "palindrome":
        return (x == x.flip(1)).long()
    half = n // 2
    first, second = x[:, :half], x[:, half:]
    in_second = (first.unsqueeze(2) == second.unsqueeze(1)).any(2)
    in_first = (second.unsqueeze(2) == first.unsqueeze(1)).any(2)
    return torch.cat([in_second, in_first], dim=1).long()


def make_sequences(task: str, count: int, n: int, vocab: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.random.default_rng(seed).integers(0, vocab, size=(count, n))).long()
    return x, task_labels(task, x, vocab)


class ASENet(nn.Module):
    """GATv2 over the complete graph with per-task pair colours; per-task output heads."""

    def __init__(self, colours: list[torch.Tensor], classes: list[int], vocab: int, hidden: int, heads: int,
                 layers: int) -> None:
        super().__init__()
        n = colours[0].shape[0]
        self.n = n
        src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        self.register_buffer("pair_src", src.reshape(-1), persistent=False)
        self.register_buffer("pair_dst", dst.reshape(-1), persistent=False)
        offsets = np.cumsum([0] + [int(c.max()) + 1 for c in colours])
        ids = torch.stack([c.reshape(-1) + int(o) for c, o in zip(colours, offsets[:-1], strict=True)])
        self.register_buffer("colours", ids, persistent=False)  # (tasks, n*n): colour ids, one block per task
        self.edge_embed = nn.Embedding(int(offsets[-1]), hidden)
        self.token = nn.Embedding(vocab, hidden)
        self.convs = nn.ModuleList(GATv2Conv(hidden, hidden // heads, heads=heads, edge_dim=hidden,
                                             add_self_loops=False) for _ in range(layers))
        self.heads = nn.ModuleList(nn.Linear(hidden, c) for c in classes)

    def forward(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """x: (B, n) tokens -> (B, n, classes of the task) logits."""
        b, n = x.shape
        h = self.token(x).reshape(b * n, -1)
        offset = (torch.arange(b) * n).repeat_interleave(n * n)
        edge_index = torch.stack([self.pair_src.repeat(b) + offset, self.pair_dst.repeat(b) + offset])
        edge_attr = self.edge_embed(self.colours[task]).repeat(b, 1)
        for conv in self.convs:
            h = h + F.elu(conv(h, edge_index, edge_attr))
        return self.heads[task](h).reshape(b, n, -1)


class ASENTrainer(GradientTrainer):
    config: ASENConfig

    def setup(self) -> None:
        c = self.config
        self.groups = [named_group(TASK_GROUPS[t], c.length) for t in c.tasks]
        self.colours = [orbitals(c.length, g) if c.symmetry == "orbital" else unique_pairs(c.length)
                        for g in self.groups]
        self.train_sets = [make_sequences(t, c.samples, c.length, c.vocab, seed=1000 + i)
                           for i, t in enumerate(c.tasks)]
        self.data = {t: make_sequences(t, c.test_samples, c.length, c.vocab, seed=5000 + i)
                     for i, t in enumerate(c.tasks)}

    def build_model(self) -> nn.Module:
        c = self.config
        classes = [TASK_CLASSES[t] or c.vocab for t in c.tasks]
        return ASENet(self.colours, classes, c.vocab, c.hidden, c.heads, c.layers)

    def steps_per_epoch(self) -> int:
        return len(self.config.tasks) * math.ceil(self.config.samples / self.config.batch_size)

    def batches(self) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Batches of every task, interleaved in an order drawn from the generator."""
        size = self.config.batch_size
        plan = []
        for task, (x, _) in enumerate(self.train_sets):
            order = torch.randperm(x.shape[0], generator=self.generator)
            plan += [(task, order[i : i + size]) for i in range(0, x.shape[0], size)]
        for k in torch.randperm(len(plan), generator=self.generator).tolist():
            task, idx = plan[k]
            x, y = self.train_sets[task]
            yield task, x[idx], y[idx]

    def loss(self, batch: tuple[int, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        task, x, y = batch
        logits = self.model(x, task)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def artifact(self) -> dict[str, Any]:
        return {"model": self.model, "tasks": list(self.config.tasks), "groups": self.groups}


def equivariance_error(model: ASENet, task: int, perm: Permutation, x: torch.Tensor) -> float:
    """max |f(gX) - g f(X)| on token sequences x, with (gX)_{g(i)} = X_i."""
    p = torch.tensor(perm)
    inverse = torch.argsort(p)
    with torch.no_grad():
        out = model(x, task)
        out_moved = model(x[:, inverse], task)
    return float((out_moved - out[:, inverse]).abs().max())


def outside_permutation(colours: list[torch.Tensor], n: int) -> Permutation | None:
    """A transposition that breaks every task's colouring (outside every 2-closure), if any."""
    for a in range(n):
        for b in range(a + 1, n):
            perm = transposition(n, a, b)
            if not any(preserves(c, perm) for c in colours):
                return perm
    return None


class ASENEvaluator(Evaluator):
    metrics = ("acc_cyclic_sum", "acc_palindrome", "acc_intersect", "mean_acc", "equiv_error", "break_error")

    def evaluate(self, artifact: dict[str, Any]) -> dict[str, float]:
        model: ASENet = artifact["model"]
        model.eval()
        out = {f"acc_{t}": float("nan") for t in TASK_GROUPS}
        generator = torch.Generator().manual_seed(0)
        probe = torch.randint(0, self.config.vocab, (16, self.config.length), generator=generator)
        errors = []
        with torch.no_grad():
            for i, task in enumerate(artifact["tasks"]):
                x, y = self.data[task]
                out[f"acc_{task}"] = float((model(x, i).argmax(-1) == y).float().mean())
                errors += [equivariance_error(model, i, g, probe) for g in artifact["groups"][i]]
        colours = [c.view(model.n, model.n) - c.min() for c in model.colours]
        outside = outside_permutation(colours, model.n)
        out["mean_acc"] = float(np.mean([out[f"acc_{t}"] for t in artifact["tasks"]]))
        out["equiv_error"] = max(errors, default=0.0)
        out["break_error"] = (max(equivariance_error(model, i, outside, probe) for i in range(len(artifact["tasks"])))
                              if outside is not None else float("nan"))
        model.train()
        return out
