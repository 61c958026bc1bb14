"""The SSL family's claims at small scale (configs/reproduce/*.yaml), over seeds 0 and 1 on a local Ray.
The margins asserted are below the figures measured over seeds 0-2 (REPRODUCTION.md). A claim that did not
hold at this scale is marked ``xfail(strict=True)``: the test still asserts the paper's claim, and it fails
loudly if the claim starts to hold (then REPRODUCTION.md must change)."""
import pytest

from jobs.reproduce import mean

SEEDS = [0, 1]
_cache: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    import ray

    from cluster import connect

    connect(num_cpus=2, dashboard=False)
    yield
    ray.shutdown()


def outcome(name: str) -> dict:
    from jobs.reproduce import compare

    if name not in _cache:
        _cache[name] = compare(name, seeds=SEEDS)
    return _cache[name]


@pytest.mark.slow
def test_essl_rotation_beats_random_init_and_hflip():
    out = outcome("essl_tasks")
    assert mean(out, "rotation", "linear_probe_acc") >= mean(out, "random_init", "linear_probe_acc") + 0.05
    assert mean(out, "rotation", "knn_acc") > mean(out, "hflip", "knn_acc")


@pytest.mark.slow
def test_essl_removing_class_information_hurts_rotation_prediction():
    out = outcome("essl_explaining_away")
    assert mean(out, "normal", "transform_acc") >= mean(out, "eliminate", "transform_acc") + 0.15
    # add >= normal holds only within noise here (digits' class is learnt by rotation prediction alone)
    assert mean(out, "add", "transform_acc") >= mean(out, "normal", "transform_acc") - 0.05


@pytest.mark.slow
def test_ncl_and_sae_codes_are_sparse_non_negative_and_robust_to_label_noise():
    out = outcome("monosemanticity")
    for arm in ("ncl", "sae_probe"):
        assert mean(out, arm, "nonneg_ratio") == 1.0
        assert mean(out, arm, "sparsity") > mean(out, "simclr", "sparsity") + 0.2
    assert mean(out, "simclr", "sparsity") < 0.05
    drop = {arm: mean(out, arm, "linear_probe_acc") - mean(out, arm, "probe_acc_label_noise") for arm in out}
    assert drop["sae_probe"] < drop["simclr"]
    assert drop["ncl"] < drop["simclr"]


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="IFM's feature-suppression claim did not hold at this scale (REPRODUCTION.md)")
def test_ifm_raises_the_readout_of_the_suppressed_feature():
    out = outcome("ifm")
    assert mean(out, "ifm", "linear_probe_acc") >= mean(out, "simclr", "linear_probe_acc") + 0.03
