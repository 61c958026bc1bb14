"""Config loading: every shipped config loads; every error names its key."""
from pathlib import Path

import pytest

from jobs.sweepconfig import load_sweep, validate_sweep
from shared.config import CONFIG_ROOT, ConfigError
from shared.data import DatasetNotFoundError
from shared.registry import UnknownMethodError, get_method, list_methods, method_names


def test_every_registered_method_has_a_config_and_a_sweep_that_load():
    for spec in list_methods():
        assert spec.config_path.exists(), spec.name
        cfg = spec.load_config()
        for smoke in (False, True):
            sweep = load_sweep(spec, smoke=smoke)
            validate_sweep(spec, sweep)
        assert cfg.epochs >= 1


def test_every_config_file_belongs_to_a_registered_method():
    names = set(method_names())
    for folder in ("methods", "sweeps"):
        for path in (CONFIG_ROOT / folder).glob("*.yaml"):
            assert path.stem in names, f"{path} has no registered method"


def test_every_reproduction_loads_and_its_arms_report_its_measures():
    from jobs.reproduce import load_reproduction

    paths = sorted((CONFIG_ROOT / "reproduce").glob("*.yaml"))
    assert paths
    for path in paths:
        repro = load_reproduction(path.stem)
        assert repro.claim and repro.arms and repro.measures, path


def test_a_reproduction_whose_arm_lacks_a_measure_is_refused(tmp_path, monkeypatch):
    import jobs.reproduce as reproduce

    (tmp_path / "reproduce").mkdir()
    (tmp_path / "reproduce" / "bad.yaml").write_text(
        "claim: x\narms:\n  a: {method: simclr}\nmeasures: [transform_acc]\n")
    monkeypatch.setattr(reproduce, "CONFIG_ROOT", tmp_path)
    with pytest.raises(ConfigError, match="does not report .*transform_acc"):
        reproduce.load_reproduction("bad")


def test_runs_sharing_a_prefix_plan_to_train_it_once():
    from jobs.reproduce import plan_prefixes

    def cfg(method: str, *items: str):
        return method, get_method(method).load_config(list(items))

    sae = ("encoder_epochs=2", "epochs=3")
    dis = ("epochs=4", "step1_epochs=2")
    runs = {"simclr": cfg("simclr", "epochs=2", "eval.feature=projection"), "sae": cfg("sae_probe", *sae),
            "sae_cos": cfg("sae_probe", *sae, "optim.schedule=cosine"),  # its encoder phase is no simclr run
            "sae_5": cfg("sae_probe", *sae, "seed=5"), "lam0": cfg("disentangled_ssl", *dis, "lam=0"),
            "lam1": cfg("disentangled_ssl", *dis, "lam=1"), "beta": cfg("disentangled_ssl", *dis, "beta=3")}
    starts, extra = plan_prefixes(runs)
    assert starts == {"sae": "simclr", "lam0": 0, "lam1": 0}  # sae_5 and beta: no run shares their prefix
    assert extra == [runs["lam0"][1].prefix_run()] and extra[0][1].epochs == 2


def test_a_run_two_reproductions_share_is_taken_from_done():
    """E-SSL's rotation task (essl_tasks) is its normal mode (essl_explaining_away): the second reproduction
    finds the first one's run in ``done`` and makes nothing (no Ray task is started here)."""
    from jobs.reproduce import compare, load_reproduction

    tasks = load_reproduction("essl_tasks")
    rotation = get_method("essl").load_config([*tasks.setting, *tasks.arms["rotation"].overrides, "seed=0"])
    measured = {"transform_acc": 0.9, "linear_probe_acc": 0.5, "knn_acc": 0.4}
    done = {("essl", repr(rotation)): measured}
    out = compare("essl_explaining_away", seeds=[0], arms=["normal"], done=done)
    assert out == {"normal": {"transform_acc": [0.9], "linear_probe_acc": [0.5]}}
    assert list(done) == [("essl", repr(rotation))]  # nothing was added: nothing ran


def test_unknown_method_lists_known_ones():
    with pytest.raises(UnknownMethodError, match="registered methods: .*care"):
        get_method("carre")


@pytest.mark.parametrize(
    "override, key",
    [
        ("optim.lrr=0.1", "optim.lrr"),          # unknown key
        ("nonsense=1", "nonsense"),              # unknown top-level key
        ("optim.lr=fast", "optim.lr"),           # wrong type
        ("batch_size=1.5", "batch_size"),        # wrong type
        ("optim.lr=-0.1", "optim.lr"),           # out of range
        ("lam=-1", "lam"),                       # out of range
        ("optim.name=lamb", "optim.name"),       # not a choice
        ("equiv_splits=7", "equiv_splits"),      # 256 does not split into 7 chunks
        ("data.name=mnist", "data.name"),        # unknown data set
    ],
)
def test_config_errors_name_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        get_method("care").load_config([override])
    assert str(err.value).startswith(key), str(err.value)


def test_missing_data_root_is_a_clear_error(tmp_path: Path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-python.tar.gz"):
        get_method("care").load_config(["data.name=cifar10", f"data.root={tmp_path}"])


def test_yaml_defaults_and_overrides_apply():
    cfg = get_method("care").load_config({"optim.lr": 0.01, "lam": 0.0})
    assert cfg.optim.lr == 0.01 and cfg.lam == 0.0 and cfg.equiv_splits == 16


def test_sweep_override_fixes_a_searched_key():
    spec = get_method("care")
    sweep = load_sweep(spec, ["lam=0.5", "sweep.num_samples=3"])
    assert "lam" not in sweep.search_space and sweep.overrides["lam"] == 0.5 and sweep.num_samples == 3


@pytest.mark.parametrize(
    "items, key",
    [
        (["sweep.num_samples=0"], "num_samples"),
        (["sweep.resources.gpu=-1"], "resources.gpu"),
        (["sweep.metric=accuracy"], "sweep.metric"),
        (["sweep.nonsense=1"], "nonsense"),
        (["sweep.search_space.lam={choice: [-1.0, 0.1]}"], "search_space.lam"),
        (["sweep.search_space.lam={choice:[-1.0,0.1]}"], "search_space.lam"),
        (["sweep.search_space.optim.lr={loguniform: [0.1, 0.01]}"], "search_space.optim.lr"),
    ],
)
def test_sweep_errors_name_the_key(items, key):
    spec = get_method("care")
    with pytest.raises(ConfigError) as err:
        validate_sweep(spec, load_sweep(spec, items))
    assert key in str(err.value), str(err.value)
