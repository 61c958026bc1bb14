"""The spectral graph family's math: Laplacian eigenpairs, the invariances of each positional encoding, SPE's
spectral tensor by hand, the data sets, the 1-WL tool and config errors. Small enough to compute by hand."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch, Data

from shared.config import ConfigError
from shared.graphs import generated
from shared.graphs.encodings import SPE, BasisNet, LapPE, SignNet
from shared.graphs.generated import cycle_counts, nx_to_data, repeated_eigenvalue_graphs
from shared.graphs.spectral import (
    add_eigen_features,
    batched_eigen_features,
    dense_adjacency,
    eigen_features,
    eigenspace_assignment,
    eigenspaces,
    laplacian_eigh,
)
from shared.graphs.wl import known_pairs, wl_colours, wl_distinguishes
from shared.registry import get_method

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path / "cache"))


def graph(g: nx.Graph, k: int) -> Data:
    data = nx_to_data(g)
    add_eigen_features([data], k, cache=False)
    return data


def one(data: Data) -> Batch:
    return Batch.from_data_list([data])


def rotate_eigenspaces(data: Data, seed: int = 0) -> Data:
    """The same graph with a random orthogonal change of basis inside every repeated eigenspace, and random signs."""
    gen = torch.Generator().manual_seed(seed)
    out = data.clone()
    v = out.eigvecs.clone()
    for group in eigenspaces(out.eigvals[0], out.eig_mask[0]):
        q, _ = torch.linalg.qr(torch.randn(len(group), len(group), generator=gen))
        v[:, group] = v[:, group] @ q
    out.eigvecs = v
    return out


def permute(data: Data, perm: torch.Tensor) -> Data:
    """Relabel node i as perm[i]: the eigenvectors' rows move with their nodes."""
    out = data.clone()
    out.edge_index = perm[data.edge_index]
    inverse = torch.argsort(perm)
    out.eigvecs = data.eigvecs[inverse]
    out.x = data.x[inverse]
    return out


# ---- eigenpairs ----------------------------------------------------------------------------------------------

def test_path3_normalized_laplacian_spectrum_by_hand():
    # P3: L = I - D^-1/2 A D^-1/2 has eigenvalues 0, 1, 2; the 0-eigenvector is D^1/2 1 normalised.
    evals, evecs = laplacian_eigh(dense_adjacency(nx_to_data(nx.path_graph(3)).edge_index, 3))
    assert torch.allclose(evals, torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), atol=1e-12)
    expected = torch.tensor([1.0, math.sqrt(2), 1.0], dtype=torch.float64) / 2
    assert torch.allclose(evecs[:, 0].abs(), expected, atol=1e-12)


def test_zero_eigenvalue_counts_components_including_isolated_nodes():
    g = nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3))
    g.add_node(6)  # isolated
    evals, _ = laplacian_eigh(dense_adjacency(nx_to_data(g).edge_index, 7))
    assert int((evals.abs() < 1e-9).sum()) == 3


def test_padding_mask_and_dropping_the_trivial_pair():
    data = nx_to_data(nx.path_graph(3))
    feats = eigen_features(data, k=5)
    assert feats["eigvecs"].shape == (3, 5) and feats["eigvals"].shape == (1, 5)
    assert feats["eig_mask"].tolist() == [[True, True, True, False, False]]
    assert feats["eigvecs"][:, 3:].abs().sum() == 0
    dropped = eigen_features(data, k=5, keep_trivial=False)
    assert torch.allclose(dropped["eigvals"][0, :2], torch.tensor([1.0, 2.0]), atol=1e-6)
    assert dropped["eig_mask"][0].sum() == 2


