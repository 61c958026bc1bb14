"""Feature statistics of "Beyond Interpretability: The Gains of Feature Monosemanticity on Model Robustness"
(Zhang et al., 2024; the official code logs them during training), and the symmetric label noise of its
robustness probes. Pure torch, on a matrix of features (N samples x d dimensions)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

ZERO = 1e-5  # |value| at or below this counts as inactive


def nonneg_ratio(z: torch.Tensor) -> float:
    """Fraction of entries >= 0 (1 for non-negative codes)."""
    return (z >= 0).float().mean().item()


def sparsity(z: torch.Tensor) -> float:
    """Fraction of entries that are (numerically) zero."""
    return 1.0 - (z.abs() > ZERO).float().mean().item()


def active_dims(z: torch.Tensor) -> int:
    """Dimensions that are non-zero for at least one sample."""
    return int((z.abs() > ZERO).any(dim=0).sum().item())


def effective_rank(z: torch.Tensor) -> float:
    """exp of the entropy of the normalised singular values (Roy & Vetterli, 2007); between 1 and min(N, d).
    (The official code logs the entropy itself; its exponential reads as a number of dimensions.)"""
    s = torch.linalg.svdvals(z.float())
    p = s / s.sum().clamp_min(1e-12)
    return float(torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()))


def semantic_consistency(z: torch.Tensor, labels: torch.Tensor) -> float:
    """For each active dimension, the share of the most frequent label among the samples that activate it,
    averaged over dimensions: 1 when every dimension fires for one class only. For dense codes, where every
    dimension fires for every sample, it is the largest class's share."""
    active = z.abs() > ZERO
    shares = []
    for j in torch.nonzero(active.any(dim=0)).flatten().tolist():
        counts = torch.bincount(labels[active[:, j]])
        shares.append(counts.max().item() / counts.sum().item())
    return sum(shares) / len(shares) if shares else 0.0


def random_sparse_like(z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random code of ``z``'s shape with the same number of non-zeros in every row (sample), at positions drawn
    uniformly without replacement, with values in [0.5, 1): the same sparsity, no learned structure."""
    active_per_row = (z.abs() > ZERO).sum(dim=1, keepdim=True)
    rank = torch.rand(z.shape, generator=generator).argsort(dim=1).argsort(dim=1)  # a random permutation per row
    values = 0.5 + 0.5 * torch.rand(z.shape, generator=generator)
    return values * (rank < active_per_row)


def semantic_consistency_control(z: torch.Tensor, labels: torch.Tensor, draws: int = 5, seed: int = 0) -> float:
    """:func:`semantic_consistency` of random codes as sparse as ``z`` (:func:`random_sparse_like`), averaged over
    ``draws``: what sparsity alone scores. Fewer samples per active dimension raise the largest class's share by
    chance (a dense code scores the largest class's share; a top-16-of-128 code about 0.17 on 360 digits), so a
    code is more monosemantic than its sparsity explains only if it beats this figure."""
    generator = torch.Generator().manual_seed(seed)
    return sum(semantic_consistency(random_sparse_like(z, generator), labels) for _ in range(draws)) / draws


def symmetric_label_noise(labels: torch.Tensor, rate: float, classes: int, generator: torch.Generator) -> torch.Tensor:
    """A ``rate`` fraction of the labels, chosen at random, replaced by a label drawn uniformly from the other
    classes (the official ``classification_dataloader.py``, there for CIFAR-100 only)."""
    noisy = labels.clone()
    n = labels.shape[0]
    flip = torch.randperm(n, generator=generator)[: round(rate * n)]
    offset = torch.randint(1, classes, (flip.shape[0],), generator=generator)
    noisy[flip] = (labels[flip] + offset) % classes
    return noisy


def orthogonality_error(z: torch.Tensor) -> float:
    """Mean |C - I| over the active dimensions' cosine-correlation matrix C (0 for orthogonal dimensions)."""
    z = z[:, (z.abs() > ZERO).any(dim=0)]
    c = F.normalize(z.float(), dim=0)
    c = c.T @ c
    return (c - torch.eye(c.shape[0])).abs().mean().item()
