"""Tiny labelled images for the training tests: bright hulls with a shadow on dark water.

Not the synthetic generator (``tankerwatch synth``): images whose labels a test controls exactly
(e.g. ship-only labels, or none at all), for tests to write in any format with ``write_dataset``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from PIL import Image

from tankerwatch.infer.core.boxes import box_corners
from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType

CLASSES = [(VesselType.TANKER, LoadState.EMPTY), (VesselType.TANKER, LoadState.LOADED),
           (VesselType.OTHER, LoadState.UNKNOWN)]


def _fill(canvas: np.ndarray, box, value) -> None:
    poly = shapely.Polygon(box_corners(box))
    jj, ii = np.mgrid[0:canvas.shape[0], 0:canvas.shape[1]]
    canvas[shapely.contains_xy(poly, ii + 0.5, jj + 0.5)] = value


def make_images(folder: Path, count: int, size: int = 96, seed: int = 0, gsd_m: float = 1.0,
                classes=CLASSES) -> list[LabelledImage]:
    """``count`` PNG images of ``size`` px with 1-3 vessels each, labels in memory."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for n in range(count):
        canvas = np.full((size, size, 3), 30, np.uint8) + rng.integers(0, 12, (size, size, 3), dtype=np.uint8)
        vessels = []
        for _ in range(rng.integers(1, 4)):
            vessel_type, load = classes[rng.integers(len(classes))]
            length, width = rng.uniform(18, 36), rng.uniform(5, 8)
            box = [rng.uniform(20, size - 20), rng.uniform(20, size - 20), length, width, rng.uniform(-1.5, 1.5)]
            shadow = 4.0 if load is LoadState.EMPTY else 1.0  # a high (empty) hull casts a wider shadow
            _fill(canvas, [box[0] + shadow * 0.7, box[1] + shadow * 0.7, length, width + shadow, box[4]], 8)
            _fill(canvas, box, 200 if vessel_type is VesselType.TANKER else 140)
            vessels.append(Vessel(box, vessel_type, load))
        path = folder / f"img{n:03d}.png"
        Image.fromarray(canvas).save(path)
        images.append(LabelledImage(path, size, size, gsd_m, vessels))
    return images

