"""The load stage's profile across the hull: where it samples, how finely it resolves an edge, and
how its per-row marks are supervised."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from test_hull_window import read_among_padding  # noqa: E402

from tankerwatch.models.hull_profile import (  # noqa: E402
    PROFILE_ACROSS_SPAN,
    PROFILE_ALONG_SPAN,
    PROFILE_COLUMNS,
    PROFILE_ROWS,
    HullProfileHead,
    box_edges_in_rows,
)
from tankerwatch.train.losses import cue_mark_loss  # noqa: E402

ROW_HEIGHT = PROFILE_ACROSS_SPAN / PROFILE_ROWS  # box widths


def _grid_points(box: list[float], height: int = 200, width: int = 240) -> torch.Tensor:
    """The profile's sample points ``[rows, columns, 2]`` in input pixels (x, y)."""
    grid = HullProfileHead(3).sampling_grid(torch.tensor([[box]]), height, width)[0]
    return (grid + 1.0) / 2.0 * torch.tensor([width, height])


@pytest.mark.parametrize("angle", [0.0, 0.7, -1.3])
def test_rows_lie_across_the_hull_and_columns_along_its_middle(angle):
    cx, cy, length, wide = 120.0, 100.0, 80.0, 12.0
    points = _grid_points([cx, cy, length, wide, angle])
    u = torch.tensor([math.cos(angle), math.sin(angle)])
    n = torch.tensor([-math.sin(angle), math.cos(angle)])
    offsets = points - torch.tensor([cx, cy])
    along, across = offsets @ u, offsets @ n
    # Each row's samples average to the row's centre across the hull ...
    expected = ((torch.arange(PROFILE_ROWS) + 0.5) / PROFILE_ROWS - 0.5) * PROFILE_ACROSS_SPAN * wide
    torch.testing.assert_close(across.mean(dim=1), expected, atol=1e-3, rtol=0)
    # ... and spread evenly over the row's height, one sub-row offset per column.
    spread = (across - across.mean(dim=1, keepdim=True)) / (ROW_HEIGHT * wide)
    assert spread.min() > -0.5 and spread.max() < 0.5
    assert sorted(spread[0].tolist()) == pytest.approx(
        [((j + 0.5) / PROFILE_COLUMNS - 0.5) for j in range(PROFILE_COLUMNS)], abs=1e-4)
    # Columns run along the middle of the hull, clear of its ends.
    span = float(along[0].max() - along[0].min()) * PROFILE_COLUMNS / (PROFILE_COLUMNS - 1)
    assert span == pytest.approx(PROFILE_ALONG_SPAN * length, rel=1e-3)
    assert float(along.abs().max()) < 0.5 * length


def test_an_edge_inside_a_row_shows_as_the_share_of_the_row_beyond_it():
    """The mean over columns is a box filter over each row's height: on a hull wide enough that a
    row covers 4 pixels, an edge a quarter of the way into a row gives that row three quarters of
    the brightness step (point sampling at the row's centre would give all or nothing)."""
    row_px = 4.0
    wide = row_px * PROFILE_ROWS / PROFILE_ACROSS_SPAN  # 146 px
    size = 600
    cy = size / 2
    head = HullProfileHead(1).eval()
    edge_row = 90
    row_top = cy + (edge_row / PROFILE_ROWS - 0.5) * PROFILE_ACROSS_SPAN * wide
    for quarter in (0.25, 0.5, 0.75):
        edge = round(row_top + quarter * row_px)  # on a pixel boundary: bilinear ramps symmetrically
        image = torch.zeros(1, 1, size, size)
        image[..., edge:, :] = 1.0
        profile = head.profiles(image, torch.tensor([[[size / 2, cy, 200.0, wide, 0.0]]]))[0, 0]
        low, high = profile[edge_row - 3], profile[edge_row + 3]
        share = float((profile[edge_row] - low) / (high - low))
        assert share == pytest.approx(1.0 - (edge - row_top) / row_px, abs=1.5 / PROFILE_COLUMNS)


