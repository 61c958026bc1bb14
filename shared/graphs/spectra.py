"""Tandem mass spectra for GrAFF-MS: formulas and their masses, the deterministic single-bond-cleavage spectra,
peak annotation by sub-formula, the greedy formula vocabulary, the peak-marginal cross-entropy, matchms's greedy
cosine written out, and a reader of the MSP files of the public CFM-ID-predicted spectra (murphy17/graff-ms,
data/cfm-id/); the GNPS input SMILES (data/gnps/gnps.tsv) are read by ``shared/graphs/gnps.py`` (torch-free).

A formula is a vector of element counts over :data:`ELEMENTS`. Ions are [M+H]+: an ion formula includes the added
proton's hydrogen and its m/z is the formula's monoisotopic mass minus one electron. A peak's annotations are the
sub-formulas f of the precursor ion formula P whose m/z lies within ``ppm`` of it, each read both as a *product*
(f) and as a *loss* (P - f), as GrAFF-MS's vocabulary counts them.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ELEMENTS = ("C", "H", "N", "O", "S", "F", "Cl", "Br", "I", "P")
MONOISOTOPIC = np.array([12.0, 1.00782503207, 14.0030740048, 15.99491461956, 31.97207100, 18.99840322,
                         34.96885268, 78.9183371, 126.904473, 30.97376163])
ELECTRON = 0.00054857990946
NEUTRON = 1.00866491595  # isotope shifts of GrAFF-MS: 0, 1, 2 neutrons
ISOTOPES = 3
UNANNOTATED_LOG = -10.0  # log eps of a peak no candidate explains


def formula_of(atom_counts: Counter) -> np.ndarray:
    return np.array([atom_counts.get(e, 0) for e in ELEMENTS], dtype=np.int64)


def formula_string(formula: np.ndarray) -> str:
    return "".join(f"{e}{n if n > 1 else ''}" for e, n in zip(ELEMENTS, formula, strict=True) if n > 0)


def ion_mz(formulas: np.ndarray) -> np.ndarray:
    """m/z of singly charged cations with these formulas (rows)."""
    return formulas @ MONOISOTOPIC - ELECTRON


def molecule_formula(mol) -> np.ndarray:
    counts = Counter(atom.GetSymbol() for atom in mol.GetAtoms())
    counts["H"] += sum(atom.GetTotalNumHs() for atom in mol.GetAtoms())
    return formula_of(counts)


@dataclass
class Spectrum:
    smiles: str
    precursor: np.ndarray  # the precursor ion's formula ([M+H]+)
    mz: np.ndarray  # sorted peak m/z
    intensity: np.ndarray  # summing to 1


def cleavage_spectrum(smiles: str) -> Spectrum | None:
    """The synthetic default: every acyclic single bond between heavy atoms broken once; each side becomes an ion
    [fragment + H]+ with weight (its heavy atoms)^2, doubled when the broken bond touches a heteroatom; the
    precursor [M+H]+ has weight max / 2; M+1 and M+2 isotope peaks (+1, +2 neutrons) at 1.1% x C and
    (1.1% x C)^2 / 2 of their monoisotopic peak. Equal m/z are merged. None if RDKit cannot parse the SMILES or the
    molecule has elements outside :data:`ELEMENTS`."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None or any(a.GetSymbol() not in ELEMENTS for a in mol.GetAtoms()) or mol.GetNumAtoms() < 2:
        return None
    hydrogen = formula_of(Counter(H=1))
    precursor = molecule_formula(mol) + hydrogen
    peaks: Counter = Counter()
    for bond in mol.GetBonds():
        if bond.IsInRing() or bond.GetBondType() != Chem.BondType.SINGLE:
            continue
        broken = Chem.FragmentOnBonds(mol, [bond.GetIdx()], addDummies=False)
        hetero = bond.GetBeginAtom().GetSymbol() != "C" or bond.GetEndAtom().GetSymbol() != "C"
        for atoms in Chem.GetMolFrags(broken, asMols=False, sanitizeFrags=False):
            counts = Counter(mol.GetAtomWithIdx(i).GetSymbol() for i in atoms)
            counts["H"] += sum(mol.GetAtomWithIdx(i).GetTotalNumHs() for i in atoms) + 1
            peaks[tuple(formula_of(counts))] += len(atoms) ** 2 * (2.0 if hetero else 1.0)
    peaks[tuple(precursor)] += max(peaks.values(), default=1.0) / 2
    mz, weight = [], []
    for formula, w in peaks.items():
        carbon = 0.011 * formula[0]
        for shift, share in enumerate((1.0, carbon, carbon**2 / 2)):
            mz.append(ion_mz(np.array(formula)) + shift * NEUTRON)
            weight.append(w * share)
    return make_spectrum(smiles, precursor, np.array(mz), np.array(weight))


