"""The SSL family's claims at small scale (configs/reproduce/*.yaml), over seeds 0 and 1 on a local Ray.
The margins asserted are below the figures measured over seeds 0-2 (REPRODUCTION.md). A claim that did not
hold at this scale is marked ``xfail(strict=True)``: the test still asserts the paper's claim, and it fails
loudly if the claim starts to hold (then REPRODUCTION.md must change)."""
import pytest

from jobs.reproduce import mean

SEEDS = [0, 1]
_cache: dict[str, dict] = {}
_runs: dict = {}  # E-SSL's rotation task (essl_tasks) is the normal mode of essl_explaining_away: trained once


@pytest.fixture(scope="module", autouse=True)
def ray_session(local_ray):
    return local_ray


# Arms no test asserts on are not trained in CI (their figures are in REPRODUCTION.md): E-SSL's hflip task and
# its "add" mode, whose claims do not hold at this scale.
ARMS = {"essl_tasks": ["random_init", "rotation"], "essl_explaining_away": ["normal", "eliminate"]}


def outcome(name: str) -> dict:
    from jobs.reproduce import compare

    if name not in _cache:
        _cache[name] = compare(name, seeds=SEEDS, arms=ARMS.get(name), done=_runs)
    return _cache[name]


@pytest.mark.slow
def test_essl_rotation_prediction_beats_the_random_init_encoder():
    out = outcome("essl_tasks")
    assert mean(out, "rotation", "linear_probe_acc") >= mean(out, "random_init", "linear_probe_acc") + 0.05
    assert mean(out, "rotation", "knn_acc") >= mean(out, "random_init", "knn_acc") + 0.3
    # rotation > hflip does not show on digits (both about 0.975): REPRODUCTION.md


@pytest.mark.slow
def test_essl_removing_class_information_hurts_rotation_prediction():
    out = outcome("essl_explaining_away")
    assert mean(out, "normal", "transform_acc") >= mean(out, "eliminate", "transform_acc") + 0.1
    # add >= normal does not hold here (REPRODUCTION.md): rotation prediction alone already learns the digit


@pytest.mark.slow
def test_ncl_and_sae_codes_are_non_negative_sparse_and_more_monosemantic():
    out = outcome("monosemanticity")
    assert mean(out, "simclr", "sparsity") < 0.05
    for arm in ("ncl", "sae_probe"):
        assert mean(out, arm, "nonneg_ratio") == 1.0
        assert mean(out, arm, "sparsity") >= mean(out, "simclr", "sparsity") + 0.5
        assert mean(out, arm, "semantic_consistency") > mean(out, "simclr", "semantic_consistency")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="at this scale the monosemantic codes are probed worse, clean and under "
                                       "label noise, than SimCLR's projection (REPRODUCTION.md)")
def test_monosemantic_codes_are_probed_more_robustly_under_label_noise():
    out = outcome("monosemanticity")
    for arm in ("ncl", "sae_probe"):
        assert mean(out, arm, "probe_acc_label_noise") >= mean(out, "simclr", "probe_acc_label_noise")
        assert mean(out, arm, "linear_probe_acc") >= mean(out, "simclr", "linear_probe_acc") - 0.05


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="IFM's feature-suppression claim did not hold at this scale (REPRODUCTION.md)")
def test_ifm_raises_the_readout_of_the_suppressed_feature():
    out = outcome("ifm")
    assert mean(out, "ifm", "linear_probe_acc") >= mean(out, "simclr", "linear_probe_acc") + 0.03
