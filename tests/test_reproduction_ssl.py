"""The SSL family's claims at small scale (configs/reproduce/*.yaml), on a local Ray.
The monosemanticity and E-SSL tests assert on held-out seeds 2 and 3 (seed and data.seed): their settings and
margins were chosen on seeds 0 and 1 (REPRODUCTION.md gives both). A claim that did not hold at this scale is
marked ``xfail(strict=True)``: the test still asserts the paper's claim, and it fails loudly if the claim starts
to hold (then REPRODUCTION.md must change)."""
import pytest

from jobs.reproduce import mean

SEEDS = [0, 1]  # the tuning seeds (every reproduction here now asserts on HELD_OUT)
HELD_OUT = {"monosemanticity": [2, 3], "essl_tasks": [2, 3], "essl_explaining_away": [2, 3], "ifm": [2, 3]}
_cache: dict[str, dict] = {}
_runs: dict = {}  # E-SSL's rotation task (essl_tasks) is the normal mode of essl_explaining_away: trained once


@pytest.fixture(scope="module", autouse=True)
def ray_session(local_ray):
    return local_ray


# E-SSL: kNN with k = 20 (digits has about 140 train images per class; at k = 200 a random-init encoder scored 0.16
# against 0.71 at k = 20), a random-init encoder whose BatchNorm statistics are the train images', and gradient
# reversal against shuffled labels as the control of eliminate.
ARMS = {"essl_tasks": ["random_init", "hflip", "rotation"],
        "essl_explaining_away": ["add", "normal", "eliminate", "eliminate_shuffled"]}


def outcome(name: str) -> dict:
    from jobs.reproduce import compare

    if name not in _cache:
        _cache[name] = compare(name, seeds=HELD_OUT.get(name, SEEDS), arms=ARMS.get(name), done=_runs)
    return _cache[name]


@pytest.mark.slow
def test_essl_rotation_prediction_beats_the_random_init_encoder():
    """A floor, not the paper's claim: any training clears it (hflip prediction does as well). Probe margin chosen on
    seeds 0-1 (rotation 0.974, random init 0.882); the kNN margin is set to the same, a priori."""
    out = outcome("essl_tasks")
    assert mean(out, "rotation", "linear_probe_acc") >= mean(out, "random_init", "linear_probe_acc") + 0.05
    assert mean(out, "rotation", "knn_acc") >= mean(out, "random_init", "knn_acc") + 0.05


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="on digits hflip prediction teaches the class as well as rotation prediction "
                                       "(REPRODUCTION.md)")
def test_essl_rotation_prediction_teaches_more_class_features_than_hflip_prediction():
    """The paper's ranking, by a margin above the seed noise (seeds 0-2: probe sd 0.004-0.006)."""
    out = outcome("essl_tasks")
    assert mean(out, "rotation", "linear_probe_acc") >= mean(out, "hflip", "linear_probe_acc") + 0.02
    assert mean(out, "rotation", "knn_acc") >= mean(out, "hflip", "knn_acc") + 0.02


@pytest.mark.slow
def test_essl_gradient_reversal_hurts_rotation_prediction():
    """Not the claim by itself: the reversal costs as much against shuffled labels (the next test). Margin 0.1 from
    seeds 0-2 of the first measurement (normal 0.746, eliminate 0.538)."""
    out = outcome("essl_explaining_away")
    assert mean(out, "normal", "transform_acc") >= mean(out, "eliminate", "transform_acc") + 0.1


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="gradient reversal against shuffled labels cuts rotation accuracy as much as "
                                       "against the class: the drop is the reversal's (REPRODUCTION.md)")
def test_essl_removing_class_information_hurts_rotation_prediction_more_than_the_reversal_itself():
    """The paper's explaining-away contrast against its control: the same gradient reversal against a fixed random
    permutation of the labels (no class information); the same margin as normal vs eliminate."""
    out = outcome("essl_explaining_away")
    assert mean(out, "eliminate_shuffled", "transform_acc") >= mean(out, "eliminate", "transform_acc") + 0.1


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="adding class information does not help rotation prediction at this scale: "
                                       "rotation prediction alone already learns the digit (REPRODUCTION.md)")
