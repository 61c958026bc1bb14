"""A study's ``data_seed: true`` (and ``jobs/sweep.py --seeds ... --data-seed``): each seeds trial sets data.seed to its
seed (the search-space domain ``same_as``), so the seeds vary the data as well as the initialisation; validated
before anything runs, and a study without it keeps its id."""
from __future__ import annotations

import pytest
from ray.tune.search.variant_generator import generate_variants

from jobs.studyconfig import load_study, study_id
from jobs.sweep import plan_sweep
from jobs.sweepconfig import load_sweep, to_tune_domain, validate_sweep
from shared.config import ConfigError
from shared.registry import get_method


def variants(sweep) -> list[dict]:
    space = {k: to_tune_domain(k, v) for k, v in sweep.search_space.items()}
    return [dict(config) for _, config in generate_variants(space)]


def test_each_trial_seeds_its_data_with_its_seed():
    spec = get_method("tmd")
    sweep = load_sweep(spec, ["data.seed=7"], seeds=[2, 3], data_seed=True)
    validate_sweep(spec, sweep)
    assert "data.seed" not in sweep.overrides  # the fixed data seed gives way to the trial's
    assert variants(sweep) == [{"seed": 2, "data.seed": 2}, {"seed": 3, "data.seed": 3}]
    assert variants(load_sweep(spec, [], seeds=[2, 3])) == [{"seed": 2}, {"seed": 3}]  # off: data.seed stays


def test_same_as_must_name_another_searched_key_and_data_seed_needs_seeds():
    spec = get_method("tmd")
    with pytest.raises(ConfigError, match="same_as 'depthh' names no searched key"):
        validate_sweep(spec, load_sweep(spec, ["sweep.search_space.w={same_as: depthh}"]))
    with pytest.raises(ConfigError, match="another searched key"):
        to_tune_domain("w", {"same_as": "w"})
    with pytest.raises(ConfigError, match="--data-seed: give --seeds too"):
        plan_sweep("tmd", [], data_seed=True)


def test_a_study_without_data_seed_keeps_its_id(tmp_path):
    text = ("name: s\nseeds: [2]\nresources: {cpu: 1}\nmeasures: [svm_accuracy]\n"
            "arms:\n  a: {method: tmd, sweep: false, overrides: {data.graphs: 10}}\n")
    (tmp_path / "off.yaml").write_text(text)
    (tmp_path / "on.yaml").write_text(text + "data_seed: true\n")
    off, on = load_study(tmp_path / "off.yaml"), load_study(tmp_path / "on.yaml")
    assert not off.data_seed and on.data_seed
    assert study_id(off, False) != study_id(on, False)
    # the id of a study without the key is the hash of its fields as before the key existed
    import hashlib
    import json

    from jobs.studyconfig import OPTIONAL_KEYS, PRESENTATION_KEYS
    from shared.config import to_dict

    fields = {k: v for k, v in to_dict(off).items() if k not in (*OPTIONAL_KEYS, *PRESENTATION_KEYS)}
    for arm in fields["arms"].values():
        arm.pop("grid")
    digest = hashlib.sha1(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:8]
    assert study_id(off, False) == f"s-{digest}"
