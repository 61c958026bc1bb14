"""Measures shared by methods: linear probe, weighted kNN, orthogonal Procrustes. Pure torch."""
from shared.metrics.knn import knn_accuracy
from shared.metrics.probe import linear_probe
from shared.metrics.procrustes import procrustes, procrustes_residual

__all__ = ["knn_accuracy", "linear_probe", "procrustes", "procrustes_residual"]
