"""The CARE sweep: the entrypoint users submit first.

    python jobs/sweep_care.py            # the default sweep (its duration: README, "Measured figures")
    python jobs/sweep_care.py --smoke    # 2 trials, 2 epochs
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- python jobs/sweep_care.py --smoke

CARE (rotationally equivariant contrastive learning) against SimCLR (lambda = 0) on coloured shapes:
does the equivariance term keep more colour information at a matched class accuracy? The sweep is
configs/sweeps/care.yaml: 12 trials, 4 lambdas on a grid x 3 samples of learning rate, temperature
and chunk count, under ASHA (the smoke run: lambda 0 and 0.3).

``key=value`` fixes a CARE config key for every trial (``epochs=5``); ``sweep.key=value`` changes the
sweep (``sweep.num_samples=1``). Running the same command again resumes the experiment; ``--fresh``
starts a new one. Results (Parquet), report.md and plots land under the storage root.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.sweep import main, ray_start_mode  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(method="care", prog="sweep_care.py", description=__doc__, ray_start=ray_start_mode()))
