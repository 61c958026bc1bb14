"""A generated multi-step reasoning task: question -> short trace -> answer, under a rule that can be swapped.

A question is ``n_ops + 1`` operands ``x0 x1 ... xS`` in Z_p; a rule is a chain of binary operations
``op1.op2...`` (``add``, ``sub``, ``mul`` mod p); the trace is the running result ``t1 = x0 op1 x1``,
``t2 = t1 op2 x2``, ..., and the last trace token ``tS`` is the answer. An example is the token sequence

    x0 x1 ... xS = t1 ... tS          (length 2 S + 2; '=' is token p, numbers are tokens 0..p-1)

so every example has the same length and the answer is always its last token. Examples are packed back to back
(no separator) into sequences, which is both the pretraining format and the k-shot prompt format: k
demonstrations, then the query. Changing the rule (e.g. ``add.add`` -> ``sub.sub``) keeps the questions and
changes every trace, which is what "teach task B to a model trained on task A" needs.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from shared.lm.config import OPS, example_len, parse_rule  # noqa: F401  (torch-free: configs check rules)


def all_questions(modulus: int, n_ops: int) -> torch.Tensor:
    """Every question, (p ** (n_ops + 1), n_ops + 1), in lexicographic order."""
    grids = torch.meshgrid(*[torch.arange(modulus)] * (n_ops + 1), indexing="ij")
    return torch.stack([g.flatten() for g in grids], dim=1)


def trace(questions: torch.Tensor, rule: Sequence[str], modulus: int) -> torch.Tensor:
    """The running results (..., n_ops) of ``rule`` on questions (..., n_ops + 1); the last one is the answer."""
    t = questions[..., 0]
    steps = []
    for i, op in enumerate(rule):
        t = OPS[op](t, questions[..., i + 1], modulus)
        steps.append(t)
    return torch.stack(steps, dim=-1)


def examples(questions: torch.Tensor, traces: torch.Tensor, modulus: int) -> torch.Tensor:
    """Tokens (..., 2 S + 2) of questions (..., S + 1) and their traces (..., S)."""
    eq = torch.full((*questions.shape[:-1], 1), modulus, dtype=questions.dtype)
    return torch.cat([questions, eq, traces], dim=-1)


def target_masks(n_examples: int, n_ops: int, last_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks over the targets of a packed sequence of ``n_examples`` (mask j refers to token j + 1): the trace
    tokens of every example (or of the last one only), and the answer token of the same examples."""
    length = example_len(n_ops)
    trace_tok = torch.zeros(n_examples, length, dtype=torch.bool)
    trace_tok[:, n_ops + 2:] = True
    answer_tok = torch.zeros(n_examples, length, dtype=torch.bool)
    answer_tok[:, -1] = True
    if last_only:
        trace_tok[:-1] = False
        answer_tok[:-1] = False
    return trace_tok.flatten()[1:], answer_tok.flatten()[1:]


def packed(questions: torch.Tensor, rule_ids: torch.Tensor, rules: Sequence[Sequence[str]],
           modulus: int) -> torch.Tensor:
    """Sequences (N, E * L) of E examples each; sequence i follows ``rules[rule_ids[i]]`` throughout.

    ``questions``: (N, E, S + 1)."""
    traces = torch.stack([trace(questions, rule, modulus) for rule in rules])  # (R, N, E, S)
    chosen = traces[rule_ids, torch.arange(len(rule_ids))]
    return examples(questions, chosen, modulus).flatten(1)
