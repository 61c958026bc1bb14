"""tetris_detector: "Tetris-inspired detector with neural network for radiation mapping" (Okabe, Xue, Yu, Liu,
Forget, Jegelka, Kohse, Hu, Li; arXiv 2302.07099, Nature Communications 2024), after ``RyotaroOKabe/radiation_mapping``
(MIT): ``utils/model.py`` (``MyNet2``, ``Filterlayer2``), ``train_model.py``, ``utils/mapping.py``.

A detector of four CdZnTe pixels in a Tetris shape (J, L, Z, T, S on a 2 x 3 grid) or an a x a square, with padding
between pixels that shadows the far pixels, reads a point source's photons; a network maps the z-scored pixel
readings to a 64-bin distribution of the source direction:
- a physics-initialised filter layer: the detector's responses F_far, F_near to sources at the 64 bin centres
  (500 and 50 cm) as matched filters, x^T F / w + b per distance, a 2 x 64 angular image (F, w, b trainable);
- a circular 1-D CNN over the 64 angles, softmax;
- loss: the ring Earth Mover's Distance with r = 2, min over cyclic starting bins of the L_r norm of the CDF
  difference (validation r = 1); the predicted direction is the distribution's circular mean.
Mapping: a detector on a unicycle path measures every 10 steps; with C_j[a, i] = (area of map cell i in sector a) /
(distance), y_j = (the network's distribution) x (the mean raw count), the MAP estimate is
argmin_{x >= 0} sum_j |C_j x - y_j|^2 + 0.1 |x|^2.

Data: by default ``shared.theory.radiation``'s analytic planar simulator (OpenMC needs cross-section libraries that
are not offline); with ``data_root`` the official OpenMC JSON (single-source sets J, S, T, 2 x 2), whose labels the
simulator's convention reproduces exactly (tests/test_theory_tetris.py). Deliberate departures: a 3-conv circular CNN
replaces the 1-D U-Net; the filter layer's 30 x smaller learning rate (3e-5 vs 1e-3) is a 0.03 reparametrisation of
its parameters (with Adam, the same steps); no L2 term; the circular mean replaces the linear expectation over bins
(which is wrong at the +-pi seam); one map unit is ``map_unit_cm`` = 10 cm, so the mapping distances (6-14 units) lie
inside the network's training range of 20-500 cm (the official code enters them as cm).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shared.method import Evaluator, GradientTrainer
from shared.methods.theory.config import OFFICIAL_SETS, TetrisConfig, official_folder  # torch-free
from shared.methods.theory.specs import TETRIS_DETECTOR as SPEC  # noqa: F401  (torch-free; the registry's entry)
from shared.theory import radiation

MAP_LO, MAP_HI, MAP_CELLS, MAP_SOURCE = (-15.0, -5.0), (15.0, 25.0), 30, np.array([-4.0, 11.0])


def readings(cfg: TetrisConfig, sources: np.ndarray, rng: np.random.Generator | None, pad_mu: float | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """(z-scored readings, raw counts), one row per source position (cm, detector frame); Poisson noise when
    ``rng`` is given, else the expected counts."""
    centres, used = radiation.layout(cfg.layout)
    pad = cfg.pad_mu if pad_mu is None else pad_mu
    raw = np.stack([radiation.expected_counts(s, centres, used, cfg.particles, cfg.pixel_mu, pad, cfg.rays)
                    for s in sources])
    if rng is not None:
        raw = rng.poisson(raw).astype(float)
    return radiation.zscore(raw), raw


def at_angles(theta: np.ndarray, distance: np.ndarray | float) -> np.ndarray:
    return np.stack([np.cos(theta), np.sin(theta)], axis=-1) * np.reshape(distance, (-1, 1))


def read_records(folder: Path, pattern: str = "*.json") -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob(pattern))]


def source_angle(record: dict) -> float:
    x, y = record["source"][0]["position"][:2]
    return float(np.arctan2(y, x))


def load_official(cfg: TetrisConfig) -> dict[str, np.ndarray]:
    """The official OpenMC set of the layout: ``input`` (z-scored readings), ``output`` (the 64-bin label), the
    source angle from ``source[0].position``; ``samples`` of them in an order drawn by ``data.seed``. The filter
    responses are the ``far_500_*`` / ``near_50_*`` records' inputs, ordered by their source angle."""
    root, prefix = Path(cfg.data_root).expanduser(), OFFICIAL_SETS[cfg.layout]
    records = read_records(official_folder(root, "data", f"{prefix}_data"))
    order = np.random.default_rng([cfg.data.seed, 8]).permutation(len(records))[:cfg.samples]
    records = [records[i] for i in order]
    filters = official_folder(root, "filter", f"{prefix}_filter")

    def responses(pattern: str) -> np.ndarray:
        found = sorted(read_records(filters, pattern), key=source_angle)
        return np.array([r["input"] for r in found], dtype=float).T  # (positions, bins)

    x = np.array([np.ravel(r["input"]) for r in records], dtype=float)
    test = np.arange(len(records)) >= round(len(records) * (1 - cfg.test_fraction))
    return {"x": x, "theta": np.array([source_angle(r) for r in records]),
            "label": np.array([r["output"] for r in records], dtype=float), "far": responses("far_*.json"),
            "near": responses("near_*.json"), "test": test}


