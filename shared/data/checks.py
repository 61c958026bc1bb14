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
