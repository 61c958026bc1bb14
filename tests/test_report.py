"""Reports that answer a sweep's question: headline measures, per-value summaries at matched epochs, readable
figures, and per-trial statuses that tell the truth. Most tests write synthetic rows with ResultsStore (no Ray)."""
from __future__ import annotations

import pytest

from shared.method import Measure, headline_measures
from shared.registry import list_methods


def test_every_method_declares_headline_measures_it_reports_and_a_swept_comparison():
    from jobs.sweepconfig import load_sweep

    for spec in list_methods():
        assert spec.headline, spec.name
        reported = spec.metric_names()
        assert all(m.name in reported and m.mode in ("max", "min") for m in spec.headline), spec.name
        sweep = load_sweep(spec)
        assert spec.compare and all(key in sweep.search_space for key in spec.compare), spec.name


def test_care_leads_with_colour_class_and_equivariance_and_compares_lambda():
    from shared.registry import get_method

    care = get_method("care")
    assert care.headline == (Measure("colour_probe_acc"), Measure("linear_probe_acc"), Measure("equiv_error", "min"))
    assert care.compare == ("lam",)


def test_a_spec_without_headline_falls_back_to_the_sweep_metric():
    class Bare:
        pass

    assert headline_measures(Bare(), "acc", "min") == (Measure("acc", "min"),)
    with pytest.raises(ValueError, match="mode"):
        Measure("acc", "up")
