"""The generator's physics and drawing: cue widths, label boxes over the drawn pixels, seamless noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from tankerwatch.infer.core.boxes import box_corners
from tankerwatch.infer.core.labels import LoadState
from tankerwatch.infer.synth.canvas import Canvas, value_noise
from tankerwatch.infer.synth.physics import (
    View,
    heading_to_azimuth_deg,
    sample_tanker,
    shadow_width_m,
    side_strip_width_m,
)
from tankerwatch.infer.synth.vessels import DISTRACTOR_KINDS, ShipGeometry, draw_shadow, draw_ship, make_ship


def _inside(box, points, tol):
    """Whether points [N, 2] lie in the box grown by ``tol`` pixels on every side."""
    cx, cy, length, width, angle = box
    u = np.array([math.cos(angle), math.sin(angle)])
    v = np.array([-math.sin(angle), math.cos(angle)])
    d = points - [cx, cy]
    return (np.abs(d @ u) <= length / 2 + tol) & (np.abs(d @ v) <= width / 2 + tol)


def test_cue_widths_follow_reference_formulas():
    # docs/physics.md: Aframax, freeboard difference about 7 m, sun 30 deg abeam -> about 12 m of shadow.
    assert shadow_width_m(7.0, 30.0, 180.0, 90.0) == pytest.approx(12.12, abs=0.01)
    assert shadow_width_m(7.0, 30.0, 90.0, 90.0) == pytest.approx(0.0, abs=1e-9)  # pointing at the sun
    assert side_strip_width_m(10.0, 33.0, 0.0, 90.0) == pytest.approx(10 * math.tan(math.radians(33)))
    assert side_strip_width_m(10.0, 0.0, 0.0, 90.0) == 0.0  # nadir: only the shadow tells
    assert heading_to_azimuth_deg(0.0) == pytest.approx(90.0)  # +x is east in a north-up image
    assert heading_to_azimuth_deg(-math.pi / 2) == pytest.approx(0.0)


@pytest.mark.parametrize("heading", [0.0, 0.7, 2.0, 4.0])
def test_geometry_shifts_match_the_cue_widths(heading):
    rng = np.random.default_rng(1)
    view = View(gsd_m=0.5, sun_azimuth_deg=160.0, sun_elevation_deg=25.0, view_azimuth_deg=300.0,
                view_zenith_deg=25.0)
    ship = make_ship(rng, "x", "tanker", (500.0, 500.0), heading, tanker=sample_tanker(rng, 120.0))
    geom = ShipGeometry(ship, view)
    hull_az = heading_to_azimuth_deg(heading)
    normal = geom.v
    side_px = abs(geom.deck_shift @ normal)
    assert side_px * view.gsd_m == pytest.approx(
        side_strip_width_m(ship.freeboard_m, view.view_zenith_deg, view.view_azimuth_deg, hull_az), rel=1e-9)
    shadow_px = abs(view.shadow_shift_px(ship.freeboard_m) @ normal)
    assert shadow_px * view.gsd_m == pytest.approx(
        shadow_width_m(ship.freeboard_m, view.sun_elevation_deg, view.sun_azimuth_deg, hull_az), rel=1e-9)


def test_empty_tanker_rides_higher_and_shows_wider_shadow_in_pixels():
    """Same hull, nadir view, sun abeam: measure the dark strip beside the hull on the water."""
    view = View(gsd_m=0.5, sun_azimuth_deg=180.0, sun_elevation_deg=30.0, view_azimuth_deg=0.0,
                view_zenith_deg=0.0)
    widths = {}
    for load, fraction in ((LoadState.EMPTY, 0.0), (LoadState.LOADED, 1.0)):
        rng = np.random.default_rng(7)
        spec = sample_tanker(rng, 100.0, load).with_draft(fraction)
        ship = make_ship(rng, "x", "tanker", (200.0, 200.0), 0.0, tanker=spec)  # bow east, sun south
        canvas = Canvas(400, 400, 3, fill=(0.5, 0.5, 0.5))
        draw_shadow(canvas, ship, view)
        draw_ship(canvas, ship, view)
        column = canvas.pixels[:, 190, 0]  # amidships, across the hull
        hull_edge = 200.0 - ship.beam_m / 2 / view.gsd_m  # sun in the south: the shadow falls north (-y)
        water = column[: int(hull_edge)][::-1]  # walking north from the hull's edge
        dark = np.nonzero(water < 0.45)[0]
        widths[load] = (dark.max() + 1 if len(dark) else 0) + (hull_edge - int(hull_edge))
        expected = shadow_width_m(spec.freeboard_m, 30.0, 180.0, 90.0) / view.gsd_m
        assert widths[load] == pytest.approx(expected, abs=1.5)
    assert widths[LoadState.EMPTY] > widths[LoadState.LOADED] + 4


def test_loading_a_tanker_lowers_its_freeboard_and_hides_the_red_band():
    rng = np.random.default_rng(3)
    ship = make_ship(rng, "x", "tanker", (0.0, 0.0), 0.0, tanker=sample_tanker(rng, 110.0, draft_fraction=0.0))
    empty_freeboard, empty_band = ship.freeboard_m, ship.antifouling_m
    ship.tanker = ship.tanker.with_draft(1.0)
    assert ship.load is LoadState.LOADED and ship.antifouling_m == 0.0 < empty_band
    # docs/physics.md, small coastal: about 3-6 m of freeboard in ballast, 1-2.5 m laden.
    assert 3.0 <= empty_freeboard <= 6.0 and 1.0 <= ship.freeboard_m <= 2.5


@pytest.mark.parametrize("seed", range(6))
def test_label_box_holds_every_drawn_hull_pixel_and_leaves_the_bulb_out(seed):
    rng = np.random.default_rng(seed)
    view = View(gsd_m=float(rng.uniform(0.3, 3.0)), sun_azimuth_deg=float(rng.uniform(130, 230)),
                sun_elevation_deg=float(rng.uniform(18, 67)), view_azimuth_deg=float(rng.uniform(0, 360)),
                view_zenith_deg=float(rng.uniform(0, 33)))
    kinds = ["tanker", *DISTRACTOR_KINDS]
    for kind in kinds:
        centre = (300.0, 300.0)
        heading = float(rng.uniform(0, 2 * math.pi))
        if kind == "tanker":
            spec = sample_tanker(rng, 150.0 * view.gsd_m, draft_fraction=0.0)
            ship = make_ship(rng, "x", kind, centre, heading, tanker=spec, moving=seed % 2 == 0)
            ship.bulb_sighting = 0.0  # in ballast, seen whenever it breaks the surface
        else:
            ship = make_ship(rng, "x", kind, centre, heading, length_m=100.0 * view.gsd_m if kind != "small" else None)
        canvas = Canvas(600, 600, 1)
        draw_ship(canvas, ship, view)
        rows, cols = np.nonzero(canvas.pixels[..., 0] > 0.02)
        assert len(rows) > 0, kind
        centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
        geometry = ShipGeometry(ship, view)
        box = geometry.box()
        # Anti-aliasing touches pixels whose centres lie up to ~0.7 px beyond an edge.
        outside = centres[~_inside(box, centres, tol=0.75)]
        extras = [p for p in (geometry.bulb(), geometry.bulb_foam()) if p is not None]
        if extras:
            bulb = shapely.MultiPoint(np.concatenate(extras)).convex_hull.buffer(0.75)
            assert shapely.contains_xy(bulb, outside[:, 0], outside[:, 1]).all(), kind
            nose = (np.concatenate(extras) - box[:2]) @ geometry.u
            assert nose.max() > box[2] / 2 + 0.5, "the shown bulb lies ahead of the box"
        else:
            assert len(outside) == 0, kind
        assert box_corners(box).shape == (4, 2)


def test_value_noise_is_the_same_wherever_the_window_is_cut():
    whole = value_noise(5, (0, 0), 64, 96, cell_px=7.3)
    part = value_noise(5, (40, 24), 30, 50, cell_px=7.3)
    np.testing.assert_allclose(part, whole[24:54, 40:90], atol=1e-6)
    assert not np.allclose(value_noise(6, (0, 0), 64, 96, cell_px=7.3), whole)
