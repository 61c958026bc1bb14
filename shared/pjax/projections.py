"""Orthogonal projections onto the graphs of PJAX's primitives (Bergmeister, Lal, Jegelka, Sra, AISTATS 2026).

For a primitive y = f(x) the projection of (x0, y0) is argmin_{x} |x - x0|^2 + |f(x) - y0|^2, returned as
(x, f(x)). Every function works on batches: leading dimensions index independent nodes, so one call projects a
whole partition at once (the nodes share no variables, hence the result equals projecting them one by one).

- ``project_linear``: z = w . x with x a constant (the data): the graph is an affine subspace, closed form.
- ``project_dot``: z = a . b with both a and b variables (a bilinear, non-convex graph). Stationarity gives
  a = (a0 + t b0) / (1 - t^2), b = (b0 + t a0) / (1 - t^2) with t = z0 - a . b; the official code runs 10 Newton
  steps on t. Here t is every real root in (-1, 1) of the equivalent quintic (batched companion-matrix
  eigenvalues) and the root of least distance is kept: the global projection, not one Newton basin.
- ``project_sum_activation``: h = act(sum_i x_i) for act in identity (a plain sum), ReLU and a quantiser.
  Moving the n inputs equally is optimal, so it is a 1-D problem in u = sum x: minimise (u - u0)^2 / n +
  (act(u) - h0)^2, solved in closed form per linear piece (ReLU: two cases; quantiser: one per level region).
- ``project_margin``: the output constraint, a box (logit of the label >= margin, the others <= 0): clipping.
"""
from __future__ import annotations

import torch

ACTIVATIONS = ("identity", "relu", "quantize")
_EDGE = 1e-9  # how far inside a quantiser region a projected point is put, so that rounding keeps it in its region


