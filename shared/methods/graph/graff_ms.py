"""graff_ms: "Efficiently predicting high resolution mass spectra with graph neural networks" (GrAFF-MS; Murphy,
Jegelka, Fraenkel, Kind, Healey, Butler; ICML 2023), after the official code (murphy17/graff-ms: src/graff.py,
train-graff-ms.py), at small scale on CPU.

A spectrum is predicted as a distribution over a fixed vocabulary of K formulas x 3 isotope shifts: each entry is
a product-ion formula or a neutral loss (product = precursor - loss), learned greedily from the training spectra
(:func:`shared.graphs.spectra.build_vocabulary`); entries that are not sub-formulas of a molecule's precursor are
masked; a formula in the vocabulary both as product and as loss gets -log 2 on each. The loss is the peak-marginal
cross-entropy: -sum_peaks intensity x log(sum of the predicted mass of every (entry, isotope) whose m/z annotates
the peak within ``ppm``), log eps = -10 for a peak nothing annotates. Encoder: GINE over the molecular graph (ZINC
atom and bond types), attention pooling; decoder: an MLP with 2 residual blocks to K formula logits plus a
per-molecule 3-way isotope log-term.

Data: ``source=synthetic`` (default, offline): MOSES SMILES shipped in ``molsets``, spectra by the deterministic
single-bond-cleavage rule of :func:`shared.graphs.spectra.cleavage_spectrum`. ``source=cfm_id``: the public
CFM-ID-predicted spectra of murphy17/graff-ms (``data/cfm-id/gnps/gnps_cfm-id.msp``) read from ``data.root``.
``source=gnps``: the GNPS molecules of murphy17/graff-ms (``data/gnps/gnps.tsv``: tab-separated, no header, columns
Spectrum, SMILES, Precursor_type, NCE, Instrument; 707 rows, 632 structures) read from ``data.root``, each distinct
SMILES once, with spectra by the same cleavage rule (the card's fully synthetic fallback; the GNPS spectra themselves
are not public in the repository). The cleavage rule models [M+H]+, so [M-H]- rows give [M+H]+ spectra too.
Measure, as the official ``cosine-similarity.py`` / ``src/metrics.py``: matchms's CosineHungarian (optimal peak
assignment; m/z power 0, intensity power 1, ``cosine_tolerance`` = 0.1 Da, the script's ``--matchms_tol``; peaks
sorted by m/z, no filtering or normalisation) of the predicted spectrum to the observed one on held-out molecules,
against the mean training spectrum predicted for every molecule; ``cosine_greedy`` is matchms's CosineGreedy at the
same tolerance, a second measure. matchms is installed with ``--no-deps`` (``scripts/setup.sh``): every release
declares scipy < 1.17, networkx < 3.5 or an older numpy than the pinned stack, but both cosines run on it (numba
0.68.1 supports numpy < 2.6); :func:`shared.graphs.spectra.cosine_greedy` is the greedy matching written out, kept as
its by-hand check.

Departures (named): no SignNet eigenvector PE, no virtual node and no covariates (precursor type, instrument, NCE:
the synthetic spectra have none); encoder 64 x 3 and vocabulary 300 (the card's small GrAFF), not 512 x 6 and 10,000.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from shared.method import Evaluator, GradientTrainer
from shared.methods.graph.config import GraffConfig, gnps_path, msp_path
from shared.methods.graph.specs import GRAFF_MS as SPEC  # noqa: F401  (the registry reads specs.py)


@dataclass
class SpectraTask:
    graphs: list  # PyG Data per molecule
    spectra: list
    candidates: list
    train: np.ndarray
    test: np.ndarray
    vocabulary: list


def load_task(cfg: GraffConfig) -> SpectraTask:
    from shared.graphs.gnps import read_gnps_smiles
    from shared.graphs.molecules import moses_smiles_file, read_smiles, smiles_to_graph
    from shared.graphs.spectra import build_vocabulary, candidates, cleavage_spectrum, read_msp

    d = cfg.data
    rng = np.random.default_rng([d.seed, 0])
    if d.source == "cfm_id":
        spectra = read_msp(msp_path(d.root))
    else:
        smiles = read_gnps_smiles(gnps_path(d.root)) if d.source == "gnps" else read_smiles(moses_smiles_file("test"))
        spectra = []
        for i in rng.permutation(len(smiles)):
            spectrum = cleavage_spectrum(smiles[int(i)])
            if spectrum is not None:
                spectra.append(spectrum)
                if len(spectra) == d.molecules:
                    break
    graphs = [smiles_to_graph(s.smiles, with_target=False) for s in spectra]
    spectra = [s for s, g in zip(spectra, graphs, strict=True) if g is not None]
    graphs = [g for g in graphs if g is not None]
    order = rng.permutation(len(spectra))
    cut = max(1, round(d.test_share * len(spectra)))
    test, train = np.sort(order[:cut]), np.sort(order[cut:])
    vocabulary = build_vocabulary([spectra[i] for i in train], cfg.vocabulary, cfg.ppm)
    return SpectraTask(graphs, spectra, [candidates(s, vocabulary, cfg.ppm) for s in spectra], train, test,
                       vocabulary)


class GraffModel(nn.Module):
    def __init__(self, vocabulary: int, hidden: int, layers: int, decoder: int, dropout: float) -> None:
        from torch_geometric.nn import GINEConv

        from shared.graphs.molecules import NUM_ATOM_TYPES, NUM_BOND_TYPES
        from shared.graphs.spectra import ISOTOPES

        super().__init__()
        self.atoms = nn.Embedding(NUM_ATOM_TYPES, hidden)
        self.bonds = nn.Embedding(NUM_BOND_TYPES, hidden)
        def mlp() -> nn.Module:
            return nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.LayerNorm(hidden), nn.Linear(hidden, hidden))

        self.convs = nn.ModuleList(GINEConv(mlp()) for _ in range(layers))
        self.gate = nn.Linear(hidden, 1)
        self.read_in = nn.Linear(hidden, decoder)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(decoder), nn.Linear(decoder, decoder), nn.SiLU(),
                                                  nn.Dropout(dropout)) for _ in range(2))
        self.formulas = nn.Linear(decoder, vocabulary)
        self.isotopes = nn.Linear(decoder, ISOTOPES)

    def forward(self, batch) -> torch.Tensor:
        """(molecules, K, isotopes) logits: formula logit + the molecule's isotope log-term."""
        from torch_geometric.utils import softmax

        h = self.atoms(batch.x)
        edges = self.bonds(batch.edge_attr)
        for conv in self.convs:
            h = h + conv(h, batch.edge_index, edges)
        weight = softmax(self.gate(h), batch.batch)  # attention pooling over each molecule's atoms
        pooled = torch.zeros(batch.num_graphs, h.shape[1]).index_add(0, batch.batch, weight * h)
        z = self.read_in(pooled)
        for block in self.blocks:
            z = z + block(z)
        return self.formulas(z)[:, :, None] + self.isotopes(z)[:, None, :]


