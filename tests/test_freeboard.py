"""The load stage's geometry (models/freeboard.py): widths and angles to freeboard, fraction and load."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tankerwatch.infer.core.tanker_sizes import freeboard_at  # noqa: E402
from tankerwatch.infer.synth.physics import View, side_strip_width_m, visible_shadow_width_m  # noqa: E402
from tankerwatch.models.freeboard import (  # noqa: E402
    MAX_FRACTION_EXCESS,
    class_freeboards,
    cue_directions,
    cue_gains,
    cue_sides,
    expected_cue_widths,
    load_outputs,
    side_share,
)

GSD = 0.5
# A hull along +x in the image: its azimuth is 90 degrees (east) in the image frame.
HULL_AZIMUTH_DEG = 90.0


def _drawn(freeboard: float, length_m: float, width_m: float, elevation: float, sun_az: float, zenith: float,
           view_az: float, angle: float = 0.0):
    """Widths (box widths) the generator's physics draws for a hull, its box (pixels) and view row."""
    hull_az = (HULL_AZIMUTH_DEG + math.degrees(angle)) % 360
    scene = View(gsd_m=GSD, sun_elevation_deg=elevation, sun_azimuth_deg=sun_az, view_zenith_deg=zenith,
                 view_azimuth_deg=view_az)
    shadow = visible_shadow_width_m(freeboard, freeboard, scene, hull_az)
    side = side_strip_width_m(freeboard, zenith, view_az, hull_az)
    box = torch.tensor([[[100.0, 100.0, length_m / GSD, width_m / GSD, angle]]])
    widths = torch.tensor([[[shadow / width_m, side / width_m]]])
    view = torch.tensor([[GSD, elevation, sun_az, zenith, view_az]])
    return widths, box, view


@pytest.mark.parametrize("length_m", [45.0, 100.0, 150.0, 170.0, 250.0, 340.0, 400.0])
def test_class_freeboards_match_the_size_table(length_m):
    ballast, laden = class_freeboards(torch.tensor([length_m]))
    assert float(ballast) == pytest.approx(freeboard_at(length_m, 0.0), abs=1e-4)
    assert float(laden) == pytest.approx(freeboard_at(length_m, 1.0), abs=1e-4)


@pytest.mark.parametrize("angle", [0.0, 0.7, -1.3])
@pytest.mark.parametrize("view_az", [110.0, 290.0])  # each angle has the sensor on the sun's side once
def test_gains_follow_the_generators_formulas_in_the_image_frame(angle, view_az):
    """The image frame's azimuths (clockwise from up) against the generator's, on a north-up image
    where the two agree: the gains are the drawn widths per metre of freeboard, the deck's cover
    of the shadow included."""
    widths, box, view = _drawn(1.0, 100.0, 16.0, 35.0, 160.0, 30.0, view_az, angle)
    shadow_gain, side_gain = cue_gains(box, view)
    assert float(shadow_gain) == pytest.approx(float(widths[0, 0, 0]) * 16.0, rel=1e-4, abs=1e-6)
    assert float(side_gain) == pytest.approx(float(widths[0, 0, 1]) * 16.0, rel=1e-4)


