"""The coarse second pass of `detect`: when it runs, at which scale, and how its vessels and the fine
pass's are merged (end to end through the CLI: tests/test_detect.py)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from tankerwatch.infer.core.boxes import intersection_over_area
from tankerwatch.infer.core.labels import LabelledImage, Vessel, VesselType
from tankerwatch.infer.runtime.detect import COARSE_MAX_WINDOW_PX, combine_passes, plan_coarse_pass
from tankerwatch.infer.runtime.onnx_model import Outputs
from tankerwatch.infer.runtime.tiling import coarse_factor, make_grid, merge_passes

BIG = np.array([500.0, 400.0, 300.0, 50.0, 0.3])  # a VLCC as the coarse pass boxes it
U = np.array([math.cos(0.3), math.sin(0.3)])  # along its hull
V = np.array([-math.sin(0.3), math.cos(0.3)])  # across it


def along_big(t, s, length, width):
    """A box parallel to BIG, centred t px along and s px across from BIG's centre."""
    cx, cy = BIG[:2] + t * U + s * V
    return [cx, cy, length, width, 0.3]


def test_intersection_over_area_is_the_share_of_the_first_box():
    a = np.array([[10, 10, 4, 2, 0], [14, 10, 4, 2, 0], [50, 50, 4, 2, 0], [10, 10, 0, 0, 0]], float)
    b = np.array([[10, 10, 8, 4, 0]], float)
    np.testing.assert_allclose(intersection_over_area(a, b)[:, 0], [1.0, 0.5, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(intersection_over_area(b, a[:1]), [[0.25]], atol=1e-9)
    assert intersection_over_area(np.zeros((0, 5)), b).shape == (0, 1)


def test_fragments_go_and_a_vessel_alongside_stays():
    split = 150.0
    fine = np.array([
        along_big(-95, 0, 110, 46),  # three pieces of the VLCC, as a model too short for it finds them
        along_big(0, 2, 100, 48),
        along_big(100, -1, 98, 44),
        along_big(40, 28, 30, 12),  # a tug alongside: 3 px of its 12 px beam overlap the hull box (25 %)
        [900, 100, 60, 12, 1.0],  # a small vessel elsewhere
        [200, 700, 180, 30, 0.0],  # longer than the split: the coarse pass's box of it wins
    ])
    fine_scores = np.array([0.9, 0.85, 0.8, 0.7, 0.6, 0.95])
    coarse = np.array([BIG, [900, 100, 58, 14, 1.0], [200, 700, 175, 28, 0.0]])  # the small one too coarse
    coarse_scores = np.array([0.75, 0.5, 0.65])
    keep = merge_passes(fine, fine_scores, coarse, coarse_scores, split)
    assert intersection_over_area(fine[3:4], BIG[None])[0, 0] == pytest.approx(0.25, abs=0.01)
    # highest score first: the tug (0.7) from the fine pass, the VLCC (0.75) and the long one (0.65)
    # from the coarse pass, the small vessel (0.6) from the fine pass
    assert keep.tolist() == [6, 3, 8, 4]


@pytest.mark.parametrize("across, kept", [(18, False), (28, True)])
def test_containment_threshold_sits_between_pieces_and_neighbours(across, kept):
    # A 20 px wide box whose centre is `across` px off BIG's axis: 18 -> 17 of 20 px inside (85 %),
    # 28 -> 7 of 20 (35 %).
    fine = np.array([along_big(0, across, 60, 20)])
    keep = merge_passes(fine, [0.9], BIG[None], [0.8], split_px=150.0)
    assert (0 in keep.tolist()) is kept


def test_a_long_vessel_the_coarse_pass_missed_is_kept_from_the_fine_pass():
    fine = np.array([[200, 700, 180, 30, 0.0], along_big(0, 0, 120, 40)])
    keep = merge_passes(fine, [0.9, 0.8], BIG[None], [0.7], split_px=150.0)
    assert sorted(keep.tolist()) == [0, 2]


def test_nms_still_merges_duplicates_across_the_passes():
    # A vessel just over the split length found by both passes: the coarse box is kept, the fine
    # one dropped as lying inside it; a vessel just under it is kept from the fine pass and the
    # coarse duplicate dropped by length, so each is reported once.
    fine = np.array([[100, 100, 152, 20, 0.0], [400, 400, 148, 20, 0.0]])
    coarse = np.array([[101, 100, 154, 21, 0.0], [401, 400, 146, 21, 0.0]])
    keep = merge_passes(fine, [0.9, 0.9], coarse, [0.8, 0.8], split_px=150.0)
    assert sorted(keep.tolist()) == [1, 2]


def outputs(boxes, scores):
    n = len(scores)
    return Outputs(np.array(boxes, float).reshape(-1, 5), np.array(scores, float), np.full((n, 2), 0.5),
                   np.full((n, 2), 0.5), np.array([n]))


def test_a_coarse_box_under_the_operating_point_removes_nothing():
    # It would not be reported, so the fine pass's pieces inside it must stay.
    fine = outputs([along_big(-80, 0, 100, 40), along_big(80, 0, 100, 40)], [0.6, 0.5])
    for score, expected in ((0.2, 2), (0.4, 1)):
        found = combine_passes(fine, outputs([BIG], [score]), split_px=150.0, min_score=0.3)
        assert len(found.scores) == expected and found.count.tolist() == [expected]
    np.testing.assert_allclose(found.boxes[0], BIG)


def test_empty_passes():
    assert merge_passes(np.zeros((0, 5)), [], np.zeros((0, 5)), [], 100.0).tolist() == []
    assert merge_passes(np.array([[5, 5, 10, 3, 0]]), [0.5], np.zeros((0, 5)), [], 100.0).tolist() == [0]


def test_coarse_factor_brings_the_longest_vessel_into_reach():
    assert coarse_factor(1.0, 191.0) == pytest.approx(340 / 191)
    assert coarse_factor(2.0, 191.0) == 1.0  # 170 px: it fits


def test_max_vessel_px_is_the_99th_percentile_of_label_lengths():
    vessels = [Vessel([10, 10, float(n), 2.0, 0.0], VesselType.TANKER) for n in range(3, 103)]
    images = [LabelledImage("a.png", 100, 100, 1.0, vessels[:50]), LabelledImage("b.png", 100, 100, 1.0, vessels[50:]),
              LabelledImage("c.png", 100, 100, 1.0, [])]
    max_vessel_px_of = pytest.importorskip("tankerwatch.train.datamodule").max_vessel_px_of
    assert max_vessel_px_of(images) == pytest.approx(np.percentile(np.arange(3, 103), 99), abs=0.01)
    assert max_vessel_px_of([LabelledImage("c.png", 100, 100, 1.0, [])]) is None


def detector(max_vessel_px, gsd_range_m=(0.5, 10.0), input_multiple=32):
    return SimpleNamespace(info=SimpleNamespace(max_vessel_px=max_vessel_px, gsd_range_m=gsd_range_m,
                                                input_multiple=input_multiple))


SCENE = SimpleNamespace(width=3072, height=3072)


def test_coarse_pass_plan_at_1m():
    fine = make_grid(3072, 3072, 1024, 340, input_multiple=32)
    notes = []
    plan = plan_coarse_pass(SCENE, 1.0, fine, detector(191.0), notes)
    assert plan.grid.scale == pytest.approx(340 / 191, rel=0.01) and plan.grid.overlap_px == 340
    assert plan.split_px == pytest.approx(0.8 * 191.0)
    assert plan.grid.tile_px <= COARSE_MAX_WINDOW_PX and plan.grid.model_size == 1024
    assert len(notes) == 1 and notes[0].startswith("coarse pass at 1.78 m") and "capped" not in notes[0]


def test_coarse_pass_is_capped_by_the_models_gsd_range():
    fine = make_grid(3072, 3072, 1024, 340, input_multiple=32)
    notes = []
    plan = plan_coarse_pass(SCENE, 1.0, fine, detector(100.0, (0.5, 2.0)), notes)
    assert plan.grid.scale == pytest.approx(2.0, rel=0.01)
    assert "coarse pass at 2.00 m" in notes[0] and "capped" in notes[0] and "over 200 m may still be split" in notes[0]
    notes = []
    assert plan_coarse_pass(SCENE, 1.0, fine, detector(100.0, (0.5, 1.0)), notes) is None
    assert "no coarser pass" in notes[0]


def test_no_coarse_pass_without_the_key_or_when_the_longest_vessel_fits():
    fine = make_grid(3072, 3072, 1024, 340, input_multiple=32)
    notes = []
    assert plan_coarse_pass(SCENE, 1.0, fine, detector(None), notes) is None
    assert plan_coarse_pass(SCENE, 1.0, fine, detector(400.0), notes) is None
    assert notes == []


def test_fine_scene_coarse_windows_stay_as_small_as_the_fine_ones():
    # 0.3 m, model from 0.5 m: the fine pass runs at 0.5 m (scale 5/3) with 1,134 px of overlap and
    # 1,376 px model tiles (2,293 source px). The coarse pass, 3.56 x coarser, would read 8,000 px
    # windows with tiles of the same model size; it shrinks them to the fine pass's window instead.
    overlap = math.ceil(340 / 0.3)
    fine = make_grid(20000, 20000, 1376, overlap, scale=0.5 / 0.3, input_multiple=32)
    plan = plan_coarse_pass(SimpleNamespace(width=20000, height=20000), 0.3, fine, detector(191.0), [])
    assert plan.grid.scale == pytest.approx(fine.scale * 340 / 0.5 / 191, rel=0.01)
    assert 2 * overlap <= plan.grid.tile_px <= fine.tile_px
