"""cot_length: the analytic model's shape checked exactly, and the mod-10 addition trees with their chains of
thought (shared/lm/cot_length.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from shared.lm.cot_length import (
    best_integer_steps,
    chain_of_thought,
    operators,
    optimal_steps,
    random_tree,
    success,
    text,
    value,
)


def test_success_by_hand():
    """T = 4, M = 1, eps = 0.1, lam = 0.05, alpha = 2: A(N) = 0.9^N exp(-0.05 * 16 / N)."""
    for n in (1, 2, 4):
        expected = 0.9**n * math.exp(-0.05 * 16 / n)
        assert success(n, 4, 1.0, eps=0.1, lam=0.05) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("capability", [1.0, 2.0, 4.0])
def test_one_interior_peak_at_the_closed_form_maximiser(capability):
    steps = np.linspace(0.5, 200, 20_000)
    curve = success(steps, 64, capability)
    peak = int(np.argmax(curve))
    assert 0 < peak < len(steps) - 1
    assert (np.diff(curve[: peak + 1]) > 0).all() and (np.diff(curve[peak:]) < 0).all()  # unimodal
    assert steps[peak] == pytest.approx(optimal_steps(64, capability), abs=0.02)


def test_optimal_length_grows_with_difficulty_and_falls_with_capability():
    for capability in (1.0, 2.0, 4.0):
        best = [best_integer_steps(t, capability) for t in (8, 16, 32, 64, 128)]
        assert best == sorted(best) and best[0] < best[-1]
    for difficulty in (16, 32, 64):
        best = [best_integer_steps(difficulty, m) for m in (1.0, 2.0, 4.0, 8.0)]
        assert best == sorted(best, reverse=True) and best[0] > best[-1]


def test_trees_and_their_chains_of_thought():
    rng = np.random.default_rng(0)
    for n_ops in (1, 5, 12, 16):
        tree = random_tree(rng, n_ops)
        assert operators(tree) == n_ops
        assert value(tree) == eval(text(tree)) % 10  # noqa: S307 - digits, '+' and brackets the test built
        for per_step in (1, 2, 4, 8):
            steps = chain_of_thought(tree, per_step)
            assert len(steps) == math.ceil(n_ops / per_step)
            for line in steps:  # every step evaluates its sub-expression correctly, mod 10
                expression, result = line.split("=")
                assert eval(expression) % 10 == int(result)  # noqa: S307
                assert expression.count("+") <= per_step
            assert int(steps[-1].split("=")[1]) == value(tree)


def test_the_experiment_reports_its_peak():
    from shared.methods.llm.cot_length import SPEC

    cfg = SPEC.load_config(["difficulty=32", "capability=2"])
    trainer = SPEC.make_trainer(cfg)
    trainer.fit_epoch()
    out = SPEC.evaluate(cfg, trainer.artifact())
    assert out["best_steps"] == best_integer_steps(32, 2.0) and out["interior_peak"] == 1.0
    assert out["acc_one_step"] < out["peak_acc"] and out["acc_finest"] < out["peak_acc"]
    assert out["acc_n1"] == out["acc_one_step"] and out["acc_n32"] == out["acc_finest"]
    assert out["acc_n16"] == pytest.approx(float(success(16, 32, 2.0))) and "acc_n64" not in out  # N <= T only
