"""graff_ms: the formula vocabulary, the peak-marginal cross-entropy, isotopes, the cosines (greedy and Hungarian),
the MSP and GNPS TSV readers on toy spectra and files computed by hand (shared/graphs/spectra.py), and the claim on
held-out seeds 2, 3 with the molecules drawn by the data seed (shared/methods/graph/graff_ms.py; epochs and margins
looked at on seeds 0, 1 only)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from shared.config import ConfigError
from shared.graphs.gnps import read_gnps_smiles
from shared.graphs.spectra import (
    NEUTRON,
    build_vocabulary,
    candidates,
    cleavage_spectrum,
    cosine_greedy,
    formula_of,
    ion_mz,
    make_spectrum,
    peak_marginal_cross_entropy,
    read_msp,
)

HELD_OUT = [2, 3]
PPM = 5000.0  # at m/z 16, 0.08 Da: CH4+ (16.031) and O+ (15.995) both annotate one peak


def f(**counts) -> np.ndarray:
    return formula_of(counts)


def toy_spectrum(extra_peak: bool = False):
    """Methanol [M+H]+ (CH5O): a peak at CH4+ (also O+ within 5,000 ppm) and one at CH3O+; optionally a third
    peak at m/z 100 that no sub-formula explains."""
    mz = [ion_mz(f(C=1, H=4)), ion_mz(f(C=1, H=3, O=1))] + ([100.0] if extra_peak else [])
    weight = [0.4, 0.4] + ([0.2] if extra_peak else [])
    return make_spectrum("CO", f(C=1, H=5, O=1), np.array(mz), np.array(weight))


def test_vocabulary_splits_each_peak_among_products_and_losses_by_hand():
    vocabulary = build_vocabulary([toy_spectrum()], 6, PPM)
    # peak CH3O+ (0.5): product CH3O and loss H2 get 0.25 each; peak CH4+ (0.5): products CH4, O and losses HO,
    # CH5 get 0.125 each; equal scores in key order
    assert vocabulary == [("loss", tuple(f(H=2))), ("product", tuple(f(C=1, H=3, O=1))),
                          ("loss", tuple(f(H=1, O=1))), ("loss", tuple(f(C=1, H=5))),
                          ("product", tuple(f(O=1))), ("product", tuple(f(C=1, H=4)))]
    assert build_vocabulary([toy_spectrum()], 2, PPM) == vocabulary[:2]


def test_isotope_candidates_are_neutron_multiples_and_losses_become_products():
    c = candidates(toy_spectrum(), build_vocabulary([toy_spectrum()], 6, PPM), PPM)
    assert np.allclose(c.mz[:, 1] - c.mz[:, 0], NEUTRON)
    assert np.allclose(c.mz[:, 2] - c.mz[:, 0], 2 * 1.008665, atol=1e-5)
    assert c.mz[0, 0] == pytest.approx(ion_mz(f(C=1, H=3, O=1)))  # loss H2 from CH5O is the product CH3O
    assert c.valid.all()
    assert torch.allclose(c.correction, torch.full((6, 3), -math.log(2)))  # every formula is product and loss here


def test_peak_marginal_cross_entropy_by_hand():
    spectrum = toy_spectrum(extra_peak=True)
    c = candidates(spectrum, build_vocabulary([toy_spectrum()], 6, PPM), PPM)
    logits = torch.zeros(6, 3, requires_grad=True)
    # 18 equally likely (entry, isotope) pairs; CH4+ is explained by 4 of them (products CH4, O; losses HO, CH5),
    # CH3O+ by 2 (product CH3O, loss H2), m/z 100 by none: log eps = -10
    by_hand = -0.4 * math.log(4 / 18) - 0.4 * math.log(2 / 18) + 0.2 * 10
    loss = peak_marginal_cross_entropy(logits, c)
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_cosine_greedy_by_hand():
    assert cosine_greedy(np.array([100.0, 200.0]), np.ones(2), np.array([100.005, 300.0]), np.ones(2)) == \
        pytest.approx(0.5)
    # one peak of a cannot pair with both of b's
    assert cosine_greedy(np.array([100.0]), np.ones(1), np.array([100.004, 100.006]), np.ones(2)) == \
        pytest.approx(1 / math.sqrt(2))


def test_matchms_hungarian_cosine_beats_greedy_on_a_2x2_assignment_by_hand():
    """The evaluator's headline cosine is matchms's CosineHungarian at 0.1 Da (murphy17/graff-ms src/metrics.py,
    cosine-similarity.py --matchms_tol 0.1). a0 (100.00, 1.0) is within 0.1 Da of b0 (99.95, 0.9) and b1
    (100.08, 1.0); a1 (100.15, 0.9) only of b1. Greedy takes the largest product a0-b1 (1.0) first and leaves a1 and
    b0 unmatched: 1.0 / 1.81; the optimal assignment a0-b0, a1-b1 scores 0.9 + 0.9: 1.8 / 1.81."""
    from shared.methods.graph.graff_ms import SPEC, matchms_cosine

    assert SPEC.load_config([]).cosine_tolerance == 0.1
    pair = (np.array([100.0, 100.15]), np.array([1.0, 0.9]), np.array([99.95, 100.08]), np.array([0.9, 1.0]))
    assert matchms_cosine(0.1)(*pair) == pytest.approx(1.8 / 1.81)
    assert matchms_cosine(0.1, "greedy")(*pair) == pytest.approx(1.0 / 1.81) == cosine_greedy(*pair, tolerance=0.1)
    # at 0.06 Da a0-b1 is out of reach: both match a0-b0 only
    assert matchms_cosine(0.06)(*pair) == pytest.approx(0.9 / 1.81) == matchms_cosine(0.06, "greedy")(*pair)


def test_matchms_cosine_greedy_and_the_written_out_one_agree_on_generated_spectra_and_ties():
    """The evaluator's cosine is matchms's CosineGreedy; shared.graphs.spectra.cosine_greedy writes the same greedy
    matching out. They agree on a tie whose order decides the score, on cleavage spectra of molecules against each
    other and against jittered copies, and on random spectra with repeated intensities on a 0.004 Da grid."""
    from shared.methods.graph.graff_ms import matchms_cosine

    cosine = matchms_cosine(0.01, "greedy")
    # peak a0 pairs with b0 and b1 at the same product 1, a1 only with b1 (0.5): matchms takes the later tied pair
    # (a0, b1) first, so a1 stays unmatched: 1 / sqrt(1.25 x 2), not the 1.5 / sqrt(2.5) of the other tie order
    tie = (np.array([100.0, 100.012]), np.array([1.0, 0.5]), np.array([99.995, 100.005]), np.ones(2))
    assert cosine(*tie) == pytest.approx(1 / math.sqrt(2.5)) == cosine_greedy(*tie, tolerance=0.01)
    rng = np.random.default_rng(0)
    spectra = [cleavage_spectrum(s) for s in ("CCO", "CC(=O)O", "CCN", "CCCCO", "OCC(O)CO", "CC(C)CN", "CCOC(C)=O")]
    pairs = [(a, b) for a in spectra for b in spectra]
    pairs += [(a, make_spectrum(a.smiles, a.precursor, a.mz + rng.uniform(-0.012, 0.012, len(a.mz)),
                                np.round(a.intensity * 20) + 1)) for a in spectra]
    checked = [(a.mz, a.intensity, b.mz, b.intensity) for a, b in pairs]
    grid = np.arange(100.0, 101.0, 0.004)
    for _ in range(60):
        n, m = rng.integers(1, 12, size=2)
        checked.append((rng.choice(grid, n, replace=False), rng.integers(1, 4, n).astype(float),
                        rng.choice(grid, m, replace=False), rng.integers(1, 4, m).astype(float)))
    for mz_a, int_a, mz_b, int_b in checked:
        order_a = np.argsort(mz_a)  # ties go by peak index: both forms get the peaks in m/z order (matchms sorts)
        mz_a, int_a = mz_a[order_a], int_a[order_a]
        order_b = np.argsort(mz_b)
        mz_b, int_b = mz_b[order_b], int_b[order_b]
        assert cosine(mz_a, int_a, mz_b, int_b) == pytest.approx(cosine_greedy(mz_a, int_a, mz_b, int_b, 0.01),
                                                                  abs=1e-12)


def test_cleavage_spectrum_of_ethanol():
    spectrum = cleavage_spectrum("CCO")
    assert tuple(spectrum.precursor) == tuple(f(C=2, H=7, O=1))
    assert ion_mz(spectrum.precursor) == pytest.approx(47.04914, abs=1e-5)  # ethanol [M+H]+
    assert spectrum.intensity.sum() == pytest.approx(1.0) and np.all(np.diff(spectrum.mz) > 0)
    # C-C and C-O broken: CH3 + H and CH2OH + H, C2H5 + H and OH + H, the precursor; each with its isotopes
    assert np.isclose(spectrum.mz[:, None], ion_mz(f(C=1, H=4))).any()
    assert np.isclose(spectrum.mz[:, None], ion_mz(f(H=2, O=1))).any()


def test_msp_reader_keeps_protonated_records(tmp_path):
    path = tmp_path / "toy.msp"
    path.write_text("Spectrum: a\nSMILES: CCO\nPrecursor_type: [M+H]+\n31.0178 50.0\n47.0491 150.0\n\n"
                    "Spectrum: b\nSMILES: CC\nPrecursor_type: [M-H]-\n29.0 1.0\n")
    spectra = read_msp(path)
    assert len(spectra) == 1 and spectra[0].smiles == "CCO"
    assert np.allclose(spectra[0].intensity, [0.25, 0.75]) and tuple(spectra[0].precursor) == tuple(f(C=2, H=7, O=1))


def test_without_matchms_the_config_says_how_to_install_it_as_setup_sh_does(monkeypatch):
    import importlib.util
    import re
    from pathlib import Path

    from shared.methods.graph.config import MATCHMS_INSTALL
    from shared.methods.graph.graff_ms import SPEC

    setup = re.sub(r"\\\n\s*", "", (Path(__file__).parents[1] / "scripts" / "setup.sh").read_text())
    assert f"pip install -q --no-deps {MATCHMS_INSTALL}\n" in setup
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "matchms" else find_spec(name, *args))
    with pytest.raises(ConfigError, match=re.escape(f"pip install --no-deps {MATCHMS_INSTALL}")):
        SPEC.load_config([])


@pytest.mark.parametrize("source, named", [("cfm_id", "data/cfm-id/gnps/gnps_cfm-id.msp"),
                                           ("gnps", "data/gnps/gnps.tsv")])
def test_a_local_source_without_its_file_is_a_clear_error(tmp_path, source, named):
    import re

    from shared.methods.graph.graff_ms import SPEC

    with pytest.raises(ConfigError, match=f"{re.escape(named)} of github.com/murphy17/graff-ms"):
        SPEC.load_config([f"data.source={source}", f"data.root={tmp_path}"])


def test_gnps_source_with_a_malformed_file_names_the_row(tmp_path):
    from shared.methods.graph.graff_ms import SPEC

    (tmp_path / "gnps.tsv").write_text("Spectrum\tSMILES\tPrecursor_type\tNCE\tInstrument\nCCO,[M+H]+\n")
    with pytest.raises(ConfigError, match="gnps.tsv line 2: expected 5 tab-separated fields"):
        SPEC.load_config(["data.source=gnps", f"data.root={tmp_path}"])


PUBLISHED = """Spectrum: CCMSLIB00000000001
SMILES: CCO
Precursor_type: [M+H]+
NCE: 35.0
Instrument: Thermo Finnigan Elite Orbitrap
InChIKey: LFQSCWFLJHTTHZ-UHFFFAOYSA-N
Formula: C2H6O
PrecursorMZ: 47.049141
29.0386 120.00
31.0178 999.00
47.0491 310.50