def test_readings_ignore_the_scene_brightness_and_follow_the_pixels():
    torch.manual_seed(0)
    head = HullProfileHead(3).eval()
    x = torch.randn(1, 3, 96, 128)
    boxes = torch.tensor([[[50.0, 48.0, 40.0, 8.0, 0.4], [80.0, 40.0, 30.0, 6.0, -0.3]]])
    torch.testing.assert_close(head(x * 0.4 - 1.5, boxes), head(x, boxes), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(head(x.flip(-1), boxes), head(x, boxes), atol=1e-3)
    readings = head(x, boxes)
    assert readings.shape == (1, 2, 4) and bool((readings >= 0).all())


def test_error_scales_read_the_measuring_features_without_shaping_them():
    """The widths' likelihood trains the scale layer only: its gradient grows as 1 / scale, and
    through the shared features it drew every strip towards the typical width. The widths
    themselves still train every layer that measures."""
    torch.manual_seed(0)
    head = HullProfileHead(3, box_jitter=False).train()
    x = torch.randn(1, 3, 96, 128)
    boxes = torch.tensor([[[50.0, 48.0, 40.0, 8.0, 0.4], [80.0, 40.0, 30.0, 6.0, -0.3]]])
    measuring = [p for name, p in head.named_parameters() if not name.startswith("scales.")]

    head(x, boxes)[..., 2:].log().sum().backward()
    assert all(p.grad is None or not bool(p.grad.any()) for p in measuring)
    assert bool(head.scales[0].weight.grad.any())

    head.zero_grad(set_to_none=True)
    head(x, boxes)[..., :2].sum().backward()
    assert all(p.grad is not None and bool(p.grad.any()) for p in measuring if p.dim() > 1)


def test_the_geometry_moves_the_error_scales_and_never_the_widths():
    """The scales read how wide each strip could be under the scene's angles; the measuring
    network must not see them (told the expected width, it answered with it and stopped
    measuring), so any geometry, or none, gives the same widths."""
    torch.manual_seed(0)
    head = HullProfileHead(3).eval()
    x = torch.randn(1, 3, 96, 128)
    boxes = torch.tensor([[[50.0, 48.0, 40.0, 8.0, 0.4], [80.0, 40.0, 30.0, 6.0, -0.3]]])
    nadir = torch.tensor([[[0.05, 0.25, 0.0, 0.0, 1.0], [0.1, 0.4, 0.0, 0.0, 1.0]]])
    oblique = torch.tensor([[[0.05, 0.25, 0.08, 0.4, 1.0], [0.1, 0.4, 0.1, 0.5, 1.0]]])
    with torch.no_grad():
        readings = [head(x, boxes, nadir), head(x, boxes, oblique), head(x, boxes)]
    for other in readings[1:]:
        torch.testing.assert_close(other[..., :2], readings[0][..., :2])
        assert not torch.allclose(other[..., 2:], readings[0][..., 2:], atol=1e-4)


def test_a_profile_turned_by_the_sides_reads_a_mirrored_hull_alike():
    """Told which side the shadow and the sensor are on, the head turns the profile so the shadow
    lies in its high rows: a hull mirrored across its long axis, with the sides mirrored too, reads
    exactly the same; unturned (sides unknown), the mirror reads differently."""
    torch.manual_seed(2)
    head = HullProfileHead(3).eval()
    x = torch.randn(1, 3, 64, 1).expand(1, 3, 64, 96).contiguous()  # constant along the hull
    boxes = torch.tensor([[[48.0, 32.0, 40.0, 8.0, 0.0]]])
    sides = torch.tensor([[[1.0, -1.0]]])
    mirrored = x.flip(-2)
    with torch.no_grad():
        torch.testing.assert_close(head(mirrored, boxes, sides=-sides), head(x, boxes, sides=sides))
        assert not torch.allclose(head(mirrored, boxes), head(x, boxes), atol=1e-4)


@pytest.mark.parametrize("shadow_side", [1.0, -1.0])
def test_no_shadow_is_marked_on_the_side_of_the_sun(shadow_side):
    """A shadow falls away from the sun: with the sides known, the half of the profile towards the
    sun holds no shadow marks, and the side strip's marks stay on the sensor's half."""
    torch.manual_seed(3)
    head = HullProfileHead(3).eval()
    x = torch.randn(2, 3, 96, 128)
    boxes = torch.tensor([[[50.0, 48.0, 40.0, 8.0, 0.4]]] * 2)
    sides = torch.tensor([[[shadow_side, shadow_side]]] * 2)
    _, marks, _ = head(x, boxes, sides=sides, with_marks=True)
    sun_half = slice(0, PROFILE_ROWS // 2) if shadow_side > 0 else slice(PROFILE_ROWS // 2, PROFILE_ROWS)
    assert torch.all(marks[..., 0, sun_half] == 0) and torch.all(marks[..., 1, sun_half] == 0)
    _, unknown, _ = head(x, boxes, with_marks=True)
    assert torch.all(unknown[..., 0, sun_half] > 0)


def test_padding_boxes_stay_out_of_the_statistics_in_training():
    head = HullProfileHead(3, box_jitter=False).train()
    alone, (among_padding, marks, _), _, _ = read_among_padding(head, with_marks=True)
    torch.testing.assert_close(among_padding[:, :2], alone)
    assert torch.equal(among_padding[:, 2:], torch.zeros(1, 6, 4))
    assert torch.equal(marks[:, 2:], torch.zeros(1, 6, 2, PROFILE_ROWS))


def test_box_edges_follow_a_jittered_box():
    given = torch.tensor([[50.0, 50.0, 40.0, 10.0, 0.5]])
    centre = (PROFILE_ROWS / 2 - PROFILE_ROWS / PROFILE_ACROSS_SPAN / 2, PROFILE_ROWS / 2 + PROFILE_ROWS / PROFILE_ACROSS_SPAN / 2)
    assert box_edges_in_rows(given, given)[0].tolist() == pytest.approx(centre)
    # Sampled 2 px to one side across the hull and 25 % wider: the given box sits 2 px the other
    # way and is 0.8 of the sampled width.
    normal = torch.tensor([-math.sin(0.5), math.cos(0.5)])
    sampled = given.clone()
    sampled[0, :2] += 2.0 * normal
    sampled[0, 3] = 12.5
    low, high = box_edges_in_rows(given, sampled)[0].tolist()
    rows_per_px = PROFILE_ROWS / PROFILE_ACROSS_SPAN / 12.5
    assert (low + high) / 2 == pytest.approx(PROFILE_ROWS / 2 - 2.0 * rows_per_px, abs=1e-4)
    assert high - low == pytest.approx(10.0 * rows_per_px, abs=1e-4)


def _strip_marks(start: float, end: float) -> torch.Tensor:
    r = torch.arange(PROFILE_ROWS, dtype=torch.float32)
    return (torch.minimum(torch.tensor(end), r + 1) - torch.maximum(torch.tensor(start), r)).clamp(0.0, 1.0)


def test_marks_are_scored_on_whichever_side_the_strip_lies():
    """A shadow of 0.5 box widths outside the box and a side strip of 0.2 inside it: marks on
    either side of the hull score the same, better than no marks or marks in the wrong place;
    unknown widths teach nothing."""
    edges = torch.tensor([[[45.7, 82.3]]])
    rows_per_width = 82.3 - 45.7
    shadow, side = 0.5 * rows_per_width, 0.2 * rows_per_width
    truth = torch.tensor([[[0.5, 0.2]]])

    def loss(shadow_marks, side_marks):
        marks = torch.stack([shadow_marks, side_marks]).clamp(0.01, 0.99)[None, None]
        return float(cue_mark_loss(marks, edges, truth))

    beyond_high = loss(_strip_marks(82.3, 82.3 + shadow), _strip_marks(82.3 - side, 82.3))
    beyond_low = loss(_strip_marks(45.7 - shadow, 45.7), _strip_marks(45.7, 45.7 + side))
    mixed = loss(_strip_marks(45.7 - shadow, 45.7), _strip_marks(82.3 - side, 82.3))
    nothing = loss(torch.zeros(PROFILE_ROWS), torch.zeros(PROFILE_ROWS))
    misplaced = loss(_strip_marks(60.0, 60.0 + shadow), _strip_marks(10.0, 10.0 + side))
    assert beyond_high == pytest.approx(beyond_low, abs=1e-4) and mixed == pytest.approx(beyond_high, abs=1e-4)
    assert beyond_high < 0.1 < nothing < misplaced
    unknown = torch.rand(1, 1, 2, PROFILE_ROWS)
    assert float(cue_mark_loss(unknown, edges, torch.full((1, 1, 2), -1.0))) == 0.0
