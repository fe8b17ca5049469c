"""The colour-only baseline: the classifier works where colour carries load state, and the
synthetic generator's tankers do not give their load state away through colour."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tankerwatch.infer.core.boxes import box_corners
from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType
from tankerwatch.infer.evaluation.colour_baseline import (
    BASELINE_MAX_BALANCED_ACCURACY,
    LogisticRegression,
    balanced_accuracy,
    evaluate_colour_baseline,
    pixels_in_box,
)
from tankerwatch.infer.formats.dataset import read_dataset

TANKERWATCH = Path(sys.executable).with_name("tankerwatch")


def test_pixels_in_box_takes_pixel_centres():
    image = np.arange(100, dtype=np.uint8).reshape(1, 10, 10)
    # Centres x in [3, 7], y in [2, 4]: columns 3-6, rows 2-3.
    assert sorted(pixels_in_box(image, [5, 3, 4, 2, 0])[0]) == [23, 24, 25, 26, 33, 34, 35, 36]
    turned = pixels_in_box(image, [5, 3, 4, 2, math.pi / 2 - 1e-9])[0]
    assert sorted(turned) == [14, 15, 24, 25, 34, 35, 44, 45]
    assert pixels_in_box(image, [5.2, 3.7, 0.1, 0.1, 0.3]).tolist() == [[35]]  # too thin: the centre pixel
    assert pixels_in_box(image, [-20, 3, 4, 2, 0]).tolist() == [[30]]  # off the image: nearest edge pixel


def test_logistic_regression_fits_a_known_boundary():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)) * [1.0, 50.0, 1e-3]  # unequal scales: standardisation matters
    y = (x[:, 0] + x[:, 1] / 50 > 0.3).astype(np.int64)
    model = LogisticRegression(l2=1e-3).fit(x, y)
    assert balanced_accuracy(y, model.predict(x)) > 0.97
    # Separable data with a little L2 stays finite; probabilities are ordered along the boundary.
    p = model.predict_proba(np.array([[-2.0, 0, 0], [0.3, 0, 0], [3.0, 0, 0]]))
    assert p[0] < 0.05 and 0.2 < p[1] < 0.8 and p[2] > 0.95
    with pytest.raises(ValueError, match="both classes"):
        LogisticRegression().fit(x, np.zeros(400, dtype=np.int64))


def test_balanced_accuracy_ignores_class_sizes():
    true = np.array([0] * 90 + [1] * 10)
    assert balanced_accuracy(true, np.zeros(100, dtype=np.int64)) == 0.5
    assert balanced_accuracy(true, true) == 1.0


def _toy_split(folder: Path, rng, n_images: int, colour_by_load: dict[str, tuple[int, int, int]]):
    """Tiles of grey water with tankers painted in their load state's colour (plus noise)."""
    folder.mkdir(parents=True)
    images = []
    for index in range(n_images):
        pixels = rng.normal(90, 12, (96, 96, 3))
        vessels = []
        for slot in range(3):
            load = rng.choice(["empty", "loaded"])
            box = [20 + 28 * slot + rng.uniform(-2, 2), 48 + rng.uniform(-10, 10), rng.uniform(30, 60),
                   rng.uniform(6, 10), rng.uniform(-math.pi / 2, math.pi / 2)]
            mask = np.zeros((96, 96), np.uint8)
            cv2.fillPoly(mask, [np.round(box_corners(box) * 16).astype(np.int32)], 1, shift=4)
            pixels[mask > 0] = rng.normal(colour_by_load[load], 20, (int(mask.sum()), 3))
            vessels.append(Vessel(box=box, vessel_type=VesselType.TANKER, load=LoadState(load)))
        path = folder / f"{index:03d}.png"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
        images.append(LabelledImage(image_path=path, width=96, height=96, gsd_m=1.0, vessels=vessels))
    return images


def test_baseline_detects_a_colour_leak(tmp_path):
    rng = np.random.default_rng(1)
    leaky = {"empty": (150, 80, 70), "loaded": (120, 95, 95)}  # within each other's noise per pixel
    result = evaluate_colour_baseline(_toy_split(tmp_path / "train", rng, 24, leaky),
                                      _toy_split(tmp_path / "val", rng, 12, leaky))
    assert result.n_train == 72 and result.n_eval == 36
    assert result.balanced_accuracy > 0.9 and not result.passes


def test_baseline_stays_at_chance_without_a_leak(tmp_path):
    rng = np.random.default_rng(2)
    same = {"empty": (130, 90, 85), "loaded": (130, 90, 85)}
    result = evaluate_colour_baseline(_toy_split(tmp_path / "train", rng, 40, same),
                                      _toy_split(tmp_path / "val", rng, 40, same))
    assert result.balanced_accuracy <= BASELINE_MAX_BALANCED_ACCURACY and result.passes


@pytest.fixture(scope="module")
def synthetic_tiles(tmp_path_factory) -> Path:
    """Small synthetic tiles from the real generator. Both held-out splits (val and test) are
    scored, about 110 tankers, so chance level (0.5) and the cap (0.65) lie about three standard
    errors apart; the bench (bench/baseline_colour.py) measures on val at a larger size."""
    out = tmp_path_factory.mktemp("synth") / "tiles"
    subprocess.run([str(TANKERWATCH), "synth", "tiles", str(out), "--count", "320", "--size", "128",
                    "--seed", "4", "--format", "dota", "--threads", "2"], check=True, capture_output=True)
    return out


def _splits(root: Path, transform=None):
    train = read_dataset(root / "train").images
    held_out = read_dataset(root / "val").images + read_dataset(root / "test").images
    return (train, held_out) if transform is None else (transform(train), transform(held_out))


def test_synthetic_load_state_does_not_leak_through_colour(synthetic_tiles):
    result = evaluate_colour_baseline(*_splits(synthetic_tiles))
    print(f"colour-only baseline on synthetic held-out tiles: balanced accuracy {result.balanced_accuracy:.3f} "
          f"({result.n_eval} tankers; train {result.train_balanced_accuracy:.3f} on {result.n_train})")
    assert result.n_train >= 350 and result.n_eval >= 80
    assert result.balanced_accuracy <= BASELINE_MAX_BALANCED_ACCURACY, (
        "the synthetic generator leaks tanker load state through colour")


def test_baseline_flags_a_leak_planted_in_synthetic_tiles(synthetic_tiles, tmp_path):
    """The same tiles with every loaded tanker's box darkened by half: the baseline must catch
    it, so the test above passes because colour carries no load state, not because it is blind."""
    def darken_loaded(images):
        for labelled in images:
            pixels = np.asarray(Image.open(labelled.image_path)).astype(np.float64)
            mask = np.zeros(pixels.shape[:2], np.uint8)
            for vessel in labelled.vessels:
                if vessel.load is LoadState.LOADED:
                    cv2.fillPoly(mask, [np.round(box_corners(vessel.box) * 16).astype(np.int32)], 1, shift=4)
            pixels[mask > 0] *= 0.5
            labelled.image_path = tmp_path / f"{Path(labelled.image_path).parent.parent.name}_" \
                                             f"{Path(labelled.image_path).name}"
            Image.fromarray(np.round(pixels).astype(np.uint8)).save(labelled.image_path)
        return images

    result = evaluate_colour_baseline(*_splits(synthetic_tiles, darken_loaded))
    assert result.balanced_accuracy > 0.8 and not result.passes