Spectrum: CCMSLIB00000000002
SMILES: CC(=O)O
Precursor_type: [M+H]+
NCE: 35.0
Instrument: Thermo Finnigan Elite Orbitrap
InChIKey: QTBSBXVTEAMEQO-UHFFFAOYSA-N
Formula: C2H4O2
PrecursorMZ: 61.028406
43.0178 999.00
61.0284 200.00

Spectrum: Training-001
SMILES: CN1C2=C(NC=N2)C(=O)N(C)C1=O
Precursor_type: [M-H]-
NCE: 35.0
Instrument: Thermo Finnigan Elite Orbitrap
InChIKey: ZFXYFBGIUFBOJW-UHFFFAOYSA-N
Formula: C7H8N4O2
PrecursorMZ: 179.056900464
179.0574 999.00

Spectrum: CCMSLIB00000000003
SMILES: CCN
Precursor_type: [M+H]+
NCE: 35.0
Instrument: Thermo Finnigan Elite Orbitrap
InChIKey: QUSNBJAOOMFDIB-UHFFFAOYSA-N
Formula: C2H7N
PrecursorMZ: 46.065126
30.0338 999.00
46.0651 150.00
"""


def test_cfm_id_source_reads_a_tiny_file_in_the_published_format_end_to_end(tmp_path):
    """data.source=cfm_id on a self-written file in gnps_cfm-id.msp's format (every header key of the published
    records, peaks on 0-999): the [M+H]+ records become graphs and spectra whose precursor m/z is the record's
    PrecursorMZ; the [M-H]- record is left out; a training step runs on them."""
    from shared.methods.graph.graff_ms import SPEC, load_task

    (tmp_path / "gnps_cfm-id.msp").write_text(PUBLISHED)
    cfg = SPEC.load_config(["data.source=cfm_id", f"data.root={tmp_path}", "epochs=1", "data.test_share=0.34"])
    task = load_task(cfg)
    assert [s.smiles for s in task.spectra] == ["CCO", "CC(=O)O", "CCN"]
    published = {"CCO": 47.049141, "CC(=O)O": 61.028406, "CCN": 46.065126}
    for spectrum, graph in zip(task.spectra, task.graphs, strict=True):
        assert ion_mz(spectrum.precursor) == pytest.approx(published[spectrum.smiles], abs=1e-4)
        assert spectrum.intensity.sum() == pytest.approx(1.0) and graph.num_nodes >= 2
    assert len(task.test) == 1 and len(task.train) == 2
    trainer = SPEC.make_trainer(cfg)
    assert math.isfinite(trainer.fit_epoch()["loss"])


@pytest.mark.slow
def test_cosine_beats_the_mean_spectrum_and_improves_over_epochs():
    from shared.methods.graph.graff_ms import SPEC

    figures = {}
    for seed in HELD_OUT:
        cfg = SPEC.load_config([f"seed={seed}", f"data.seed={seed}"])
        trainer = SPEC.make_trainer(cfg)
        trainer.fit_epoch()
        first = SPEC.evaluate(cfg, trainer.artifact())["cosine"]
        while not trainer.done:
            trainer.fit_epoch()
        figures[seed] = {"epoch_1": first, **SPEC.evaluate(cfg, trainer.artifact())}
    print("graff_ms held-out", figures)
    for out in figures.values():
        assert out["cosine"] > out["baseline_cosine"] + 0.3
        assert out["cosine"] > out["epoch_1"]


# data/gnps/gnps.tsv's format (the notebook data/gnps/gnps.ipynb writes it with header=False): Spectrum, SMILES,
# Precursor_type, NCE, Instrument; one molecule appears twice (both polarities), one SMILES RDKit cannot parse
GNPS_ROWS = [("CCMSLIB00000000011", "CC(=O)OC", "[M+H]+"), ("CCMSLIB00000000012", "NCC(=O)O", "[M+H]+"),
             ("CCMSLIB00000000013", "NCC(=O)O", "[M-H]-"), ("CCMSLIB00000000014", "OCC(O)CO", "[M-H]-"),
             ("CCMSLIB00000000015", "C1CC", "[M+H]+"), ("CCMSLIB00000000016", "CCCCN", "[M+H]+")]


def test_gnps_source_reads_a_tiny_file_in_the_published_format_end_to_end(tmp_path):
    """data.source=gnps on a self-written file in gnps.tsv's format: each distinct parsable SMILES becomes a graph
    whose spectrum is the deterministic cleavage spectrum of the synthetic default; a training step runs on them."""
    from shared.methods.graph.graff_ms import SPEC, load_task

    (tmp_path / "gnps.tsv").write_text("".join(f"{spectrum}\t{smiles}\t{kind}\t35.0\tThermo Finnigan Elite Orbitrap\n"
                                               for spectrum, smiles, kind in GNPS_ROWS))
    assert read_gnps_smiles(tmp_path / "gnps.tsv") == ["CC(=O)OC", "NCC(=O)O", "OCC(O)CO", "C1CC", "CCCCN"]
    cfg = SPEC.load_config(["data.source=gnps", f"data.root={tmp_path}", "epochs=1", "data.test_share=0.25"])
    task = load_task(cfg)
    assert sorted(s.smiles for s in task.spectra) == ["CC(=O)OC", "CCCCN", "NCC(=O)O", "OCC(O)CO"]
    for spectrum in task.spectra:
        expected = cleavage_spectrum(spectrum.smiles)
        assert np.array_equal(spectrum.mz, expected.mz) and np.array_equal(spectrum.intensity, expected.intensity)
    assert len(task.test) == 1 and len(task.train) == 3
    trainer = SPEC.make_trainer(cfg)
    assert math.isfinite(trainer.fit_epoch()["loss"])
    assert set(SPEC.evaluate(cfg, trainer.artifact())) >= {"cosine", "cosine_greedy", "baseline_cosine"}
