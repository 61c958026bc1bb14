"""The spectral graph family's claims at small scale. The stability curve needs no training and runs in-process;
the trained claims run ``configs/reproduce/*.yaml`` over seeds on a local Ray (``jobs/reproduce.py``). Margins are
below the figures measured over seeds 0-2 (REPRODUCTION.md)."""
from __future__ import annotations

import statistics

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch

from jobs.reproduce import mean
from shared.graphs.encodings import SPE, BasisNet, LapPE, SignNet
from shared.graphs.generated import nx_to_data, repeated_eigenvalue_graphs
from shared.graphs.spectral import add_eigen_features, dense_adjacency, normalized_laplacian
from shared.methods.graph.common import pe_change_ratio

EPS = (1e-4, 1e-2)
_cache: dict[str, dict] = {}


def stability_curve(make, seed: int) -> dict[float, float]:
    """Median ||dPE|| / ||dL||_F over the repeated-eigenvalue graphs at each eps, for a randomly initialised PE
    in float64 (so that float32 rounding does not pose as instability at eps = 1e-4)."""
    torch.manual_seed(seed)
    pe = make().double().eval()
    generator = torch.Generator().manual_seed(seed)
    graphs = list(repeated_eigenvalue_graphs().values())
    return {eps: statistics.median(pe_change_ratio(pe, g, 16, True, eps, generator, torch.float64)
                                   for g in graphs for _ in range(3)) for eps in EPS}


# The untrained stability checks: thresholds chosen on seeds 0-2 (first measurement), asserted on held-out seeds 3, 4
# (a seed draws the random initialisation and the perturbations; the graphs are fixed, named graphs).
UNTRAINED_HELD_OUT = [3, 4]


@pytest.mark.parametrize("seed", UNTRAINED_HELD_OUT)
def test_spe_output_change_is_proportional_to_the_laplacian_change(seed):
    spe = stability_curve(lambda: SPE(16, 8), seed)
    # SPE: the ratio stays about constant as eps shrinks 100-fold (measured 1.0-1.6x; bound 5x)
    assert spe[1e-4] < 5 * spe[1e-2]
    for name, make in {"raw eigenvectors": lambda: LapPE(16, 8, sign="none"), "signnet": lambda: SignNet(16, 8),
                       "basisnet": lambda: BasisNet(16, 8)}.items():
        other = stability_curve(make, seed)
        # hard partitions: an order-one jump whatever eps, so the ratio grows like 1/eps (measured ~100x)
        assert other[1e-4] > 30 * other[1e-2], name
        assert other[1e-4] > 1000 * spe[1e-4], name


# k < n: SPE sees only the k lowest eigenpairs, and Theorem 3 of the SPE paper (Huang et al., ICLR 2024) adds a term
# proportional to ||dL|| / gamma, gamma = lambda_{k+1} - lambda_k the eigengap at the cut. Cuts at a spectral gap
# (gamma > 0) and cuts inside a repeated eigenvalue (gamma = 0), on the same graphs (eigenvalues counted from 0).
GAP_CUTS = {"cycle12": 3, "grid4x4": 3, "hypercube4": 5}  # cycle12: 0, .134, .134 | .5; hypercube4: 0, .5 x 4 | 1
EIGENSPACE_CUTS = {"cycle12": 2, "grid4x4": 2, "hypercube4": 3}  # each cut splits a pair or a quadruple


def eigengap_at(graph, k: int) -> float:
    evals = torch.linalg.eigvalsh(normalized_laplacian(dense_adjacency(graph.edge_index, graph.num_nodes)))
    return float(evals[k] - evals[k - 1])


def cut_ratios(name: str, k: int, seed: int) -> dict[float, float]:
    """Median ||dPE|| / ||dL||_F over 3 perturbations of one graph at each eps, for a random-init SPE (float64) that
    reads the k lowest eigenpairs."""
    torch.manual_seed(seed)
    spe = SPE(16, 8).double().eval()
    generator = torch.Generator().manual_seed(seed)
    graph = repeated_eigenvalue_graphs()[name]
    return {eps: statistics.median(pe_change_ratio(spe, graph, k, True, eps, generator, torch.float64)
                                   for _ in range(3)) for eps in EPS}


