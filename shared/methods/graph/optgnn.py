"""optgnn: "Are Graph Neural Networks Optimal Approximation Algorithms?" (Yau, Karalias, Lu, Xu, Jegelka; NeurIPS
2024), the OptGNN / LiftMP network on Max-Cut.

Max-Cut's Goemans-Williamson SDP in Burer-Monteiro form: unit vectors v_i in R^r, maximise
sum_{(i,j) in E} (1 - <v_i, v_j>) / 2, i.e. minimise the loss L(V) = sum over directed edges <v_i, v_j> (the official
``max_cut_obj``; Max-Cut needs no penalty term: the unit-norm constraint holds by construction). A LiftMP layer is one
learned, unrolled projected-gradient step on L:

    v_i <- normalise( W_t [ v_i ; normalise(grad_{v_i} L) ] + b_t ),   grad_{v_i} L = 2 sum_{j in N(i)} v_j,

one (2r -> r) weight per layer shared by all nodes (the official ``MaxCutLiftLayer``: neighbour sum, normalised,
concatenated, linear, normalised). Inputs are random Gaussian vectors on the sphere, training is unsupervised on L
over fresh Erdos-Renyi graphs every step (``--infinite``), and the output is rounded by random hyperplanes: the best of
``hyperplanes`` sign patterns sign<h, v_i> per graph (``random_hyperplane_projector``).

``model=gin``: the paper's GIN baseline trained on the same loss (a dense GIN of the same depth on the same random
input, output normalised to the sphere). The evaluator runs, on the same held-out graphs (a stream of ``data.seed``
that training never draws from): the trained network, the same network untrained (its initial weights, rebuilt from
the seed), a uniformly random assignment, and Goemans-Williamson through cvxpy with the same rounding
(``shared.graphs.solvers``).

Vertex cover (``problem=vertex_cover``): e1 = (1, 0, ..., 0) plays "in the cover"; the loss is the official
``vertex_cover_obj + penalty x vertex_cover_constraint``,

    L(V) = sum_i (1 + <v_i, e1>) / 2 + penalty sum over directed edges (i, j) of (<v_i - e1, v_j - e1> / 2)^2,

and the layer's message is its gradient (the official ``AutogradLayer`` takes it by autograd; here it is written out,
and a test checks it against autograd). ``pe_dimension`` > 0 replaces the input's last coordinates by random-walk
return probabilities (the official ``featurize_batch`` with ``positional_encoding=random_walk``; its vertex-cover
scripts use pe_dimension = rank / 2). The evaluator rounds by hyperplanes and compares the cover with the untrained
network's, networkx's greedy 2-approximation and the optimum (MILP, HiGHS).

Deliberate departures: dense padded adjacency instead of PyG message passing (the same sums); the loss is the official
sum over the batch's directed edges divided by the number of graphs (a constant factor); Max-Cut uses no PE (the
official default). Vertex-cover rounding: the official ``random_hyperplane_projector`` sets x_i = sign<h, v_i> for
1000 hyperplanes and keeps the best by the score -(|cover| + 8 per uncovered edge), with no repair, the best of 10
random inputs (``test.py``; its ``e1_projector``, the sign of the first coordinate, is unused); here node i is in
the cover when v_i falls on e1's side of h (each h flipped to <h, e1> >= 0), every uncovered edge is repaired by its
endpoint closer to e1 (the card's repair: every cover valid) and the smallest repaired cover of ``hyperplanes`` is
kept, from one random input. Training is hundreds of steps, not the scripts' 20,000.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from shared.graphs.solver_cache import gw_sdp, min_cover
from shared.graphs.solvers import (
    cut_value,
    greedy_maxcut,
    greedy_vertex_cover,
    hyperplane_round,
    undirected_edges,
)
from shared.method import Evaluator, Trainer
from shared.methods.graph.config import ERGraphs, OptGNNConfig
from shared.methods.graph.specs import OPTGNN as SPEC  # noqa: F401  (the registry reads specs.py)

Graph = tuple[int, np.ndarray]  # (nodes, undirected edges (m, 2))


def er_graphs(rng: np.random.Generator, count: int, n_min: int, n_max: int, p: float) -> list[Graph]:
    """``count`` G(n, p) graphs with n uniform in [n_min, n_max], drawn from ``rng``."""
    out = []
    for _ in range(count):
        n = int(rng.integers(n_min, n_max + 1))
        out.append((n, undirected_edges(nx.gnp_random_graph(n, p, seed=int(rng.integers(2**31))))))
    return out


def dense_batch(graphs: list[Graph]) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded adjacency (B, N, N) and node mask (B, N) of a list of graphs, N the largest n."""
    size = max(n for n, _ in graphs)
    adjacency = torch.zeros(len(graphs), size, size)
    mask = torch.zeros(len(graphs), size)
    for b, (n, edges) in enumerate(graphs):
        e = torch.from_numpy(edges)
        adjacency[b, e[:, 0], e[:, 1]] = 1.0
        adjacency[b, e[:, 1], e[:, 0]] = 1.0
        mask[b, :n] = 1.0
    return adjacency, mask


