"""Small configurations shared by the tests (seconds per epoch on one core)."""

TINY = [
    "epochs=2",
    "batch_size=32",
    "model.width=4",
    "model.proj_hidden=32",
    "model.proj_dim=16",
    "data.n_train=128",
    "data.n_test=64",
    "equiv_splits=4",
    "eval.knn_k=20",
    "eval.equiv_pairs=1",
]


def tiny(*extra: str, method: str = "care") -> list[str]:
    items = [t for t in TINY if method == "care" or not t.startswith("equiv_splits")]
    return items + list(extra)
