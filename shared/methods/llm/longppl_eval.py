"""LongPPL as a measure of any LM method (Fang et al., ICLR 2025, Eq. 7): perplexity over the **key tokens** that a
fixed evaluator model finds, so methods are compared on the tokens that need long context.

The evaluator is the ``longppl`` tool's model (``configs/methods/longppl.yaml``: a small dense decoder trained on
the run's own data set and seed), and its key tokens on the test split are computed once and cached on disk
(``$RAYSTUDY_CACHE/longppl``), the paper's offline mode, where key-token intervals of one evaluator are reused for
every evaluated model. Runs of any method that share the data and seed share the key tokens: a second run, or a
run of another method, reads them; concurrent runs wait on a file lock instead of training the evaluator twice.

Active on the long-dependency data sets (:data:`LONG_DEPENDENCY`, whose answers are the ground-truth key tokens);
elsewhere the measures are NaN and nothing is computed.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import math
from typing import Any

import torch
from torch import nn

from shared.cache import cache_root, save_whole
from shared.lm.data import LMData, LMSplit, load_lm_data
from shared.lm.longppl import (
    aggregate,
    document_log_longppl,
    full_context_losses,
    key_token_mask,
    short_context_losses,
)
from shared.method import Evaluator
from shared.methods.llm.config import LongPPLSettings  # torch-free (the longppl tool's config section)

LONG_DEPENDENCY = ("long_recall",)  # generated data sets whose answer tokens are exactly the long-dependency tokens
CACHE_VERSION = "v1"  # bump when the evaluator's training or the key-token rule changes


@torch.no_grad()
def split_losses(model: nn.Module, split: LMSplit, settings: LongPPLSettings,
                 short: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Full-context (and short-context) per-token losses (N, L - 1) of ``model`` on a split, in eval mode."""
    was_training = model.training
    model.eval()
    full, shorts = [], []
    for start in range(0, len(split), settings.batch_size):
        tokens = split.tokens[start:start + settings.batch_size]
        full.append(full_context_losses(model, tokens))
        if short:
            shorts.append(short_context_losses(model, tokens, settings.trunc_len, settings.sliding_window))
    model.train(was_training)
    return torch.cat(full), (torch.cat(shorts) if short else None)


def detection_scores(key: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Precision and recall of detected key tokens against the ground-truth long-dependency tokens (NaN when the
    data marks none, e.g. plain text), and the mean number of key tokens per sequence."""
    hits = float((key & truth).sum())
    n_key, n_true = float(key.sum()), float(truth.sum())
    known = n_true > 0
    return {"key_precision": hits / n_key if n_key and known else math.nan,
            "key_recall": hits / n_true if known else math.nan, "key_tokens": n_key / max(key.shape[0], 1)}


def longppl(losses: torch.Tensor, key: torch.Tensor) -> float:
    """Data-set LongPPL: per-document LongPPL aggregated weighted by key-token count (``perplexity.py``)."""
    logs, counts = document_log_longppl(losses.double(), key)
    return aggregate(logs, counts)


# -- the reference evaluator and its cached key tokens -------------------------------------------------
def reference_config(run_config: Any) -> Any:
    """The ``longppl`` tool's default configuration on the run's data set and seed (the model that finds the
    key tokens); its context is widened if the run's sequences are longer."""
    from shared.registry import get_method  # the tool's module imports the LM trainer, which imports this one

    cfg = get_method("longppl").load_config([])
    data = dataclasses.replace(run_config.data)
    model = dataclasses.replace(cfg.model, block_size=max(cfg.model.block_size, data.seq_len))
    return dataclasses.replace(cfg, data=data, model=model, seed=run_config.seed,
                               threads=getattr(run_config, "threads", cfg.threads))


def cache_key(tool_config: Any) -> str:
    """Everything that changes the evaluator's key tokens (not threads or evaluation frequency)."""
    fields = {k: v for k, v in dataclasses.asdict(tool_config).items() if k not in ("threads", "eval_every")}
    blob = json.dumps([CACHE_VERSION, fields], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def detect_key_tokens(model: nn.Module, split: LMSplit, settings: LongPPLSettings) -> dict[str, Any]:
    """The evaluator's key tokens on ``split`` (N, L - 1) and its own losses there."""
    full, short = split_losses(model, split, settings)
    return {"key": key_token_mask(full, short, settings.alpha, settings.beta), "full": full, "short": short}


def reference_key_tokens(run_config: Any, split: LMSplit) -> torch.Tensor:
    """Key tokens (N, L - 1) on the test ``split`` of the run's data, found by the reference evaluator: from the
    cache, or trained now (under a file lock, with the process's RNG state restored afterwards so that the
    evaluated run stays reproducible)."""
    from shared.registry import get_method

    tool_config = reference_config(run_config)
    path = cache_root() / "longppl" / f"{cache_key(tool_config)}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            with torch.random.fork_rng(devices=[]):
                trainer = get_method("longppl").make_trainer(tool_config)
                while not trainer.done:
                    trainer.fit_epoch()
                if not torch.equal(trainer.data.test.tokens, split.tokens):
                    raise RuntimeError("the reference evaluator's test split differs from the run's")
                found = detect_key_tokens(trainer.artifact(), split, tool_config.longppl)
                save_whole({"key": found["key"]}, path)
        key = torch.load(path, weights_only=True)["key"]
    if key.shape != split.answer_mask.shape:
        raise RuntimeError(f"cached key tokens {tuple(key.shape)} do not fit the test split "
                           f"{tuple(split.answer_mask.shape)}: delete {path}")
    return key


class LongPPLEval(Evaluator):
    """``longppl``: the trained model's LongPPL on the test split over the reference evaluator's key tokens
    (compare with ``test_ppl``, the same over every token); ``key_tokens``, ``key_precision``, ``key_recall``: how
    many key tokens the reference finds per sequence and how well they match the ground-truth answers. NaN off
    the long-dependency data sets."""

    metrics = ("longppl", "key_tokens", "key_precision", "key_recall")

    def load_data(self) -> LMData:
        return load_lm_data(self.config.data, self.config.seed)

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        if self.config.data.name not in LONG_DEPENDENCY:
            return dict.fromkeys(self.metrics, math.nan)
        split = self.data.test
        key = reference_key_tokens(self.config, split)
        full, _ = split_losses(artifact, split, LongPPLSettings(), short=False)
        return {"longppl": longppl(full, key), **detection_scores(key, split.answer_mask)}
