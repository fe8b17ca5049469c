"""Tile grid and cross-tile merge: every vessel is whole in the tile that owns it, and kept once."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tankerwatch.infer.core.boxes import box_corners
from tankerwatch.infer.core.errors import ConfigError
from tankerwatch.infer.runtime.tiling import (
    UNRANGED_GSD_M,
    Tile,
    assumed_gsd_m,
    make_grid,
    merge_detections,
    min_overlap_px,
    resample_scale,
    tile_to_source,
    working_gsd_range,
    zoom_bands,
)


def test_overlap_holds_the_longest_vessel():
    assert min_overlap_px(0.3) == math.ceil(340 / 0.3)
    assert min_overlap_px(10.0) == 34
    with pytest.raises(ConfigError, match="--gsd"):
        min_overlap_px(None)


def test_resample_only_outside_the_model_range():
    assert resample_scale(2.0, (1.0, 3.0)) == 1.0
    assert resample_scale(0.5, (1.0, 3.0)) == pytest.approx(2.0)  # fine scene: 2 source px per model px
    assert resample_scale(10.0, (1.0, 3.0)) == pytest.approx(0.3)
    assert resample_scale(None, (1.0, 3.0)) == 1.0


def test_an_image_without_a_gsd_is_taken_at_the_middle_of_the_models_range_in_ratio():
    assert assumed_gsd_m((0.5, 2.0)) == pytest.approx(1.0)
    assert assumed_gsd_m((0.5, 3.5)) == pytest.approx(math.sqrt(1.75))  # 1.32 m: as far from each end in ratio
    assert assumed_gsd_m((3.0, 3.0)) == pytest.approx(3.0)
    assert assumed_gsd_m(None) == UNRANGED_GSD_M == 1.0  # trained on images without a GSD


def test_coarse_scenes_are_enlarged_to_the_max_gsd_only_where_the_model_was_trained():
    assert working_gsd_range((0.5, 3.5), 2.0) == (0.5, 2.0)
    assert resample_scale(3.0, working_gsd_range((0.5, 3.5), 2.0)) == pytest.approx(2 / 3)
    assert working_gsd_range((0.5, 3.5), 3.5) == (0.5, 3.5)  # at or above the top: the model's own
    assert working_gsd_range((0.5, 3.5), None) == (0.5, 3.5)
    # A model trained at 5-16 m (Sentinel-2) never sees a scene enlarged to 2 m, a GSD it has not seen.
    assert working_gsd_range((5.0, 16.0), 2.0) == (5.0, 16.0)


def test_tile_smaller_than_twice_the_overlap_is_refused_with_a_usable_size():
    with pytest.raises(ConfigError, match="--tile 1152"):
        make_grid(5000, 5000, 1024, 567, input_multiple=32)


def test_small_scene_is_one_tile_padded_to_the_input_multiple():
    grid = make_grid(100, 70, 512, 34, input_multiple=32)
    assert len(grid) == 1
    assert (grid.model_width, grid.model_height) == (128, 96)
    tile = grid.tiles[0]
    assert (tile.col_off, tile.row_off, tile.width, tile.height) == (0, 0, 100, 70)


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 5000), height=st.integers(1, 5000), size=st.sampled_from([256, 512, 1024]),
       overlap_frac=st.floats(0.0, 0.5), scale=st.sampled_from([0.5, 1.0, 2.5]))
def test_cores_partition_the_scene_and_sit_inside_their_tiles(width, height, size, overlap_frac, scale):
    tile_px = round(size * scale)
    overlap = int(overlap_frac * tile_px)
    grid = make_grid(width, height, size, overlap, scale=scale)
    rng = np.random.default_rng(width * 7919 + height)
    points = rng.uniform([-5, -5], [width + 5, height + 5], size=(200, 2))
    owners = np.stack([t.owns(points) for t in grid])
    assert np.all(owners.sum(axis=0) == 1)  # exactly one owner per point
    for t in grid:
        assert 0 <= t.col_off and t.col_off + t.width <= width
        assert 0 <= t.row_off and t.row_off + t.height <= height
        x0, y0, x1, y1 = t.core
        # a core never comes closer than half the overlap to an edge the tile shares with a neighbour
        if x0 > -math.inf:
            assert x0 - t.col_off >= overlap / 2 - 1e-9
        if x1 < math.inf:
            assert t.col_off + t.width - x1 >= overlap / 2 - 1e-9
        if y0 > -math.inf:
            assert y0 - t.row_off >= overlap / 2 - 1e-9


@settings(max_examples=40, deadline=None)
@given(cx=st.floats(0, 3000), cy=st.floats(0, 3000), angle=st.floats(-math.pi / 2, math.pi / 2),
       length=st.floats(20, 300))
def test_a_vessel_is_whole_in_the_tile_that_owns_it(cx, cy, angle, length):
    grid = make_grid(3000, 3000, 640, 300)
    box = np.array([cx, cy, length, length / 6, angle])
    owner = [t for t in grid if t.owns(box[None, :2])[0]]
    assert len(owner) == 1
    t = owner[0]
    corners = box_corners(box)
    inside_x = (corners[:, 0] >= t.col_off) | (t.col_off == 0)
    inside_x &= (corners[:, 0] <= t.col_off + t.width) | (t.col_off + t.width == 3000)
    inside_y = (corners[:, 1] >= t.row_off) | (t.row_off == 0)
    inside_y &= (corners[:, 1] <= t.row_off + t.height) | (t.row_off + t.height == 3000)
    assert np.all(inside_x & inside_y)


def test_tile_to_source_scales_about_the_tile_origin():
    tile = Tile(1000, 2000, 800, 800, (0, 0, 1, 1))
    out = tile_to_source(np.array([[10.0, 20.0, 30.0, 8.0, 0.3]]), tile, 2.0)
    np.testing.assert_allclose(out, [[1020.0, 2040.0, 60.0, 16.0, 0.3]])


def test_vessel_across_a_tile_border_is_kept_once():
    grid = make_grid(1400, 600, 600, 200)
    assert len(grid) == 3
    vessel = np.array([480.0, 300.0, 150.0, 30.0, 0.1])  # in the overlap of tiles 0 and 1
    boxes, scores, owned = [], [], []
    for i, tile in enumerate(grid):
        if tile.col_off <= vessel[0] < tile.col_off + tile.width:
            seen = vessel + [0.4 * i, -0.3 * i, 0, 0, 0]  # each tile sees it slightly differently
            boxes.append(seen)
            scores.append(0.9 - 0.1 * i)
            owned.append(tile.owns(seen[None, :2])[0])
    assert len(boxes) == 2 and sum(owned) == 1
    kept = merge_detections(np.array(boxes), np.array(scores), np.array(owned))
    assert len(kept) == 1


def test_merge_suppresses_duplicates_and_keeps_neighbours():
    boxes = np.array([[100, 100, 80, 20, 0], [102, 101, 80, 20, 0.02], [100, 140, 80, 20, 0]], float)
    scores = np.array([0.7, 0.9, 0.8])
    kept = merge_detections(boxes, scores, np.array([True, True, True]))
    assert kept.tolist() == [1, 2]
    assert merge_detections(boxes, scores, np.zeros(3, bool)).tolist() == []


def test_grouped_merge_equals_one_scene_wide_nms():
    rng = np.random.default_rng(4)
    centres = rng.uniform(0, 3000, size=(60, 2))
    # clusters of jittered copies (duplicates across tiles) plus isolated boxes
    boxes = np.concatenate([
        np.column_stack([np.repeat(centres, 4, axis=0) + rng.normal(0, 3, (240, 2)),
                         rng.uniform(40, 120, 240), rng.uniform(8, 20, 240), rng.uniform(-1.5, 1.5, 240)]),
    ])
    scores = rng.uniform(0, 1, len(boxes))
    owned = rng.uniform(size=len(boxes)) < 0.8
    from tankerwatch.infer.core.boxes import rotated_nms

    expected = np.flatnonzero(owned)[rotated_nms(boxes[owned], scores[owned], 0.5)]
    got = merge_detections(boxes, scores, owned)
    assert got.tolist() == expected.tolist()


def test_zoom_bands_enlarges_bilinearly_and_shrinks_by_area_averaging():
    image = np.zeros((2, 8, 12), np.uint8)
    image[0, 2:4, 7:9] = 200  # a 2 x 2 block centred at (8, 3), pixel-corner coordinates
    image[1] = 50
    assert zoom_bands(image, 1.0) is image
    big = zoom_bands(image, 2.0)
    assert big.shape == (2, 16, 24)
    rows, cols = np.nonzero(big[0] == 200)
    assert (cols.mean() + 0.5, rows.mean() + 0.5) == (16.0, 6.0)  # exactly twice the coordinates
    assert np.all(big[1] == 50)
    small = zoom_bands(image, 0.5)
    assert small.shape == (2, 4, 6)
    # Each output pixel is the mean of its 2 x 2 input cell: the block straddles two of them.
    assert small[0, 1, 3] == small[0, 1, 4] == 100 and small[0, 0, 3] == 0
    assert np.all(small[1] == 50)
