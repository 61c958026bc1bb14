"""An analytic 2-D stand-in for the Tetris detector's OpenMC simulation (the spec card's [derived] simulator), the
64-bin angular labels, the ring Earth Mover's Distance, and MAP localisation with a moving detector.

Geometry (``RyotaroOKabe/radiation_mapping``: ``utils/mcsimulation_tetris.py``): positions on a 1 cm pitch, each a
1 cm square whose central 0.8 cm is a CdZnTe pixel and whose 0.1 cm ring is padding; the cells are infinite prisms
along z, so the problem is planar. Tetris shapes use 4 of the 2 x 3 positions a..f (a, b, c the column x in [-1, 0]
at y = -1, 0, 1; d, e, f the column x in [0, 1]); squares use a x a positions centred at 0. Unused positions are void.

Forward model: a point source emits isotropically in the plane; a fan of rays from it crosses the detector, each
carrying dphi / (2 pi) of the particles. Along a ray a pixel absorbs exp(-upstream attenuation) x
(1 - exp(-mu_CZT l_pixel)), the upstream attenuation summing mu l over the padding and pixels the ray crossed
first. The expected count is ``particles`` x the sum over rays; readings are Poisson draws, z-scored over all
positions of the 2 x 3 grid, unused ones (0) included, as in the official data.
"""
from __future__ import annotations

import numpy as np

PITCH, PIXEL = 1.0, 0.8
TETRIS_SLOTS = {s: (col, row) for s, col, row in zip("abcdef", [0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], strict=True)}
TETRIS = {"J": "adef", "L": "cdef", "Z": "abef", "T": "bdef", "S": "bcde"}
MU_CZT = 0.49  # cm^-1 at 0.5 MeV, CdZnTe at 5.76 g/cm^3 [recalled, card]
MU_PAD = 0.16  # cm^-1 at 0.5 MeV, Pb at the official code's 1 g/cm^3 (11.35 g/cm^3 would be about 1.8)