def make_spectrum(smiles: str, precursor: np.ndarray, mz: np.ndarray, weight: np.ndarray) -> Spectrum:
    order = np.argsort(mz)
    mz, weight = mz[order], weight[order]
    keep = np.concatenate([[True], np.diff(mz) > 1e-6])  # merge equal m/z
    merged = np.add.reduceat(weight, np.flatnonzero(keep))
    return Spectrum(smiles, precursor, mz[keep], merged / merged.sum())


def sub_formulas(precursor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every non-empty sub-formula of ``precursor`` (rows) and its ion m/z, sorted by m/z."""
    grids = np.meshgrid(*[np.arange(n + 1) for n in precursor], indexing="ij")
    formulas = np.stack([g.ravel() for g in grids], axis=1)[1:]
    mz = ion_mz(formulas)
    order = np.argsort(mz)
    return formulas[order], mz[order]


def annotate(spectrum: Spectrum, ppm: float) -> list[np.ndarray]:
    """Per peak, the sub-formulas of the precursor whose monoisotopic ion m/z is within ``ppm`` of the peak."""
    formulas, mz = sub_formulas(spectrum.precursor)
    out = []
    for peak in spectrum.mz:
        tol = peak * ppm * 1e-6
        lo, hi = np.searchsorted(mz, peak - tol), np.searchsorted(mz, peak + tol, side="right")
        out.append(formulas[lo:hi])
    return out


def build_vocabulary(spectra: list[Spectrum], size: int, ppm: float) -> list[tuple[str, tuple[int, ...]]]:
    """GrAFF-MS's greedy vocabulary: each peak's intensity split equally among its annotations, products f and losses
    P - f; intensities summed per (kind, formula); the ``size`` largest, largest first (ties by key)."""
    score: Counter = Counter()
    for spectrum in spectra:
        for intensity, matches in zip(spectrum.intensity, annotate(spectrum, ppm), strict=True):
            if len(matches) == 0:
                continue
            share = intensity / (2 * len(matches))
            for f in matches:
                score[("product", tuple(int(v) for v in f))] += share
                score[("loss", tuple(int(v) for v in spectrum.precursor - f))] += share
    ranked = sorted(score.items(), key=lambda item: (-item[1], item[0]))
    return [key for key, _ in ranked[:size]]


@dataclass
class Candidates:
    """What a molecule's prediction can put mass on: (vocabulary entry, isotope) pairs, their m/z, validity, the
    log 2 correction, and which observed peaks each explains."""

    valid: torch.Tensor  # (K, ISOTOPES) bool
    mz: np.ndarray  # (K, ISOTOPES)
    correction: torch.Tensor  # (K, ISOTOPES): -log 2 where a formula is in the vocabulary as product and as loss
    match_candidate: torch.Tensor  # (pairs,) flat candidate index k * ISOTOPES + iso
    match_peak: torch.Tensor  # (pairs,) observed peak index
    intensity: torch.Tensor  # (peaks,)


def candidates(spectrum: Spectrum, vocabulary: list[tuple[str, tuple[int, ...]]], ppm: float) -> Candidates:
    entries = np.array([f for _, f in vocabulary], dtype=np.int64).reshape(len(vocabulary), len(ELEMENTS))
    is_loss = np.array([kind == "loss" for kind, _ in vocabulary])
    product = np.where(is_loss[:, None], spectrum.precursor - entries, entries)
    ok = (product >= 0).all(axis=1) & (product.sum(axis=1) > 0)
    keys = [tuple(p) for p in product]
    kinds = {}
    for key, loss, good in zip(keys, is_loss, ok, strict=True):
        if good:
            kinds.setdefault(key, set()).add(loss)
    both = np.array([good and len(kinds[key]) == 2 for key, good in zip(keys, ok, strict=True)])
    mz = ion_mz(product)[:, None] + NEUTRON * np.arange(ISOTOPES)[None, :]
    valid = np.repeat(ok[:, None], ISOTOPES, axis=1)
    cand, peak = [], []
    flat = mz.ravel()
    for j, observed in enumerate(spectrum.mz):
        hits = np.flatnonzero(valid.ravel() & (np.abs(flat - observed) <= observed * ppm * 1e-6))
        cand.extend(hits.tolist())
        peak.extend([j] * len(hits))
    correction = np.where(both[:, None], -math.log(2.0), 0.0) * np.ones((1, ISOTOPES))
    return Candidates(torch.from_numpy(valid), mz, torch.tensor(correction, dtype=torch.float32),
                      torch.tensor(cand, dtype=torch.long), torch.tensor(peak, dtype=torch.long),
                      torch.tensor(spectrum.intensity, dtype=torch.float32))


def log_distribution(logits: torch.Tensor, c: Candidates) -> torch.Tensor:
    """log softmax over the valid (entry, isotope) pairs, flattened; invalid pairs at -inf."""
    masked = torch.where(c.valid, logits + c.correction, torch.tensor(-torch.inf))
    return torch.log_softmax(masked.reshape(-1), dim=0)


def peak_marginal_cross_entropy(logits: torch.Tensor, c: Candidates) -> torch.Tensor:
    """-sum_peaks intensity x log(sum of the predicted mass of the candidates that annotate the peak); a peak no
    candidate annotates contributes log eps = -10."""
    log_p = log_distribution(logits, c)[c.match_candidate]
    peaks = len(c.intensity)
    # logsumexp per peak by scatter: the per-peak maximum is a constant shift (its gradient cancels), so detached
    shift = torch.full((peaks,), -torch.inf).scatter_reduce(0, c.match_peak, log_p.detach(), "amax")
    total = torch.zeros(peaks).index_add(0, c.match_peak, torch.exp(log_p - shift[c.match_peak]))
    explained = total > 0
    marginal = torch.where(explained, torch.log(total.clamp(min=1e-300)) + torch.where(explained, shift, 0.0),
                           torch.tensor(UNANNOTATED_LOG))
    return -(c.intensity * marginal).sum()


def predicted_spectrum(logits: torch.Tensor, c: Candidates, top: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The ``top`` most probable m/z of the prediction (equal m/z merged)."""
    p = log_distribution(logits, c).exp().detach().numpy()
    keep = np.flatnonzero(p > 0)
    mz, weight = c.mz.ravel()[keep], p[keep]
    order = np.argsort(mz)
    mz, weight = mz[order], weight[order]
    distinct = np.concatenate([[True], np.diff(mz) > 1e-6])
    merged = np.add.reduceat(weight, np.flatnonzero(distinct))
    mz = mz[distinct]
    best = np.argsort(-merged)[:top]
    return mz[best], merged[best]


def cosine_greedy(mz_a: np.ndarray, int_a: np.ndarray, mz_b: np.ndarray, int_b: np.ndarray,
                  tolerance: float = 0.01) -> float:
    """matchms's CosineGreedy (m/z power 0, intensity power 1): peak pairs within ``tolerance`` Da (inclusive), taken
    greedily by the product of their intensities (ties: the later pair first, as matchms's reversed stable sort), each
    peak at most once; sum of the products over the two norms. The evaluator calls matchms itself
    (shared/methods/graph/graff_ms.py); this written-out form is its by-hand check (tests/test_graff_ms.py)."""
    pairs = [(int_a[i] * int_b[j], i, j) for i in range(len(mz_a))
             for j in np.flatnonzero(np.abs(mz_b - mz_a[i]) <= tolerance)]
    used_a, used_b, score = set(), set(), 0.0
    for product, i, j in sorted(pairs, reverse=True):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            score += product
    norm = math.sqrt(float(np.square(int_a).sum()) * float(np.square(int_b).sum()))
    return score / norm if norm > 0 else 0.0


def read_msp(path: Path) -> list[Spectrum]:
    """[M+H]+ records of an MSP file in the format of murphy17/graff-ms's data/cfm-id/*.msp ("Key: value" lines, then
    "m/z intensity" lines, a blank line between records); the precursor from the record's Formula plus H."""
    from rdkit import Chem

    out, record, peaks = [], {}, []

    def flush() -> None:
        if record.get("SMILES") and peaks and record.get("Precursor_type", "[M+H]+") == "[M+H]+":
            mol = Chem.MolFromSmiles(record["SMILES"])
            if mol is not None and all(a.GetSymbol() in ELEMENTS for a in mol.GetAtoms()):
                precursor = molecule_formula(mol) + formula_of(Counter(H=1))
                mz, intensity = np.array(peaks).T
                out.append(make_spectrum(record["SMILES"], precursor, mz, intensity))

    for line in path.read_text().splitlines() + [""]:
        line = line.strip()
        if not line:
            flush()
            record, peaks = {}, []
        elif ":" in line and not line[0].isdigit():
            key, _, value = line.partition(":")
            record[key.strip()] = value.strip()
        else:
            mz, intensity = line.split()[:2]
            peaks.append((float(mz), float(intensity)))
    return out