def test_batched_and_cached_eigenpairs_match_the_reference(tmp_path):
    graphs = [nx_to_data(nx.gnm_random_graph(8, 10, seed=s)) for s in range(6)] + [nx_to_data(nx.cycle_graph(5))]
    graphs.append(nx_to_data(nx.empty_graph(8)))  # no edges at all: every eigenvalue 0
    first = [g.clone() for g in graphs]
    add_eigen_features(first, k=6)
    for g, batched in zip(graphs, first, strict=True):
        ref = eigen_features(g, k=6)
        assert torch.allclose(batched.eigvals, ref["eigvals"], atol=1e-6)
        assert torch.equal(batched.eig_mask, ref["eig_mask"])
        # eigenvectors are defined up to sign/basis: compare the projector V V^T
        assert torch.allclose(batched.eigvecs @ batched.eigvecs.T, ref["eigvecs"] @ ref["eigvecs"].T, atol=1e-5)
    second = [g.clone() for g in graphs]
    add_eigen_features(second, k=6)  # from the cache
    assert all(torch.equal(a.eigvecs, b.eigvecs) for a, b in zip(first, second, strict=True))
    assert len(list((tmp_path / "cache" / "eigen").glob("*.pt"))) == 1
    feats = batched_eigen_features(graphs, k=6, keep_trivial=False)
    assert feats["eigvecs"].shape == (sum(g.num_nodes for g in graphs), 6) and feats["eig_mask"][-2].sum() == 4


def test_eigenspaces_of_a_cycle_pair_up():
    data = graph(nx.cycle_graph(12), k=12)
    sizes = [len(g) for g in eigenspaces(data.eigvals[0], data.eig_mask[0])]
    assert sizes == [1, 2, 2, 2, 2, 2, 1]
    assign = eigenspace_assignment(data.eigvals, data.eig_mask)
    assert assign.sum(-1)[0, :7].tolist() == sizes and assign.sum() == 12


# ---- invariances ----------------------------------------------------------------------------------------------

ENCODERS = {
    "signnet": lambda k: SignNet(k, 8),
    "basisnet": lambda k: BasisNet(k, 8),
    "spe": lambda k: SPE(k, 8),
}


@pytest.mark.parametrize("name", list(ENCODERS))
def test_sign_invariance(name):
    torch.manual_seed(0)
    data = graph(nx.gnm_random_graph(9, 14, seed=1), k=9)
    flipped = data.clone()
    flipped.eigvecs = data.eigvecs * (torch.randint(0, 2, (9,)) * 2 - 1)
    model = ENCODERS[name](9).eval()
    with torch.no_grad():
        assert torch.allclose(model(one(data)), model(one(flipped)), atol=1e-5)


@pytest.mark.parametrize("name", ["basisnet", "spe"])
def test_basis_invariance_inside_repeated_eigenspaces(name):
    torch.manual_seed(0)
    data = graph(nx.cycle_graph(12), k=12)  # five 2-dimensional eigenspaces
    model = ENCODERS[name](12).eval()
    with torch.no_grad():
        assert torch.allclose(model(one(data)), model(one(rotate_eigenspaces(data))), atol=1e-5)


def test_signnet_is_not_basis_invariant_nor_lappe_sign_invariant():
    # the reason BasisNet and SPE exist: SignNet only handles sign ambiguity, raw eigenvectors neither
    torch.manual_seed(0)
    data = graph(nx.cycle_graph(12), k=12)
    with torch.no_grad():
        signnet = SignNet(12, 8).eval()
        assert not torch.allclose(signnet(one(data)), signnet(one(rotate_eigenspaces(data))), atol=1e-5)
        lappe = LapPE(12, 8, sign="none").eval()
        flipped = data.clone()
        flipped.eigvecs = -data.eigvecs
        assert not torch.allclose(lappe(one(data)), lappe(one(flipped)), atol=1e-5)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_permutation_equivariance(name):
    torch.manual_seed(0)
    data = graph(nx.gnm_random_graph(9, 14, seed=2), k=9)
    perm = torch.randperm(9)
    model = ENCODERS[name](9).eval()
    with torch.no_grad():
        out, out_perm = model(one(data)), model(one(permute(data, perm)))
    assert torch.allclose(out_perm[perm], out, atol=1e-5)


def test_lappe_flips_signs_only_while_training():
    torch.manual_seed(0)
    data = one(graph(nx.path_graph(5), k=4))
    model = LapPE(4, 8, sign="flip")
    outs = {tuple(model(data).detach().round(decimals=5).flatten().tolist()) for _ in range(8)}
    assert len(outs) > 1
    model.eval()
    assert torch.equal(model(data), model(data))


