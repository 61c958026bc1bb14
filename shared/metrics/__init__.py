"""Measures shared by methods: linear probe, weighted kNN, orthogonal Procrustes, feature monosemanticity.
Pure torch."""
from shared.metrics.knn import knn_accuracy
from shared.metrics.monosemanticity import (
    active_dims,
    effective_rank,
    nonneg_ratio,
    orthogonality_error,
    random_sparse_like,
    semantic_consistency,
    semantic_consistency_control,
    sparsity,
    symmetric_label_noise,
)
from shared.metrics.probe import linear_probe
from shared.metrics.procrustes import procrustes, procrustes_residual

__all__ = ["active_dims", "effective_rank", "knn_accuracy", "linear_probe", "nonneg_ratio", "orthogonality_error",
           "procrustes", "procrustes_residual", "random_sparse_like", "semantic_consistency",
           "semantic_consistency_control", "sparsity", "symmetric_label_noise"]
