"""Rank a finished kv_margin sweep: Kendall tau of each complexity score against the generalisation gap.

    python jobs/rank_generalisation.py EXPERIMENT [--storage ROOT]

EXPERIMENT is the sweep's name under the storage root (``python jobs/sweep.py kv_margin`` prints it: the
``results:`` line ends with it). Each finished trial is one trained model; its final ``gap``, ``margin_score``,
``kv_margin_score`` and ``kv_gn_margin_score`` are ranked (``shared.ot.kvariance.score_taus``). A positive tau means
the score orders the models like their gaps (the claim: kV-GN-Margin's tau > 0 and >= the plain margin's).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from shared.ot.kvariance import SCORES, score_taus  # noqa: E402
from shared.results import ResultsStore  # noqa: E402

NEEDED = ("gap", *SCORES)


def final_measures(frame: pd.DataFrame) -> list[dict[str, float]]:
    """From tidy result rows: the last reported value of each needed metric for every trial that finished."""
    frame = frame[(frame["status"] == "final") & frame["metric"].isin(NEEDED)]
    table = frame.sort_values("epoch").groupby(["trial", "metric"])["value"].last().unstack()
    return [row.to_dict() for _, row in table.dropna().iterrows()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment")
    parser.add_argument("--storage", default=None, help="storage root (default RAYSTUDY_STORAGE or ~/raystudy)")
    args = parser.parse_args(argv)
    store = ResultsStore(args.storage)
    if args.experiment not in store.experiments():
        print(f"no experiment {args.experiment!r} under {store.root}", file=sys.stderr)
        return 2
    models = final_measures(store.read(args.experiment).to_pandas())
    if len(models) < 2:
        print(f"{args.experiment}: {len(models)} finished trial(s) report {', '.join(NEEDED)}; ranking needs 2 "
              "(is it a kv_margin sweep, and has it finished?)", file=sys.stderr)
        return 2
    print(f"{args.experiment}: {len(models)} models, Kendall tau against the gap")
    for score, tau in score_taus(models).items():
        print(f"  {score:20s} {tau:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
