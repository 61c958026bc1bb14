"""What a study's jobs upload (jobs/scheduler.py EXCLUDES, gitignore patterns as Ray applies them): the top-level
data/ and results/ folders stay out, the library's own shared/data package goes up (a bare "data" pattern dropped it,
so jobs imported an installed, possibly older, shared.data)."""
from __future__ import annotations

from pathlib import Path

from ray._private.runtime_env.packaging import _get_excludes

from jobs.scheduler import EXCLUDES

REPO = Path(__file__).resolve().parents[1]


def test_the_upload_keeps_shared_data_and_drops_top_level_data_and_results():
    excluded = _get_excludes(REPO, EXCLUDES)
    for path in ("shared/data", "shared/data/registry.py", "shared/results.py", "jobs/results.py"):
        assert not excluded(REPO / path), path
    for path in ("data", "data/x.npz", "results", ".venv", "shared/__pycache__"):
        assert excluded(REPO / path), path
