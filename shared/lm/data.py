"""Language-model data sets: real corpora (``shared.lm.corpora``) and generated tasks (``shared.lm.tasks``).

Every data set becomes fixed-length token sequences with two masks over the prediction targets:
``loss_mask`` (which targets the training loss counts) and ``answer_mask`` (the task's answer tokens,
whose accuracy and loss evaluators report; empty for plain text). Position j of a mask refers to the target
``tokens[:, j + 1]``, i.e. the prediction made at position j.

A new generated task is a function in its own module, one line in :data:`TASKS` and its name in
``shared/lm/config.py``'s ``TASK_NAMES`` (what a config is checked against without torch).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from shared.config import ConfigError
from shared.lm import corpora, tasks
from shared.lm.config import LMDataConfig  # torch-free (a driver validates it without torch); re-exported
from shared.lm.easy_hard import easy_hard
from shared.lm.long_recall import long_recall


@dataclass
class LMSplit:
    tokens: torch.Tensor  # (N, L) int64
    loss_mask: torch.Tensor  # (N, L - 1) float: weight of each target in the training loss
    answer_mask: torch.Tensor  # (N, L - 1) bool: the task's answer targets

    def __len__(self) -> int:
        return self.tokens.shape[0]


@dataclass
class LMData:
    name: str
    vocab_size: int
    train: LMSplit
    val: LMSplit
    test: LMSplit

    @property
    def seq_len(self) -> int:
        return self.train.tokens.shape[1]


def _task_split(tokens: torch.Tensor, answers: torch.Tensor, train_on: str) -> LMSplit:
    loss = answers.float() if train_on == "answers" else torch.ones_like(answers, dtype=torch.float32)
    return LMSplit(tokens, loss, answers)


def _kv(cfg: LMDataConfig, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return tasks.kv_recall(n, cfg.n_pairs, cfg.n_queries, cfg.n_keys, cfg.n_values, cfg.filler, cfg.n_filler, gen)


def _assoc(cfg: LMDataConfig, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return tasks.kv_recall(n, cfg.n_pairs, 1, cfg.n_keys, cfg.n_values, cfg.filler, cfg.n_filler, gen)


# name -> (generator of (tokens, answer mask), vocabulary size, which targets the loss counts)
TaskFn = Callable[[LMDataConfig, int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
TASKS: dict[str, tuple[TaskFn, Callable[[LMDataConfig], int], str]] = {
    "kv_recall": (_kv, lambda c: c.n_keys + c.n_values + c.n_filler, "answers"),
    "assoc_recall": (_assoc, lambda c: c.n_keys + c.n_values + c.n_filler, "answers"),
    "easy_hard": (lambda c, n, g: easy_hard(n, c.n_pairs, c.n_queries, c.n_values, g), lambda c: c.n_values + 2, "all"),
    # LongPPL's long-dependency corpus: seq_len + 1 tokens, answers >= data.filler tokens after their definitions
    "long_recall": (lambda c, n, g: long_recall(n, c.seq_len, c.n_pairs, c.n_queries, c.n_values, c.n_filler, c.filler,
                                                g), lambda c: c.n_values, "all"),
}


def _corpus(cfg: LMDataConfig) -> LMData:
    from shared.lm.tokenizer import get_tokenizer

    stream = corpora.token_stream(cfg.name, cfg.tokenizer)
    length = cfg.seq_len + 1
    held = int(len(stream) * cfg.val_fraction)
    parts = {"train": stream[: len(stream) - 2 * held], "val": stream[len(stream) - 2 * held: len(stream) - held],
             "test": stream[len(stream) - held:]}
    splits = {}
    for name, part in parts.items():
        n = (len(part) - 1) // cfg.seq_len
        if n < 1:
            raise ConfigError(f"data.seq_len={cfg.seq_len} is longer than the {name} split of {cfg.name} "
                              f"({len(part)} tokens)")
        # Windows overlap by one token so that every token of the stream is a target exactly once.
        idx = torch.arange(n)[:, None] * cfg.seq_len + torch.arange(length)[None, :]
        tokens = part[idx]
        if name == "train" and cfg.max_train:
            tokens = tokens[: cfg.max_train]
        ones = torch.ones(tokens.shape[0], cfg.seq_len)
        splits[name] = LMSplit(tokens, ones, torch.zeros_like(ones, dtype=torch.bool))
    return LMData(cfg.name, get_tokenizer(cfg.tokenizer).n_vocab, **splits)


def is_task(cfg: LMDataConfig) -> bool:
    return cfg.name in TASKS


def task_split(cfg: LMDataConfig, n: int, generator: torch.Generator) -> LMSplit:
    """``n`` fresh sequences of a generated task, drawn from ``generator``."""
    fn, _, train_on = TASKS[cfg.name]
    return _task_split(*fn(cfg, n, generator), train_on)


def load_lm_data(cfg: LMDataConfig, seed: int = 0) -> LMData:
    """The data set named by ``cfg``; generated tasks are deterministic per seed (train, val, test disjoint draws)."""
    cfg.check()
    if cfg.name in corpora.CORPORA:
        return _corpus(cfg)
    gen = torch.Generator().manual_seed(10_000 + seed)
    splits = {name: task_split(cfg, n, gen) for name, n in (("train", cfg.n_train), ("val", cfg.n_val),
                                                             ("test", cfg.n_val))}
    return LMData(cfg.name, TASKS[cfg.name][1](cfg), **splits)
