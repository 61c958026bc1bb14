"""Orthogonal Procrustes: the rotation (or reflection) that best maps one point set onto another."""
from __future__ import annotations

import torch


def procrustes(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The orthogonal R minimising ||a R - b||_F for row-vector point sets a, b of shape (n, d).

    With the SVD a^T b = U S V^T, the minimiser is R = U V^T (Schonemann, 1966).
    """
    u, _, vh = torch.linalg.svd(a.double().T @ b.double())
    return (u @ vh).to(a.dtype)


def procrustes_residual(
    a_fit: torch.Tensor, b_fit: torch.Tensor, a_eval: torch.Tensor, b_eval: torch.Tensor
) -> dict[str, float]:
    """Fit R on (a_fit, b_fit), measure how well it maps a_eval onto b_eval.

    Returns:
        residual: mean squared error per point, ||a_eval R - b_eval||^2 / n;
        relative_residual: ||a_eval R - b_eval||^2 / ||a_eval - b_eval||^2, the share of the change that a
            rotation does not explain (0: the map is exactly orthogonal; about 1: the rotation explains
            nothing beyond the identity);
        normalized_residual: ||a_eval R - b_eval||^2 / ||b_eval - mean(b_eval)||^2, the share of b's variance
            that the orthogonal map leaves unexplained. Unlike relative_residual its denominator does not move
            with how far b is from a: a nearly invariant encoder (b = a + noise) and one that rotates
            (b = (a + noise) Q) with the same absolute residual score the same (0: exactly orthogonal);
        moved: ||a_eval - b_eval||^2 / ||b_eval - mean(b_eval)||^2, how far the map moves the points (0 for an
            invariant encoder), relative_residual's denominator on the same scale;
        rotation_angle: mean absolute rotation angle of R in radians (0 for the identity).
    """
    r = procrustes(a_fit, b_fit)
    err = (a_eval @ r - b_eval).pow(2).sum().item()
    moved = (a_eval - b_eval).pow(2).sum().item()
    spread = (b_eval - b_eval.mean(0)).pow(2).sum().item()
    eig = torch.linalg.eigvals(r.double())
    return {
        "residual": err / a_eval.shape[0],
        "relative_residual": err / max(moved, 1e-12),
        "normalized_residual": err / max(spread, 1e-12),
        "moved": moved / max(spread, 1e-12),
        "rotation_angle": eig.angle().abs().mean().item(),
    }
