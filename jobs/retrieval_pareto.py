"""Accuracy against query latency of learnt codes (``jobs/bench_retrieval.py --pareto DIR``): CSR and MRL trained
at each k on the same frozen embeddings, the corpus coded and searched by the held-out queries.

Points (nDCG@10 of the retrieval task, milliseconds per query, best of ``repeats``):
- ``csr k=K index``: CSR's codes through the inverted index (``shared/sparse/index.py``, exact);
- ``csr k=K faiss``: the same codes stored dense (``hidden`` floats) in FAISS ``IndexFlatIP`` (same results);
- ``mrl k=K faiss``: MRL's first K coordinates in FAISS flat (K floats);
- ``full faiss``: the raw embedding in FAISS flat.
The Pareto front is the points no other point beats on both axes. Written whole: ``pareto.csv``, ``pareto.png``.
"""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from shared import atomic
from shared.methods.sparse.common import RETRIEVAL_AT, retrieval_scores
from shared.registry import get_method
from shared.sparse.index import InvertedIndex

FIELDS = ("point", "method", "k", "search", "ndcg_at_10", "ms_per_query", "pareto")


def per_query_ms(fn: Any, n_queries: int, repeats: int) -> tuple[float, Any]:
    out = fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return 1000.0 * best / n_queries, out


def faiss_search(corpus: torch.Tensor, queries: torch.Tensor, top: int, repeats: int) -> tuple[float, np.ndarray]:
    import faiss

    flat = faiss.IndexFlatIP(corpus.shape[1])
    flat.add(np.ascontiguousarray(corpus.numpy(), dtype=np.float32))
    q = np.ascontiguousarray(queries.numpy(), dtype=np.float32)
    ms, (_, ids) = per_query_ms(lambda: flat.search(q, top), len(q), repeats)
    return ms, ids


def index_search(corpus: torch.Tensor, queries: torch.Tensor, top: int, repeats: int) -> tuple[float, np.ndarray]:
    index = InvertedIndex.build(corpus)
    ms, (ids, _) = per_query_ms(lambda: index.search(queries, top), len(queries), repeats)
    return ms, ids


def trained_coder(method: str, k: int, overrides: list[str]) -> tuple[Any, Any]:
    spec = get_method(method)
    trainer = spec.make_trainer(spec.load_config([f"k={k}", *overrides]))
    while not trainer.done:
        trainer.fit_epoch()
    return trainer.artifact(), trainer.data


def coded(method: str, k: int, overrides: list[str]) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """The unit-normalised codes of the corpus and of the queries by ``method`` trained at k, and the data."""
    coder, data = trained_coder(method, k, overrides)
    with torch.no_grad():
        return F.normalize(coder(data.corpus_x), dim=1), F.normalize(coder(data.query_x), dim=1), data


def point(name: str, method: str, k: int, search: str, ids: np.ndarray, ms: float, data: Any) -> dict[str, Any]:
    ndcg = retrieval_scores(torch.as_tensor(ids, dtype=torch.long), data.query_y, data.corpus_y)["ndcg_at_10"]
    return {"point": name, "method": method, "k": k, "search": search, "ndcg_at_10": ndcg, "ms_per_query": ms}


def measure_points(ks: list[int], overrides: list[str], repeats: int) -> list[dict[str, Any]]:
    """The points of every method at every k (and the full embedding), on one data split."""
    rows, data = [], None
    top = RETRIEVAL_AT
    for k in ks:
        corpus, queries, data = coded("csr", k, overrides)
        ms, ids = index_search(corpus, queries, min(top, len(corpus)), repeats)
        rows.append(point(f"csr k={k} index", "csr", k, "inverted index", ids, ms, data))
        ms, ids = faiss_search(corpus, queries, min(top, len(corpus)), repeats)
        rows.append(point(f"csr k={k} faiss", "csr", k, "faiss flat", ids, ms, data))
        corpus, queries, data = coded("mrl", k, overrides)
        ms, ids = faiss_search(corpus, queries, min(top, len(corpus)), repeats)
        rows.append(point(f"mrl k={k} faiss", "mrl", k, "faiss flat", ids, ms, data))
    full_c, full_q = F.normalize(data.corpus_x, dim=1), F.normalize(data.query_x, dim=1)
    ms, ids = faiss_search(full_c, full_q, min(top, len(full_c)), repeats)
    rows.append(point("full faiss", "full", data.dim, "faiss flat", ids, ms, data))
    return mark_pareto(rows)


def mark_pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``pareto`` is True for a point that no other point matches or beats on both axes while beating it on one."""
    for r in rows:
        r["pareto"] = not any(o is not r and o["ndcg_at_10"] >= r["ndcg_at_10"]
                              and o["ms_per_query"] <= r["ms_per_query"]
                              and (o["ndcg_at_10"] > r["ndcg_at_10"] or o["ms_per_query"] < r["ms_per_query"])
                              for o in rows)
    return rows


def pareto_figure(rows: list[dict[str, Any]], title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    styles = {"inverted index": "o", "faiss flat": "s"}
    colours = {"csr": "C0", "mrl": "C1", "full": "C2"}
    for r in rows:
        ax.scatter(r["ms_per_query"], r["ndcg_at_10"], marker=styles[r["search"]], color=colours[r["method"]],
                   edgecolors="black" if r["pareto"] else "none", s=48)
        ax.annotate(r["point"], (r["ms_per_query"], r["ndcg_at_10"]), fontsize=7, xytext=(4, 2),
                    textcoords="offset points")
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["ms_per_query"])
    ax.step([r["ms_per_query"] for r in front], [r["ndcg_at_10"] for r in front], where="post", color="grey",
            linestyle="--", label="Pareto front")
    for search, marker in styles.items():
        ax.scatter([], [], marker=marker, color="white", edgecolors="black", label=search)
    for method, colour in colours.items():
        ax.scatter([], [], marker="o", color=colour, label=method)
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds per query (log; lower is better)")
    ax.set_ylabel("nDCG@10 (higher is better)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def write_outputs(rows: list[dict[str, Any]], directory: Path, title: str) -> tuple[Path, Path]:
    """pareto.csv and pareto.png, each written whole (temporary name + rename)."""
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    table = directory / "pareto.csv"
    atomic.write_text(table, text.getvalue())
    fig = pareto_figure(rows, title)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    plot = directory / "pareto.png"
    atomic.write_bytes(plot, png.getvalue())
    return table, plot
