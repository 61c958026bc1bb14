"""cot_length_train: the text format, the loss mask, the decoder and its scoring checked by hand (an oracle model
scores 1, a silent one 0), the learning-rate schedule, and exact resume (shared/methods/llm/cot_length_train.py)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from shared.lm.cot_length import END, VOCAB, encode, final_answer, worked_example
from shared.methods.llm.cot_length_train import SPEC, CoTTrainer, answer_accuracy, tree_batch


def test_a_worked_example_by_hand():
    tree = ("+", 3, ("+", 4, 5))  # (3+(4+5)): 2 operators, value 2
    assert worked_example(tree, 1) == ("(3+(4+5))a", "(4+5)=9\n(3+9)=2.")
    assert worked_example(tree, 2) == ("(3+(4+5))b", "(3+(4+5))=2.")
    assert final_answer("(4+5)=9\n(3+9)=2.") == 2
    assert final_answer("(4+5)=9\n(3+9)=2.(1+1)=7") == 2  # what follows "." is not read
    assert final_answer("(4+5)=9\n(3+9)") is None and final_answer("") is None and final_answer("(3+9)=12.") is None


def test_the_loss_reads_the_chain_of_thought_only():
    ids, mask = tree_batch(np.random.default_rng(0), 8, 2, 5)
    for row, m in zip(ids.tolist(), mask.tolist(), strict=True):
        chars = "".join(VOCAB[i] for i in row)
        control = next(i for i, ch in enumerate(chars) if ch.isalpha())  # the question ends with the control token
        assert not any(m[:control + 1]) and all(m[control + 1:chars.index(".") + 1])
        assert not any(m[chars.index(".") + 1:])  # padding


class Oracle(nn.Module):
    """Emits the true chain of thought of whichever question it is given (a model that cannot err)."""

    def __init__(self, answer_key: dict[str, str], wrong: bool = False) -> None:
        super().__init__()
        self.cfg = type("Cfg", (), {"block_size": 512})()
        self.answer_key, self.wrong = answer_key, wrong

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(idx.shape[0], idx.shape[1], len(VOCAB))
        for b, row in enumerate(idx.tolist()):
            chars = "".join(VOCAB[i] for i in row)
            ask = next(q for q in self.answer_key if chars.startswith(q))
            written = chars[len(ask):]
            chain = self.answer_key[ask]
            nxt = END if self.wrong or len(written) >= len(chain) else encode(chain[len(written)])[0]
            logits[b, -1, nxt] = 1.0
        return logits


def test_greedy_decoding_scores_an_oracle_1_and_a_silent_model_0():
    rng = np.random.default_rng(0)
    from shared.lm.cot_length import random_tree

    trees = [random_tree(rng, 4) for _ in range(5)]
    for t in (1, 2, 4):
        key = dict(worked_example(tree, t) for tree in trees)
        assert answer_accuracy(Oracle(key), trees, t) == 1.0
        assert answer_accuracy(Oracle(key, wrong=True), trees, t) == 0.0


def test_learning_rate_decays_by_cosine_to_a_tenth():
    trainer = CoTTrainer(SPEC.load_config(["epochs=2", "steps_per_epoch=5"]))
    assert trainer.learning_rate(0) == pytest.approx(1e-3)
    assert trainer.learning_rate(5) == pytest.approx(0.55e-3)
    assert trainer.learning_rate(10) == pytest.approx(1e-4)


def test_resume_continues_exactly():
    cfg = SPEC.load_config(["epochs=2", "steps_per_epoch=3", "batch_size=8", "data.n_test=4"])
    straight = CoTTrainer(cfg)
    straight.fit_epoch()
    state = copy.deepcopy(straight.state_dict())  # load_state_dict aliases the optimizer's tensors
    expected = straight.fit_epoch()["loss"]
    resumed = CoTTrainer(cfg)
    resumed.load_state_dict(state)
    assert resumed.fit_epoch()["loss"] == pytest.approx(expected, rel=1e-6)


def test_a_tiny_run_trains_and_its_evaluator_reads_the_curve_it_reports():
    """End to end at tiny scale: the loss falls over a few steps, and the evaluator's summary is its own curve's
    (peak = the best t's accuracy, ties to the finer chain, steps = ceil(T / t), interior = 1 < t < 8)."""
    cfg = SPEC.load_config(["epochs=2", "steps_per_epoch=15", "batch_size=16", "data.n_test=8", "data.test_ops=5"])
    trainer = SPEC.make_trainer(cfg)
    first, second = trainer.fit_epoch()["loss"], trainer.fit_epoch()["loss"]
    assert second < first and trainer.done
    (evaluator,) = SPEC.make_evaluators(cfg)
    out = evaluator.evaluate(trainer.artifact())
    assert set(out) == set(evaluator.metrics)
    accs = {t: out[f"acc_t{t}"] for t in (1, 2, 4, 8)}
    best = min(t for t in accs if accs[t] == max(accs.values()))
    assert out["best_per_step"] == best and out["peak_acc"] == max(accs.values())
    assert out["best_steps"] == -(-5 // best) and out["interior_peak"] == float(1 < best < 8)
    assert all(a in {k / 8 for k in range(9)} for a in accs.values())  # shares of the 8 evaluation trees


HELD_OUT = [2, 3]  # the reproduction's seeds (configs/reproduce/cot_length_train.yaml); 0, 1 tune
# About a minute of CPU per seed (M = 2: 50 CPU-s); longer runs up to 1,500 steps stay at chance too.
MINUTES = ["epochs=1", "steps_per_epoch=200", "data.n_test=100"]


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="untested at CPU scale, no model learns the trees: held-out seeds 2, 3 "
                   "after 200 steps of batch 64, accuracy at t = 1/2/4/8: M = 1 0.00/0.00/0.00/0.00 on both, M = 2 "
                   "0.17/0.08/0.10/0.07 and 0.05/0.05/0.06/0.05 (chance 0.1); tuning seed 0 after 400 steps: M = 1 "
                   "0.08/0.13/0.09/0.00, M = 2 0.07 at every t; M = 1 still at chance after 1,500 steps "
                   "(REPRODUCTION.md); the paper trains 20-25k steps of batch 256")
def test_accuracy_peaks_inside_and_the_deeper_model_at_longer_steps(local_ray):
    from jobs.reproduce import compare

    out = compare("cot_length_train", seeds=HELD_OUT, extra=MINUTES)
    print({arm: {m: [round(v, 3) for v in values] for m, values in out[arm].items()} for arm in out})
    for seed, _ in enumerate(HELD_OUT):
        m1, m2 = out["m1"]["best_per_step"][seed], out["m2"]["best_per_step"][seed]
        assert min(out["m1"]["peak_acc"][seed], out["m2"]["peak_acc"][seed]) > 0.3  # a curve, not chance
        assert 1 < m1 < 8 and 1 < m2 < 8 and m2 > m1