def layout(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(centres of every grid position (m, 2), mask of the used ones (m,)) for a Tetris letter or ``squareA``."""
    if name in TETRIS:
        centres = np.array([[col - 0.5, row - 1.0] for col, row in TETRIS_SLOTS.values()])
        return centres, np.array([slot in TETRIS[name] for slot in TETRIS_SLOTS])
    side = int(name.removeprefix("square"))
    grid = (np.arange(side) - (side - 1) / 2) * PITCH
    centres = np.array([[x, y] for x in grid for y in grid])
    return centres, np.ones(len(centres), dtype=bool)


def box_chords(origin: np.ndarray, directions: np.ndarray, centres: np.ndarray, half: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Entry parameter and chord length of every ray (origin + t u, t >= 0) through every axis-aligned square of
    half-side ``half``: two (rays, boxes) arrays; length 0 where a ray misses."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / directions[:, None, :]  # (rays, 1, 2); +-inf on an axis-parallel ray
        lo = (centres[None] - half - origin) * inv
        hi = (centres[None] + half - origin) * inv
    near, far = np.nan_to_num(np.minimum(lo, hi), nan=-np.inf), np.nan_to_num(np.maximum(lo, hi), nan=np.inf)
    enter, leave = np.maximum(near.max(-1), 0.0), far.min(-1)
    return enter, np.clip(leave - enter, 0.0, None)


def expected_counts(source: np.ndarray, centres: np.ndarray, used: np.ndarray, particles: float,
                    mu_pixel: float = MU_CZT, mu_pad: float = MU_PAD, rays: int = 256) -> np.ndarray:
    """Expected absorbed particles per position (0 at unused ones) from a point source at ``source`` (2,)."""
    cells = centres[used]
    to_centre = -source
    distance = np.linalg.norm(to_centre)
    reach = np.linalg.norm(cells, axis=1).max() + PITCH  # circumradius of the used squares, with margin
    half_angle = np.arcsin(min(reach / distance, 1.0))
    phi = np.arctan2(to_centre[1], to_centre[0]) + np.linspace(-half_angle, half_angle, rays, endpoint=False)
    phi += half_angle / rays  # bin centres
    directions = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    enter_out, chord_out = box_chords(source, directions, cells, PITCH / 2)
    enter_in, chord_in = box_chords(source, directions, cells, PIXEL / 2)
    whole = mu_pad * (chord_out - chord_in) + mu_pixel * chord_in  # (rays, cells): a whole position crossed
    before = (enter_out[:, None, :] < enter_out[:, :, None]) & (chord_out[:, None, :] > 0)  # [r, p, q]: q before p
    upstream = (before * whole[:, None, :]).sum(-1) + mu_pad * np.where(chord_in > 0, enter_in - enter_out, 0.0)
    absorbed = np.exp(-upstream) * (1.0 - np.exp(-mu_pixel * chord_in))
    counts = np.zeros(len(centres))
    counts[used] = particles * absorbed.sum(0) * (2 * half_angle / rays) / (2 * np.pi)
    return counts


def zscore(readings: np.ndarray) -> np.ndarray:
    """Standardise each reading across all positions, zeros of unused positions included (the official data)."""
    return (readings - readings.mean(-1, keepdims=True)) / (readings.std(-1, keepdims=True) + 1e-12)


def bin_centres(bins: int) -> np.ndarray:
    return -np.pi + np.arange(bins) * 2 * np.pi / bins


def angle_label(theta: np.ndarray, bins: int) -> np.ndarray:
    """The source angle's unit mass split linearly between the two nearest bin centres -pi + j 2 pi / bins."""
    pos = np.mod(np.asarray(theta) + np.pi, 2 * np.pi) / (2 * np.pi / bins)
    low = np.floor(pos).astype(int) % bins
    frac = pos - np.floor(pos)
    label = np.zeros((*np.shape(theta), bins))
    np.put_along_axis(label, low[..., None], (1 - frac)[..., None], -1)
    high = ((low + 1) % bins)[..., None]
    np.put_along_axis(label, high, np.take_along_axis(label, high, -1) + frac[..., None], -1)
    return label


def circular_mean(dist: np.ndarray) -> np.ndarray:
    """The direction of a distribution over the bins: the angle of sum_j p_j (cos c_j, sin c_j)."""
    c = bin_centres(dist.shape[-1])
    return np.arctan2(dist @ np.sin(c), dist @ np.cos(c))


def angular_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| on the circle, in degrees."""
    return np.degrees(np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b))))))


def map_cells(lo: tuple[float, float], hi: tuple[float, float], cells: int) -> np.ndarray:
    """Centres of a cells x cells grid over [lo, hi], row-major in y then x: (cells^2, 2)."""
    xs = lo[0] + (np.arange(cells) + 0.5) * (hi[0] - lo[0]) / cells
    ys = lo[1] + (np.arange(cells) + 0.5) * (hi[1] - lo[1]) / cells
    return np.array([[x, y] for y in ys for x in xs])


def sector_matrix(pose: np.ndarray, centres: np.ndarray, cell_side: float, bins: int, sub: int = 5) -> np.ndarray:
    """C[a, i] = (area of map cell i inside angular sector a, relative to the heading) / (distance to cell i),
    the area from sub x sub points per cell (``utils/cal_param.py`` ``cal_cji``)."""
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    grid = np.array([[dx, dy] for dx in offsets for dy in offsets]) * cell_side
    points = centres[:, None, :] + grid[None]  # (cells, sub^2, 2)
    rel = points - pose[:2]
    width = 2 * np.pi / bins  # sector a is centred on the label's bin centre -pi + a width
    angle = np.mod(np.arctan2(rel[..., 1], rel[..., 0]) - pose[2] + np.pi + width / 2, 2 * np.pi)
    sector = np.minimum((angle / width).astype(int), bins - 1)
    area = np.zeros((bins, len(centres)))
    np.add.at(area, (sector, np.broadcast_to(np.arange(len(centres))[:, None], sector.shape)), cell_side**2 / sub**2)
    return area / np.linalg.norm(centres - pose[:2], axis=1)[None]


def map_estimate(matrices: list[np.ndarray], measurements: list[np.ndarray], ridge: float = 0.1) -> np.ndarray:
    """x = argmin_{x >= 0} sum_j |C_j x - y_j|^2 + ridge |x|^2 (``utils/mapping.py`` ``solve_one``, there by scipy
    ``minimize`` with bounds). Exactly, by non-negative least squares on the Cholesky factor of the normal equations:
    with G = sum C^T C + ridge I = U^T U and h = sum C^T y, |U x - U^-T h|^2 equals the objective up to a constant."""
    # scipy imported here, not at the top: TetrisConfig reads this module's constants, and a sweep's driver that
    # validates it should not pay for scipy (shared/methods/theory/config.py)
    from scipy.linalg import cholesky, solve_triangular
    from scipy.optimize import nnls

    gram = sum(c.T @ c for c in matrices) + ridge * np.eye(matrices[0].shape[1])
    target = sum(c.T @ y for c, y in zip(matrices, measurements, strict=True))
    upper = cholesky(gram)
    return nnls(upper, solve_triangular(upper, target, trans="T"), maxiter=50 * len(target))[0]
