"""The specs of CSR, CSRv2, MRL and SSR, torch-free: their configs come from ``config.py`` and their trainers and
evaluators are named (``LazyClass``), imported only where a trial builds them, so a sweep's driver validates their
configs without torch (tests/test_fixed_costs.py). The registry points at these; ``csr.py``, ``csr_v2.py``,
``mrl.py`` and ``ssr.py`` re-export them as their ``SPEC``."""
from __future__ import annotations

from shared.method import LazyClass, Measure, MethodSpec, Resources
from shared.methods.sparse.config import CSRConfig, CSRv2Config, MRLConfig, SSRConfig

_M = "shared.methods.sparse"
# common.py's SPARSE_EVALUATORS, by name, with what each reports (checked equal in the tests)
SPARSE_EVALUATORS = (
    LazyClass(f"{_M}.common:CodeQuality", metrics=("nn_acc", "nn_acc_pca", "nn_acc_full", "dead_fraction",
                                                   "active_dims")),
    LazyClass(f"{_M}.common:Retrieval", metrics=("recall_at_10", "ndcg_at_10", "query_ms")),
)
# CSR and CSRv2 are judged alike: accuracy and retrieval at k active dimensions, and how few latents die
_CSR_HEADLINE = (Measure("nn_acc"), Measure("ndcg_at_10"), Measure("dead_fraction", "min"))

CSR = MethodSpec(
    name="csr",
    paper="Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation (CSR, ICML 2025)",
    family="sparse",
    config=CSRConfig,
    trainer=LazyClass(f"{_M}.csr:CSRTrainer"),
    evaluators=SPARSE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=_CSR_HEADLINE,
    compare=("k",),
    description="tied top-k SAE on frozen embeddings + multi-top-k + AuxK + in-batch contrastive term",
)

CSR_V2 = MethodSpec(
    name="csr_v2",
    paper="CSRv2: Unlocking Ultra-Sparse Embeddings (ICLR 2026)",
    family="sparse",
    config=CSRv2Config,
    trainer=LazyClass(f"{_M}.csr_v2:CSRv2Trainer"),
    evaluators=SPARSE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=_CSR_HEADLINE,
    compare=("k",),
    description="CSR with k annealed over global steps and the supervised sum-inside-log contrastive term",
)

MRL = MethodSpec(
    name="mrl",
    paper="Matryoshka Representation Learning (MRL, NeurIPS 2022; baseline of CSR and CSRv2)",
    family="sparse",
    config=MRLConfig,
    trainer=LazyClass(f"{_M}.mrl:MRLTrainer"),
    evaluators=SPARSE_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("nn_acc"), Measure("ndcg_at_10")),
    compare=("k",),
    description="linear head with nested-prefix cross-entropy losses, evaluated at its first k coordinates",
)

SSR = MethodSpec(
    name="ssr",
    paper="No More K-means: Single-Stage Sparse Coding for Efficient Multi-Vector Retrieval (SSR, ICML 2026)",
    family="sparse",
    config=SSRConfig,
    trainer=LazyClass(f"{_M}.ssr:SSRTrainer"),
    evaluators=(LazyClass(f"{_M}.ssr:MultiVectorRetrieval",
                          metrics=("ndcg_at_10", "recall_at_10", "ndcg_at_10_pruned", "pruned_top1_agreement",
                                   "ndcg_at_10_dense", "ndcg_at_10_kmeans", "dead_fraction", "active_dims",
                                   "index_build_s", "kmeans_build_s", "query_ms")),),
    resources=Resources(cpu=1),
    headline=(Measure("ndcg_at_10"), Measure("ndcg_at_10_dense"), Measure("query_ms", "min")),
    compare=("k",),
    description="token-level tied top-k SAE codes + sparse MaxSim over an inverted index (no k-means)",
)
