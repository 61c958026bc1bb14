"""The contrastive terms of CSR and CSRv2 and CSRv2's k schedule.

CSR's "contrastive" term passes the same input through the deterministic encoder twice (official vision and text
code), so the positive similarity is 1 and the loss acts as in-batch repulsion of different samples' codes.
CSRv2's supervised variant is a sum inside the log: -log sum_pos exp(s/tau) / sum_{a != i} exp(s/tau), over the
two identical views as well (``supcon_two_views``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def inbatch_infonce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Cross-entropy of cos(z1_i, z2_j) / tau with target j = i (CSR's ``inbatch_cl``)."""
    logits = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(z1.shape[0], device=z1.device))


def supcon_sum_inside_log(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Mean over anchors with a positive of
    -log(sum_{p: y_p = y_i, p != i} e^{s_ip/tau} / sum_{a != i} e^{s_ia/tau})."""
    zn = F.normalize(z, dim=1)
    logits = zn @ zn.T / temperature
    self_mask = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positive = (labels[:, None] == labels[None, :]) & ~self_mask
    has_positive = positive.any(dim=1)
    if not bool(has_positive.any()):
        return z.new_zeros(())
    log_pos = torch.logsumexp(logits.masked_fill(~positive, float("-inf")), dim=1)
    log_all = torch.logsumexp(logits, dim=1)
    return -(log_pos - log_all)[has_positive].mean()


def supcon_two_views(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """CSRv2's ``label_based_cl`` as called by the official training loop: the sum-inside-log SupCon over the
    batch's codes stacked with a second, identical view (the deterministic encoder run twice), so each anchor's
    positives are its own copy (cosine 1) and both copies of every same-label sample; its negatives both copies
    of every other-label sample."""
    return supcon_sum_inside_log(torch.cat([z, z]), torch.cat([labels, labels]), temperature)


def clipped_k_init(k_init: int, k_final: int, hidden: int) -> int:
    """CSRv2 clips k_init to at most hidden / 4 and at least k_final."""
    return max(min(k_init, hidden // 4), k_final)


def annealed_k(step: int, total_steps: int, k_init: int, k_final: int, decay_ratio: float = 0.7) -> int:
    """k_t = round((1 - p) k_init + p k_final), p = t / floor(decay_ratio * T), linear over global steps; k_final
    from step floor(decay_ratio * T) on (the official ``get_current_k``)."""
    decay_steps = int(total_steps * decay_ratio)
    if step >= decay_steps:
        return k_final
    p = step / decay_steps
    return int(round((1 - p) * k_init + p * k_final))
