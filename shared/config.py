"""Method configuration: a dataclass schema per method, defaults from YAML, overrides as OmegaConf dotlists.

Every error names the offending key (``optim.lr: must be > 0, got -0.1``) and is raised before any compute.
Three kinds of checks run, in this order:

1. structure: OmegaConf in struct mode rejects keys the schema does not have;
2. types: OmegaConf rejects values it cannot convert to the field's type;
3. ranges: fields declared with :func:`bounded` carry bounds in their metadata, checked here.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_ROOT = REPO_ROOT / "configs"


class ConfigError(ValueError):
    """A configuration is invalid; the message names the key and what was expected."""


def bounded(
    default: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: Iterable[Any] | None = None,
    help: str = "",
) -> Any:
    """A dataclass field whose value must lie in a range or a set of choices (checked by :func:`validate`)."""
    meta = {"gt": gt, "ge": ge, "lt": lt, "le": le, "choices": tuple(choices) if choices else None, "help": help}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# Integers are bounded so that a typo (``epochs=99999999999999999999``) fails here instead of running until
# killed. Every integer fits numpy's seed range (and a Parquet int64 column); counts of work get a tighter,
# still generous bound unless their field declares its own upper bound.
MAX_INT = 2**32 - 1
COUNT_LIMITS = {"epochs": 100_000, "steps": 10_000_000, "num_samples": 100_000, "trials": 100_000}


def _count_limit(key: str) -> int | None:
    """The upper bound of a count field named like ``epochs``, ``warmup_epochs``, ``num_samples``."""
    name = key.rsplit(".", 1)[-1]
    for word, limit in COUNT_LIMITS.items():
        if name == word or name.endswith("_" + word):
            return limit
    return None


def check_number(key: str, value: Any) -> None:
    """Refuse NaN and infinite floats and integers beyond :data:`MAX_INT`, in a value or anywhere inside a
    list or mapping (free-form sections such as a search space)."""
    if isinstance(value, bool):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {value!r}")
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise ConfigError(f"{key}: must be at most {MAX_INT} in magnitude, got {value!r}")
    if isinstance(value, Mapping):
        for k, v in value.items():
            check_number(f"{key}.{k}", v)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_number(f"{key}[{i}]", v)


def _check_field(key: str, value: Any, meta: Mapping[str, Any]) -> None:
    if value is None:
        return
    check_number(key, value)
    limit = _count_limit(key)
    if limit is not None and isinstance(value, int) and meta.get("le") is None and meta.get("lt") is None \
            and value > limit:
        raise ConfigError(f"{key}: must be <= {limit} (a sane upper bound for a count), got {value!r}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key}: must be one of {list(choices)}, got {value!r}")
    for name, test, word in (
        ("gt", lambda v, b: v > b, ">"),
        ("ge", lambda v, b: v >= b, ">="),
        ("lt", lambda v, b: v < b, "<"),
        ("le", lambda v, b: v <= b, "<="),
    ):
        bound = meta.get(name)
        if bound is not None and not test(value, bound):
            raise ConfigError(f"{key}: must be {word} {bound}, got {value!r}")


def validate(cfg: Any, prefix: str = "") -> None:
    """Check the bounds declared with :func:`bounded` on a dataclass instance, recursively.

    A dataclass may also define ``check(self) -> None`` for rules that relate several fields; it raises
    :class:`ConfigError` naming the keys.
    """
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            validate(value, prefix=key + ".")
        else:
            _check_field(key, value, f.metadata)
    check = getattr(cfg, "check", None)
    if callable(check):
        try:
            check()
        except ConfigError as err:
            if prefix and not str(err).startswith(prefix):
                raise ConfigError(f"{prefix}{err}") from None
            raise


def _as_dotlist(overrides: Mapping[str, Any] | Iterable[str] | None) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        # Values are rendered through OmegaConf's grammar, so "None" and lists round-trip.
        return [f"{k}={_render(v)}" for k, v in overrides.items()]
    items = list(overrides)
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value (OmegaConf dotlist syntax)")
    return items


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value if value and all(c.isalnum() or c in "._-/:" for c in value) else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_render(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def _explain(err: OmegaConfBaseException) -> str:
    """OmegaConf's messages carry the key in ``full_key``; lead with it."""
    key = getattr(err, "full_key", None) or getattr(err, "key", None)
    msg = str(err).split("\n")[0]
    if msg.startswith("Key '") and " not in " in msg:
        msg = f"unknown key (not in the schema). {msg}"
    return f"{key}: {msg}" if key else msg


def load_config(
    schema: type,
    source: str | Path | Mapping[str, Any] | DictConfig | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> Any:
    """Build a validated config instance: schema defaults <- YAML file (or mapping) <- overrides.

    Args:
        schema: the config dataclass.
        source: a defaults file (e.g. ``configs/methods/<name>.yaml``), an already-loaded mapping, or None.
        overrides: ``["optim.lr=0.01", ...]`` or ``{"optim.lr": 0.01}``.

    Raises:
        ConfigError: naming the key, for unknown keys, wrong types and out-of-range values.
    """
    base: DictConfig = OmegaConf.structured(schema)
    OmegaConf.set_struct(base, True)
    _open_free_dicts(base)
    try:
        if isinstance(source, (str, Path)):
            base = OmegaConf.merge(base, OmegaConf.load(source))
        elif source is not None:
            base = OmegaConf.merge(base, source)
        dotlist = _as_dotlist(overrides)
        if dotlist:
            base = OmegaConf.merge(base, OmegaConf.from_dotlist(dotlist))
        obj = OmegaConf.to_object(base)
    except yaml.YAMLError as err:
        raise ConfigError(f"cannot parse {overrides or source}: {str(err).splitlines()[0]}") from None
    except OmegaConfBaseException as err:
        where = f" (in {source})" if isinstance(source, (str, Path)) else ""
        raise ConfigError(_explain(err) + where) from None
    validate(obj)
    return obj


def _open_free_dicts(node: DictConfig) -> None:
    """Fields typed ``dict[str, Any]`` hold free-form mappings (e.g. a sweep's search space): allow new
    keys there while the dataclass fields themselves stay closed."""
    for key in node.keys():
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            if OmegaConf.get_type(child) is dict:
                OmegaConf.set_struct(child, False)
            else:
                _open_free_dicts(child)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config instance as plain nested dicts (for JSON, Tune and checkpoints)."""
    return dataclasses.asdict(cfg)


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> ``{"optim.lr": 0.001, ...}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
