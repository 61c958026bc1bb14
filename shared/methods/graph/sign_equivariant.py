"""Sign-equivariant networks: "Expressive Sign Equivariant Networks for Spectral Geometric Learning" (Lim, Robinson,
Jegelka, Maron; NeurIPS 2023), the link-prediction experiment (the only one the official code releases).

Sign equivariance, f(V diag(s)) = f(V) diag(s) for every s in {+1, -1}^k. Sign-equivariant polynomials are
column-wise v_i * (a sign-invariant function), hence the gate layer (official ``SignEqGateLayer``)

    x -> (x diag(w)) * sigmoid(MLP(|x|)) + x

and the DSS layer x <- x + gate1(x) + gate2(mean_{j in N(i)} x_j) (``SignDSSLayer``); four of them make the
encoder. The link score <z_u, z_v> is sign invariant for the pair. The point: sign-*invariant* node features are
structural, so two automorphic nodes (twins) get the same features and a link predictor cannot tell (u, w) from
(twin(u), w); sign-equivariant features keep the eigenvectors' positional information.

``model`` picks the encoder; the baselines of the paper's table are the other choices:
``sign_equivariant`` (SignDSS), ``signnet`` (phi(v) + phi(-v), phi and rho graph networks: sign invariant),
``gcn`` (constant input, 3 layers), ``decode_only`` (<v_u, v_v> of the raw eigenvectors, nothing learned).
Training as in the official ``main_link_pred.py``: full graph, BCE with fresh uniform negatives every epoch,
Adam lr 0.01; the model kept is the one with the best validation AUC.

Measures: ``val_auc``, ``test_auc`` (test links vs random non-links) and ``twin_auc``: test links (u, w) against
their twins' pairs (twin(u), w) that are not links, where a sign-invariant model is near chance.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn
from torch_geometric.nn import GCNConv

from shared.graphs.encodings import EigenGIN, mlp
from shared.graphs.links import LinkTask, load_link_task
from shared.method import Evaluator, GradientTrainer
from shared.methods.graph.pe_config import SignEquivariantConfig  # torch-free
from shared.methods.graph.pe_specs import SIGN_EQUIVARIANT as SPEC  # noqa: F401  (torch-free: the registry's entry)


class SignEqGate(nn.Module):
    """x -> (x * w) * sigmoid(MLP(|x|)) + x on (N, k): each column flips with its input column."""

    def __init__(self, k: int, hidden: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(k))
        self.gate = mlp([k, hidden, k])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale * torch.sigmoid(self.gate(x.abs())) + x


def neighbour_mean(x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
    src, dst = edge_index
    total = torch.zeros_like(x).index_add_(0, dst, x[src])
    degree = torch.zeros(x.shape[0], 1, dtype=x.dtype).index_add_(0, dst, torch.ones(src.shape[0], 1, dtype=x.dtype))
    return total / degree.clamp(min=1)


class SignDSS(nn.Module):
    """x <- x + gate1(x) + gate2(mean of neighbours' x), ``layers`` times: sign equivariant (the neighbour mean is
    linear, the gates are equivariant)."""

    def __init__(self, k: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.own = nn.ModuleList(SignEqGate(k, hidden) for _ in range(layers))
        self.neighbours = nn.ModuleList(SignEqGate(k, hidden) for _ in range(layers))

    def forward(self, v: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = v
        for own, nbr in zip(self.own, self.neighbours, strict=True):
            x = x + own(x) + nbr(neighbour_mean(x, edge_index))
        return x


class GCN(nn.Module):
    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(GCNConv(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = torch.relu(x)
        return x


class LinkEncoder(nn.Module):
    """Node embeddings z (N, d) from the eigenvectors and the train graph; score(u, v) = <z_u, z_v>."""

    def __init__(self, model: str, k: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.model = model
        if model == "sign_equivariant":
            self.net = SignDSS(k, hidden, layers)
        elif model == "signnet":
            self.phi = EigenGIN(1, hidden // 4, 4, 2)
            self.rho = GCN([4 * k, hidden, hidden // 2])
        elif model == "gcn":
            self.net = GCN([1, hidden, hidden, hidden // 2])
        else:  # decode_only: nothing to learn; one scale keeps the optimizer and the loss well-defined
            self.temperature = nn.Parameter(torch.ones(()))

    def forward(self, v: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        if self.model == "sign_equivariant":
            return self.net(v, edge_index)
        if self.model == "signnet":
            x = v.unsqueeze(-1)
            h = self.phi(x, edge_index) + self.phi(-x, edge_index)  # (N, k, 4), sign invariant
            return self.rho(h.flatten(1), edge_index)
        if self.model == "gcn":
            return self.net(v.new_ones(v.shape[0], 1), edge_index)
        return v * self.temperature

    @staticmethod
    def score(z: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        return (z[pairs[0]] * z[pairs[1]]).sum(-1)


class SignEquivariantTrainer(GradientTrainer):
    config: SignEquivariantConfig
    task: LinkTask

    def setup(self) -> None:
        self.task = load_link_task(self.config.data)
        self.data = self.task
        self.best_val = -1.0
        self.best_state: dict[str, torch.Tensor] | None = None

    def build_model(self) -> nn.Module:
        c = self.config
        return LinkEncoder(c.model, c.data.pe_k, c.hidden, c.layers)

    def steps_per_epoch(self) -> int:
        return 1

    def batches(self) -> Iterator[torch.Tensor]:
        """One full-graph step per epoch with fresh uniform negatives (as many as positive train edges)."""
        positives = self.task.train_edges[:, : self.task.train_edges.shape[1] // 2]
        negatives = torch.randint(0, self.task.num_nodes, positives.shape, generator=self.generator)
        yield torch.cat([positives, negatives], dim=1)

    def loss(self, pairs: torch.Tensor) -> torch.Tensor:
        z = self.model(self.task.eigvecs, self.task.train_edges)
        logits = LinkEncoder.score(z, pairs)
        half = pairs.shape[1] // 2
        labels = torch.cat([torch.ones(half), torch.zeros(pairs.shape[1] - half)])
        return F.binary_cross_entropy_with_logits(logits, labels)

    def fit_epoch(self) -> dict[str, float]:
        metrics = super().fit_epoch()
        val = link_auc(self.model, self.task, self.task.val_pos, self.task.val_neg)
        if val > self.best_val:  # the official protocol: test at the best validation AUC
            self.best_val, self.best_state = val, copy.deepcopy(self.model.state_dict())
        return {**metrics, "val_auc_epoch": val}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best_val": self.best_val, "best_state": self.best_state or {}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.best_val = float(state["best_val"])
        self.best_state = dict(state["best_state"]) or None

    def artifact(self) -> nn.Module:
        model = copy.deepcopy(self.model)
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return model.eval()


@torch.no_grad()
def link_auc(model: nn.Module, task: LinkTask, pos: torch.Tensor, neg: torch.Tensor) -> float:
    z = model(task.eigvecs, task.train_edges)
    scores = torch.cat([LinkEncoder.score(z, pos), LinkEncoder.score(z, neg)])
    labels = torch.cat([torch.ones(pos.shape[1]), torch.zeros(neg.shape[1])])
    return float(roc_auc_score(labels.numpy(), scores.numpy()))


def twin_negatives(task: LinkTask, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Test links (u, w) paired with (twin(u), w) where that pair is not a link in the whole graph."""
    every = torch.cat([task.train_edges, task.val_pos, task.test_pos, task.val_pos.flip(0), task.test_pos.flip(0)], 1)
    links = set(map(tuple, every.T.tolist()))
    twins = torch.stack([task.twin(pos[0]), pos[1]])
    keep = torch.tensor([tuple(p) not in links and p[0] != p[1] for p in twins.T.tolist()], dtype=torch.bool)
    return pos[:, keep], twins[:, keep]


class LinkPrediction(Evaluator):
    metrics = ("val_auc", "test_auc", "twin_auc")

    def load_data(self) -> LinkTask:
        return load_link_task(self.config.data)

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        task = self.data
        pos, twins = twin_negatives(task, task.test_pos)
        return {
            "val_auc": link_auc(artifact, task, task.val_pos, task.val_neg),
            "test_auc": link_auc(artifact, task, task.test_pos, task.test_neg),
            "twin_auc": link_auc(artifact, task, pos, twins),
        }
