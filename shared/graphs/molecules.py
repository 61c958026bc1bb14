"""Molecular graphs in the ZINC benchmark's format, built offline.

``zinc_like``: drug-like molecules (ZINC Clean Leads, the SMILES that the ``molsets`` package ships) featurised with
RDKit as the ZINC-12k benchmark is: one node per heavy atom typed by the benchmark's 28-entry atom dictionary
(element, explicit hydrogens, charge), one edge per bond in both directions typed single/double/triple (kekulised),
and the benchmark's target, penalized logP = Crippen logP - synthetic accessibility - max(largest ring - 6, 0).
Same molecule source and target definition as ZINC-12k; not its split.

``zinc``: the real ZINC-12k subset read by PyG from a local root (it only downloads when files are missing, so a
missing root is an error here that says what to fetch).
"""
from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

# torch-free (dataconfig.py), so that the data-set registry checks zinc_like and zinc without torch
from shared.graphs.dataconfig import MoleculeSourceError, check_zinc_root, moses_smiles_file

# ZINC-12k's atom dictionary (benchmarking-gnns `atom_dict`), in its index order. Index 28 = any other atom.
ZINC_ATOMS = ("C", "O", "N", "F", "C H1", "S", "Cl", "O -", "N H1 +", "Br", "N H3 +", "N H2 +", "N +", "N -", "S -",
              "I", "P", "O H1 +", "N H1 -", "O +", "S +", "P H1", "P H2", "C H2 -", "P +", "S H1 +", "C H1 -", "P H1 +")
ATOM_INDEX = {name: i for i, name in enumerate(ZINC_ATOMS)}
NUM_ATOM_TYPES = len(ZINC_ATOMS) + 1
NUM_BOND_TYPES = 4  # 0 = none (unused for real bonds), 1 single, 2 double, 3 triple: as in ZINC-12k


def read_smiles(path: Path) -> list[str]:
    with gzip.open(path, "rt") as f:
        lines = f.read().split()
    return lines[1:] if lines and lines[0].upper() == "SMILES" else lines


def _sascorer():
    """RDKit's Contrib synthetic-accessibility scorer (Ertl & Schuffenhauer), shipped with the rdkit wheel."""
    from rdkit.Chem import RDConfig

    folder = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if folder not in sys.path:
        sys.path.append(folder)
    import sascorer  # noqa: PLC0415 (RDKit ships it as a script folder, not a package)

    return sascorer


def penalized_logp(mol) -> float:
    """ZINC-12k's target: logP - SA score - max(largest ring size - 6, 0)."""
    from rdkit.Chem import Crippen

    rings = [len(r) for r in mol.GetRingInfo().AtomRings()]
    ring_penalty = max(max(rings, default=0) - 6, 0)
    return Crippen.MolLogP(mol) - _sascorer().calculateScore(mol) - ring_penalty


def atom_type(atom) -> int:
    """The ZINC dictionary index of an atom: element, explicit hydrogens (bracket atoms) and charge sign."""
    name = atom.GetSymbol()
    hydrogens = atom.GetNumExplicitHs()
    if hydrogens:
        name += f" H{hydrogens}"
    charge = atom.GetFormalCharge()
    if charge:
        name += " +" if charge > 0 else " -"
    return ATOM_INDEX.get(name, ATOM_INDEX.get(atom.GetSymbol(), len(ZINC_ATOMS)))


def smiles_to_graph(smiles: str, with_target: bool = True) -> Data | None:
    """One molecule as a ZINC-format graph with y = penalized logP (``with_target``: its SA score is the slow part);
    None if RDKit cannot parse it."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    target = penalized_logp(mol) if with_target else float("nan")
    Chem.Kekulize(mol, clearAromaticFlags=True)
    x = torch.tensor([atom_type(a) for a in mol.GetAtoms()], dtype=torch.long)
    bond_code = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3}
    src, dst, kind = [], [], []
    for bond in mol.GetBonds():
        i, j, t = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), bond_code.get(bond.GetBondType(), 1)
        src += [i, j]
        dst += [j, i]
        kind += [t, t]
    return Data(x=x, edge_index=torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
                edge_attr=torch.tensor(kind, dtype=torch.long), y=torch.tensor([[target]], dtype=torch.float32),
                num_nodes=x.shape[0])


def zinc_like_graphs(n: int, seed: int) -> list[Data]:
    """n molecules drawn by seed from the MOSES test SMILES (176k), featurised; unparsable ones are skipped
    and replaced by the next draws, so the count is exact."""
    try:
        import rdkit  # noqa: F401
    except ImportError as err:
        raise MoleculeSourceError("zinc_like needs RDKit: pip install rdkit==2026.9.1 (scripts/setup.sh does)") from err
    smiles = read_smiles(moses_smiles_file("test"))
    order = np.random.default_rng(seed).permutation(len(smiles))
    out: list[Data] = []
    for i in order:
        graph = smiles_to_graph(smiles[int(i)])
        if graph is not None:
            out.append(graph)
            if len(out) == n:
                break
    return out


def zinc_graphs(root: str, split: str) -> list[Data]:
    """The ZINC-12k split from a local root, as graphs with x (n,) atom types, edge_attr (E,), y (1, 1)."""
    from torch_geometric.datasets import ZINC

    dataset = ZINC(str(check_zinc_root(root)), subset=True, split=split)
    out = []
    for g in dataset:
        out.append(Data(x=g.x.view(-1).long(), edge_index=g.edge_index, edge_attr=g.edge_attr.view(-1).long(),
                        y=g.y.view(1, 1).float(), num_nodes=g.num_nodes))
    return out