@pytest.mark.parametrize("view_az", [110.0, 290.0])
def test_expected_widths_are_what_the_generator_draws_at_either_end_of_the_class(view_az):
    length_m, width_m = 180.0, 32.0
    ballast, laden = (float(f) for f in class_freeboards(torch.tensor(length_m)))
    at_laden, box, view = _drawn(laden, length_m, width_m, 35.0, 160.0, 30.0, view_az, 0.7)
    at_ballast, *_ = _drawn(ballast, length_m, width_m, 35.0, 160.0, 30.0, view_az, 0.7)
    expected = expected_cue_widths(box, view)[0, 0]
    torch.testing.assert_close(expected[[0, 2]], at_laden[0, 0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(expected[[1, 3]], at_ballast[0, 0], atol=1e-5, rtol=1e-4)
    assert float(expected[4]) == 1.0


def test_expected_widths_survive_turning_and_mirroring_the_image():
    """Training computes them on the label boxes before augmentation turns or mirrors the crop:
    turned, the hull and every azimuth move together; mirrored left to right, the hull's angle
    becomes pi - angle and each azimuth its negative."""
    boxes = torch.tensor([[[100.0, 80.0, 300.0, 50.0, 0.4], [60.0, 40.0, 120.0, 22.0, -1.1]]])
    view = torch.tensor([[0.6, 28.0, 140.0, 21.0, 305.0]])
    original = expected_cue_widths(boxes, view)
    for turn_deg in (37.0, 90.0, -140.0):
        turned = boxes.clone()
        turned[..., 4] += math.radians(turn_deg)
        turned_view = view.clone()
        turned_view[:, [2, 4]] = (turned_view[:, [2, 4]] + turn_deg) % 360
        torch.testing.assert_close(expected_cue_widths(turned, turned_view), original, atol=1e-5, rtol=1e-5)
    mirrored = boxes.clone()
    mirrored[..., 4] = math.pi - mirrored[..., 4]
    mirrored_view = view.clone()
    mirrored_view[:, [2, 4]] = (360.0 - mirrored_view[:, [2, 4]]) % 360
    torch.testing.assert_close(expected_cue_widths(mirrored, mirrored_view), original, atol=1e-5, rtol=1e-5)


def test_the_deck_covers_the_shadow_exactly_where_the_side_strip_faces_the_sun():
    """The sides ``cue_sides`` gives agree with the gains' own physics: the deck leans away from
    the sensor, so it covers part of the shadow (a visible shadow narrower than the cast one)
    exactly where the visible side strip lies on the side away from the shadow."""
    rng = np.random.default_rng(4)
    view = torch.tensor(np.column_stack([np.full(400, GSD), rng.uniform(20, 70, 400), rng.uniform(0, 360, 400),
                                         rng.uniform(5, 30, 400), rng.uniform(0, 360, 400)]), dtype=torch.float64)
    boxes = torch.tensor([[[100.0, 100.0, 120.0, 20.0, a]] for a in rng.uniform(-math.pi / 2, math.pi / 2, 400)],
                         dtype=torch.float64)
    sides = cue_sides(boxes, cue_directions(view))[:, 0]
    shadow, _ = cue_gains(boxes, view)
    cast = (torch.cos(boxes[:, 0, 4] - view[:, 2] * math.pi / 180).abs() / torch.tan(view[:, 1] * math.pi / 180))
    covered = shadow[:, 0] < cast - 1e-9
    assert 50 < int(covered.sum()) < 350
    assert torch.equal(covered, sides[:, 0] == -sides[:, 1])
    assert not cue_sides(boxes[:1], cue_directions(torch.tensor([[GSD, *[math.nan] * 4]]))).any()


def test_expected_widths_are_zero_without_the_angles():
    boxes = torch.tensor([[[100.0, 80.0, 300.0, 50.0, 0.4]], [[100.0, 80.0, 300.0, 50.0, 0.4]]])
    view = torch.tensor([[0.6, float("nan"), 140.0, 21.0, 305.0], [0.6, 28.0, 140.0, 21.0, 305.0]])
    expected = expected_cue_widths(boxes, view)
    assert torch.equal(expected[0], torch.zeros(1, 5))
    assert bool(torch.isfinite(expected).all()) and float(expected[1, 0, 4]) == 1.0


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.55, 1.0])
def test_exact_widths_give_back_the_freeboard_and_fraction(fraction):
    length = 120.0
    freeboard = freeboard_at(length, fraction)
    widths, box, view = _drawn(freeboard, length, 17.0, 40.0, 170.0, 18.0, 300.0, 0.4)
    p_loaded, laden, fb = load_outputs(widths, torch.full_like(widths, 0.01), box, view)
    assert float(fb[0, 0, 0]) == pytest.approx(freeboard, abs=0.02)
    assert float(laden[0, 0, 0]) == pytest.approx(fraction, abs=0.01)
    assert float(laden[0, 0, 1]) <= fraction + 1e-3 and float(laden[0, 0, 2]) >= fraction - 1e-3
    assert (float(p_loaded) > 0.5) == (fraction >= 0.5)


