"""The generative family (REED, RAM): what both methods' evaluators share. Their configs and specs, torch-free (a
sweep's driver validates a config without torch), are ``config.py`` and ``specs.py``."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def save_greyscale_png(pixels: Any, path: Path, scale: int = 4) -> None:
    """A [0, 1] greyscale image (dark = 1) as a PNG, each pixel drawn as ``scale`` x ``scale`` screen pixels;
    written atomically (the report copies it from the trial's files)."""
    import io

    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from shared.atomic import write_bytes

    buffer = io.BytesIO()
    plt.imsave(buffer, np.kron(np.asarray(pixels), np.ones((scale, scale))), cmap="gray_r", vmin=0.0, vmax=1.0,
               format="png")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, buffer.getvalue())