@pytest.mark.parametrize("seed", UNTRAINED_HELD_OUT)
@pytest.mark.parametrize("name", sorted(GAP_CUTS))
def test_spe_on_fewer_eigenpairs_than_nodes_is_stable_when_the_cut_is_at_a_spectral_gap(name, seed):
    """Theorem 3 with k < n and gamma > 0: ||dSPE|| <= (C1 + C2 k / gamma) ||dL||, a constant ratio as eps shrinks
    (measured 0.6-2.0x over 100-fold smaller eps, tuning seeds 0-2, 0.7-1.4x on held-out seeds 3, 4; the bound 5x
    as for k >= n)."""
    k = GAP_CUTS[name]
    assert eigengap_at(repeated_eigenvalue_graphs()[name], k) > 0.2  # the premise: a real gap at the cut
    ratios = cut_ratios(name, k, seed)
    assert ratios[1e-4] < 5 * ratios[1e-2]


@pytest.mark.parametrize("seed", UNTRAINED_HELD_OUT)
@pytest.mark.parametrize("name", sorted(EIGENSPACE_CUTS))
def test_spe_cut_inside_an_eigenspace_has_no_finite_bound_and_jumps(name, seed):
    """gamma = 0: the theorem's gap term is infinite, so it bounds nothing; and the term is not slack in the proof:
    a perturbation splits the repeated eigenvalue, which of its eigenvectors fall below the cut is decided by the
    perturbation's direction, and SPE jumps by order one (measured 80-330x over 100-fold smaller eps on tuning seeds
    0-2, 30-130x on held-out seeds 3, 4), as the hard partitions do at k >= n."""
    k = EIGENSPACE_CUTS[name]
    assert eigengap_at(repeated_eigenvalue_graphs()[name], k) < 1e-9  # the premise: the cut splits an eigenspace
    ratios = cut_ratios(name, k, seed)
    assert ratios[1e-4] > 30 * ratios[1e-2]
    gap_ratio = cut_ratios(name, GAP_CUTS[name], seed)[1e-4]
    assert ratios[1e-4] > 100 * gap_ratio  # the same SPE on the same graph, cut at the gap instead


HELD_OUT = [2, 3]  # seeds no setting or threshold was chosen on (REPRODUCTION.md: tuning seeds 0-1)


def held_out_outcome(name: str, arms: list[str] | None = None) -> dict:
    from jobs.reproduce import compare

    key = f"{name} held out"
    if key not in _cache:
        _cache[key] = compare(name, seeds=HELD_OUT, arms=arms)
    return _cache[key]


@pytest.mark.slow
def test_trained_spe_stays_stable_and_the_others_do_not(local_ray):
    out = held_out_outcome("spe_stability")
    spe = mean(out, "spe", "pe_stability")
    for arm in ("lappe", "signnet", "basisnet"):
        assert mean(out, arm, "pe_stability") > 10 * spe, arm


@pytest.mark.slow
def test_spe_counts_cycles_with_a_lower_error_than_no_positional_encoding(local_ray):
    out = held_out_outcome("spe_counting")
    # tuning seeds 0-2 (data seed 0): test MAE 0.925 vs 0.963; held-out seeds 2-3 (data.seed = seed): 0.870 vs 0.906
    assert mean(out, "spe", "test_mae") < mean(out, "no_pe", "test_mae")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="held-out seeds 2-3 (data.seed = seed): exact counts 0.464 +- 0.024 (SPE) vs "
                   "0.471 +- 0.025 (no PE), lower on both seeds (0.481 / 0.448 vs 0.489 / 0.454); the +0.01 margin was "
                   "chosen on tuning seeds 0-2 (data seed 0): 0.438 +- 0.006 vs 0.412 +- 0.007")
def test_spe_counts_more_cycles_exactly_than_no_positional_encoding(local_ray):
    out = held_out_outcome("spe_counting")
    assert mean(out, "spe", "count_acc") >= mean(out, "no_pe", "count_acc") + 0.01


