"""Linear probe on frozen features: multinomial logistic regression, trained full-batch with L-BFGS."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
) -> float:
    """Test accuracy of a linear classifier fitted on frozen train features.

    Features are standardised with the train mean and standard deviation (so one weight decay suits
    every encoder); the softmax classifier minimises cross-entropy + weight_decay * ||W||^2 with
    full-batch L-BFGS, which is deterministic and needs no learning rate.
    """
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    xtr, xte = (train_x.float() - mean) / std, (test_x.float() - mean) / std
    classes = int(max(train_y.max(), test_y.max())) + 1
    weight = torch.zeros(xtr.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(xtr @ weight + bias, train_y) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return ((xte @ weight + bias).argmax(1) == test_y).float().mean().item()
