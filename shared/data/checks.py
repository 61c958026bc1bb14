"""Torch-free checks of data sets whose loaders need torch: the registry names these, so that a sweep's driver
checks a config's `data:` section without importing torch (the loaders import it in the trials)."""
from __future__ import annotations

from typing import Any

from shared.config import ConfigError


def check_shapes(cfg: Any) -> None:
    """Generated sets have no "all": both sizes must be counts."""
    for key in ("n_train", "n_test"):
        if getattr(cfg, key) == -1:
            raise ConfigError(f"data.{key}: shapes is generated and has no 'all' (-1); give a count")


N_DIGITS = 1797  # images in sklearn's digits set


def check_digits(cfg: Any) -> None:
    """Sizes must fit in the 1,797 images; only n_train may be -1 (all images left after the test split)."""
    if cfg.n_test == -1:
        raise ConfigError("data.n_test: digits has no official test split; give a count (e.g. 360)")
    if cfg.n_test >= N_DIGITS:
        raise ConfigError(f"data.n_test: {cfg.n_test} leaves no train images; digits has {N_DIGITS}")
    if cfg.n_train != -1 and cfg.n_train + cfg.n_test > N_DIGITS:
        raise ConfigError(
            f"data.n_train: {cfg.n_train} + n_test {cfg.n_test} exceeds the {N_DIGITS} digits; "
            f"use at most {N_DIGITS - cfg.n_test}, or -1 for all the rest"
        )
