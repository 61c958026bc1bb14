"""k-variance and the kV-Margin complexity measures ("Measuring Generalization with Optimal Transport", Chuang,
Mroueh, Greenewald, Torralba, Jegelka; NeurIPS 2021). numpy + POT for the transport, torch for margin gradients.

    Var_k(mu) = E_{S, S' ~ mu^k} W_1(mu_S, mu_S')        (two independent k-samples; W_1 by ``ot.emd2``)

The official ``complexity.py`` estimates it per class from one random split of the class's samples into two halves
(k = n_c // 2); ``draws`` averages several such splits. With margins gamma(x) = f(x)_y - max_{y' != y} f(x)_{y'} and
the gradient of f_y - f_{y'} with respect to the features phi(x) at a chosen layer:

    kV-Margin     score = -median(gamma) / sum_c w_c Var_k(phi # mu_c) Lip_c,   Lip_c = max_{x in c} ||grad||
    kV-GN-Margin  score = -median(gamma(x) / (||grad(x)|| + 1e-6)) / sum_c w_c Var_k(phi # mu_c)
    margin        score = -median(gamma)

Higher score = worse predicted generalisation (a larger gap). w_c is the class's share of the measured samples.
"""
from __future__ import annotations

import numpy as np
import ot
import torch
from scipy.spatial.distance import cdist


def wasserstein1(a: np.ndarray, b: np.ndarray) -> float:
    """W_1 between two uniform empirical measures on Euclidean points (``ot.emd2``)."""
    return float(ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), cdist(a, b)))


def k_variance(points: np.ndarray, rng: np.random.Generator, k: int | None = None, draws: int = 1) -> float:
    """Mean over ``draws`` of W_1 between two disjoint random k-subsets (k = n // 2 by default, the official
    split into halves); disjoint subsets of an i.i.d. sample are independent k-samples of mu."""
    k = len(points) // 2 if k is None else k
    if k < 1 or 2 * k > len(points):
        raise ValueError(f"k-variance needs 2k <= n points with k >= 1; got k = {k}, n = {len(points)}")
    values = []
    for _ in range(draws):
        order = rng.permutation(len(points))
        values.append(wasserstein1(points[order[:k]], points[order[k:2 * k]]))
    return float(np.mean(values))


def margins_and_gradient_norms(head: torch.nn.Module, features: torch.Tensor, labels: torch.Tensor
                               ) -> tuple[np.ndarray, np.ndarray]:
    """gamma(x) = f_y - f_{y'} (y' the runner-up) and ||d(f_y - f_{y'}) / d phi(x)||, for a head applied to each
    sample on its own (no batch statistics), so one backward pass of the sum gives every per-sample gradient."""
    features = features.detach().clone().requires_grad_(True)
    logits = head(features)
    true = logits.gather(1, labels[:, None]).squeeze(1)
    runner_up = logits.scatter(1, labels[:, None], float("-inf")).argmax(dim=1)
    difference = true - logits.gather(1, runner_up[:, None]).squeeze(1)
    (grad,) = torch.autograd.grad(difference.sum(), features)
    return difference.detach().numpy().astype(np.float64), grad.norm(dim=1).numpy().astype(np.float64)


def kv_margin_scores(features: np.ndarray, labels: np.ndarray, margins: np.ndarray, gradient_norms: np.ndarray,
                     rng: np.random.Generator, draws: int = 1) -> dict[str, float]:
    """The three complexity scores from per-sample margins, margin-gradient norms and layer features. Classes with
    fewer than two samples have no k-variance and are left out of the normaliser."""
    classes, counts = np.unique(labels, return_counts=True)
    kv_lip, kv_plain, weight_total = 0.0, 0.0, 0.0
    for c, count in zip(classes, counts, strict=True):
        if count < 2:
            continue
        inside = labels == c
        var_k = k_variance(features[inside], rng, draws=draws)
        weight = count / len(labels)
        kv_plain += weight * var_k
        kv_lip += weight * var_k * gradient_norms[inside].max()
        weight_total += weight
    median = float(np.median(margins))
    return {
        "margin_score": -median,
        "kv_margin_score": -median / max(kv_lip, 1e-12),
        "kv_gn_margin_score": -float(np.median(margins / (gradient_norms + 1e-6))) / max(kv_plain, 1e-12),
        "k_variance": kv_plain / max(weight_total, 1e-12),
    }


SCORES = ("margin_score", "kv_margin_score", "kv_gn_margin_score")


def score_taus(models: list[dict[str, float]]) -> dict[str, float]:
    """Kendall tau between each complexity score and the gap over a family of trained models (one dict of measures
    per model): the small-suite stand-in for PGDL's conditional mutual information."""
    from scipy.stats import kendalltau

    if len(models) < 2:
        raise ValueError(f"ranking needs at least 2 models; got {len(models)}")
    gap = [m["gap"] for m in models]
    return {score: float(kendalltau([m[score] for m in models], gap)[0]) for score in SCORES}