def test_hidden_cues_leave_the_load_state_open():
    """Sun overhead and a nadir view hide both cues: whatever the network measures, p_loaded is
    0.5, the fraction's interval spans everything and the freeboard's every freeboard the class
    could have (not a million metres, which an unbounded error would give)."""
    widths = torch.tensor([[[0.0, 0.0]]])
    box = torch.tensor([[[100.0, 100.0, 200.0, 30.0, 0.2]]])
    view = torch.tensor([[GSD, 90.0, 120.0, 0.0, 40.0]])
    p_loaded, laden, fb = load_outputs(widths, torch.full_like(widths, 0.02), box, view)
    assert float(p_loaded) == pytest.approx(0.5, abs=1e-6)
    assert float(laden[0, 0, 0]) == pytest.approx(0.5, abs=1e-6)
    assert laden[0, 0, 1:].tolist() == [0.0, 1.0]
    ballast, laden_fb = freeboard_at(100.0, 0.0), freeboard_at(100.0, 1.0)  # 200 px at 0.5 m
    swing = ballast - laden_fb
    assert fb[0, 0].tolist() == pytest.approx([(ballast + laden_fb) / 2, max(0.0, laden_fb - MAX_FRACTION_EXCESS * swing),
                                               ballast + MAX_FRACTION_EXCESS * swing], abs=1e-4)


def test_a_hull_pointing_at_the_sun_is_read_from_its_side_alone():
    """With the sun along the hull the shadow says nothing; an off-nadir view still measures."""
    length, fraction = 180.0, 0.9
    widths, box, view = _drawn(freeboard_at(length, fraction), length, 30.0, 40.0, 90.0, 25.0, 0.0)
    assert float(widths[0, 0, 0]) == pytest.approx(0.0, abs=1e-6)
    widths[0, 0, 0] = 3.0  # a spurious shadow reading must not matter
    p_loaded, laden, _ = load_outputs(widths, torch.full_like(widths, 0.01), box, view)
    assert float(laden[0, 0, 0]) == pytest.approx(fraction, abs=0.02)
    assert float(p_loaded) > 0.9


def test_a_reading_no_hull_of_its_class_could_give_leaves_the_load_state_open():
    """A sun 10 degrees off the hull's axis gives 0.25 m of shadow per metre of freeboard: a shadow
    read 2 m too wide (a few pixels) means a freeboard 8 m beyond the class's ballast freeboard.
    That is a misreading, so the call is uncertain; a quarter metre too wide still reads "empty"."""
    length = 120.0
    ballast = freeboard_at(length, 0.0)
    widths, box, view = _drawn(ballast, length, 17.0, 40.0, 100.0, 0.0, 0.0)
    shadow_gain, _ = cue_gains(box, view)
    assert 0.2 < float(shadow_gain) < 0.3
    calls = {}
    for extra_m in (0.25, 2.0):
        misread = widths.clone()
        misread[0, 0, 0] += extra_m / 17.0
        p_loaded, laden, fb = load_outputs(misread, torch.full_like(widths, 0.01), box, view)
        calls[extra_m] = float(p_loaded)
    assert calls[0.25] < 0.1
    assert calls[2.0] == pytest.approx(0.5, abs=1e-6)
    assert laden[0, 0, 1:].tolist() == [0.0, 1.0]
    assert float(fb[0, 0, 2]) == pytest.approx(ballast + MAX_FRACTION_EXCESS * (ballast - freeboard_at(length, 1.0)),
                                               abs=1e-4)


def test_the_interval_widens_with_the_measurement_error():
    widths, box, view = _drawn(freeboard_at(120.0, 0.5), 120.0, 17.0, 40.0, 170.0, 18.0, 300.0)
    spans = []
    for scale in (0.005, 0.02, 0.08):
        _, laden, _ = load_outputs(widths, torch.full_like(widths, scale), box, view)
        spans.append(float(laden[0, 0, 2] - laden[0, 0, 1]))
    assert spans[0] < spans[1] < spans[2]


