"""graphon_sampling: uniqueness sets by pivoted QR checked exactly, and the paper's claims at small scale
(shared/graphs/graphon.py, shared/methods/graph/graphon_sampling.py)."""
from __future__ import annotations

import statistics

import numpy as np
import pytest

from shared.graphs.graphon import (
    block_graphon,
    coarsened,
    interval_uniqueness_set,
    intervals_of,
    laplacian_eigenvectors,
    qr_sampling_set,
    reconstruct,
    sample_graph,
)

HELD_OUT = [2, 3, 4]  # the card's thresholds, not tuned here; seeds 0-1 were looked at while writing the method


def test_sampled_graph_and_its_laplacian_basis():
    x, adjacency = sample_graph(np.random.default_rng(0), lambda u, v: block_graphon(u, v, 2, 1.0, 0.0), 40)
    assert (np.diff(x) >= 0).all() and np.array_equal(adjacency, adjacency.T) and not adjacency.diagonal().any()
    assert np.array_equal(adjacency, (np.floor(2 * x)[:, None] == np.floor(2 * x)[None, :]) - np.eye(40))
    basis = laplacian_eigenvectors(adjacency, 2)  # two components: the null space is their degree vectors
    assert np.allclose(basis.T @ basis, np.eye(2))


def test_pivoted_qr_set_recovers_a_bandlimited_signal_exactly_by_hand():
    """A 3 x 2 basis whose third row is the sum of the first two: pivoting picks the two largest-norm rows
    first, and any two independent rows recover the signal."""
    basis = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 2.0]])
    assert list(qr_sampling_set(basis, 2)) in ([1, 2], [0, 2], [0, 1])
    assert 2 in qr_sampling_set(basis, 2)  # ||(1, 2)|| is the largest column norm of basis^T
    signal = basis @ np.array([3.0, -1.0])
    nodes = qr_sampling_set(basis, 2)
    assert np.allclose(reconstruct(basis, nodes, signal[nodes]), signal)


def test_coarsened_graph_is_the_mean_adjacency_between_intervals():
    x = np.array([0.1, 0.2, 0.6, 0.9])
    adjacency = np.array([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0]], dtype=float)
    assert np.allclose(coarsened(adjacency, x, 2), [[0.5, 0.25], [0.25, 0.5]])
    assert intervals_of(x, np.array([0, 3]), 2) == {0, 1}


def test_interval_uniqueness_set_takes_one_interval_from_each_block_of_a_two_block_graph():
    """Two disconnected blocks of [0, 1], 8 intervals: the coarsened graph's 2-dimensional null space is spanned by
    the blocks' indicators, so a uniqueness set of 2 intervals must hold one interval of each block."""
    x, adjacency = sample_graph(np.random.default_rng(0), lambda u, v: block_graphon(u, v, 2, 1.0, 0.0), 200)
    chosen = interval_uniqueness_set(adjacency, x, 2, 8)
    assert len(chosen) == 2 and {i // 4 for i in chosen} == {0, 1}


_theory: dict[int, dict] = {}


def theory(seed: int) -> dict:
    from shared.methods.graph.graphon_sampling import SPEC, SamplingTheory

    if seed not in _theory:
        _theory[seed] = SamplingTheory(SPEC.load_config([f"seed={seed}", f"data.seed={seed}"])).evaluate(None)
    return _theory[seed]


@pytest.mark.parametrize("seed", HELD_OUT)
def test_uniqueness_set_recovers_bandlimited_signals_and_is_better_conditioned_than_random(seed):
    out = theory(seed)
    assert out["recon_error"] < 1e-8
    assert out["cond_ratio"] < 0.5  # measured 0.07-0.14: QR sets are far better conditioned than random ones


def overlaps() -> tuple[float, float]:
    return tuple(statistics.mean(theory(s)[key] for s in HELD_OUT)
                 for key in ("interval_overlap", "interval_overlap_random"))


def test_interval_sets_are_more_consistent_than_random_sets_as_the_graph_grows():
    qr, rnd = overlaps()
    print(f"interval overlap n -> 2n: QR {qr:.3f}, random {rnd:.3f}")
    assert qr > rnd
    assert abs(rnd - 0.3) < 0.05  # the baseline is the card's ~30%: k / intervals = 6 / 20


@pytest.mark.xfail(strict=True, reason="the card's 80% overlap does not hold at n = 1,000 -> 2,000: the coarsened "
                   "graph's interval sets overlap 0.778 (0.60, 0.87, 0.87 on seeds 2-4; 0.77, 0.70 on tuning seeds "
                   "0, 1) vs 0.301 random; the misses are neighbouring intervals (QR pivots on nearly equal rows): "
                   "REPRODUCTION.md")
def test_interval_sets_overlap_80_percent_as_the_graph_grows():
    assert overlaps()[0] >= 0.8


@pytest.mark.xfail(strict=True, reason="interval sampling does not beat random nodes on the card's SBM: full-graph "
                   "accuracy 0.754 (0.81, 0.71, 0.74) vs random 0.915 (0.75, 1.00, 1.00) on seeds 2-4. The blocks "
                   "are exchangeable, so k = 6 uniqueness intervals of 20 only give the 4 blocks 1 or 2 intervals "
                   "(classes of 9-39 of 100 nodes), and the GCN overfits the 100-node subgraph (training loss "
                   "0.01-0.14) for both arms; balanced draws per interval, dropout + weight decay, k = 4 or other "
                   "noise levels did not reverse the order on tuning seeds 0, 1: REPRODUCTION.md")
def test_gcn_on_an_interval_sampled_subgraph_is_no_worse_than_on_random_nodes():
    from shared.methods.graph.graphon_sampling import SPEC

    acc = {}
    for sampling in ("interval", "random"):
        for seed in HELD_OUT:
            cfg = SPEC.load_config([f"sampling={sampling}", f"seed={seed}", f"data.seed={seed}", "data.noise=2.5"])
            trainer = SPEC.make_trainer(cfg)
            while not trainer.done:
                trainer.fit_epoch()
            acc.setdefault(sampling, []).append(SPEC.evaluate(cfg, trainer, metrics=["full_graph_acc"])[
                "full_graph_acc"])
    print("full-graph accuracy", acc)
    assert statistics.mean(acc["interval"]) >= statistics.mean(acc["random"])
