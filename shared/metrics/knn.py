"""Weighted k-nearest-neighbour accuracy (the InstDisc-style monitor used by SimCLR and CARE)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_accuracy(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    k: int = 200,
    temperature: float = 0.5,
    chunk: int = 1024,
) -> float:
    """Top-1 accuracy of weighted kNN on cosine similarity.

    Each test point takes its k most similar train points; each neighbour votes for its class with weight
    exp(sim / temperature); the class with the largest total wins. Features are L2-normalised here.
    """
    k = min(k, train_x.shape[0])
    bank = F.normalize(train_x.float(), dim=1)
    classes = int(max(train_y.max(), test_y.max())) + 1
    correct = 0
    for start in range(0, test_x.shape[0], chunk):
        q = F.normalize(test_x[start : start + chunk].float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)
        votes = torch.zeros(q.shape[0], classes)
        votes.scatter_add_(1, train_y[idx], (sim / temperature).exp())
        correct += (votes.argmax(dim=1) == test_y[start : start + chunk]).sum().item()
    return correct / test_x.shape[0]
