"""Benchmark: the inverted index (``shared/sparse/index.py``) against FAISS IndexFlatIP and a dense matmul, on the
same sparse codes and queries (ratios printed side by side, nothing asserted).

    python jobs/bench_retrieval.py [--docs 100000] [--latents 1536] [--queries 200] [--ks 2 4 8 16 32]
                                   [--top 10] [--threads 1] [--seed 0]
                                   [--pareto DIR [--source digits|text] [--epochs 12]]
    ray job submit --working-dir . -- python jobs/bench_retrieval.py --docs 1000000 --latents 512 --shards 8

Codes are synthetic, with the learnt codes' shape: ``k`` non-zero, non-negative values per row among ``latents``
(1536 = 4 x MiniLM's 384, CSR's hidden width), latent ids drawn with Zipf-like popularity (learnt latents do not
fire equally often). FAISS and the matmul search the same codes stored dense (float32: docs x latents x 4 bytes).
Per k: milliseconds per query of each, wall and CPU (best of ``--repeats`` after a warm-up), the ratios, whether
the top-``top`` scores of all three agree and whether the index's ids equal FAISS's (exact search: they must, except
between equal scores: a position may hold another document only where FAISS's top-``top + 1`` has a tie there).
Memory: FAISS holds the corpus dense (docs x latents x 4 bytes, filled in chunks); the dense matmul reads FAISS's
own copy (no second one); the index holds each code twice (CSC postings and CSR rows, 8 bytes a value).
10^6 codes of 1,536 latents (CSR's width on MiniLM) take 6.1 GB dense: ``--docs 1000000 --queries 64``.

``--shards N``: the corpus codes are generated in N Ray tasks (``jobs/sharded_index.py``) and stacked into one index.
``--pareto DIR``: also accuracy against latency of learnt codes (``jobs/retrieval_pareto.py``): CSR and MRL trained at
each k on the ``--source`` embeddings, nDCG@10 and milliseconds per query of the inverted index and FAISS flat;
writes ``DIR/pareto.csv`` and the plot ``DIR/pareto.png`` (Pareto front marked).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from shared.sparse.index import InvertedIndex, top_k_rows  # noqa: E402

CHUNK = 65_536  # rows generated (and densified for FAISS) at once: bounds the temporary memory


def synthetic_codes(n: int, latents: int, k: int, rng: np.random.Generator) -> sp.csr_matrix:
    """n rows of k distinct latents each (popularity ~ 1 / rank^0.8), values |N(0, 1)| + 0.1, unit-normalised."""
    popularity = 1.0 / np.arange(1, latents + 1) ** 0.8
    cols = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, CHUNK):  # weighted sampling without replacement (Efraimidis-Spirakis keys), in chunks
        keys = rng.random((min(CHUNK, n - start), latents)) ** (1.0 / popularity)
        cols[start:start + CHUNK] = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    vals = np.abs(rng.standard_normal((n, k))) + 0.1
    vals /= np.linalg.norm(vals, axis=1, keepdims=True)
    rows = np.repeat(np.arange(n), k)
    return sp.csr_matrix((vals.ravel().astype(np.float32), (rows, cols.ravel())), shape=(n, latents))


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object, float]:
    """(best wall seconds, the result, best CPU seconds of this process) over ``repeats`` calls after a warm-up:
    on a shared machine CPU seconds are the fair measure (every arm runs on one thread)."""
    out = fn()  # warm-up
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        best, best_cpu = min(best, time.perf_counter() - start), min(best_cpu, time.process_time() - start_cpu)
    return best, out, best_cpu


def same_results(ids: np.ndarray, scores: np.ndarray, ref_ids: np.ndarray, ref_scores: np.ndarray,
                 atol: float = 1e-5) -> bool:
    """Equal top-k: scores equal within ``atol``, and ids equal wherever the reference (with one more column than
    compared) has no other score within ``atol`` of that position's (ties may be broken either way)."""
    top = ids.shape[1]
    if not np.allclose(scores, ref_scores[:, :top], atol=atol):
        return False
    gaps = np.abs(ref_scores[:, :top, None] - ref_scores[:, None, :])  # (queries, top, top + 1)
    tied = (gaps <= atol).sum(axis=2) > 1
    return bool(np.all((ids == ref_ids[:, :top]) | tied))


def flat_index(docs: sp.csr_matrix) -> tuple[object, np.ndarray]:
    """FAISS IndexFlatIP over the codes (added in chunks: no full dense temporary) and a view of its storage."""
    import faiss

    flat = faiss.IndexFlatIP(docs.shape[1])
    for start in range(0, docs.shape[0], CHUNK):
        flat.add(docs[start:start + CHUNK].toarray())
    return flat, faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)


