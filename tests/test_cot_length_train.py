"""cot_length_train: the text format, the loss mask, the decoder and its scoring checked by hand (an oracle model
scores 1, a silent one 0), the learning-rate schedule, and exact resume (shared/methods/llm/cot_length_train.py)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from shared.lm.cot_length import END, VOCAB, encode, final_answer, worked_example
from shared.methods.llm.cot_length_train import (
    PER_STEP,
    SPEC,
    CoTTrainer,
    answer_accuracy,
    training_key,
    tree_batch,
)


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

    def new_cache(self) -> list:
        return []  # what the oracle has read: it answers from the whole text, as the decoder's cache lets a GPT

    def forward(self, idx: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        if cache is not None:
            cache.append(idx)
            idx = torch.cat(cache, dim=1)
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
    assert set(out) == set(evaluator.metrics) - {"acc", "steps"}  # a cell's two
    accs = {t: out[f"acc_t{t}"] for t in (1, 2, 4, 8)}
    best = min(t for t in accs if accs[t] == max(accs.values()))
    assert out["best_per_step"] == best and out["peak_acc"] == max(accs.values())
    assert out["best_steps"] == -(-5 // best) and out["interior_peak"] == float(1 < best < 8)
    assert all(a in {k / 8 for k in range(9)} for a in accs.values())  # shares of the 8 evaluation trees


def test_the_cells_of_one_model_share_its_training(tmp_path, monkeypatch):
    """Cells (T, M, t) that differ only in what is evaluated read the model the first of them trained (the cache);
    a cell of another M or seed trains its own; a cell evaluates its t only."""
    monkeypatch.setenv("RAYSTUDY_CACHE", str(tmp_path))
    base = ["epochs=1", "steps_per_epoch=3", "batch_size=8", "data.n_test=4"]
    first = CoTTrainer(SPEC.load_config([*base, "t=1", "data.test_ops=6"]))
    trained = first.fit_epoch()
    assert first.done and len(list((tmp_path / "cot_length_train").glob("*.pt"))) == 1
    sibling = CoTTrainer(SPEC.load_config([*base, "t=4", "data.test_ops=8", "data.n_test=9"]))
    assert sibling.fit_epoch() == trained and sibling.done
    for a, b in zip(first.model.parameters(), sibling.model.parameters(), strict=True):
        assert torch.equal(a, b)
    other = SPEC.load_config([*base, "t=1", "capability=2"])
    assert training_key(other) != training_key(first.config)
    assert training_key(SPEC.load_config([*base, "t=1", "seed=1"])) != training_key(first.config)
    (evaluator,) = SPEC.make_evaluators(sibling.config)
    out = evaluator.evaluate(sibling.artifact())
    assert set(out) == {"acc_t4", "acc", "steps"} and out["steps"] == 2 and out["acc"] == out["acc_t4"]


HELD_OUT = [2, 3]  # the held-out seeds; 0, 1 tune
# The paper's grid at CPU scale, each (T, M, t) cell one trial of one sweep (configs/sweeps/cot_length_train.yaml);
# CI asks at T = 8 only (16 cells; each costs about 3 s of Tune's trial overhead), the sweep's grid also at T = 6.
GRID = ["sweep.search_space.capability={grid: [1, 2]}", "sweep.search_space.data.test_ops={grid: [8]}",
        "sweep.search_space.t={grid: [1, 2, 4, 8]}"]
TASK_SIZES = (8,)
# About a minute of CPU per trained model (M = 2: 50 CPU-s); longer runs up to 1,500 steps stay at chance too.
MINUTES = ["epochs=1", "steps_per_epoch=200", "data.n_test=100"]


def cell_accuracies(storage, experiment: str) -> dict[tuple[int, int, int, int], float]:
    """{(T, M, t, seed): final-answer accuracy} from the sweep's result rows, one per trial."""
    import json

    from shared.results import ResultsStore

    rows = ResultsStore(storage).read(experiment).to_pandas()
    rows = rows[(rows["metric"] == "acc") & (rows["status"] == "final")]
    cells = {}
    for config, value in zip(rows["config"], rows["value"], strict=True):
        c = json.loads(config)
        cells[(c["data.test_ops"], c["capability"], c["t"], c["seed"])] = float(value)
    return cells


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="untested at CPU scale, no model learns the trees: held-out seeds 2, 3 "
                   "after 200 steps of batch 64, accuracy at t = 1/2/4/8: M = 1 0.00 in every cell; M = 2 at T = 8 "
                   "0.17/0.08/0.10/0.07 and 0.05/0.05/0.06/0.05 (at T = 6, the sweep's other T: 0.05/0.13/0.14/0.13 "
                   "and 0.08/0.14/0.17/0.17; chance 0.1); tuning seed 0 after 400 steps: M = 1 "
                   "0.08/0.13/0.09/0.00, M = 2 0.07 at every t; M = 1 still at chance after 1,500 steps "
                   "(REPRODUCTION.md); the paper trains 20-25k steps of batch 256")
def test_accuracy_peaks_inside_and_the_deeper_model_at_longer_steps(local_ray, tmp_path):
    """The paper's grid as one sweep, each (T, M, t) cell a Tune trial; the claim read from the trials' rows: at
    each T and seed, accuracy against t peaks at 1 < t < 8 for both models, and M = 2 at a larger t than M = 1.
    Tune varies capability, then seed fastest: the first 4 cells train the 4 models, the others load them."""
    from jobs.sweep import plan_sweep, run_sweep

    plan = plan_sweep("cot_length_train", [*GRID, *MINUTES], seeds=HELD_OUT, data_seed=True, storage=str(tmp_path))
    out = run_sweep(plan)
    assert not out["errors"] and out["trials"] == len(TASK_SIZES) * 2 * 4 * len(HELD_OUT)
    cells = cell_accuracies(tmp_path, plan.experiment)
    assert len(cells) == out["trials"]
    for (big_t, seed) in [(t, s) for t in TASK_SIZES for s in HELD_OUT]:
        curves = {m: [cells[(big_t, m, t, seed)] for t in PER_STEP] for m in (1, 2)}
        print(f"T = {big_t}, seed {seed}: " + "; ".join(
            f"M = {m} " + "/".join(f"{a:.2f}" for a in curve) for m, curve in curves.items()))
    for (big_t, seed) in [(t, s) for t in TASK_SIZES for s in HELD_OUT]:
        best = {}
        for m in (1, 2):
            curve = {t: cells[(big_t, m, t, seed)] for t in PER_STEP}
            best[m] = max(PER_STEP, key=lambda t, c=curve: (c[t], -t))  # ties go to the finer chain
            assert curve[best[m]] > 0.3  # a curve, not chance
        assert 1 < best[1] < 8 and 1 < best[2] < 8 and best[2] > best[1]
