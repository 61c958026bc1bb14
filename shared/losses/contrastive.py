"""Contrastive losses shared by the SSL methods (pure functions on embeddings)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, epsilon: float = 0.0) -> torch.Tensor:
    """SimCLR's NT-Xent over 2N views, as in CARE's ``infoNCE`` (negatives: the 2N-2 other views).

    For anchor i with positive i+ (its other view), with cosine similarities s:
        l_i = -log( exp(s_{i,i+}/t) / sum_{k != i} exp(s_{i,k}/t) )
    The denominator holds the positive and the 2N-2 views of the other samples; the loss is the mean
    of l_i over all 2N anchors.

    ``epsilon`` > 0 gives IFM's adversarial loss (Robinson et al., NeurIPS 2021, the closed form of the
    worst-case perturbation of the positive and negative embeddings within an L2 ball of radius epsilon,
    for a unit-norm anchor q: k+ -> k+ - eps q, k- -> k- + eps q): the positive's similarity becomes
    s+ - eps and every negative's s- + eps, *before* the division by tau.

    Args:
        z1, z2: (N, d) embeddings of the two views of the same N samples (normalised here).
        temperature: tau.
        epsilon: IFM's perturbation budget; 0 is plain InfoNCE.
    """
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    similarity = z @ z.T
    if epsilon:
        is_positive = F.one_hot(positive, 2 * n).bool()
        similarity = similarity + torch.where(is_positive, -epsilon, epsilon)
    logits = similarity / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    return F.cross_entropy(logits, positive)


def gram_discrepancy(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """CARE's equivariance loss on one chunk that shared one augmentation pair (t1, t2).

        L = (2/b) * sum_i sum_{j != i} ( <z1_i, z1_j> - <z2_i, z2_j> )^2

    i.e. twice the mean over rows of the squared norm of the difference of the off-diagonal Gram rows.
    It is zero exactly when the two point sets have the same Gram matrix off the diagonal, which (for
    unit vectors) means z2 = z1 R for an orthogonal R: the augmentation acts as a rotation.
    """
    b = z1.shape[0]
    off_diag = ~torch.eye(b, dtype=torch.bool, device=z1.device)
    diff = (z1 @ z1.T - z2 @ z2.T) * off_diag
    return 2.0 * diff.pow(2).sum(dim=1).mean()


def equivariance_loss(z1: torch.Tensor, z2: torch.Tensor, splits: int) -> torch.Tensor:
    """CARE's L_equi: the batch is cut into ``splits`` consecutive chunks (each chunk was transformed by
    its own shared pair t1, t2); the Gram discrepancy is averaged over chunks. Inputs are normalised here.
    """
    if z1.shape[0] % splits:
        raise ValueError(f"batch of {z1.shape[0]} does not split into {splits} equal chunks")
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    losses = [gram_discrepancy(a, b) for a, b in zip(z1.chunk(splits), z2.chunk(splits), strict=True)]
    return torch.stack(losses).mean()


def clip_loss(u: torch.Tensor, v: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """CLIP's symmetric InfoNCE between paired embeddings of two modalities (Radford et al., 2021): for the
    logits L = norm(u) norm(v)^T / tau, the mean of CE(L, diag) over rows (u -> v) and columns (v -> u).
    Negatives are the other samples of the other modality only."""
    logits = F.normalize(u, dim=1) @ F.normalize(v, dim=1).T / temperature
    target = torch.arange(u.shape[0], device=u.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