def one_k(args: argparse.Namespace, k: int, rng: np.random.Generator) -> dict[str, float]:
    import torch

    if args.shards > 1:  # corpus coding and index building as Ray tasks over shards
        from jobs.sharded_index import synthetic_sharded

        docs = synthetic_sharded(args.docs, args.latents, k, args.seed, args.shards)
    else:
        docs = synthetic_codes(args.docs, args.latents, k, rng)
    queries = synthetic_codes(args.queries, args.latents, k, rng)
    index = InvertedIndex.build(docs)
    del docs
    flat, dense_docs = flat_index(index.rows)
    dense_queries = queries.toarray()
    docs_t, queries_t = torch.from_numpy(dense_docs), torch.from_numpy(dense_queries)
    t_index, (i_index, s_index), c_index = best_time(lambda: index.search(queries, args.top), args.repeats)
    t_faiss, (s_faiss, _), c_faiss = best_time(lambda: flat.search(dense_queries, args.top), args.repeats)
    t_dense, (_, s_dense), c_dense = best_time(lambda: top_k_rows((queries_t @ docs_t.T).numpy(), args.top),
                                               args.repeats)
    ref_scores, ref_ids = flat.search(dense_queries, min(args.top + 1, args.docs))  # untimed: for the tie check
    same = bool(np.allclose(s_index, s_faiss, atol=1e-5) and np.allclose(s_index, s_dense, atol=1e-5))
    per_query = 1000.0 / args.queries
    index_bytes = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in (index.postings, index.rows))
    return {"k": k, "index_ms": t_index * per_query, "faiss_ms": t_faiss * per_query,
            "dense_ms": t_dense * per_query, "faiss_over_index": t_faiss / t_index,
            "dense_over_index": t_dense / t_index, "same_scores": same,
            "index_cpu_ms": c_index * per_query, "faiss_cpu_ms": c_faiss * per_query,
            "faiss_over_index_cpu": c_faiss / max(c_index, 1e-9), "dense_over_index_cpu": c_dense / max(c_index, 1e-9),
            "same_ids": same_results(i_index, s_index, ref_ids, ref_scores),
            "dense_gb": dense_docs.nbytes / 1e9, "index_gb": index_bytes / 1e9}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--latents", type=int, default=1536)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--ks", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="FAISS and torch threads (the index is single-threaded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shards", type=int, default=1, help="generate the corpus codes in this many Ray tasks")
    p.add_argument("--pareto", type=Path, default=None, help="write the accuracy-vs-latency plot of learnt codes here")
    p.add_argument("--source", choices=["digits", "text"], default="digits", help="--pareto: the embeddings")
    p.add_argument("--epochs", type=int, default=12, help="--pareto: training epochs of each head")
    args = p.parse_args(argv)
    if min(args.docs, args.latents, args.queries, args.top, args.repeats, args.threads, args.epochs, args.shards) < 1:
        p.exit(2, "bench_retrieval: --docs, --latents, --queries, --top, --repeats, --threads, --epochs and --shards "
                  "must be >= 1\n")
    if min(args.ks) < 1 or max(args.ks) > args.latents or args.top > args.docs:
        p.exit(2, f"bench_retrieval: every k must lie in [1, --latents={args.latents}] and --top <= --docs\n")
    return args


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    args = parse(argv)
    import faiss
    import torch

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    if args.shards > 1:
        from cluster import connect

        print(f"[raystudy] {connect().describe()}", flush=True)
    print(f"{args.docs} codes, {args.latents} latents, {args.queries} queries, top {args.top}, "
          f"{args.threads} thread(s)")
    print("k   index ms/q  faiss ms/q  dense ms/q  faiss/index  dense/index  | CPU ms/q: index  faiss  "
          "faiss/index  dense/index | same scores  same ids  dense GB  index GB")
    rows = []
    for k in args.ks:
        r = one_k(args, k, rng)
        rows.append(r)
        print(f"{k:<3} {r['index_ms']:>10.3f}  {r['faiss_ms']:>10.3f}  {r['dense_ms']:>10.3f}  "
              f"{r['faiss_over_index']:>11.1f}  {r['dense_over_index']:>11.1f}  | {r['index_cpu_ms']:>15.3f}  "
              f"{r['faiss_cpu_ms']:>5.1f}  {r['faiss_over_index_cpu']:>11.1f}  {r['dense_over_index_cpu']:>11.1f} | "
              f"{r['same_scores']!s:>11}  "
              f"{r['same_ids']!s:>8}  {r['dense_gb']:>8.2f}  {r['index_gb']:>8.3f}", flush=True)
    if args.pareto is not None:
        pareto(args)
    return rows


def pareto(args: argparse.Namespace) -> list[dict]:
    from jobs.retrieval_pareto import measure_points, write_outputs

    overrides = [f"epochs={args.epochs}", f"seed={args.seed}", f"data.seed={args.seed}", f"data.source={args.source}",
                 f"threads={args.threads}", "batch_size=128"]
    points = measure_points(args.ks, overrides, args.repeats)
    print(f"\nlearnt codes ({args.source}, {args.epochs} epochs): nDCG@10 against ms per query")
    print("point                 nDCG@10  ms/query  Pareto")
    for r in points:
        print(f"{r['point']:<20} {r['ndcg_at_10']:>8.3f}  {r['ms_per_query']:>8.3f}  {'*' if r['pareto'] else ''}")
    table, plot = write_outputs(points, args.pareto, f"{args.source}: accuracy against query latency")
    print(f"wrote {table} and {plot}")
    return points


if __name__ == "__main__":
    main()
