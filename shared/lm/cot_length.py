"""The pieces of "When More is Less: Understanding Chain-of-Thought Length in LLMs" (Wu, Wang, Ye, Yang, Wang, Sun,
Jegelka, Wang; ICLR 2026, arXiv 2502.07266): the analytic model of accuracy against the number of reasoning steps,
and the synthetic task (mod-10 addition trees whose chain of thought evaluates t operators per step).

Analytic model (the paper's argument; its closed form is not pinned down by the spec card, so this is one monotone
family, chosen and named here): a task of difficulty T solved in N steps of t = T / N operations each succeeds when
every step does; a step fails from its own difficulty, growing faster than linearly in t and shrinking with the
model's capability M, and from a fixed per-step noise eps (errors accumulate over steps):

    log A(N) = N log(1 - eps) - lam * N * (T / N)^alpha / M,     alpha > 1.

log A is strictly concave in N, so A has one peak, at N* = T * (lam (alpha - 1) / (M * -log(1 - eps)))^(1/alpha):
N* grows with T and falls with M ("simplicity bias": stronger models prefer shorter chains).
"""
from __future__ import annotations

import math

import numpy as np


def success(steps: np.ndarray | float, difficulty: float, capability: float, eps: float = 0.02, lam: float = 0.01,
            alpha: float = 2.0) -> np.ndarray:
    """A(N): the chance that all N steps of T / N operations succeed (see the module)."""
    steps = np.asarray(steps, dtype=float)
    log_a = steps * math.log1p(-eps) - lam * steps * (difficulty / steps) ** alpha / capability
    return np.exp(log_a)


def optimal_steps(difficulty: float, capability: float, eps: float = 0.02, lam: float = 0.01,
                  alpha: float = 2.0) -> float:
    """The continuous maximiser N* of A(N)."""
    return difficulty * (lam * (alpha - 1) / (capability * -math.log1p(-eps))) ** (1 / alpha)


def best_integer_steps(difficulty: int, capability: float, **model: float) -> int:
    """argmax of A(N) over N = 1..T (at most one operation per step cannot be split further)."""
    steps = np.arange(1, difficulty + 1)
    return int(steps[np.argmax(success(steps, difficulty, capability, **model))])


# -- the synthetic task: mod-10 addition trees (official synthetic/dataset/gen_arith_data.py, re-implemented) ----
def random_tree(rng: np.random.Generator, operators: int) -> tuple:
    """A random binary tree with ``operators`` '+' nodes, each with one leaf child and one subtree child (the
    official generator's shape): nested tuples ('+', left, right) with digit leaves."""
    tree: tuple | int = int(rng.integers(10))
    for _ in range(operators):
        leaf = int(rng.integers(10))
        tree = ("+", leaf, tree) if rng.random() < 0.5 else ("+", tree, leaf)
    return tree  # type: ignore[return-value]


def value(tree: tuple | int) -> int:
    return tree if isinstance(tree, int) else (value(tree[1]) + value(tree[2])) % 10


def text(tree: tuple | int) -> str:
    return str(tree) if isinstance(tree, int) else f"({text(tree[1])}+{text(tree[2])})"


def operators(tree: tuple | int) -> int:
    return 0 if isinstance(tree, int) else 1 + operators(tree[1]) + operators(tree[2])


def _reduce(tree: tuple | int, budget: int) -> tuple[tuple | int, tuple | int]:
    """Evaluate the innermost ``budget`` operators (the deepest subtree of that size) of a chain-shaped tree:
    returns the evaluated subtree and the tree with it replaced by its value."""
    if isinstance(tree, int) or operators(tree) <= budget:
        return tree, value(tree)
    inner = 2 if isinstance(tree[1], int) else 1  # the child that holds the rest of the chain
    sub, replaced = _reduce(tree[inner], budget)
    rebuilt = ("+", tree[1], replaced) if inner == 2 else ("+", replaced, tree[2])
    return sub, rebuilt


def chain_of_thought(tree: tuple | int, per_step: int) -> list[str]:
    """The chain of thought with ``per_step`` operators per step: each step writes "sub=value" for the innermost
    sub-expression of (at most) that many operators and goes on with it replaced by its value; the last line is the
    answer. Ceil(T / per_step) steps for T operators."""
    steps = []
    while not isinstance(tree, int):
        sub, tree = _reduce(tree, per_step)
        steps.append(f"{text(sub)}={value(sub)}")
    return steps


# -- the training reproduction's text format (official synthetic/tokenizor.py, re-implemented as characters) -------
# A question is the expression, then one control character naming t (operators per step: "a" = 1, "b" = 2, ...),
# the paper's `question<BEGIN><t>`; the chain of thought follows, one "sub=value" per line, and "." ends it. "_"
# pads. The loss reads the chain of thought only.
CONTROL = "abcdefghijkl"  # t = 1..12, as the official t range
VOCAB = "_0123456789()+=\n." + CONTROL
TOKEN = {ch: i for i, ch in enumerate(VOCAB)}
PAD, END = TOKEN["_"], TOKEN["."]


def question(tree: tuple | int, per_step: int) -> str:
    return text(tree) + CONTROL[per_step - 1]


def worked_example(tree: tuple | int, per_step: int) -> tuple[str, str]:
    """(question, chain of thought ending in ".") of one tree at ``per_step`` operators per step."""
    return question(tree, per_step), "\n".join(chain_of_thought(tree, per_step)) + "."


def encode(chars: str) -> list[int]:
    return [TOKEN[ch] for ch in chars]


def final_answer(generated: str) -> int | None:
    """The digit after the last "=" of a generated chain of thought (up to its "."), or None when it has none."""
    chain = generated.split(".", 1)[0]
    last = chain.rsplit("\n", 1)[-1]
    if "=" not in last or not last.rsplit("=", 1)[1].isdigit() or len(last.rsplit("=", 1)[1]) != 1:
        return None
    return int(last.rsplit("=", 1)[1])
