"""Training helpers for the tests.

``make_images``: tiny labelled images, bright hulls with a shadow on dark water. Not the synthetic
generator (``tankerwatch synth``): images whose labels a test controls exactly (e.g. ship-only
labels, or none at all), for tests to write in any format with ``write_dataset``.

``train_ci_model``: a real model, trained and exported through the CLI as a user would
(``synth tiles`` -> ``fit --config configs/ci.yaml`` -> ``export``), small enough for CI; the
session fixture ``ci_model`` (conftest.py) trains it once for every test that needs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import shapely
from PIL import Image

from tankerwatch.infer.core.boxes import box_corners
from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType

REPO_ROOT = Path(__file__).resolve().parents[1]
CI_CONFIG = REPO_ROOT / "configs" / "ci.yaml"
# The tiles configs/ci.yaml trains on (its header has the same command): 400 tiles of 256 px at
# 0.7-2 m, where the freeboard cue is plain and the top of the GSD range gives detect a coarse
# pass for the longest tankers.
CI_TILES = ("--count", 400, "--size", 256, "--gsd", "0.7:2", "--seed", 0, "--format", "coco")
CLI_TIMEOUT_S = 3600  # a hung command fails the test instead of the CI job

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


def run_cli(*args, cwd=None, timeout_s: float = CLI_TIMEOUT_S) -> str:
    """``python -m tankerwatch.infer.cli ARGS`` in a subprocess; its stdout (fails the test on an
    error, or when it runs past ``timeout_s`` seconds)."""
    done = subprocess.run([sys.executable, "-m", "tankerwatch.infer.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, f"tankerwatch {args[0]}: {done.stderr[-3000:]}"
    return done.stdout


def train_ci_model(work: Path, threads: int = 2) -> Path:
    """Generate tiles, train ``configs/ci.yaml`` on them and export the last checkpoint, all under
    ``work``; returns the ONNX model (``work / "model.onnx"``).

    The last checkpoint, not ``best-*``: at the end of the cosine schedule the averaged weights are
    the most trained, while the best val AP50 on 40 tiles is a coin toss among the last epochs (one
    run picked epoch 14 of 25 by 0.001 and found 3 tankers fewer with it)."""
    tiles = work / "tiles"
    run_cli("synth", "tiles", tiles, *CI_TILES, "--threads", threads)
    run_cli("fit", "--config", CI_CONFIG, "--data.train", tiles / "train", "--data.val", tiles / "val",
            "--checkpoint.dirpath", work / "checkpoints", cwd=work)
    model = work / "model.onnx"
    run_cli("export", work / "checkpoints" / "last.ckpt", "-o", model)
    return model
