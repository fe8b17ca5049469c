import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tankerwatch.infer.core.boxes import (
    box_corners,
    box_from_corners,
    mask_to_box,
    normalize_boxes,
    paired_rotated_iou,
    rotated_iou,
    rotated_nms,
)

finite = st.floats(-1e3, 1e3, allow_nan=False)
sizes = st.floats(0.5, 500, allow_nan=False)
angles = st.floats(-10, 10, allow_nan=False)


def test_corner_order_is_clockwise_on_screen_from_the_plus_u_end():
    corners = box_corners([10, 20, 8, 2, 0.0])
    np.testing.assert_allclose(corners, [[14, 19], [14, 21], [6, 21], [6, 19]])


@given(finite, finite, sizes, sizes, angles)
def test_normalized_boxes_are_canonical_and_the_same_rectangle(cx, cy, a, b, angle):
    box = normalize_boxes([cx, cy, a, b, angle])
    assert box[2] >= box[3]
    square = abs(box[2] - box[3]) <= 1e-6 * box[2]
    low, high = (-math.pi / 4, math.pi / 4) if square else (-math.pi / 2, math.pi / 2)
    assert low - 1e-12 <= box[4] < high
    assert rotated_iou([cx, cy, a, b, angle], box)[0, 0] == pytest.approx(1.0, abs=1e-6)


@given(finite, finite, sizes, sizes, angles)
@example(0.0, 392.0, 255.58488725542244, 145.5, 1.2197800390461584)  # GEOS's float overlay gave IoU 0 here
def test_corners_round_trip(cx, cy, a, b, angle):
    box = normalize_boxes([cx, cy, a, b, angle])
    back = box_from_corners(box_corners(box))
    np.testing.assert_allclose(back[:4], box[:4], atol=1e-6 * max(1, abs(cx), abs(cy), a, b))
    assert rotated_iou(back, box)[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_one_pixel_mask_is_a_unit_box_over_that_pixel():
    mask = np.zeros((5, 5), bool)
    mask[2, 3] = True
    cx, cy, length, width, _ = mask_to_box(mask)
    assert (cx, cy, length, width) == pytest.approx((3.5, 2.5, 1, 1))


def test_diagonal_mask_box_contains_every_pixel_whole():
    mask = np.zeros((40, 40), bool)
    for k in range(5, 30):
        mask[k, k:k + 3] = True
    box = mask_to_box(mask)
    assert box[2] > 3 * box[3]
    assert abs(abs(box[4]) - math.pi / 4) < 0.05
    import shapely
    poly = shapely.polygons(box_corners(box))
    rows, cols = np.nonzero(mask)
    for j, i in zip(rows, cols, strict=True):
        assert poly.buffer(1e-6).contains(shapely.box(i, j, i + 1, j + 1))


def test_rotated_iou_of_crossed_boxes():
    iou = rotated_iou([[0, 0, 10, 2, 0.0]], [[0, 0, 10, 2, math.pi / 2], [100, 0, 10, 2, 0]])
    assert iou[0, 0] == pytest.approx(4 / 36)
    assert iou[0, 1] == 0


def test_paired_iou_is_the_diagonal_of_the_iou_matrix():
    rng = np.random.default_rng(3)
    a = np.column_stack([rng.uniform(0, 20, (30, 2)), rng.uniform(2, 30, 30), rng.uniform(1, 6, 30),
                         rng.uniform(-math.pi / 2, math.pi / 2, 30)])
    b = a + np.column_stack([rng.normal(0, 3, (30, 2)), rng.normal(0, 2, (30, 2)), rng.normal(0, 0.3, 30)])
    b[:, 2:4] = np.abs(b[:, 2:4])
    np.testing.assert_allclose(paired_rotated_iou(a, b), np.diag(rotated_iou(a, b)), atol=1e-12)
    assert paired_rotated_iou(np.zeros((0, 5)), np.zeros((0, 5))).shape == (0,)
    with pytest.raises(ValueError, match="as many"):
        paired_rotated_iou(a, b[:3])


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = [[0, 0, 10, 2, 0], [0.2, 0, 10, 2, 0.01], [50, 50, 10, 2, 1]]
    keep = rotated_nms(boxes, [0.5, 0.9, 0.3])
    assert keep.tolist() == [1, 2]
