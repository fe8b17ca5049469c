"""Test-time flips (`detect --tta`): mirrored images, their view rows and boxes back in the
original frame, and the fusion that scores each vessel by the mean over the four views."""

import json
import math

import numpy as np
import pytest
from detect_fixtures import paint_vessel
from test_detect import run_detect, sea, write_scene

from tankerwatch.infer.core.boxes import box_corners, min_area_box, rotated_iou
from tankerwatch.infer.runtime.detection_file import read_detection_file
from tankerwatch.infer.runtime.flips import (
    FLIPS,
    fuse_scores,
    fuse_views,
    mirror_images,
    mirror_view,
    unmirror_boxes,
)
from tankerwatch.infer.runtime.onnx_model import OnnxDetector, Outputs


def direction(azimuth_deg: float) -> np.ndarray:
    """The image-frame vector of an azimuth clockwise from up (x right, y down)."""
    a = math.radians(azimuth_deg)
    return np.array([math.sin(a), -math.cos(a)])


@pytest.mark.parametrize("left_right, top_bottom", FLIPS)
def test_mirrored_view_rows_point_where_the_mirrored_image_puts_the_sun_and_sensor(left_right, top_bottom):
    view = np.array([0.7, 40.0, 123.0, 20.0, 301.0], np.float32)
    mirrored = mirror_view(view, left_right, top_bottom)
    assert mirrored[[0, 1, 3]].tolist() == view[[0, 1, 3]].tolist()  # GSD, elevation, zenith stay
    sign = np.array([-1.0 if left_right else 1.0, -1.0 if top_bottom else 1.0])
    for column in (2, 4):
        assert 0.0 <= mirrored[column] < 360.0
        np.testing.assert_allclose(direction(mirrored[column]), sign * direction(view[column]), atol=1e-5)
    assert mirror_view(None, left_right, top_bottom) is None
    unknown = mirror_view(np.array([[1.0, np.nan, np.nan, np.nan, np.nan]], np.float32), left_right, top_bottom)
    assert unknown[0, 0] == 1.0 and np.isnan(unknown[0, 1:]).all()


@pytest.mark.parametrize("left_right, top_bottom", FLIPS)
def test_boxes_found_in_a_mirror_image_come_back_to_the_original(left_right, top_bottom):
    width, height = 96, 64
    box = np.array([[30.5, 20.25, 24.0, 6.0, 0.4]])
    image = np.zeros((1, 1, height, width), np.uint8)
    image[0, 0, 20, 30] = 1
    mirrored = mirror_images(image, left_right, top_bottom)
    row, col = np.argwhere(mirrored[0, 0])[0]
    assert mirrored.flags.c_contiguous
    assert (col, row) == (width - 1 - 30 if left_right else 30, height - 1 - 20 if top_bottom else 20)
    corners = box_corners(box)[0]
    seen = corners * [-1 if left_right else 1, -1 if top_bottom else 1] + [width if left_right else 0,
                                                                          height if top_bottom else 0]
    back = unmirror_boxes(min_area_box(seen)[None], width, height, left_right, top_bottom)
    assert rotated_iou(back, box)[0, 0] == pytest.approx(1.0, abs=1e-6)


def rows(boxes, scores) -> Outputs:
    n = len(scores)
    return Outputs(boxes=np.array(boxes, np.float32).reshape(-1, 5), scores=np.array(scores, np.float32),
                   type_probs=np.full((n, 2), 0.5, np.float32), load_probs=np.full((n, 2), 0.5, np.float32),
                   count=np.array([n]))


def test_fusion_scores_each_vessel_by_its_mean_over_the_views():
    hull = [50.0, 40.0, 30.0, 6.0, 0.2]
    nudged = [50.6, 40.3, 29.0, 6.0, 0.21]  # the same hull as another view boxes it
    wave = [150.0, 40.0, 12.0, 3.0, 1.0]  # seen in one view only
    views = [rows([hull, wave], [0.8, 0.8]), rows([nudged], [0.6]), rows([hull], [0.7]), rows([nudged], [0.9])]
    fused = fuse_views(views, max_rows=10)
    assert fused.scores.tolist() == pytest.approx([0.75, 0.2])
    np.testing.assert_allclose(fused.boxes[0], nudged, atol=1e-5)  # the best view's box
    assert int(fused.count[0]) == 2
    assert fuse_views(views, max_rows=1).scores.tolist() == pytest.approx([0.75])
    assert len(fuse_views([rows([], [])] * 4, max_rows=5).scores) == 0


def test_fusion_rule_on_bare_boxes_points_into_the_views_rows_in_order():
    """What the peer benchmark hands it: boxes and scores only, no model outputs."""
    hull, nudged, wave = [50.0, 40.0, 30.0, 6.0, 0.2], [50.6, 40.3, 29.0, 6.0, 0.21], [150.0, 40.0, 12.0, 3.0, 1.0]
    boxes = [np.array([hull, wave]), np.array([nudged]), np.array([hull]), np.array([nudged])]
    picked, fused = fuse_scores(boxes, [np.array([0.8, 0.8]), np.array([0.6]), np.array([0.7]), np.array([0.9])])
    assert picked.tolist() == [4, 1]  # the last view's hull, then the first view's wave
    assert fused.tolist() == pytest.approx([0.75, 0.2])
    picked, fused = fuse_scores([np.zeros((0, 5))] * 2, [np.zeros(0)] * 2)
    assert picked.shape == (0,) and fused.shape == (0,)


def test_detect_with_tta_finds_the_same_vessels_from_four_model_calls_a_tile(blob_model, tmp_path, monkeypatch):
    vessels = [([310.3, 200.6, 36.0, 8.0, 0.35], 0.92), ([700.2, 420.7, 30.0, 7.0, -1.1], 0.08)]
    image = sea(560, 900)
    for box, p_loaded in vessels:
        paint_vessel(image, box, p_loaded=p_loaded)
    scene = write_scene(tmp_path / "port.tif", image)
    calls = []
    real = OnnxDetector.run

    def counted(self, images, view=None):
        calls.append(images.copy())
        return real(self, images, view)

    monkeypatch.setattr(OnnxDetector, "run", counted)
    assert run_detect(blob_model, scene, "-o", tmp_path / "plain", "--tile", 384) == 0
    plain_calls = len(calls)
    assert run_detect(blob_model, scene, "-o", tmp_path / "tta", "--tile", 384, "--tta") == 0
    assert len(calls) - plain_calls == 4 * plain_calls
    # The second of each four is the first mirrored left-right.
    np.testing.assert_array_equal(calls[plain_calls + 1], calls[plain_calls][..., ::-1])

    plain = read_detection_file(tmp_path / "plain" / "port.geojson")
    flipped = read_detection_file(tmp_path / "tta" / "port.geojson")
    assert json.loads((tmp_path / "tta" / "port.geojson").read_text())["tankerwatch"]["tiling"]["test_time_flips"]
    assert len(flipped.detections) == len(plain.detections) == len(vessels)
    for a, b in zip(plain.detections, flipped.detections, strict=True):
        assert rotated_iou(np.array([a.box_px]), np.array([b.box_px]))[0, 0] > 0.9
        assert b.score == pytest.approx(a.score, abs=0.02) and b.load == a.load
