"""cot_length_train: the synthetic training experiment of "When More is Less: Understanding Chain-of-Thought Length
in LLMs" (Wu, Wang, Ye, Yang, Wang, Sun, Jegelka, Wang; ICLR 2026, arXiv 2502.07266), Sec. 4. A GPT-2 of capability
M (n_layer = n_head = M, n_embd = 64 M, the paper's family) learns mod-10 addition trees of T operators with chains
of thought of t operators per step, t in {1, 2, 4, 8} named by a control token (:mod:`shared.lm.cot_length`); the
loss reads the chain of thought only. The evaluator asks for each t on fresh trees of ``data.test_ops`` operators and
greedily decodes: final-answer accuracy against t, i.e. against the number of steps ceil(T / t). The paper's claim:
an inverted U in the number of steps, whose peak moves to fewer steps (larger t) as M grows.

One cell of the paper's grid, (T, M, t) = (``data.test_ops``, ``capability``, ``t``), is one trial of a sweep
(``configs/sweeps/cot_length_train.yaml``): it evaluates its t only. The cells of one (M, seed) read one model, as in
the paper (one model per M, asked for every T and t): the first cell to need it trains it and stores its final state
in the cache (``shared.cache``, keyed by everything that shapes training and by the code that trains); the others
load it (a file lock makes them wait rather than train it twice). Training is deterministic (seeded, one thread),
so a loaded model is the one the cell would have trained.

Deliberate departures (CPU scale): T up to 8 instead of up to 80 (the card's reduced version), a few thousand steps
of batch 64 instead of 20-25k of 256, learning rate 1e-3 (the official 1e-4 with 50 warm-up steps is tuned for the
long runs); AdamW with weight decay 0.05, betas (0.9, 0.98), clip 1.0 and cosine decay to a tenth, as official.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from shared.cache import cache_root, save_whole
from shared.config import flatten, to_dict
from shared.lm.cot_length import END, PAD, VOCAB, encode, final_answer, random_tree, value, worked_example
from shared.lm.model import GPT, GPTConfig
from shared.method import Evaluator, StepTrainer, seed_everything
from shared.methods.llm.config import PER_STEP, CoTTrainConfig, TreeData  # noqa: F401  (torch-free; re-exported)
from shared.methods.llm.specs import COT_LENGTH_TRAIN as SPEC  # noqa: F401  (the registry's, torch-free)

# The code that trains, as this process imported it (a process keeps its key while the files change under it).
TRAINING_CODE = hashlib.sha1("".join(Path(m.__file__).read_text() for m in (
    sys.modules[__name__], sys.modules["shared.lm.cot_length"], sys.modules["shared.lm.model"],
    sys.modules["shared.method"])).encode()).hexdigest()


def training_key(config: CoTTrainConfig) -> str:
    """What the trained model depends on: the config less what only the evaluation reads, the code that trains,
    and torch's version. Cells that share it share one model."""
    train_only = replace(config, t=0, eval_every=0, data=replace(config.data, test_ops=1, n_test=1))
    text = json.dumps(flatten(to_dict(train_only)), sort_keys=True, default=str) + torch.__version__ + TRAINING_CODE
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def tree_batch(rng: np.random.Generator, size: int, min_ops: int, max_ops: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded token ids (B, L) and a mask of the chain-of-thought positions to predict, t drawn from PER_STEP."""
    rows, masks = [], []
    for _ in range(size):
        tree = random_tree(rng, int(rng.integers(min_ops, max_ops + 1)))
        ask, chain = worked_example(tree, int(rng.choice(PER_STEP)))
        rows.append(encode(ask + chain))
        masks.append([0.0] * len(ask) + [1.0] * len(chain))
    length = max(map(len, rows))
    ids = torch.full((size, length), PAD, dtype=torch.long)
    mask = torch.zeros(size, length)
    for i, (row, m) in enumerate(zip(rows, masks, strict=True)):
        ids[i, :len(row)], mask[i, :len(m)] = torch.tensor(row), torch.tensor(m)
    return ids, mask


class CoTTrainer(StepTrainer):
    config: CoTTrainConfig

    def __init__(self, config: CoTTrainConfig) -> None:
        super().__init__(config)
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        m = config.capability
        longest = 4 * config.data.max_ops + 1 + 1 + 8 * config.data.max_ops + 1  # question, control, chain, "."
        self.model = GPT(GPTConfig(n_layer=m, n_head=m, n_embd=64 * m, block_size=2 * longest, vocab_size=len(VOCAB)))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=0.05, betas=(0.9, 0.98))
        self.rng = np.random.default_rng([config.data.seed, config.seed, 1])  # training trees
        self.lock: Any = None  # held while this cell trains the model its sibling cells wait for
        self.shared = cache_root() / "cot_length_train" / f"{training_key(config)}.pt" if config.t else None

    def load_shared(self) -> dict[str, float] | None:
        """A cell before its first epoch: the final state a sibling cell trained (its last epoch's metrics), or
        None, holding the lock until this cell has trained and stored it."""
        self.shared.parent.mkdir(parents=True, exist_ok=True)
        self.lock = open(self.shared.with_suffix(".lock"), "a")  # noqa: SIM115 (held across epochs)
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        if not self.shared.exists():
            return None
        stored = torch.load(self.shared, weights_only=True)
        self.load_state_dict(stored["state"])
        self.release()
        return dict(stored["metrics"])

    def release(self) -> None:
        if self.lock is not None:
            self.lock.close()  # closing releases the lock
            self.lock = None

    def learning_rate(self, step: int) -> float:
        """Cosine decay from lr to lr / 10 over the run (official: cosine to 1e-5 from 1e-4)."""
        total = self.config.epochs * self.config.steps_per_epoch
        return self.config.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(step / total, 1.0))))

    def fit_epoch(self) -> dict[str, float]:
        if self.shared is not None and self.epoch == 0:
            trained = self.load_shared()
            if trained is not None:
                return trained
        c, total = self.config, 0.0
        for i in range(c.steps_per_epoch):
            for group in self.optimizer.param_groups:
                group["lr"] = self.learning_rate(self.epoch * c.steps_per_epoch + i)
            ids, mask = tree_batch(self.rng, c.batch_size, c.data.min_ops, c.data.max_ops)
            logits = self.model(ids[:, :-1])
            losses = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
            loss = (losses * mask[:, 1:]).sum() / mask[:, 1:].sum()
            total += self.step(loss, clip=1.0)
        self.epoch += 1
        metrics = {"loss": total / c.steps_per_epoch}
        if self.shared is not None and self.done:
            save_whole({"state": self.state_dict(), "metrics": metrics}, self.shared)
            self.release()
        return metrics

    def artifact(self) -> GPT:
        return self.model


@torch.no_grad()
def answer_accuracy(model: GPT, trees: list, per_step: int) -> float:
    """Greedy decoding (KV-cached) of each tree's chain of thought at ``per_step``; the share whose final answer is
    right."""
    asks = torch.tensor([encode(worked_example(tree, per_step)[0]) for tree in trees])  # one length at fixed T
    budget = len(worked_example(trees[0], 1)[1]) + 8  # the longest chain (t = 1) and some slack
    out, done = asks, torch.zeros(len(trees), dtype=torch.bool)
    cache = model.new_cache()  # each step reads the new token only (shared.lm.model.KVCache)
    logits = model(asks, cache)[:, -1]
    for _ in range(min(budget, model.cfg.block_size - asks.shape[1])):
        nxt = logits.argmax(-1).masked_fill(done, END)
        out, done = torch.cat([out, nxt[:, None]], 1), done | (nxt == END)
        if done.all() or out.shape[1] == model.cfg.block_size:
            break
        logits = model(nxt[:, None], cache)[:, -1]
    texts = ["".join(VOCAB[i] for i in row) for row in out[:, asks.shape[1]:].tolist()]
    return float(np.mean([final_answer(t) == value(tree) for t, tree in zip(texts, trees, strict=True)]))


class AccuracyByLength(Evaluator):
    """Final-answer accuracy at each t on the same fresh trees, the t of the peak and the matching step count; a
    cell (its ``t``) reports its t's accuracy as ``acc`` and its number of steps ceil(T / t) as ``steps``."""

    metrics = tuple(f"acc_t{t}" for t in PER_STEP) + ("best_per_step", "best_steps", "peak_acc", "interior_peak",
                                                      "acc", "steps")

    def evaluate(self, model: GPT) -> dict[str, float]:
        d, t = self.config.data, self.config.t
        rng = np.random.default_rng([d.seed, 2])  # the same evaluation trees for every run of a data seed
        trees = [random_tree(rng, d.test_ops) for _ in range(d.n_test)]
        model.eval()
        if t:
            acc = answer_accuracy(model, trees, t)
            model.train()
            return {f"acc_t{t}": acc, "acc": acc, "steps": float(math.ceil(d.test_ops / t))}
        accs = {t: answer_accuracy(model, trees, t) for t in PER_STEP}
        model.train()
        best = max(PER_STEP, key=lambda t: (accs[t], -t))  # ties go to the finer chain
        return {**{f"acc_t{t}": a for t, a in accs.items()}, "best_per_step": float(best),
                "best_steps": float(math.ceil(d.test_ops / best)), "peak_acc": accs[best],
                "interior_peak": float(PER_STEP[0] < best < PER_STEP[-1])}
