"""Poison-set selection and the patch trigger of no-label backdoors (Wang, Ma, Jegelka, Wang, "How to Craft
Backdoors with Unlabeled Data Alone?", arXiv 2404.06694).

Purpose: this module exists to *measure* how robust self-supervised pretraining is to poisoning by an attacker
who sees unlabelled data only (the `nlb` method, ``shared/methods/ssl/nlb.py``). It reimplements the paper's
selection rules and its CIFAR trigger at the platform's small scale so that the attack's strength, and any
defence, can be quantified; it contains nothing beyond what the paper and its public code (`PKU-ML/nlb`) give.

Selection reads L2-normalised features h_i of the pretraining images from a surrogate encoder and returns M
indices to poison:

- :func:`contrastive_selection` (`con`): S = H H^T; for each candidate anchor a, with s_a(1) >= s_a(2) >= ...
  its sorted similarities (itself included, s = 1),

      score(a) = sum_{k=1..M} s_a(k) - sum_{k=M+1..2M} s_a(k),

  a tight neighbourhood (first term) that is well separated from what lies just outside it (second term).
  The anchor is argmax_a score(a); the poison set is its M nearest neighbours (the anchor included).
- :func:`clustering_selection` (`kmean`): k-means with C clusters; the smallest cluster with >= M members;
  its first M members in data order.
- :func:`random_selection` (`rand`): M indices uniformly without replacement (the baseline).

:func:`purity` is the paper's TPR: the share of the poison set carrying its majority label (the attack's target
class, :func:`majority_label`). :func:`add_checkerboard` stamps the trigger (`checkerboard_center`).

Pure torch / numpy / scikit-learn; nothing here imports Ray.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# The official `generate_trigger_cifar('checkerboard_center')` values, rows top to bottom.
CHECKERBOARD = ((0, 0, 255), (0, 255, 0), (255, 0, 255))


def _check_m(n: int, m: int, factor: int = 1) -> None:
    if m < 1:
        raise ValueError(f"poison set size m must be >= 1, got {m}")
    if factor * m > n:
        raise ValueError(f"need {factor} * m = {factor * m} <= n = {n} candidate images")


def contrastive_scores(features: torch.Tensor, m: int, chunk: int = 2048) -> torch.Tensor:
    """score(a) = (sum of a's top-M cosine similarities) - (sum of the next M), for every row a.

    Features are L2-normalised first, so the scores do not change when rows are rescaled. S = H H^T is
    computed ``chunk`` rows at a time (memory chunk x N), so N is bounded by time, not memory.
    """
    h = F.normalize(features.detach().float(), dim=1)
    n = h.shape[0]
    _check_m(n, m, factor=2)
    sign = torch.cat([torch.ones(m), -torch.ones(m)])
    out = []
    for start in range(0, n, chunk):
        top = torch.topk(h[start : start + chunk] @ h.T, 2 * m, dim=1).values  # sorted, descending
        out.append(top @ sign)
    return torch.cat(out)


def nearest_neighbours(features: torch.Tensor, anchor: int, m: int) -> torch.Tensor:
    """The anchor and its M - 1 most cosine-similar other rows: exactly M unique indices, anchor first.

    (The official ``get_near_index`` takes the top-M of h @ h_anchor, which contains the anchor itself
    unless another row duplicates it; putting the anchor first makes that hold always.)
    """
    h = F.normalize(features.detach().float(), dim=1)
    _check_m(h.shape[0], m)
    sims = h @ h[anchor]
    sims[anchor] = float("inf")
    return torch.topk(sims, m).indices


def contrastive_selection(features: torch.Tensor, m: int, chunk: int = 2048) -> torch.Tensor:
    """The paper's contrastive selection: the best-scoring anchor's M nearest neighbours (anchor first).

    Returns int64 (M,) unique indices into ``features``. Ties between anchors go to the lowest index.
    """
    anchor = int(torch.argmax(contrastive_scores(features, m, chunk)))
    return nearest_neighbours(features, anchor, m)


def clustering_selection(features: torch.Tensor, m: int, n_clusters: int, seed: int = 0) -> torch.Tensor:
    """k-means selection: the smallest of ``n_clusters`` clusters that has >= M members, its first M members.

    MiniBatchKMeans on the L2-normalised features with a fixed ``random_state`` (the official code leaves it
    unseeded); ties between equally small clusters go to the lowest cluster label, as the official
    ``list.index``. Returns int64 (M,) indices in increasing order.
    """
    from sklearn.cluster import MiniBatchKMeans  # local import: only this selection needs sklearn

    h = F.normalize(features.detach().float(), dim=1).numpy().astype(np.float64)
    _check_m(h.shape[0], m)
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be >= 1, got {n_clusters}")
    kmeans = MiniBatchKMeans(n_clusters=n_clusters, n_init=3, random_state=seed, batch_size=1024)
    assignment = kmeans.fit_predict(h)
    counts = np.bincount(assignment, minlength=n_clusters)
    eligible = np.flatnonzero(counts >= m)
    if eligible.size == 0:
        raise ValueError(f"no cluster has m={m} members (largest: {counts.max()}); lower the poison rate")
    chosen = eligible[np.argmin(counts[eligible])]  # argmin returns the first of equal minima
    return torch.from_numpy(np.flatnonzero(assignment == chosen)[:m]).long()


def random_selection(n: int, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """M indices of range(n), uniformly without replacement (the paper's `rand` baseline)."""
    _check_m(n, m)
    return torch.randperm(n, generator=generator)[:m]


def majority_label(indices: torch.Tensor, labels: torch.Tensor) -> int:
    """The most frequent true label of the selected images (the attack's target class; ties: lowest)."""
    return int(torch.bincount(labels[indices]).argmax())


def purity(indices: torch.Tensor, labels: torch.Tensor) -> float:
    """TPR of a poison set: the share of its images whose label is the set's majority label."""
    selected = labels[indices]
    return (selected == majority_label(indices, labels)).float().mean().item()


def trigger_box(height: int, width: int) -> tuple[slice, slice]:
    """Rows and columns of the 3x3 patch centred at ((H - 1) // 2, (W - 1) // 2): (15, 15) at 32 px, as
    the official `checkerboard_center`."""
    if height < 3 or width < 3:
        raise ValueError(f"images of {height}x{width} px cannot hold a 3x3 trigger")
    r, c = (height - 1) // 2, (width - 1) // 2
    return slice(r - 1, r + 2), slice(c - 1, c + 2)


def add_checkerboard(images: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """A copy of ``images`` (N, 3, H, W) or (3, H, W) with the 3x3 checkerboard blended into the centre:
    x <- (1 - alpha) x + alpha p inside the patch, unchanged outside.

    uint8 images use the official 0 / 255 values (blended, clipped and truncated to uint8 as the official
    ``add_trigger``); float images are taken to lie in [0, 1] and use 0 / 1. The official pattern is one
    channel broadcast over R, G and B, so the patch is black and white, as here.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    rows, cols = trigger_box(images.shape[-2], images.shape[-1])
    out = images.clone()
    pattern = torch.tensor(CHECKERBOARD, dtype=torch.float32)
    if images.dtype == torch.uint8:
        patch = out[..., rows, cols].float()
        out[..., rows, cols] = ((1.0 - alpha) * patch + alpha * pattern).clamp(0, 255).to(torch.uint8)
    else:
        patch = out[..., rows, cols]
        out[..., rows, cols] = (1.0 - alpha) * patch + alpha * (pattern / 255.0).to(patch.dtype)
    return out
