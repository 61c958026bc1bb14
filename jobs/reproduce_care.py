"""CARE against SimCLR over seeds: ``python jobs/reproduce.py care`` (configs/reproduce/care.yaml).

    python jobs/reproduce_care.py [--seeds 0 1 2] [key=value ...]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.reproduce import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["care", *sys.argv[1:]]))
