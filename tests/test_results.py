"""The results store: tidy rows, whole-file writes, deterministic names (no duplicates on rewrite)."""
from pathlib import Path

from shared.results import ResultsStore, RunInfo, metric_rows


def info(trial: str = "t1") -> RunInfo:
    return RunInfo(experiment="exp", method="care", paper="CARE", dataset="shapes", seed=0, trial=trial,
                   config_json='{"lam": 0.1}', code_version="abc")


def test_rows_are_tidy_and_skip_non_numbers():
    rows = metric_rows(info(), 3, {"loss": 1.5, "knn_acc": 0.5, "note": "x", "done": True}, "running", 2.0)
    assert sorted(r["metric"] for r in rows) == ["knn_acc", "loss"]
    assert all(r["epoch"] == 3 and r["trial"] == "t1" and r["config"] == '{"lam": 0.1}' for r in rows)


def test_write_read_and_rewrite_same_epoch(tmp_path: Path):
    store = ResultsStore(tmp_path)
    store.write_epoch(info(), 1, {"loss": 2.0}, "running", 1.0)
    store.write_epoch(info(), 2, {"loss": 1.0}, "final", 2.0)
    store.write_epoch(info(), 2, {"loss": 0.9}, "final", 2.5)  # a resumed trial repeats epoch 2
    store.write_epoch(info("t2"), 1, {"loss": 3.0}, "final", 1.0)
    table = store.read("exp").to_pandas()
    assert len(table) == 3
    assert table.set_index(["trial", "epoch"]).loc[("t1", 2), "value"] == 0.9
    assert not list(tmp_path.rglob(".tmp-*")), "temporary files must be renamed away"


def test_storage_root_from_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RAYSTUDY_STORAGE", str(tmp_path / "store"))
    assert ResultsStore().root == str(tmp_path / "store")


def test_read_of_missing_experiment_is_empty(tmp_path: Path):
    assert ResultsStore(tmp_path).read("nothing").num_rows == 0


def test_set_aside_moves_rows_and_put_file_copies(tmp_path: Path):
    store = ResultsStore(tmp_path)
    store.write_epoch(info(), 1, {"loss": 2.0}, "running", 1.0)
    moved = store.set_aside("exp")
    assert moved and store.read("exp").num_rows == 0 and Path(moved).is_dir()
    assert store.set_aside("exp") is None
    local = tmp_path / "note.md"
    local.write_text("hello")
    out = store.put_file(local, "reports", "exp", "note.md")
    assert Path(out).read_text() == "hello"


def test_store_through_a_filesystem_uri(tmp_path: Path):
    """A pyarrow filesystem URI (s3://, gs://, ...) goes through the same code; file:// tests it here."""
    store = ResultsStore(f"file://{tmp_path}")
    assert store.root.startswith("file://")
    store.write_epoch(info(), 1, {"loss": 2.0}, "final", 1.0)
    assert store.read("exp").num_rows == 1 and store.experiments() == ["exp"]
    store.write_text('{"a": 1}', "studies", "s", "state.json")
    assert store.exists("studies", "s", "state.json") and store.read_text("studies", "s", "state.json") == '{"a": 1}'
    assert store.read_text("studies", "s", "missing.json") is None
    assert (tmp_path / "studies" / "s" / "state.json").exists()