def test_essl_adding_class_information_helps_rotation_prediction():
    out = outcome("essl_explaining_away")
    assert mean(out, "add", "transform_acc") >= mean(out, "normal", "transform_acc") + 0.02


# Non-negativity and sparsity follow from the ReLU and the top-k (tests/test_monosemanticity.py checks them), and
# sparsity alone raises semantic consistency: each code is compared with random codes of its own sparsity (same
# non-zeros per sample). Margin chosen on seeds 0-1 (tau 0.5 then): SAE 0.216 vs its control 0.176, NCL 0.139 vs 0.143.
# With the paper's tau 0.2 (every arm), held-out seeds 2-3: SAE 0.301 vs 0.177, NCL 0.162 vs 0.139 (per seed +0.003,
# +0.044: on the mean only; tuning seeds 0-1 at tau 0.2: SAE 0.297 vs 0.177, NCL 0.177 vs 0.141); at tau 0.5 both
# were strict xfails on seeds 2-3 (0.185 vs 0.177, 0.141 vs 0.144).
CONSISTENCY_MARGIN = 0.02


@pytest.mark.slow
def test_sae_codes_are_more_class_consistent_than_random_codes_of_their_sparsity():
    out = outcome("monosemanticity")
    control = mean(out, "sae_probe", "semantic_consistency_control")
    assert mean(out, "sae_probe", "semantic_consistency") >= control + CONSISTENCY_MARGIN


# NCL clears the margin on the mean only, and whether it does depends on the machine's floating-point kernels: 0.162
# vs 0.139 (+0.023) on the earlier sessions' machines, 0.156 vs 0.138 (+0.018) on an AMD EPYC with AVX2 kernels
# (2026-12-03), 0.164 vs 0.139 (+0.025) there with the channels-last ConvNet (2026-12-04): not a robust finding at this
# scale, so not strict (REPRODUCTION.md).
@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="machine-dependent: NCL consistency 0.162 vs control 0.139 (+0.023) on the "
                                        "earlier machines, 0.156 vs 0.138 (+0.018 < 0.02) with AVX2 kernels, 0.164 vs "
                                        "0.139 (+0.025) with AVX2 kernels and the channels-last ConvNet")
def test_ncl_codes_are_more_class_consistent_than_random_codes_of_their_sparsity():
    out = outcome("monosemanticity")
    control = mean(out, "ncl", "semantic_consistency_control")
    assert mean(out, "ncl", "semantic_consistency") >= control + CONSISTENCY_MARGIN


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="at this scale the monosemantic codes are probed worse, clean and under "
                                       "label noise, than SimCLR's projection: held-out seeds 2-3, tau 0.2, 60% noise "
                                       "NCL 0.439 / SAE 0.542 vs SimCLR 0.632; clean 0.736 / 0.810 vs 0.903 "
                                       "(REPRODUCTION.md)")
def test_monosemantic_codes_are_probed_more_robustly_under_label_noise():
    out = outcome("monosemanticity")
    for arm in ("ncl", "sae_probe"):
        assert mean(out, arm, "probe_acc_label_noise") >= mean(out, "simclr", "probe_acc_label_noise")
        assert mean(out, arm, "linear_probe_acc") >= mean(out, "simclr", "linear_probe_acc") - 0.05


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="IFM does not raise the suppressed feature's readout at this scale: held-out "
                   "seeds 2-3 (data seed = seed, tau 0.2 as the paper) shape probe 0.520 vs SimCLR 0.517 "
                   "(REPRODUCTION.md)")
def test_ifm_raises_the_readout_of_the_suppressed_feature():
    out = outcome("ifm")
    assert mean(out, "ifm", "linear_probe_acc") >= mean(out, "simclr", "linear_probe_acc") + 0.03