def simulate(cfg: TetrisConfig) -> dict[str, np.ndarray]:
    """The official OpenMC data when ``data_root`` is set (``load_official``); else simulated: sources at integer
    distances U[distance_min, distance_max] cm and angles U[0, 2 pi), their labels, and the filter responses at the
    bin centres at 500 and 50 cm (noiseless, z-scored)."""
    if cfg.data_root:
        return load_official(cfg)
    rng = np.random.default_rng([cfg.data.seed, 8])
    distance = rng.integers(cfg.distance_min, cfg.distance_max + 1, cfg.samples).astype(float)
    theta = rng.uniform(0, 2 * np.pi, cfg.samples)
    x, _ = readings(cfg, at_angles(theta, distance), rng)
    centres = radiation.bin_centres(cfg.bins)
    far, _ = readings(cfg, at_angles(centres, 500.0), None)
    near, _ = readings(cfg, at_angles(centres, 50.0), None)
    return {"x": x, "theta": theta, "label": radiation.angle_label(theta, cfg.bins), "far": far.T, "near": near.T,
            "test": np.arange(cfg.samples) >= round(cfg.samples * (1 - cfg.test_fraction))}


class DirectionNet(nn.Module):
    """Filter layer (matched filters at two distances) + a circular 1-D CNN over the angle bins -> logits."""

    def __init__(self, far: np.ndarray, near: np.ndarray, channels: int, filter_scale: float) -> None:
        super().__init__()
        self.register_buffer("filters0", torch.tensor(np.stack([far, near]), dtype=torch.float32))  # (2, m, bins)
        self.filter_delta = nn.Parameter(torch.zeros_like(self.filters0))
        self.scale_delta = nn.Parameter(torch.zeros(2, 1))  # w = m (1 + scale * delta): x^T F / w stays O(1)
        self.bias_delta = nn.Parameter(torch.zeros(2, 1))
        self.filter_scale, self.pixels = filter_scale, far.shape[0]

        def conv(a: int, b: int) -> nn.Conv1d:
            return nn.Conv1d(a, b, 3, padding=1, padding_mode="circular")

        self.cnn = nn.Sequential(conv(2, channels), nn.ReLU(), conv(channels, channels), nn.ReLU(),
                                 conv(channels, channels), nn.ReLU(), nn.Conv1d(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.filter_scale
        filters = self.filters0 + s * self.filter_delta
        weight = self.pixels * (1 + s * self.scale_delta)
        image = torch.einsum("bm,dmk->bdk", x, filters) / weight + s * self.bias_delta
        return self.cnn(image).squeeze(1)


def ring_emd(p: torch.Tensor, q: torch.Tensor, r: float) -> torch.Tensor:
    """min over the cyclic starting bin s of || CDF_s(p) - CDF_s(q) ||_r, per row. Started at bin s the CDF
    difference is C_j - C_{s-1} with C the cumulative sum from bin 0 (the total difference is 0), so every start is
    one column of C[:, :, None] - C[:, None, :]."""
    c = torch.cumsum(p - q, -1)
    diff = (c[:, :, None] - c[:, None, :]).abs()
    return (diff**r).sum(1).pow(1 / r).min(-1).values


class TetrisTrainer(GradientTrainer):
    config: TetrisConfig

    def setup(self) -> None:
        self.sim = simulate(self.config)
        train = ~self.sim["test"]
        self.x = torch.tensor(self.sim["x"][train], dtype=torch.float32)
        self.y = torch.tensor(self.sim["label"][train], dtype=torch.float32)

    def build_model(self) -> nn.Module:
        return DirectionNet(self.sim["far"], self.sim["near"], self.config.channels, self.config.filter_lr_ratio)

    def steps_per_epoch(self) -> int:
        return -(-len(self.x) // self.config.batch_size)

    def batches(self) -> Iterator[Any]:
        order = torch.randperm(len(self.x), generator=self.generator)
        for rows in order.split(self.config.batch_size):
            yield self.x[rows], self.y[rows]

    def loss(self, batch: Any) -> torch.Tensor:
        x, y = batch
        return ring_emd(torch.softmax(self.model(x), -1), y, 2.0).mean()

    def artifact(self) -> nn.Module:
        return self.model.eval()


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(torch.tensor(x, dtype=torch.float32)), -1).numpy().astype(float)


class DirectionError(Evaluator):
    """On the held-out sources: median angular error (degrees) of the circular mean, the ring EMD (r = 1, bins)
    against the label, and the same EMD of the uniform distribution (the baseline it must beat)."""

    metrics = ("median_error_deg", "val_emd", "uniform_emd")

    def load_data(self) -> dict[str, np.ndarray]:
        return simulate(self.config)

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        test = self.data["test"]
        dist = predict(artifact, self.data["x"][test])
        label = torch.tensor(self.data["label"][test])
        uniform = torch.full_like(label, 1.0 / label.shape[1])
        errors = radiation.angular_error(radiation.circular_mean(dist), self.data["theta"][test])
        return {"median_error_deg": float(np.median(errors)),
                "val_emd": float(ring_emd(torch.tensor(dist), label, 1.0).mean()),
                "uniform_emd": float(ring_emd(uniform, label, 1.0).mean())}


def contrast(cfg: TetrisConfig, pad_mu: float) -> float:
    """Mean over the bin-centre directions of max / min expected count over the used pixels, far sources."""
    _, used = radiation.layout(cfg.layout)
    _, raw = readings(cfg, at_angles(radiation.bin_centres(cfg.bins), float(cfg.distance_max)), None, pad_mu)
    return float(np.mean(raw[:, used].max(1) / raw[:, used].min(1)))


class PaddingContrast(Evaluator):
    """The padding's effect in the simulator (no network): the spread of far-source readings with the configured
    padding and with none."""

    metrics = ("contrast_padded", "contrast_bare")

    def evaluate(self, artifact: Any) -> dict[str, float]:
        return {"contrast_padded": contrast(self.config, self.config.pad_mu), "contrast_bare": contrast(self.config, 0)}


def robot_poses(steps: int = 600, every: int = 10, speed: float = 1.0, yaw_rate: float = 0.1, dt: float = 0.1
                ) -> np.ndarray:
    """Unicycle from (0, 0) heading +x (``utils/move_detector.py``): a pose (x, y, heading) every ``every`` steps."""
    pose, out = np.zeros(3), []
    for step in range(1, steps + 1):
        pose = pose + dt * np.array([speed * np.cos(pose[2]), speed * np.sin(pose[2]), yaw_rate])
        if step % every == 0:
            out.append(pose.copy())
    return np.array(out)


def localise(cfg: TetrisConfig, model: nn.Module | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """MAP map of the source intensity over the cells and the cell centres; the angular distributions come from the
    network (``model``) or, with None, are the true direction's label."""
    cells = radiation.map_cells(MAP_LO, MAP_HI, MAP_CELLS)
    side = (MAP_HI[0] - MAP_LO[0]) / MAP_CELLS
    matrices, measurements = [], []
    for pose in robot_poses():
        rel = MAP_SOURCE - pose[:2]
        turn = np.array([[np.cos(pose[2]), np.sin(pose[2])], [-np.sin(pose[2]), np.cos(pose[2])]])
        source = turn @ rel * cfg.map_unit_cm  # detector frame, cm
        z, raw = readings(cfg, source[None], rng)
        dist = (predict(model, z) if model is not None
                else radiation.angle_label(np.arctan2(source[1], source[0])[None], cfg.bins))[0]
        _, used = radiation.layout(cfg.layout)
        matrices.append(radiation.sector_matrix(pose, cells, side, cfg.bins))
        measurements.append(dist * raw[0, used].mean())
    return radiation.map_estimate(matrices, measurements), cells


def map_error(cfg: TetrisConfig, model: nn.Module | None) -> float:
    """Chebyshev distance, in cells, from the MAP map's argmax cell centre to the source (within 2 cells: <= 2.5)."""
    intensity, cells = localise(cfg, model, np.random.default_rng([cfg.data.seed, 9]))
    return float(np.abs(cells[np.argmax(intensity)] - MAP_SOURCE).max() / ((MAP_HI[0] - MAP_LO[0]) / MAP_CELLS))


class MapLocalisation(Evaluator):
    """The moving detector's MAP map with the network's angular distributions: distance of its argmax to the
    source, in cells."""

    metrics = ("map_error_cells",)

    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        if self.config.data_root:  # trained on OpenMC readings, whose pixel order the simulator's need not share
            return {"map_error_cells": float("nan")}
        return {"map_error_cells": map_error(self.config, artifact)}


class OracleMapLocalisation(Evaluator):
    """The same map with the true directions' labels in place of the network's output (the mapping step alone)."""

    metrics = ("map_error_true_cells",)

    def evaluate(self, artifact: Any) -> dict[str, float]:
        return {"map_error_true_cells": map_error(self.config, None)}