def test_edge_free_signnet_sees_no_edges_and_stays_sign_invariant():
    """The filter claim's control: with phi=deepsets SignNet gets the graph only from the eigenvectors, like the
    DeepSets base and the |V| and sign-flip arms (a GIN phi also reads the grid edges)."""
    torch.manual_seed(0)
    g = nx.grid_2d_graph(3, 3)
    data = nx_to_data(nx.convert_node_labels_to_integers(g))
    add_eigen_features([data], 9, cache=False)
    no_edges, flipped = data.clone(), data.clone()
    no_edges.edge_index = data.edge_index[:, :0]
    flipped.eigvecs = data.eigvecs * (torch.randint(0, 2, (9,)) * 2 - 1)
    one = Batch.from_data_list
    with torch.no_grad():
        edge_free, gin = SignNet(9, 8, phi="deepsets").eval(), SignNet(9, 8, phi="gin").eval()
        assert torch.allclose(edge_free(one([data])), edge_free(one([no_edges])), atol=1e-6)
        assert torch.allclose(edge_free(one([data])), edge_free(one([flipped])), atol=1e-5)
        assert not torch.allclose(gin(one([data])), gin(one([no_edges])), atol=1e-3)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="with phi as edge-free as its baselines (DeepSets phi), SignNet no longer "
                   "beats |V|: train MSE held-out seeds 2-3 8.44e-3 vs |V| 5.61e-3, sign flip 8.71e-3 "
                   "(tuning seeds 0-1: 1.05e-2 / 6.00e-3 / 1.09e-2); the 3.9e-3 it scored before came "
                   "from a GIN phi that read the grid edges")
def test_signnet_fits_spectral_filters_better_than_sign_flip_and_abs(local_ray):
    out = held_out_outcome("signnet_filters", arms=["sign_flip", "abs", "signnet"])
    assert mean(out, "signnet", "train_mse") < mean(out, "abs", "train_mse")
    assert mean(out, "signnet", "train_mse") < 0.5 * mean(out, "sign_flip", "train_mse")


@pytest.mark.slow
def test_abs_eigenvectors_fit_spectral_filters_better_than_sign_flips(local_ray):
    """What still holds on held-out seeds: removing the sign ambiguity by |V| fits the filter better than training
    through it with random flips (same edge-free base, same inputs)."""
    out = held_out_outcome("signnet_filters", arms=["sign_flip", "abs", "signnet"])
    # 0.8 chosen on tuning seeds 0-1 (ratio 0.55; per seed 0.60, 0.50); held-out seeds 2-3: 5.61e-3 vs 8.71e-3 (0.64)
    assert mean(out, "abs", "train_mse") < 0.8 * mean(out, "sign_flip", "train_mse")


@pytest.mark.slow
def test_sign_equivariant_features_predict_links_invariant_ones_cannot(local_ray):
    out = held_out_outcome("sign_equivariant")
    # margins chosen on tuning seeds 0-1 (data seed 0: test AUC 0.708 vs SignNet 0.61 +- 0.13 vs GCN 0.525 over 0-2);
    # asserted on held-out seeds 2-3, data.seed = seed (REPRODUCTION.md)
    assert mean(out, "sign_equivariant", "test_auc") >= mean(out, "signnet", "test_auc") + 0.05
    assert mean(out, "sign_equivariant", "test_auc") >= mean(out, "gcn", "test_auc") + 0.1
    assert mean(out, "sign_equivariant", "twin_auc") >= 0.85


@pytest.mark.slow
def test_asen_is_exactly_equivariant_and_beats_the_non_equivariant_network(local_ray):
    out = held_out_outcome("asen_multitask")
    # tuning seeds 0-2: mean accuracy 0.956 (shared ASEN) vs 0.567 (every pair its own colour); held-out seeds 2-3:
    # 0.950 vs 0.567, equivariance error 7.9e-6, 23 outside the group
    assert mean(out, "shared", "mean_acc") >= mean(out, "non_equivariant", "mean_acc") + 0.2
    assert mean(out, "shared", "equiv_error") < 1e-3 < 1.0 < mean(out, "shared", "break_error")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="palindrome, held-out seeds 2-3: the shared ASEN reaches 0.909 +- 0.008, the "
                                       "separate one 0.972 +- 0.002 at 200 sequences per task (tuning seeds 0-2: "
                                       "0.911 +- 0.058 vs 0.962 +- 0.011; REPRODUCTION.md)")
def test_shared_asen_matches_separately_trained_ones_on_every_task(local_ray):
    out = held_out_outcome("asen_multitask")
    for task in ("cyclic_sum", "palindrome", "intersect"):
        assert mean(out, "shared", f"acc_{task}") >= mean(out, f"separate_{task}", f"acc_{task}") - 0.01, task
