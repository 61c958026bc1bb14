"""CARE's qualitative claim at small scale: CARE against SimCLR (lambda = 0) over seeds, on Ray.

    python jobs/reproduce_care.py [--seeds 0 1 2] [key=value ...]

Claim (Gupta et al., ICLR 2024): the equivariance loss keeps information that SimCLR's invariance
discards (colour, here), at little cost in class accuracy, and makes augmentations act on the embedding
as orthogonal maps (lower equivariance error). Setting: coloured shapes, a 4-layer ConvNet, 20 epochs,
the CIFAR recipe's augmentations with a full-circle hue jitter (augment.hue=0.5): colour is then a factor
the augmentations vary, as it is for natural images, instead of a shortcut that SimCLR keeps anyway.
Each (method, seed) runs as one Ray task; the table gives the mean and standard deviation over seeds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "token")

import ray  # noqa: E402

from shared.registry import get_method  # noqa: E402

SETTING = ["epochs=20", "model.width=16", "data.n_train=2048", "data.n_test=1024", "augment.hue=0.5",
           "threads=1"]
ARMS = {"simclr": ("simclr", []), "care": ("care", ["lam=0.1", "equiv_splits=16"])}
MEASURES = ("linear_probe_acc", "colour_probe_acc", "knn_acc", "equiv_error", "gram_discrepancy",
            "hue_sensitivity")


@ray.remote(num_cpus=1)
def train_and_evaluate(method: str, overrides: list[str]) -> dict[str, float]:
    spec = get_method(method)
    cfg = spec.load_config(overrides)
    trainer = spec.make_trainer(cfg)
    while not trainer.done:
        trainer.fit_epoch()
    return spec.evaluate(cfg, trainer.artifact(), trainer.data)


def compare(seeds: list[int], extra: list[str] | None = None) -> dict[str, dict[str, list[float]]]:
    """{arm: {measure: [value per seed]}}; runs every (arm, seed) as a Ray task on the connected Ray."""
    for method, overrides in ARMS.values():  # validate every configuration before any compute
        get_method(method).load_config([*SETTING, *overrides, *(extra or [])])
    jobs = {(arm, seed): train_and_evaluate.remote(method, [*SETTING, *overrides, *(extra or []), f"seed={seed}"])
            for arm, (method, overrides) in ARMS.items() for seed in seeds}
    results = {key: ray.get(ref) for key, ref in jobs.items()}
    return {arm: {m: [results[(arm, s)][m] for s in seeds] for m in MEASURES} for arm in ARMS}


def table(out: dict[str, dict[str, list[float]]]) -> str:
    lines = ["| measure | " + " | ".join(out) + " |", "|---|" + "---|" * len(out)]
    for m in MEASURES:
        cells = []
        for arm in out:
            v = out[arm][m]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append(f"{statistics.mean(v):.3f} ± {sd:.3f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("overrides", nargs="*", help="key=value applied to both arms")
    args = parser.parse_args(argv)
    from cluster import connect

    print(f"[raystudy] {connect().describe()}", flush=True)
    out = compare(args.seeds, args.overrides)
    print(f"seeds {args.seeds}; setting {SETTING + args.overrides}")
    print(table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