def test_spe_spectral_tensor_by_hand():
    # one edge: L = [[1, -1], [-1, 1]], eigenpairs (0, [1, 1]/sqrt2) and (2, [1, -1]/sqrt2), so
    # W_l = phi_l(0) [[.5, .5], [.5, .5]] + phi_l(2) [[.5, -.5], [-.5, .5]].
    torch.manual_seed(0)
    data = graph(nx.path_graph(2), k=2)
    spe = SPE(2, 4, n_psis=3)
    w, _ = spe.spectral_tensor(one(data))
    phi = spe.psis(torch.tensor([[0.0], [2.0]]))  # (2 eigenvalues, 3 functions)
    same = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    opposite = torch.tensor([[0.5, -0.5], [-0.5, 0.5]])
    expected = same[..., None] * phi[0] + opposite[..., None] * phi[1]
    assert torch.allclose(w[0], expected, atol=1e-5)


# ---- data -----------------------------------------------------------------------------------------------------

def test_cycle_counts_by_hand():
    assert cycle_counts(nx.complete_graph(4)) == [4, 3, 0, 0]  # K4: 4 triangles, 3 four-cycles
    assert cycle_counts(nx.cycle_graph(6)) == [0, 0, 0, 1]
    assert cycle_counts(nx.path_graph(6)) == [0, 0, 0, 0]


def test_generated_sets_are_deterministic_per_seed():
    a = generated.cycle_count_graphs(5, seed=3)
    b = generated.cycle_count_graphs(5, seed=3)
    c = generated.cycle_count_graphs(5, seed=4)
    assert all(torch.equal(x.edge_index, y.edge_index) and torch.equal(x.y, y.y) for x, y in zip(a, b, strict=True))
    assert any(x.num_nodes != y.num_nodes or not torch.equal(x.edge_index, y.edge_index)
               for x, y in zip(a, c, strict=True))


def test_grid_filter_targets_apply_the_spectral_filter():
    signals = generated.grid_filter_signals(side=5, n_signals=2, filter_name="low", seed=0)
    evals, evecs = laplacian_eigh(dense_adjacency(signals[0].edge_index, 25))
    x = signals[0].x[:, 0].double()
    expected = evecs @ (torch.exp(-10 * evals**2) * (evecs.T @ x))
    assert torch.allclose(signals[0].y[:, 0].double(), expected, atol=1e-5)
    # the low-pass filter keeps the constant signal's component: the mean survives
    assert signals[0].y.shape == (25, 1)


def test_zinc_like_molecules_are_zinc_format_and_deterministic():
    from shared.graphs.molecules import NUM_ATOM_TYPES, zinc_like_graphs

    a, b = zinc_like_graphs(20, seed=0), zinc_like_graphs(20, seed=0)
    assert len(a) == 20 and all(torch.equal(x.x, y.x) and torch.equal(x.y, y.y) for x, y in zip(a, b, strict=True))
    for g in a:
        assert g.x.dtype == torch.long and int(g.x.max()) < NUM_ATOM_TYPES
        assert set(g.edge_attr.unique().tolist()) <= {1, 2, 3}  # kekulised: single, double, triple
        assert g.edge_index.shape[1] == g.edge_attr.shape[0] and g.num_nodes <= 40
    y = torch.cat([g.y for g in a])
    assert -10 < float(y.mean()) < 5  # penalized logP of drug-like molecules


def test_penalized_logp_subtracts_the_large_ring_penalty():
    from rdkit import Chem
    from rdkit.Chem import Crippen

    from shared.graphs.molecules import _sascorer, penalized_logp

    mol = Chem.MolFromSmiles("C1CCCCCCC1")  # cyclooctane: ring of 8, penalty 2
    expected = Crippen.MolLogP(mol) - _sascorer().calculateScore(mol) - 2
    assert penalized_logp(mol) == pytest.approx(expected)


def test_config_errors_name_the_key(tmp_path):
    spec = get_method("spe")
    with pytest.raises(ConfigError, match="data.name"):
        spec.load_config(["data.name=qm9"])
    with pytest.raises(ConfigError, match="data.root"):
        spec.load_config(["data.name=zinc"])
    with pytest.raises(ConfigError, match=str(tmp_path)):
        spec.load_config(["data.name=zinc", f"data.root={tmp_path}"])
    with pytest.raises(ConfigError, match="batch_size"):
        spec.load_config(["batch_size=500", "data.n_train=100"])
    with pytest.raises(ConfigError, match="n_psis"):
        spec.load_config(["n_psis=0"])