def quantize_levels(count: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``count`` evenly spaced output levels in [0, 1] (count 2: a step function with threshold 0.5)."""
    return torch.linspace(0.0, 1.0, count, dtype=dtype)


def quantize(u: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """The level nearest to u, ties rounded down: region i is (m_{i-1}, m_i] with m the midpoints."""
    mids = (levels[1:] + levels[:-1]) / 2
    return levels.to(u.dtype)[torch.bucketize(u, mids.to(u.dtype), right=False)]


def activate(u: torch.Tensor, activation: str, levels: torch.Tensor | None = None) -> torch.Tensor:
    if activation == "relu":
        return u.clamp_min(0.0)
    if activation == "quantize":
        return quantize(u, levels)
    return u


def project_linear(w0: torch.Tensor, z0: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project (w0, z0) onto {(w, z): z = w . x}, x constant; shapes (..., d), (...), (..., d)."""
    t = (z0 - (w0 * x).sum(-1)) / (1.0 + (x * x).sum(-1))
    w = w0 + t.unsqueeze(-1) * x
    return w, (w * x).sum(-1)


def _dot_from_t(a0: torch.Tensor, b0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scale = (1.0 - t * t).unsqueeze(-1)
    tt = t.unsqueeze(-1)
    return (a0 + tt * b0) / scale, (b0 + tt * a0) / scale


def project_dot(a0: torch.Tensor, b0: torch.Tensor, z0: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Project (a0, b0, z0) onto {(a, b, z): z = a . b}; shapes (..., d), (..., d), (...).

    t = z0 - a(t) . b(t) with a(t) . b(t) = (p (1 + t^2) + s t) / (1 - t^2)^2, p = a0 . b0, s = |a0|^2 + |b0|^2;
    times (1 - t^2)^2 this is the quintic (t - z0)(1 - t^2)^2 + p (1 + t^2) + s t = 0. Only |t| < 1 can be a
    minimiser (the Hessian of the distance is indefinite otherwise); the pitfall 1 - t^2 -> 0 is kept away by
    clamping t inside (-1, 1), which only matters in the degenerate case a0 = +-b0 with |z0| >= 1."""
    shape = z0.shape
    a0, b0 = a0.reshape(-1, a0.shape[-1]).double(), b0.reshape(-1, b0.shape[-1]).double()
    z = z0.reshape(-1).double()
    p, s = (a0 * b0).sum(-1), (a0 * a0).sum(-1) + (b0 * b0).sum(-1)
    one = torch.ones_like(z)
    # (t - z)(t^4 - 2 t^2 + 1) + p t^2 + s t + p, coefficients from t^5 down to t^0
    coeffs = torch.stack([one, -z, -2 * one, 2 * z + p, one + s, -z + p], dim=-1)
    companion = torch.zeros(len(z), 5, 5, dtype=torch.float64)
    companion[:, 0, :] = -coeffs[:, 1:]
    companion[:, 1:, :-1] = torch.eye(4, dtype=torch.float64)
    roots = torch.linalg.eigvals(companion)
    real = roots.real.clamp(-1 + 1e-7, 1 - 1e-7)
    usable = roots.imag.abs() <= 1e-6 * (1 + roots.abs())
    for _ in range(3):  # polish the real roots with Newton on the quintic
        value = sum(coeffs[:, k:k + 1] * real ** (5 - k) for k in range(6))
        slope = sum((5 - k) * coeffs[:, k:k + 1] * real ** (4 - k) for k in range(5))
        real = (real - torch.where(slope.abs() > 1e-12, value / slope, 0.0)).clamp(-1 + 1e-7, 1 - 1e-7)
    a, b = _dot_from_t(a0.unsqueeze(1), b0.unsqueeze(1), real)  # (n, 5, d) one candidate per root
    prod = (a * b).sum(-1)
    dist = (a - a0.unsqueeze(1)).pow(2).sum(-1) + (b - b0.unsqueeze(1)).pow(2).sum(-1) + (prod - z[:, None]) ** 2
    dist = torch.where(usable, dist, torch.inf)
    best = dist.argmin(-1)
    rows = torch.arange(len(z))
    a, b = a[rows, best], b[rows, best]
    dtype = z0.dtype
    return (a.reshape(*shape, -1).to(dtype), b.reshape(*shape, -1).to(dtype), (a * b).sum(-1).reshape(shape).to(dtype))


def _best_u(u0: torch.Tensor, h0: torch.Tensor, weight: float, activation: str,
            levels: torch.Tensor | None) -> torch.Tensor:
    """argmin_u weight (u - u0)^2 + (act(u) - h0)^2, by the pieces of act."""
    active = (weight * u0 + h0) / (weight + 1)
    if activation == "identity":
        return active
    if activation == "relu":
        off, on = u0.clamp_max(0.0), active.clamp_min(0.0)
        cost_off = weight * (off - u0) ** 2 + h0 ** 2
        cost_on = weight * (on - u0) ** 2 + (on - h0) ** 2
        return torch.where(cost_off <= cost_on, off, on)
    lv = levels.to(u0.dtype)
    mids = (lv[1:] + lv[:-1]) / 2
    lower = torch.cat([lv.new_tensor([-torch.inf]), mids + _EDGE])
    upper = torch.cat([mids - _EDGE, lv.new_tensor([torch.inf])])
    candidates = torch.minimum(torch.maximum(u0.unsqueeze(-1), lower), upper)  # (..., levels)
    cost = weight * (candidates - u0.unsqueeze(-1)) ** 2 + (lv - h0.unsqueeze(-1)) ** 2
    return candidates.gather(-1, cost.argmin(-1, keepdim=True)).squeeze(-1)


def project_sum_activation(x0: torch.Tensor, h0: torch.Tensor, activation: str = "identity",
                           levels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Project (x0, h0) onto {(x, h): h = act(sum_i x_i)}; shapes (..., n), (...). With n = 2 and the inputs
    (bias, pre-activation) this is PJAX's ``sum_relu`` node; with act = identity the plain sum
    (every input shifted by (h0 - u0) / (n + 1), the official formula)."""
    n = x0.shape[-1]
    u0 = x0.sum(-1)
    u = _best_u(u0, h0, 1.0 / n, activation, levels)
    return x0 + ((u - u0) / n).unsqueeze(-1), activate(u, activation, levels)


def project_margin(h0: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Project logits (..., classes) onto {h: h_label >= margin, h_other <= 0} (a box: clipping)."""
    target = torch.nn.functional.one_hot(labels, h0.shape[-1]).bool()
    return torch.where(target, h0.clamp_min(margin), h0.clamp_max(0.0))
