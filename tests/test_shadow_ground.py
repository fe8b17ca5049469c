"""Shadows on quays: drawn shorter than on the water, and labelled as lying off the water (the loss
that teaches them as unreadable: tests/test_laden_fraction.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tankerwatch.infer.core.errors import LabelError
from tankerwatch.infer.core.labels import LoadState, Vessel, VesselType
from tankerwatch.infer.synth.background import Layout
from tankerwatch.infer.synth.canvas import Canvas
from tankerwatch.infer.synth.physics import ALL_CUES, View, sample_tanker
from tankerwatch.infer.synth.shadow_ground import QUAY_DECK_HEIGHT_M, shadow_grounds, shadow_surfaces
from tankerwatch.infer.synth.vessels import draw_shadow, make_ship
from tankerwatch.train.targets import UNREADABLE, cue_labelled, vessel_cue_widths

GSD = 0.5
GAP_M = 2.0  # the berth's fender gap


def _empty_tanker(seed: int = 7, centre=(200.0, 200.0)):
    rng = np.random.default_rng(seed)
    spec = sample_tanker(rng, 100.0, LoadState.EMPTY).with_draft(0.0)
    return make_ship(rng, "t", "tanker", centre, 0.0, tanker=spec)  # bow east


def _quay_north_of(ship) -> Layout:
    """A quay whose front runs east-west :data:`GAP_M` north of the hull's side."""
    front = 200.0 - (ship.beam_m / 2 + GAP_M) / GSD
    quay = np.array([[0.0, 0.0], [400.0, 0.0], [400.0, front], [0.0, front]])
    return Layout(400, 400, GSD, 0, np.zeros(3), quays=[quay])


def _view(sun_azimuth_deg: float) -> View:
    return View(gsd_m=GSD, sun_azimuth_deg=sun_azimuth_deg, sun_elevation_deg=30.0, view_azimuth_deg=0.0,
                view_zenith_deg=0.0)


def _shadow_reach_px(ship, view: View, layout: Layout) -> float:
    """How far north of the hull's side the shadow reaches, amidships (pixels)."""
    canvas = Canvas(400, 400, 3, fill=(0.5, 0.5, 0.5))
    for ground in shadow_grounds(canvas, layout):
        draw_shadow(canvas, ship, view, ALL_CUES, ground.height_m, ground.where)
    hull_edge = 200.0 - ship.beam_m / 2 / GSD
    column = canvas.pixels[: int(hull_edge), 190, 0][::-1]  # walking north from the hull's side
    dark = np.nonzero(column < 0.45)[0]
    return (dark.max() + 1 if len(dark) else 0) + (hull_edge - int(hull_edge))


def test_a_shadow_on_a_quay_is_cast_by_the_hull_above_the_quay_only():
    ship = _empty_tanker()
    view = _view(180.0)  # sun in the south: the shadow falls north, onto the quay
    cot = 1 / math.tan(math.radians(30.0))
    on_water = _shadow_reach_px(ship, view, Layout(400, 400, GSD, 0, np.zeros(3)))
    on_quay = _shadow_reach_px(ship, view, _quay_north_of(ship))
    assert on_water == pytest.approx(ship.freeboard_m * cot / GSD, abs=1.5)
    assert ship.freeboard_m - QUAY_DECK_HEIGHT_M > GAP_M / cot  # so the shadow reaches past the gap
    assert on_quay == pytest.approx((ship.freeboard_m - QUAY_DECK_HEIGHT_M) * cot / GSD, abs=1.5)


def test_open_water_draws_one_ground_and_a_quay_splits_the_canvas():
    canvas = Canvas(400, 400, 3)
    (water,) = shadow_grounds(canvas, Layout(400, 400, GSD, 0, np.zeros(3)))
    assert water.height_m == 0.0 and water.where is None
    water, quay = shadow_grounds(canvas, _quay_north_of(_empty_tanker()))
    assert quay.height_m == QUAY_DECK_HEIGHT_M
    np.testing.assert_allclose(water.where + quay.where, 1.0)
    assert quay.where[0, 0] == 1.0 and quay.where[399, 0] == 0.0


def test_the_label_says_where_the_shadow_lies():
    ship = _empty_tanker()
    layout = _quay_north_of(ship)
    assert shadow_surfaces([ship], _view(180.0), layout) == ["structure"]  # cast onto the quay
    assert shadow_surfaces([ship], _view(0.0), layout) == ["water"]  # cast away from it
    # A hull rafted alongside takes the shadow on its side only; a hull pointing at the sun casts
    # none beside its midbody.
    open_water = Layout(400, 400, GSD, 0, np.zeros(3))
    for north in (True, False):
        partner = _empty_tanker(seed=8)
        offset = (ship.beam_m + partner.beam_m) / 2 + GAP_M
        partner.centre = ship.centre + np.array([0.0, -offset if north else offset]) / GSD
        surfaces = shadow_surfaces([ship, partner], _view(180.0), open_water)
        assert surfaces[0] == ("vessel" if north else "water")
    assert shadow_surfaces([ship], _view(90.0), layout) == ["water"]


@pytest.mark.parametrize(("shadow_m", "surface"), [(1.6, "water"), (2.6, "structure")])
def test_a_shadow_cut_short_by_the_quays_face_is_unreadable(shadow_m, surface):
    """A short shadow (a high sun) towards a quay: inside the fender gap it is the freeboard's; one
    that reaches the quay's face is cut there, so the part on the water is the gap's width whatever
    the freeboard, even where most of it lies on the water (here 2 of 2.6 m)."""
    ship = _empty_tanker()
    elevation = math.degrees(math.atan(ship.freeboard_m / shadow_m))  # sun in the south, hull east-west
    view = View(gsd_m=GSD, sun_azimuth_deg=180.0, sun_elevation_deg=elevation, view_azimuth_deg=0.0,
                view_zenith_deg=0.0)
    assert shadow_surfaces([ship], view, _quay_north_of(ship)) == [surface]


def test_an_unreadable_shadow_becomes_a_target_of_its_own():
    box = [50, 50, 40, 8, 0]
    on_quay = Vessel(box, VesselType.TANKER, LoadState.EMPTY, shadow_width_m=4.0, side_strip_m=2.0,
                     shadow_surface="structure")
    on_water = Vessel(box, VesselType.TANKER, LoadState.EMPTY, shadow_width_m=4.0, side_strip_m=2.0,
                      shadow_surface="water")
    widths = vessel_cue_widths([on_quay, on_water], 0.5)  # box widths of 4 m
    np.testing.assert_allclose(widths, [[UNREADABLE, 0.5], [1.0, 0.5]])
    assert cue_labelled(widths).tolist() == [True, True]
    assert cue_labelled(np.array([[UNREADABLE, -1.0]])).tolist() == [False]
    with pytest.raises(LabelError, match="shadow_surface"):
        Vessel(box, VesselType.TANKER, LoadState.EMPTY, shadow_surface="quay")