def test_graph_data_checks_need_no_torch(tmp_path):
    """A sweep's driver checks every graph data set (names, files, sizes) and the link data section from torch-free
    code (shared/graphs/dataconfig.py): the refusals come without torch, PyG or networkx."""
    code = (
        "import sys\n"
        "from shared.config import ConfigError\n"
        "from shared.registry import get_method\n"
        f"for bad in (['data.name=zinc'], ['data.name=tu', 'data.root={tmp_path}', 'data.tu_name=TOY'],\n"
        f"            ['data.name=pyg_file', 'data.path={tmp_path / 'none.pt'}'],\n"
        "            ['data.name=cycles', 'data.n_min=30']):\n"
        "    try:\n        get_method('lappe').load_config(bad)\n"
        "    except (ConfigError, FileNotFoundError) as err:\n        print('refused', str(err)[:40])\n"
        "get_method('lappe').load_config(['data.name=grid_filter', 'data.filter=comb'])\n"
        "get_method('sign_equivariant').load_config(['data.base=ba'])\n"
        "print([m for m in ('torch', 'torch_geometric', 'networkx') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = out.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["refused"] * 4 and lines[-1] == "[]", out.stdout + out.stderr


def test_grid_filter_names_are_the_filters():
    """The torch-free config lists grid_filter's responses by name; they are generated.FILTERS's."""
    from shared.graphs.dataconfig import GRID_FILTERS

    assert GRID_FILTERS == tuple(generated.FILTERS)


# ---- 1-WL -----------------------------------------------------------------------------------------------------

def test_wl_verdicts_on_known_pairs():
    for name, (a, b, verdict) in known_pairs().items():
        assert wl_distinguishes(a, b) == verdict, name


def test_wl_colours_split_a_path_by_distance_to_the_ends():
    colours = wl_colours([nx_to_data(nx.path_graph(5))])[0]
    assert colours[0] == colours[4] and colours[1] == colours[3]
    assert len({colours[0], colours[1], colours[2]}) == 3


def test_wl_tool_agrees_with_theory_on_random_gins():
    spec = get_method("wl_test")
    cfg = spec.load_config(["random_pairs=5"])
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()
    out = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert out["wl_agreement"] == 1.0
    assert out["gnn_beyond_wl"] == 0.0  # no MPNN separates a pair that 1-WL cannot
    # the three named 1-WL-equivalent pairs (random pairs are all separated): SPE separates two triangles vs the
    # hexagon and decalin vs bicyclopentyl, not the co-spectral rook's graph vs Shrikhande
    assert out["wl_distinguished"] < 1.0
    assert out["spe_separated_wl_equivalent"] == pytest.approx(2 / 3)


def test_repeated_eigenvalue_graphs_have_repeated_eigenvalues():
    for name, data in repeated_eigenvalue_graphs().items():
        add_eigen_features([data], 16, cache=False)
        sizes = [len(g) for g in eigenspaces(data.eigvals[0], data.eig_mask[0])]
        assert max(sizes) >= 2, name


# ---- sign-equivariant link prediction --------------------------------------------------------------------------

def test_sign_dss_is_sign_equivariant_and_the_link_score_invariant():
    from shared.methods.graph.sign_equivariant import LinkEncoder, SignDSS

    torch.manual_seed(0)
    data = graph(nx.gnm_random_graph(10, 18, seed=3), k=6)
    net = SignDSS(6, 16, 3)
    signs = torch.tensor([1.0, -1.0, -1.0, 1.0, -1.0, 1.0])
    with torch.no_grad():
        out, out_flipped = net(data.eigvecs, data.edge_index), net(data.eigvecs * signs, data.edge_index)
    assert torch.allclose(out_flipped, out * signs, atol=1e-6)
    pairs = torch.tensor([[0, 1, 2], [3, 4, 5]])
    assert torch.allclose(LinkEncoder.score(out, pairs), LinkEncoder.score(out_flipped, pairs), atol=1e-5)


def test_automorphic_nodes_get_equal_invariant_scores_but_not_equivariant_ones():
    # P7's reversal swaps nodes 0 and 6; its spectrum is simple, so each eigenvector maps to +-itself. A sign-
    # invariant encoder then gives 0 and 6 the same features: (0, 1), a link, scores like (6, 1), a non-link.
    from shared.methods.graph.sign_equivariant import LinkEncoder

    torch.manual_seed(0)
    data = nx_to_data(nx.path_graph(7))
    feats = eigen_features(data, k=6, keep_trivial=False)
    pairs = torch.tensor([[0, 6], [1, 1]])
    with torch.no_grad():
        invariant = LinkEncoder("signnet", 6, 16, 2)
        scores = LinkEncoder.score(invariant(feats["eigvecs"], data.edge_index), pairs)
        assert scores[0] == pytest.approx(float(scores[1]), abs=1e-5)
        equivariant = LinkEncoder("sign_equivariant", 6, 16, 2)
        scores = LinkEncoder.score(equivariant(feats["eigvecs"], data.edge_index), pairs)
        assert abs(float(scores[0] - scores[1])) > 1e-3


def test_symmetric_link_graph_has_twins_and_disjoint_splits():
    from shared.graphs.links import LinkDataConfig, load_link_task

    task = load_link_task(LinkDataConfig(nodes=40, p=0.2, extra_edges=0, pe_k=8))
    assert task.num_nodes == 80 and task.eigvecs.shape == (80, 8)
    train = set(map(tuple, task.train_edges.T.tolist()))
    for u, v in task.test_pos.T.tolist():
        assert (u, v) not in train and (v, u) not in train
    # without extra edges the copies are exact twins: the twin of an edge is an edge of the whole graph
    every = set(map(tuple, torch.cat([task.train_edges, task.val_pos, task.test_pos], 1).T.tolist()))
    every |= {(v, u) for u, v in every}
    u, v = task.test_pos[:, 0]
    assert (int(task.twin(u)), int(task.twin(v))) in every


# ---- ASEN: orbital edge colours ------------------------------------------------------------------------------

def test_orbitals_by_hand():
    from shared.graphs.symmetry import named_group, orbitals

    # C_4 on pairs: the colour of (i, j) is (j - i) mod 4, so 4 orbitals
    cyc = orbitals(4, named_group("cyclic", 4))
    assert len(cyc.unique()) == 4
    assert all(cyc[i, j] == cyc[0, (j - i) % 4] for i in range(4) for j in range(4))
    # S_2 x S_2 on {0, 1} | {2, 3}: diagonal of each block, off-diagonal of each block, and the two cross blocks
    assert len(orbitals(4, named_group("block2", 4)).unique()) == 6
    # the trivial group: every ordered pair alone
    assert len(orbitals(4, named_group("trivial", 4)).unique()) == 16


def test_alternating_group_gets_its_two_closure_the_symmetric_group():
    # A_4 is 2-transitive on 4 points: its orbitals are S_4's (diagonal, off-diagonal), so the colouring is
    # preserved by a transposition, which is not in A_4: the network is S_4-equivariant, more than asked
    from shared.graphs.symmetry import named_group, orbitals, preserves, transposition

    alt = orbitals(4, named_group("alternating", 4))
    assert torch.equal(alt, orbitals(4, named_group("symmetric", 4)))
    assert preserves(alt, transposition(4, 0, 1))


@pytest.mark.parametrize("group", ["cyclic", "block2", "reflection"])
def test_asen_is_equivariant_to_its_group_and_not_beyond(group):
    from shared.graphs.symmetry import named_group, orbitals, preserves, transposition
    from shared.methods.graph.asen import ASENet, equivariance_error

    torch.manual_seed(0)
    colours = orbitals(8, named_group(group, 8))
    model = ASENet([colours], [5], vocab=7, hidden=16, heads=2, layers=2).double().eval()
    x = torch.randint(0, 7, (4, 8))
    for g in named_group(group, 8):
        assert equivariance_error(model, 0, g, x) < 1e-10
    outside = next(transposition(8, a, b) for a in range(8) for b in range(a + 1, 8)
                   if not preserves(colours, transposition(8, a, b)))
    assert equivariance_error(model, 0, outside, x) > 1e-3


def test_asen_task_labels_by_hand():
    from shared.methods.graph.asen import task_labels

    x = torch.tensor([[1, 2, 3, 4, 4, 3, 2, 0]])
    assert task_labels("palindrome", x, 7).tolist() == [[0, 1, 1, 1, 1, 1, 1, 0]]
    assert task_labels("intersect", x, 7).tolist() == [[0, 1, 1, 1, 1, 1, 1, 0]]
    assert task_labels("cyclic_sum", x, 7)[0, 0] == (1 + 2 * 2) % 7 and task_labels("cyclic_sum", x, 7)[0, 7] == 2