def test_unknown_angles_read_geometry_free_and_less_sure():
    """NaN angles: the reading averages over typical geometries, so it is less certain than with the
    true angles, and rows with and without angles can share a batch."""
    widths, box, view = _drawn(freeboard_at(100.0, 0.05), 100.0, 16.0, 30.0, 170.0, 20.0, 300.0)
    both_views = torch.cat([view, torch.full_like(view, math.nan)])
    both_views[1, 0] = GSD
    p_loaded, laden, fb = load_outputs(widths.repeat(2, 1, 1), torch.full((2, 1, 2), 0.01), box.repeat(2, 1, 1),
                                       both_views)
    assert torch.isfinite(p_loaded).all() and torch.isfinite(laden).all() and torch.isfinite(fb).all()
    assert float(p_loaded[0]) < 0.05
    spans = (laden[:, 0, 2] - laden[:, 0, 1]).tolist()
    assert spans[1] > spans[0]


def test_the_geometry_exports_to_onnx_with_both_branches(tmp_path):
    ort = pytest.importorskip("onnxruntime")

    class Geometry(torch.nn.Module):
        def forward(self, widths, scales, boxes, view):
            return load_outputs(widths, scales, boxes, view)

    rng = np.random.default_rng(0)
    widths = torch.tensor(rng.uniform(0, 1, (2, 3, 2)), dtype=torch.float32)
    scales = torch.tensor(rng.uniform(0.01, 0.1, (2, 3, 2)), dtype=torch.float32)
    boxes = torch.tensor([[[50, 50, 200, 30, 0.3]] * 3] * 2, dtype=torch.float32)
    view = torch.tensor([[0.5, 35.0, 150.0, 12.0, 80.0], [0.5, math.nan, math.nan, math.nan, math.nan]])
    path = tmp_path / "geometry.onnx"
    torch.onnx.export(Geometry().eval(), (widths, scales, boxes, view), str(path), dynamo=True,
                      input_names=["widths", "scales", "boxes", "view"])
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"widths": widths.numpy(), "scales": scales.numpy(), "boxes": boxes.numpy(), "view": view.numpy()})
    for mine, theirs in zip(load_outputs(widths, scales, boxes, view), got, strict=True):
        np.testing.assert_allclose(theirs, mine.numpy(), atol=1e-4)


def test_side_share_is_the_side_strips_part_of_the_information():
    """A nadir view leaves it all to the shadow, a sun along the hull all to the side strip; equal
    information per metre of freeboard splits it evenly; unknown angles take the prior grid's mean."""
    box = torch.tensor([[[100.0, 100.0, 240.0, 40.0, 0.0]]])  # along +x: azimuth 90 in the image frame
    scales = torch.tensor([[[0.02, 0.02]]])
    nadir = torch.tensor([[GSD, 35.0, 180.0, 0.0, 0.0]])
    sun_along = torch.tensor([[GSD, 35.0, 90.0, 20.0, 0.0]])
    assert float(side_share(scales, box, nadir)) == 0.0
    assert float(side_share(scales, box, sun_along)) == pytest.approx(1.0)
    view = torch.tensor([[GSD, 45.0, 180.0, 45.0, 0.0]])  # both gains 1 m per metre of freeboard
    shadow_gain, side_gain = cue_gains(box, view)
    assert float(shadow_gain) == pytest.approx(float(side_gain), rel=1e-4)
    assert float(side_share(scales, box, view)) == pytest.approx(0.5, abs=1e-4)
    # The side strip's scale twice the shadow's: a quarter of the information, so a fifth of the total.
    assert float(side_share(torch.tensor([[[0.02, 0.04]]]), box, view)) == pytest.approx(0.2, abs=1e-4)
    unknown = torch.full((1, 5), float("nan"))
    unknown[0, 0] = GSD
    free = float(side_share(scales, box, unknown))
    assert 0.0 < free < 1.0 and math.isfinite(free)
