"""One name rule for everything the platform turns into a path or an id: experiments (``--name``), studies
(a study's ``name:``, ``report.py --study``), study arms, Ray job submission ids.

Such a name becomes a directory under the storage root (``tune/<name>``, ``results/<name>``,
``reports/<name>``) and part of a Ray job id, so it must be one safe path component: letters, digits, ``.``,
``_`` and ``-``; not starting with ``.`` (``.``, ``..``, hidden files) or ``-`` (read as an option by command
lines); no ``..`` anywhere; 1 to 100 characters (a study's nodes append to it, and a path component is at most
255 bytes). Checked before anything starts, so a bad name is a clear error (exit 2), never a directory
outside the root.
"""
from __future__ import annotations

import re

from shared.config import ConfigError

MAX_NAME_LENGTH = 100
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it is a safe slug, else raise ConfigError saying which rule it breaks.

    ``what`` says where the name came from (e.g. ``"--name"``, ``"study name"``), for the message."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{what}: a name is required (letters, digits, '.', '_', '-')")
    shown = name if len(name) <= 60 else name[:57] + "..."
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(f"{what}: {shown!r} is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed")
    if name[0] in ".-":
        why = "a hidden or parent directory" if name[0] == "." else "read as an option"
        raise ConfigError(f"{what}: {shown!r} must not start with {name[0]!r} ({why}); "
                          "start with a letter, digit or '_'")
    if ".." in name:
        raise ConfigError(f"{what}: {shown!r} must not contain '..'")
    if not _SAFE.fullmatch(name):
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "._-"))})
        raise ConfigError(f"{what}: {shown!r} contains {''.join(bad)!r}; a name may hold only ASCII letters, digits, "
                          "'.', '_' and '-' (it becomes a directory under the storage root and part of a Ray job id)")
    return name


def name_arg(text: str) -> str:
    """``check_name`` as an argparse ``type=``: a bad name ends the command with its message and exit 2."""
    import argparse

    try:
        return check_name(text, "name")
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
