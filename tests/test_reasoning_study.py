"""The `reasoning` study (configs/studies/reasoning.yaml): it validates at smoke scale, and what its seeds jobs train
keeps each comparison's ingredient once the sweeps' smoke sections have shrunk the runs."""
from __future__ import annotations

from pathlib import Path

from jobs.studyconfig import arm_items, load_study
from jobs.sweepconfig import load_sweep
from shared.lm.erdos import TASKS, TIERS
from shared.registry import get_method

STUDY = Path(__file__).resolve().parents[1] / "configs" / "studies" / "reasoning.yaml"


def smoke_configs() -> dict[str, object]:
    """Each arm's method config as its seeds job builds it at smoke scale (the sweep's smoke section, then the arm's
    overrides that the smoke section does not set)."""
    study = load_study(STUDY, smoke=True)
    out = {}
    for arm_name, arm in study.arms.items():
        spec = get_method(arm.method)
        sweep = load_sweep(spec, arm_items(study, arm_name, smoke=True), smoke=True, seeds=list(study.seeds))
        out[arm_name] = spec.load_config(dict(sweep.overrides))
    return out


def test_the_reasoning_study_validates_at_smoke_scale_with_each_arm_s_ingredient():
    study = load_study(STUDY, smoke=True)
    assert study.seeds == [2]
    configs = smoke_configs()
    assert {a: configs[a].grpo.reward for a in ("g1_sft", "g1_grpo", "g1_shuffled")} == {
        "g1_sft": "none", "g1_grpo": "verified", "g1_shuffled": "shuffled"}
    assert configs["g1_grpo"].epochs > configs["g1_grpo"].sft_epochs  # at smoke scale GRPO still runs
    assert {TASKS[t].tier for t in configs["g1_grpo"].data.tasks} == set(TIERS)  # one panel per tier, none empty
    assert (configs["icrm"].arm, configs["icrm_erm"].arm) == ("icrm", "erm")
    assert [(configs[a].difficulty, configs[a].capability) for a in ("cot_T16_M1", "cot_T64_M1", "cot_T64_M4")] == [
        (16, 1.0), (64, 1.0), (64, 4.0)]
