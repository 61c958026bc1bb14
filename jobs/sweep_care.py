"""The CARE sweep: the entrypoint users submit first.

    python jobs/sweep_care.py            # the default sweep (its duration: README, "Measured figures")
    python jobs/sweep_care.py --smoke    # 2 trials, 2 epochs
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- python jobs/sweep_care.py --smoke

Same options as ``jobs/sweep.py`` (overrides, --name, --fresh, --storage); see configs/sweeps/care.yaml.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.sweep import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(method="care"))
