"""Divide and concur on an MLP's computation graph: PJAX's feasibility problem solved by Douglas-Rachford or
alternating projections, with no gradient anywhere.

Variables live on the graph's edges: weights W_l, biases b_l, pre-activations z_l and activations h_l of every
example of a minibatch (h_0 = the data, a constant). Constraint nodes, each holding its own copy of the
variables it touches:
- linear/dot node (n, j, l): z_l[n, j] = W_l[j] . h_{l-1}[n] (``project_linear`` on layer 1, where the input is
  data; ``project_dot`` after, where both factors are variables),
- activation node (n, j, l): h_l[n, j] = act(b_l[j] + z_l[n, j]) (``project_sum_activation``; identity on the
  output layer),
- loss node n: the logits h_L[n] satisfy the label's margin (``project_margin``).
P_divide projects every node's copies onto its constraint; the nodes share no copies, so the whole partition is
one batched call. P_concur averages the copies of each variable (the projection onto "all copies agree").
Douglas-Rachford (the difference map with beta = 1): x <- x + P_C(2 P_D x - x) - P_D x; alternating
projections: x <- P_C(P_D x). Parameters are read from P_C(P_D x).

Departure from the official code (``optim.py``): the two partitions are "every primitive" and "the
consensus", the divide-and-concur split of Gravel and Elser that PJAX's product space names, instead of the
official bipartite node split where a node's output is the average of its children's input copies. Both are
two-set feasibility problems solved by the same DR iteration; this one needs no graph colouring.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from shared.pjax.projections import activate, project_dot, project_linear, project_margin, project_sum_activation

State = dict[str, torch.Tensor]


@dataclass
class Network:
    """An MLP's parameters: weights[l] (out, in), biases[l] (out,); hidden layers use ``activation``."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    activation: str
    levels: torch.Tensor | None = None

    @staticmethod
    def init(sizes: list[int], activation: str, generator: torch.Generator,
             levels: torch.Tensor | None = None) -> Network:
        weights = [torch.randn(o, i, generator=generator, dtype=torch.float64) / i ** 0.5
                   for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
        biases = [torch.zeros(o, dtype=torch.float64) for o in sizes[1:]]
        return Network(weights, biases, activation, levels)

    def act(self, layer: int) -> str:
        return "identity" if layer == len(self.weights) - 1 else self.activation

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Pre-activations z_l and activations h_l (h_0 = x) of every layer."""
        zs, hs = [], [x]
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            zs.append(hs[-1] @ w.T)
            hs.append(activate(zs[-1] + b, self.act(layer), self.levels))
        return zs, hs

    def accuracy(self, x: torch.Tensor, labels: torch.Tensor) -> float:
        return float((self.forward(x)[1][-1].argmax(-1) == labels).double().mean())


def initial_state(net: Network, x: torch.Tensor) -> State:
    """Every copy set from a forward pass of the current parameters: all nodes but the loss are satisfied."""
    zs, hs = net.forward(x)
    n = x.shape[0]
    state: State = {}
    for layer, w in enumerate(net.weights):
        state[f"w{layer}"] = w.expand(n, *w.shape).clone()
        if layer:
            state[f"x{layer}"] = hs[layer].unsqueeze(1).expand(n, w.shape[0], w.shape[1]).clone()
        state[f"zd{layer}"] = zs[layer].clone()
        state[f"b{layer}"] = net.biases[layer].expand(n, -1).clone()
        state[f"za{layer}"] = zs[layer].clone()
        state[f"h{layer}"] = hs[layer + 1].clone()
    state["loss"] = hs[-1].clone()
    return state


def project_divide(state: State, net: Network, x: torch.Tensor, labels: torch.Tensor, margin: float) -> State:
    """Every constraint node at once (one batched projection per primitive kind)."""
    out: State = {}
    for layer in range(len(net.weights)):
        if layer == 0:
            data = x.unsqueeze(1).expand_as(state["w0"])
            out["w0"], out["zd0"] = project_linear(state["w0"], state["zd0"], data)
        else:
            out[f"w{layer}"], out[f"x{layer}"], out[f"zd{layer}"] = project_dot(
                state[f"w{layer}"], state[f"x{layer}"], state[f"zd{layer}"])
        inputs = torch.stack([state[f"b{layer}"], state[f"za{layer}"]], dim=-1)
        inputs, out[f"h{layer}"] = project_sum_activation(inputs, state[f"h{layer}"], net.act(layer), net.levels)
        out[f"b{layer}"], out[f"za{layer}"] = inputs[..., 0], inputs[..., 1]
    out["loss"] = project_margin(state["loss"], labels, margin)
    return out


def consensus(state: State, layers: int) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor],
                                                   list[torch.Tensor]]:
    """The mean of each variable's copies: weights, biases, pre-activations, activations."""
    weights = [state[f"w{layer}"].mean(0) for layer in range(layers)]
    biases = [state[f"b{layer}"].mean(0) for layer in range(layers)]
    zs = [(state[f"zd{layer}"] + state[f"za{layer}"]) / 2 for layer in range(layers)]
    hs = []
    for layer in range(layers):
        if layer + 1 < layers:  # its own copy and one per unit of the next layer's dot nodes
            copies = state[f"x{layer + 1}"]
            hs.append((state[f"h{layer}"] + copies.sum(1)) / (1 + copies.shape[1]))
        else:
            hs.append((state[f"h{layer}"] + state["loss"]) / 2)
    return weights, biases, zs, hs


def project_concur(state: State, layers: int) -> State:
    weights, biases, zs, hs = consensus(state, layers)
    out: State = {}
    for layer in range(layers):
        out[f"w{layer}"] = weights[layer].expand_as(state[f"w{layer}"])
        out[f"b{layer}"] = biases[layer].expand_as(state[f"b{layer}"])
        out[f"zd{layer}"] = out[f"za{layer}"] = zs[layer]
        out[f"h{layer}"] = hs[layer]
        if layer:
            out[f"x{layer}"] = hs[layer - 1].unsqueeze(1).expand_as(state[f"x{layer}"])
    out["loss"] = hs[-1]
    return out


def combine(fn: Callable[..., torch.Tensor], *states: State) -> State:
    return {key: fn(*(s[key] for s in states)) for key in states[0]}


def squared_distance(a: State, b: State) -> float:
    """Mean squared difference per copy coordinate."""
    total = sum(float((a[k] - b[k]).pow(2).sum()) for k in a)
    return total / sum(v.numel() for v in a.values())


def solve_batch(net: Network, x: torch.Tensor, labels: torch.Tensor, steps: int, scheme: str = "dr",
                margin: float = 1.0) -> list[float]:
    """``steps`` iterations on one minibatch from the forward state; updates ``net`` in place. Returns the
    feasibility residual |P_D x - P_C P_D x|^2 (mean per coordinate) after each step."""
    layers = len(net.weights)
    state = initial_state(net, x)
    residuals = []
    for _ in range(steps):
        divided = project_divide(state, net, x, labels, margin)
        if scheme == "dr":
            reflected = combine(lambda d, s: 2 * d - s, divided, state)
            state = combine(lambda s, c, d: s + c - d, state, project_concur(reflected, layers), divided)
        else:
            state = project_concur(divided, layers)
        residuals.append(squared_distance(divided, project_concur(divided, layers)))
    weights, biases, _, _ = consensus(project_divide(state, net, x, labels, margin), layers)
    net.weights, net.biases = weights, biases
    return residuals
