"""Augmentation moves oriented boxes with the pixels they label."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("albumentations")

from tankerwatch.infer.core.boxes import box_corners, mask_to_box, rotated_iou  # noqa: E402
from tankerwatch.train.augment import AugmentConfig, augment, build_augmentation  # noqa: E402

GEOMETRY_ONLY = AugmentConfig(flip_p=0.5, rotate90_p=0.5, rotate_p=1.0, brightness_contrast_p=0, gamma_p=0,
                              blur_p=0, noise_p=0, haze_p=0)


def _paint(box, height, width):
    """Image whose pixels with centres inside ``box`` are 255 (3 bands)."""
    import shapely

    poly = shapely.Polygon(box_corners(box))
    jj, ii = np.mgrid[0:height, 0:width]
    inside = shapely.contains_xy(poly, ii + 0.5, jj + 0.5)
    return np.repeat((inside * 255).astype(np.uint8)[..., None], 3, axis=2)


@pytest.mark.parametrize("seed", range(6))
def test_box_follows_the_pixels_under_rotation_and_flips(seed):
    box = np.array([70.3, 52.8, 60.0, 14.0, 0.4])
    image = _paint(box, 128, 128)
    out_image, out_boxes, _ = augment(build_augmentation(GEOMETRY_ONLY, seed=seed), image, box[None])
    painted = mask_to_box(out_image[..., 0] > 127)
    assert rotated_iou(out_boxes, painted[None])[0, 0] > 0.85
    np.testing.assert_allclose(out_boxes[0, :2], painted[:2], atol=1.0)
    np.testing.assert_allclose(out_boxes[0, 2:4], box[2:4], atol=1e-3)  # a rigid motion keeps the size


@pytest.mark.parametrize("seed", range(24))
def test_a_shadow_direction_turns_with_the_pixels(seed):
    """A strip painted beside a hull on the side a direction points to stays on the side that the
    turned direction gives (cue_sides) after flips and rotations: training's load stage is told
    which side of each box the shadow lies on from these."""
    import shapely
    import torch

    from tankerwatch.models.freeboard import cue_sides

    box = np.array([64.0, 64.0, 60.0, 14.0, 0.4])
    direction = np.array([[-np.sin(2.0), np.cos(2.0)]])  # where the shadow falls, image frame
    normal = np.array([-np.sin(box[4]), np.cos(box[4])])
    outward = normal * np.sign(normal @ direction[0])
    strip = shapely.Polygon(box_corners(np.array([*(box[:2] + outward * 10.0), 60.0, 6.0, box[4]])))
    image = _paint(box, 128, 128) // 2
    jj, ii = np.mgrid[0:128, 0:128]
    image[shapely.contains_xy(strip, ii + 0.5, jj + 0.5)] = 255
    out_image, out_boxes, turned = augment(build_augmentation(GEOMETRY_ONLY, seed=seed), image, box[None], direction)
    np.testing.assert_allclose(np.linalg.norm(turned, axis=1), 1.0, atol=1e-3)
    rows, cols = np.nonzero(out_image[..., 0] > 200)
    centroid = np.array([cols.mean() + 0.5, rows.mean() + 0.5])
    out_normal = np.array([-np.sin(out_boxes[0, 4]), np.cos(out_boxes[0, 4])])
    side = cue_sides(torch.from_numpy(out_boxes)[None], torch.from_numpy(np.concatenate([turned, turned]))[None])
    assert float(side[0, 0, 0]) == np.sign((centroid - out_boxes[0, :2]) @ out_normal)


def test_horizontal_flip_is_exact_in_the_gdal_pixel_frame():
    flip_only = AugmentConfig(flip_p=1.0, rotate90_p=0, rotate_p=0, brightness_contrast_p=0, gamma_p=0,
                              blur_p=0, noise_p=0, haze_p=0)
    pipeline = build_augmentation(flip_only, seed=0)
    box = np.array([[10.5, 20.25, 8.0, 2.0, 0.3]])
    image = np.zeros((40, 50, 1), np.uint8)
    _, flipped, _ = augment(pipeline, image, box)
    # Both flips: (x, y) -> (W - x, H - y); the axis direction is unchanged (a half turn).
    np.testing.assert_allclose(flipped[0], [50 - 10.5, 40 - 20.25, 8.0, 2.0, 0.3], atol=1e-4)


def test_radiometric_transforms_keep_dtype_and_bands():
    pipeline = build_augmentation(AugmentConfig(brightness_contrast_p=1, gamma_p=1, blur_p=1, noise_p=1,
                                                haze_p=1), seed=3)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 4), dtype=np.uint8)
    out, boxes, directions = augment(pipeline, image, np.zeros((0, 5)))
    assert out.dtype == np.uint8 and out.shape == (32, 32, 4) and boxes.shape == (0, 5) and directions is None


def test_disabled_augmentation_is_identity():
    assert build_augmentation(AugmentConfig(enabled=False)) is None


def test_importing_the_augmentation_asks_no_server():
    """albumentations checks PyPI for a newer release on import unless told not to; the project
    never goes to the network at run time, so importing its augmentation must not."""
    import os
    import subprocess
    import sys

    code = (
        "import socket\n"
        "attempts = []\n"
        "def refuse(*args, **kwargs):\n"
        "    attempts.append(args)\n"
        "    raise OSError('network refused by the test')\n"
        "socket.socket.connect = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "import tankerwatch.train.augment\n"
        "print(len(attempts))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"
