"""Training augmentation that keeps oriented boxes exact, on albumentations 2.0.8.

albumentations has no oriented-box target, so each box travels as its four corners (keypoints) and is
refitted afterwards with :func:`tankerwatch.infer.core.boxes.min_area_box` (rotations keep a rectangle a
rectangle, so the refit is exact up to float error). albumentations places pixel centres at integer
keypoint coordinates (a horizontal flip maps x to ``cols - 1 - x``); the project's frame has them at
``i + 0.5`` (GDAL), hence the half-pixel shift on the way in and out.

Geometry: flips, 90 degree turns, arbitrary rotation (corners filled with 0). Radiometry: brightness
and contrast, gamma, Gaussian blur, Gaussian noise and haze (a blend towards a bright veil), all of
which work for any number of bands. Scale and crops are done by the dataset before this runs
(``datasets.py``), because the scale changes the effective GSD that masks the load loss.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# albumentations asks PyPI for a newer release when imported unless told not to: a network call on
# every training run, which the project never makes (and which stalls offline).
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402
import cv2
import numpy as np

from tankerwatch.infer.core.boxes import box_corners, min_area_box


@dataclass
class AugmentConfig:
    """Probabilities and ranges; ``enabled: false`` turns everything off (validation always is)."""

    enabled: bool = True
    flip_p: float = 0.5
    rotate90_p: float = 0.5
    rotate_p: float = 0.3
    brightness_contrast_p: float = 0.5
    gamma_p: float = 0.2
    blur_p: float = 0.15
    noise_p: float = 0.2
    haze_p: float = 0.15
    max_haze: float = 0.35


def _haze(image: np.ndarray, strength: float, **_) -> np.ndarray:
    veil = np.percentile(image, 99, axis=(0, 1), keepdims=True)
    return np.clip(image * (1 - strength) + veil * strength, 0, 255).astype(image.dtype)


class Haze(A.ImageOnlyTransform):
    """Blend the image towards its own bright level by a random strength (thin cloud, humid air)."""

    def __init__(self, max_strength: float = 0.35, p: float = 0.5):
        super().__init__(p=p)
        self.max_strength = max_strength

    def get_params_dependent_on_data(self, params, data):
        return {"strength": float(self.py_random.uniform(0.05, self.max_strength))}

    def apply(self, img, strength=0.0, **params):
        return _haze(img, strength)


def build_augmentation(config: AugmentConfig, seed: int | None = None) -> A.Compose | None:
    if not config.enabled:
        return None
    c = config
    transforms = [
        A.HorizontalFlip(p=c.flip_p),
        A.VerticalFlip(p=c.flip_p),
        A.RandomRotate90(p=c.rotate90_p),
        A.Rotate(limit=(-180, 180), border_mode=cv2.BORDER_CONSTANT, fill=0, p=c.rotate_p),
        A.RandomBrightnessContrast(p=c.brightness_contrast_p),
        A.RandomGamma(p=c.gamma_p),
        A.GaussianBlur(sigma_limit=(0.3, 1.0), p=c.blur_p),
        A.GaussNoise(std_range=(0.01, 0.05), p=c.noise_p),
        Haze(max_strength=c.max_haze, p=c.haze_p),
    ]
    keypoints = A.KeypointParams(format="xy", remove_invisible=False, check_each_transform=False)
    return A.Compose(transforms, keypoint_params=keypoints, seed=seed)


def augment(pipeline: A.Compose | None, image: np.ndarray, boxes: np.ndarray,
            directions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Apply ``pipeline`` to ``image [H, W, C]`` uint8 and boxes ``[M, 5]`` (project convention),
    and turn or mirror ``directions [D, 2]`` (vectors in the image frame, e.g. where the sun's
    shadows fall: :func:`tankerwatch.models.freeboard.cue_directions`) with the image.

    Returns the new image, boxes ``[M, 5]`` in the same order (callers keep their labels) and
    directions ``[D, 2]`` (None if none were given). The geometric transforms are rotations and
    mirrors, so a vector moves as the difference of two keypoints: the image centre and the centre
    plus the vector."""
    if pipeline is None:
        return image, boxes, directions
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    corners = box_corners(boxes).reshape(-1, 2) - 0.5
    vectors = np.zeros((0, 2)) if directions is None else np.asarray(directions, np.float64).reshape(-1, 2)
    centre = np.array([[image.shape[1] / 2, image.shape[0] / 2]])
    out = pipeline(image=image, keypoints=np.concatenate([corners, centre, centre + vectors]))
    points = np.asarray(out["keypoints"], dtype=np.float64).reshape(-1, 2)
    moved = points[:len(corners)].reshape(-1, 4, 2) + 0.5
    new_boxes = np.stack([min_area_box(c) for c in moved]) if len(moved) else np.zeros((0, 5))
    turned = None if directions is None else points[len(corners) + 1:] - points[len(corners)]
    return out["image"], new_boxes, turned
