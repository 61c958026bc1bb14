"""``sweep.py --list``: the registered methods, experiments and tools from the registry's static table.

Imports nothing but the registry (no method, torch, Ray or Tune), so it answers in a fraction of a second;
tests/test_terminal.py checks both that and that the table agrees with every spec.
"""
from __future__ import annotations

import shutil
import sys


def print_listing() -> int:
    """Print the aligned listing, wrapped to the terminal's width on a terminal; returns the exit status."""
    from shared.registry import listing

    width = shutil.get_terminal_size((100, 24)).columns - 1 if sys.stdout.isatty() else 0
    print(listing(width))
    return 0