def random_sphere(mask: torch.Tensor, rank: int, generator: torch.Generator) -> torch.Tensor:
    """Random Gaussian vectors normalised to the unit sphere, zero on padding: the networks' input."""
    v = torch.randn(*mask.shape, rank, generator=generator)
    return F.normalize(v, dim=-1) * mask[..., None]


def random_walk_pe(adjacency: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, N, steps): node i's probability of being back at i after k = 1..steps steps of the simple random walk
    (PyG's AddRandomWalkPE; isolated nodes and padding 0)."""
    degree = adjacency.sum(-1, keepdim=True)
    walk = adjacency / degree.clamp(min=1)
    power, out = walk, []
    for _ in range(steps):
        out.append(torch.diagonal(power, dim1=1, dim2=2))
        power = power @ walk
    return torch.stack(out, dim=-1)


def network_input(adjacency: torch.Tensor, mask: torch.Tensor, rank: int, pe_dimension: int,
                  generator: torch.Generator) -> torch.Tensor:
    """The networks' input: random unit vectors in R^(rank - pe_dimension), then ``pe_dimension`` random-walk PE
    coordinates, concatenated without renormalising (the official ``featurize_batch``); zero on padding."""
    if pe_dimension == 0:
        return random_sphere(mask, rank, generator)
    pe = random_walk_pe(adjacency, pe_dimension) * mask[..., None]
    return torch.cat([random_sphere(mask, rank - pe_dimension, generator), pe], dim=-1)


def max_cut_loss(vectors: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """Per graph, sum over directed edges of <v_i, v_j> (the official ``max_cut_obj``); shape (B,)."""
    return torch.einsum("bij,bid,bjd->b", adjacency, vectors, vectors)


def relaxed_value(vectors: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """Per graph, the SDP objective sum over undirected edges of (1 - <v_i, v_j>) / 2; shape (B,)."""
    directed_edges = adjacency.sum(dim=(1, 2))
    return (directed_edges - max_cut_loss(vectors, adjacency)) / 4


def max_cut_gradient(v: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """grad_{v_i} of the Max-Cut loss, up to the factor 2 that normalising removes: sum_j A_ij v_j."""
    return adjacency @ v


def true_vector(v: torch.Tensor) -> torch.Tensor:
    """e_1, the vector that plays "in the cover" (the official convention)."""
    e1 = torch.zeros(v.shape[-1], dtype=v.dtype)
    e1[0] = 1.0
    return e1


def vertex_cover_loss(v: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor, penalty: float) -> torch.Tensor:
    """Per graph (B,): sum_i (1 + <v_i, e1>) / 2 + penalty sum over *directed* edges (i, j) of
    (<v_i - e1, v_j - e1> / 2)^2 (the official ``vertex_cover_obj`` + ``vertex_cover_constraint``, whose sum runs
    over PyG's edge_index, both directions: x_i = +1 in the cover, each edge covered)."""
    objective = ((1 + v[..., 0]) / 2 * mask).sum(-1)
    u = (v - true_vector(v)) * mask[..., None]
    inner = u @ u.transpose(1, 2)
    return objective + penalty * (adjacency * (inner / 2) ** 2).sum((1, 2))


def vertex_cover_gradient(v: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor, penalty: float
                          ) -> torch.Tensor:
    """grad_{v_i} of :func:`vertex_cover_loss`: e1 / 2 + penalty sum_j A_ij <u_i, u_j> u_j, u = v - e1."""
    u = (v - true_vector(v)) * mask[..., None]
    inner = u @ u.transpose(1, 2)
    return (true_vector(v) / 2 + penalty * (adjacency * inner) @ u) * mask[..., None]


class LiftLayer(nn.Module):
    """v <- normalise(W [v ; normalise(grad L)] + b): one learned projected-gradient step on the problem's loss."""

    def __init__(self, rank: int, gradient=max_cut_gradient) -> None:
        super().__init__()
        self.lin = nn.Linear(2 * rank, rank)
        self.gradient = gradient

    def forward(self, v: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        grad = F.normalize(self.gradient(v, adjacency, mask), dim=-1)  # its direction is what the layer uses
        return F.normalize(self.lin(torch.cat([v, grad], dim=-1)), dim=-1) * mask[..., None]


class LiftMP(nn.Module):
    def __init__(self, rank: int, layers: int, gradient=max_cut_gradient) -> None:
        super().__init__()
        self.layers = nn.ModuleList(LiftLayer(rank, gradient) for _ in range(layers))

    def forward(self, v: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            v = layer(v, adjacency, mask)
        return v


class DenseGIN(nn.Module):
    """GIN (h <- MLP((1 + eps) h + A h)) on the same random input, read out to the sphere: the same-loss baseline."""

    def __init__(self, rank: int, hidden: int, layers: int) -> None:
        super().__init__()
        dims = [rank] + [hidden] * layers
        self.eps = nn.Parameter(torch.zeros(layers))
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(dims[k], hidden), nn.ReLU(), nn.Linear(hidden, hidden))
                                  for k in range(layers))
        self.read_out = nn.Linear(hidden, rank)

    def forward(self, v: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = v
        for k, mlp in enumerate(self.mlps):
            h = torch.relu(mlp((1 + self.eps[k]) * h + adjacency @ h)) * mask[..., None]
        return F.normalize(self.read_out(h), dim=-1) * mask[..., None]


def build_network(cfg: OptGNNConfig) -> nn.Module:
    """The network with its initial weights, a function of ``cfg.seed`` alone (so the untrained baseline can be
    rebuilt exactly)."""
    torch.manual_seed(cfg.seed)
    if cfg.model == "gin":
        return DenseGIN(cfg.rank, cfg.hidden, cfg.layers)
    if cfg.problem == "vertex_cover":
        return LiftMP(cfg.rank, cfg.layers, partial(vertex_cover_gradient, penalty=cfg.penalty))
    return LiftMP(cfg.rank, cfg.layers)


def problem_loss(cfg: OptGNNConfig, vectors: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor
                 ) -> torch.Tensor:
    if cfg.problem == "vertex_cover":
        return vertex_cover_loss(vectors, adjacency, mask, cfg.penalty)
    return max_cut_loss(vectors, adjacency)


class OptGNNTrainer(Trainer):
    config: OptGNNConfig

    def __init__(self, config: OptGNNConfig) -> None:
        super().__init__(config)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.model = build_network(config)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        # training draws from its own stream of (data.seed, seed); the held-out graphs from (data.seed, "test")
        self.rng = np.random.default_rng([config.data.seed, config.seed, 0])
        self.generator = torch.Generator().manual_seed(config.seed)

    def fit_epoch(self) -> dict[str, float]:
        c, d, total = self.config, self.config.data, 0.0
        self.model.train()
        for _ in range(c.steps_per_epoch):
            adjacency, mask = dense_batch(er_graphs(self.rng, c.batch_size, d.n_min, d.n_max, d.p))
            vectors = self.model(network_input(adjacency, mask, c.rank, c.pe_dimension, self.generator), adjacency,
                                 mask)
            loss = problem_loss(c, vectors, adjacency, mask).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        self.epoch += 1
        return {"loss": total / c.steps_per_epoch}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": self.epoch,
                "rng": self.rng.bit_generator.state, "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.rng.bit_generator.state = int(state["epoch"]), state["rng"]
        self.generator.set_state(state["generator"])

    def artifact(self) -> nn.Module:
        return self.model


def held_out_graphs(d: ERGraphs) -> list[Graph]:
    """The held-out graphs: a stream of ``data.seed`` that training never draws from."""
    return er_graphs(np.random.default_rng([d.seed, 2**20]), d.test_graphs, d.n_min, d.n_max, d.p)


@torch.no_grad()
def network_solutions(model: nn.Module, graphs: list[Graph], rank: int, hyperplanes: int, seed: int,
                      pe_dimension: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Batched inference and rounding: (rounded cut per graph, relaxed value per graph, seconds per graph)."""
    model.eval()
    start = time.perf_counter()
    adjacency, mask = dense_batch(graphs)
    vectors = model(network_input(adjacency, mask, rank, pe_dimension, torch.Generator().manual_seed(seed)),
                    adjacency, mask)
    relaxed = relaxed_value(vectors, adjacency).numpy()
    rng = np.random.default_rng([seed, 1])
    cuts = np.array([hyperplane_round(vectors[b, :n].numpy(), edges, hyperplanes, rng)[1]
                     for b, (n, edges) in enumerate(graphs)], dtype=float)
    return cuts, relaxed, (time.perf_counter() - start) / len(graphs)


class MaxCutEvaluator(Evaluator):
    """The network, the same network untrained, random assignments, the greedy one-exchange local search and GW-SDP
    on the same held-out graphs."""

    metrics = ("cut", "cut_ratio_gw", "untrained_cut", "random_cut", "gw_cut", "relaxed_value", "sdp_value",
               "seconds_per_graph", "gw_seconds_per_graph", "greedy_cut", "greedy_ratio_gw", "greedy_seconds_per_graph")

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        cfg = self.config
        if cfg.problem != "max_cut":
            return dict.fromkeys(self.metrics, float("nan"))
        graphs = held_out_graphs(cfg.data)
        cuts, relaxed, seconds = network_solutions(artifact, graphs, cfg.rank, cfg.hyperplanes, cfg.seed,
                                                   cfg.pe_dimension)
        untrained, _, _ = network_solutions(build_network(cfg), graphs, cfg.rank, cfg.hyperplanes, cfg.seed,
                                            cfg.pe_dimension)
        rng = np.random.default_rng([cfg.seed, 2])
        random_cuts = [cut_value(edges, rng.choice([-1, 1], size=n)) for n, edges in graphs]
        start = time.perf_counter()
        greedy = np.array([greedy_maxcut(n, edges)[0] for n, edges in graphs], dtype=float)
        out = {"cut": float(np.mean(cuts)), "untrained_cut": float(np.mean(untrained)),
               "random_cut": float(np.mean(random_cuts)), "relaxed_value": float(np.mean(relaxed)),
               "seconds_per_graph": seconds, "greedy_cut": float(np.mean(greedy)),
               "greedy_seconds_per_graph": (time.perf_counter() - start) / len(graphs)}
        nan = float("nan")
        out.update(gw_reference(graphs, cuts, cfg, greedy) if cfg.reference else dict.fromkeys(
            ("cut_ratio_gw", "gw_cut", "sdp_value", "gw_seconds_per_graph", "greedy_ratio_gw"), nan))
        return out


def gw_reference(graphs: list[Graph], cuts: np.ndarray, cfg: OptGNNConfig, greedy: np.ndarray | None = None
                 ) -> dict[str, float]:
    """GW-SDP with the same rounding on the same graphs, and the network's (and the greedy's) cut relative to it
    (mean per graph). The SDP comes from the solver cache (``shared.graphs.solver_cache.gw_sdp``): solved once per
    graph over all trials and seeds; its seconds are the original solve's, plus this call's rounding."""
    rng = np.random.default_rng([cfg.seed, 3])
    gw_cuts, sdp_values, seconds = [], [], 0.0
    for n, edges in graphs:
        sdp, gw_vectors, sdp_seconds = gw_sdp(n, edges, cfg.gw_solver)  # cached: solved once per graph
        start = time.perf_counter()
        gw_cuts.append(hyperplane_round(gw_vectors, edges, cfg.hyperplanes, rng)[1])
        seconds += sdp_seconds + time.perf_counter() - start
        sdp_values.append(sdp)
    out = {"cut_ratio_gw": float(np.mean(cuts / np.maximum(gw_cuts, 1))), "gw_cut": float(np.mean(gw_cuts)),
           "sdp_value": float(np.mean(sdp_values)), "gw_seconds_per_graph": seconds / len(graphs)}
    if greedy is not None:
        out["greedy_ratio_gw"] = float(np.mean(greedy / np.maximum(gw_cuts, 1)))
    return out


def round_vertex_cover(vectors: np.ndarray, edges: np.ndarray, hyperplanes: int, rng: np.random.Generator
                       ) -> np.ndarray:
    """Hyperplane rounding for vertex cover: node i is in the cover when v_i falls on e1's side of h; each edge
    left uncovered then gets the endpoint closer to e1 (the repair step), so every cover is valid. The smallest
    cover over ``hyperplanes`` draws, as a boolean mask."""
    h = rng.standard_normal((vectors.shape[1], hyperplanes))
    cover = (vectors @ h >= 0) == (h[0] >= 0)  # (n, K); <e1, h> = h[0]
    if len(edges):
        a, b = edges[:, 0], edges[:, 1]
        closer = np.where(vectors[a, 0] >= vectors[b, 0], a, b)
        rows, cols = np.nonzero(~cover[a] & ~cover[b])
        cover[closer[rows], cols] = True
    return cover[:, int(np.argmin(cover.sum(axis=0)))]


@torch.no_grad()
def network_covers(model: nn.Module, graphs: list[Graph], rank: int, hyperplanes: int, seed: int,
                   pe_dimension: int = 0) -> list[np.ndarray]:
    model.eval()
    adjacency, mask = dense_batch(graphs)
    vectors = model(network_input(adjacency, mask, rank, pe_dimension, torch.Generator().manual_seed(seed)),
                    adjacency, mask)
    rng = np.random.default_rng([seed, 4])
    return [round_vertex_cover(vectors[b, :n].numpy(), edges, hyperplanes, rng) for b, (n, edges) in enumerate(graphs)]


def is_vertex_cover(edges: np.ndarray, cover: np.ndarray) -> bool:
    return bool(np.all(cover[edges[:, 0]] | cover[edges[:, 1]]))


class VertexCoverEvaluator(Evaluator):
    """Cover sizes of the network and of the same network untrained against networkx's greedy 2-approximation and
    the optimum (MILP, HiGHS)."""

    metrics = ("cover_size", "untrained_cover_size", "greedy_cover_size", "cover_valid", "optimal_cover_size",
               "cover_ratio_optimal")

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        cfg = self.config
        if cfg.problem != "vertex_cover":
            return dict.fromkeys(self.metrics, float("nan"))
        graphs = held_out_graphs(cfg.data)
        covers = network_covers(artifact, graphs, cfg.rank, cfg.hyperplanes, cfg.seed, cfg.pe_dimension)
        untrained = network_covers(build_network(cfg), graphs, cfg.rank, cfg.hyperplanes, cfg.seed, cfg.pe_dimension)
        greedy = [len(greedy_vertex_cover(nx.Graph(list(map(tuple, edges.tolist()))))) for _, edges in graphs]
        optimal = np.array([min_cover(n, edges)[0].sum() for n, edges in graphs], dtype=float)  # cached MILP
        return {
            "cover_size": float(np.mean([c.sum() for c in covers])),
            "optimal_cover_size": float(np.mean(optimal)),
            "cover_ratio_optimal": float(np.mean([c.sum() / max(o, 1) for c, o in zip(covers, optimal, strict=True)])),
            "untrained_cover_size": float(np.mean([c.sum() for c in untrained])),
            "greedy_cover_size": float(np.mean(greedy)),
            "cover_valid": float(np.mean([is_vertex_cover(e, c) for (_, e), c in zip(graphs, covers, strict=True)])),
        }