class GraffTrainer(GradientTrainer):
    config: GraffConfig

    def setup(self) -> None:
        self.data = load_task(self.config)

    def build_model(self) -> nn.Module:
        c = self.config
        return GraffModel(len(self.data.vocabulary), c.hidden, c.layers, c.decoder, c.dropout)

    def steps_per_epoch(self) -> int:
        return -(-len(self.data.train) // self.config.batch_size)

    def batches(self) -> Iterator[np.ndarray]:
        perm = self.data.train[torch.randperm(len(self.data.train), generator=self.generator).numpy()]
        for start in range(0, len(perm), self.config.batch_size):
            yield perm[start:start + self.config.batch_size]

    def loss(self, batch: np.ndarray) -> torch.Tensor:
        from shared.graphs.spectra import peak_marginal_cross_entropy

        logits = self.model(collate(self.data, batch))
        return torch.stack([peak_marginal_cross_entropy(row, self.data.candidates[i])
                            for row, i in zip(logits, batch, strict=True)]).mean()

    def artifact(self) -> GraffTrainer:
        return self


def collate(task: SpectraTask, indices: np.ndarray):
    from torch_geometric.data import Batch

    return Batch.from_data_list([task.graphs[int(i)] for i in indices])


def mean_spectrum(task: SpectraTask, top: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """The baseline: training intensities averaged in 0.01 Da bins, the ``top`` largest bins."""
    bins: dict[int, float] = {}
    for i in task.train:
        s = task.spectra[i]
        for mz, w in zip(s.mz, s.intensity, strict=True):
            bins[round(mz * 100)] = bins.get(round(mz * 100), 0.0) + w / len(task.train)
    keys = sorted(bins, key=lambda k: -bins[k])[:top]
    return np.array(keys) / 100.0, np.array([bins[k] for k in keys])


def matchms_cosine(tolerance: float, matching: str = "hungarian"
                   ) -> Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], float]:
    """(mz_a, intensity_a, mz_b, intensity_b) -> matchms's CosineHungarian (``matching="hungarian"``, the paper's)
    or CosineGreedy (``"greedy"``) score; peaks sorted by m/z for matchms."""
    from matchms import Spectrum as Peaks
    from matchms.similarity import CosineGreedy, CosineHungarian

    kind = {"hungarian": CosineHungarian, "greedy": CosineGreedy}[matching]
    cosine = kind(tolerance=tolerance, mz_power=0.0, intensity_power=1.0)

    def peaks(mz: np.ndarray, intensity: np.ndarray) -> Peaks:
        order = np.argsort(mz, kind="stable")
        return Peaks(mz=np.asarray(mz, dtype=float)[order], intensities=np.asarray(intensity, dtype=float)[order],
                     metadata={}, metadata_harmonization=False)

    def score(mz_a: np.ndarray, int_a: np.ndarray, mz_b: np.ndarray, int_b: np.ndarray) -> float:
        return float(cosine.pair(peaks(mz_a, int_a), peaks(mz_b, int_b))["score"])

    return score


class SpectrumCosine(Evaluator):
    """matchms's CosineHungarian (``cosine``, the paper's) of the predicted spectrum and of the mean training spectrum
    (``baseline_cosine``) to each held-out molecule's observed one, and matchms's CosineGreedy of the predicted one
    (``cosine_greedy``)."""

    metrics = ("cosine", "baseline_cosine", "cosine_greedy")

    @torch.no_grad()
    def evaluate(self, trainer: GraffTrainer) -> dict[str, Any]:
        from shared.graphs.spectra import predicted_spectrum

        task, cosine = trainer.data, matchms_cosine(self.config.cosine_tolerance)
        greedy = matchms_cosine(self.config.cosine_tolerance, "greedy")
        model = trainer.model.eval()
        logits = model(collate(task, task.test))
        base_mz, base_w = mean_spectrum(task)
        ours, baseline, ours_greedy = [], [], []
        for row, i in zip(logits, task.test, strict=True):
            s = task.spectra[i]
            mz, w = predicted_spectrum(row, task.candidates[i])
            ours.append(cosine(mz, w, s.mz, s.intensity))
            ours_greedy.append(greedy(mz, w, s.mz, s.intensity))
            baseline.append(cosine(base_mz, base_w, s.mz, s.intensity))
        model.train()
        return {"cosine": float(np.mean(ours)), "baseline_cosine": float(np.mean(baseline)),
                "cosine_greedy": float(np.mean(ours_greedy))}
