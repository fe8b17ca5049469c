"""Hull render styles and randomised sensor optics: the same physics and labels in every style,
different looks, optics drawn per tile and recorded, ``--styles`` through the real CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.labels import LoadState
from tankerwatch.infer.synth.canvas import Canvas
from tankerwatch.infer.synth.effects import Atmosphere, Optics, apply_atmosphere, psf_kernel, sample_optics
from tankerwatch.infer.synth.hull_style_facet import clip_convex, plan_outline_m
from tankerwatch.infer.synth.hull_styles import HULL_STYLES
from tankerwatch.infer.synth.physics import ALL_CUES, View, sample_tanker, shadow_width_m, side_strip_width_m
from tankerwatch.infer.synth.vessels import DISTRACTOR_KINDS, ShipGeometry, make_ship

STYLES = list(HULL_STYLES)
WATER = (0.0, 1.0, 0.0)  # no paint of either style is pure green


def _tanker(fraction: float, centre=(200.0, 200.0), heading=0.0):
    rng = np.random.default_rng(7)
    spec = sample_tanker(rng, 100.0, LoadState.EMPTY if fraction < 0.5 else LoadState.LOADED).with_draft(fraction)
    ship = make_ship(rng, "x", "tanker", centre, heading, tanker=spec)
    ship.bulb_sighting = 1.0  # no bulb: these tests measure the hull
    return ship


@pytest.mark.parametrize("style", STYLES)
def test_each_style_draws_the_shadow_strip_physics_gives(style):
    """Nadir view, sun abeam from the south, bow east: the dark strip north of the hull amidships."""
    view = View(gsd_m=0.5, sun_azimuth_deg=180.0, sun_elevation_deg=30.0, view_azimuth_deg=0.0, view_zenith_deg=0.0)
    draw = HULL_STYLES[style]
    widths = {}
    for fraction in (0.0, 1.0):
        ship = _tanker(fraction)
        canvas = Canvas(400, 400, 3, fill=(0.5, 0.5, 0.5))
        draw.draw_shadow(canvas, ship, view, ALL_CUES)
        draw.draw_ship(canvas, ship, view, ALL_CUES)
        column = canvas.pixels[:, 190, 0]
        hull_edge = 200.0 - ship.beam_m / 2 / view.gsd_m
        water = column[: int(hull_edge)][::-1]
        dark = np.nonzero(water < 0.45)[0]
        widths[fraction] = (dark.max() + 1 if len(dark) else 0) + (hull_edge - int(hull_edge))
        expected = shadow_width_m(ship.freeboard_m, 30.0, 180.0, 90.0) / view.gsd_m
        assert widths[fraction] == pytest.approx(expected, abs=1.5), (style, fraction)
    assert widths[0.0] > widths[1.0] + 4


@pytest.mark.parametrize("style", STYLES)
def test_each_style_shows_the_hull_side_physics_gives(style):
    """Sensor 30 degrees off-nadir in the north, bow east, no shadow drawn: the hull spans its beam
    plus the side strip across the water, amidships."""
    view = View(gsd_m=0.5, sun_azimuth_deg=180.0, sun_elevation_deg=40.0, view_azimuth_deg=0.0, view_zenith_deg=30.0)
    spans = {}
    for fraction in (0.0, 1.0):
        ship = _tanker(fraction)
        canvas = Canvas(400, 400, 3, fill=WATER)
        HULL_STYLES[style].draw_ship(canvas, ship, view, ALL_CUES)
        painted = np.nonzero(np.abs(canvas.pixels[:, 190] - np.float32(WATER)).max(axis=1) > 1e-4)[0]
        spans[fraction] = painted.max() + 1 - painted.min()
        side_m = side_strip_width_m(ship.freeboard_m, 30.0, 0.0, 90.0)
        # Whole pixels counted: a partly covered pixel at each edge adds up to one.
        assert spans[fraction] == pytest.approx((ship.beam_m + side_m) / view.gsd_m + 1, abs=1.0), (style, fraction)
    assert spans[0.0] > spans[1.0] + 2  # 3.5 px more side in ballast


def test_styles_look_different_but_share_the_label():
    view = View(gsd_m=0.4, sun_azimuth_deg=150.0, sun_elevation_deg=35.0, view_azimuth_deg=250.0, view_zenith_deg=20.0)
    ship = _tanker(0.1, heading=0.5)
    drawn = {}
    for style, draw in HULL_STYLES.items():
        canvas = Canvas(400, 400, 3, fill=(0.2, 0.3, 0.35))
        draw.draw_shadow(canvas, ship, view, ALL_CUES)
        draw.draw_ship(canvas, ship, view, ALL_CUES)
        drawn[style] = canvas.pixels
    hull = np.zeros((400, 400), dtype=np.uint8)
    cv2.fillPoly(hull, [np.round(ShipGeometry(ship, view).deck - 0.5).astype(np.int32)], 1)
    difference = np.abs(drawn["default"] - drawn["facet"]).mean(axis=2)[hull > 0]
    assert difference.mean() > 0.08  # a different ship to look at, on the same hull


@pytest.mark.parametrize("seed", range(4))
def test_facet_style_stays_inside_the_label_box(seed):
    """Every pixel the facet style paints (hull, gear, house, funnel) lies in the default label box."""
    rng = np.random.default_rng(100 + seed)
    view = View(gsd_m=float(rng.uniform(0.3, 3.0)), sun_azimuth_deg=float(rng.uniform(130, 230)),
                sun_elevation_deg=float(rng.uniform(18, 67)), view_azimuth_deg=float(rng.uniform(0, 360)),
                view_zenith_deg=float(rng.uniform(0, 33)))
    for kind in ["tanker", *DISTRACTOR_KINDS]:
        heading = float(rng.uniform(0, 2 * math.pi))
        if kind == "tanker":
            spec = sample_tanker(rng, 150.0 * view.gsd_m, draft_fraction=float(rng.uniform(0, 1)))
            ship = make_ship(rng, "x", kind, (300.0, 300.0), heading, tanker=spec)
            ship.bulb_sighting = 1.0  # the bulb lies outside the box by convention (test_synth_physics)
        else:
            ship = make_ship(rng, "x", kind, (300.0, 300.0), heading,
                             length_m=100.0 * view.gsd_m if kind != "small" else None)
        canvas = Canvas(600, 600, 1, fill=(-1.0,))
        HULL_STYLES["facet"].draw_ship(canvas, ship, view, ALL_CUES)
        rows, cols = np.nonzero(canvas.pixels[..., 0] != -1.0)
        assert len(rows) > 0, kind
        cx, cy, length, width, angle = ShipGeometry(ship, view).box()
        d = np.stack([cols + 0.5 - cx, rows + 0.5 - cy], axis=1)
        along = np.abs(d @ [math.cos(angle), math.sin(angle)])
        across = np.abs(d @ [-math.sin(angle), math.cos(angle)])
        # Area-weighted coverage reaches pixels whose centres lie up to ~0.7 px beyond an edge.
        assert (along <= length / 2 + 0.75).all() and (across <= width / 2 + 0.75).all(), kind


@pytest.mark.parametrize("kind", ["tanker", *DISTRACTOR_KINDS])
def test_facet_outline_is_convex_and_spans_length_and_beam(kind):
    outline = plan_outline_m(kind, 100.0, 16.0, np.random.default_rng(3))
    assert outline[:, 0].max() == pytest.approx(50.0) and outline[:, 0].min() == pytest.approx(-50.0)
    assert np.abs(outline[:, 1]).max() == pytest.approx(8.0)
    edges = np.roll(outline, -1, axis=0) - outline
    following = np.roll(edges, -1, axis=0)
    turns = edges[:, 0] * following[:, 1] - edges[:, 1] * following[:, 0]
    assert (turns <= 1e-9).all() or (turns >= -1e-9).all()  # one turning sense: convex
    half = clip_convex(outline, np.array([[60, 0], [60, 10], [-60, 10], [-60, 0]]))
    assert half[:, 1].min() >= -1e-9 and len(half) >= 3


def test_psf_family_kernels_are_normalised_and_shaped_by_their_model():
    for psf, size in (("gaussian", 1.0), ("airy", 2.6), ("motion", 2.5)):
        kernel = psf_kernel(Optics(psf, size, 30.0, 1.0, (0.0,) * 4, 0.0, 0.0))
        assert kernel.shape[0] % 2 == 1 and kernel.sum() == pytest.approx(1.0, abs=1e-5)
        assert kernel.max() == kernel[kernel.shape[0] // 2, kernel.shape[1] // 2]
        np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-7)  # point-symmetric
    airy = psf_kernel(Optics("airy", 2.6, 0.0, 1.0, (0.0,) * 4, 0.0, 0.0))
    row = airy[airy.shape[0] // 2, airy.shape[1] // 2:]
    assert np.any(np.diff(row) > 0), "the Airy pattern's first bright ring"
    motion = psf_kernel(Optics("motion", 2.5, 0.0, 1.0, (0.0,) * 4, 0.0, 0.0))
    y, x = np.indices(motion.shape) - motion.shape[0] // 2
    assert (motion * x**2).sum() > 3 * (motion * y**2).sum()  # smeared along +x (0 degrees)


def _edge_canvas():
    canvas = Canvas(40, 40, 3, fill=(0.2, 0.2, 0.2))
    canvas.pixels[:, 20:] = 0.8
    return canvas


def _apply(optics: Optics, canvas: Canvas) -> np.ndarray:
    atmosphere = Atmosphere(seed=1, haze=0.0, cloud_cover=0.0, cloud_height_m=1000.0, blur_sigma_px=0.7,
                            noise_sigma=0.0, jpeg_quality=None, optics=optics)
    view = View(gsd_m=1.0, sun_azimuth_deg=180.0, sun_elevation_deg=40.0, view_azimuth_deg=0.0, view_zenith_deg=0.0)
    apply_atmosphere(canvas, atmosphere, view, np.random.default_rng(0))
    return canvas.pixels


def test_sharpening_overshoots_at_edges_and_pan_sharpening_fringes_keep_luminance():
    plain = _apply(Optics("gaussian", 0.8, 0.0, 1.0, (0.0,) * 4, 0.0, 0.0), _edge_canvas())
    sharp = _apply(Optics("gaussian", 0.8, 0.0, 1.0, (0.0,) * 4, 1.0, 1.5), _edge_canvas())
    assert plain.max() <= 0.8 + 1e-5 and sharp.max() > 0.85  # the light halo of an unsharp mask
    assert sharp.min() < 0.15  # ... and its dark one
    fringed = _apply(Optics("gaussian", 0.8, 0.0, 4.0, (1.0, 0.0, -1.0, 0.0), 0.0, 0.0), _edge_canvas())
    colour = fringed[..., 0] - fringed[..., 2]
    assert np.abs(colour[:, 17:23]).max() > 0.03  # red and blue part along the edge
    assert np.abs(colour[:, :8]).max() < 1e-4 and np.abs(colour[:, 32:]).max() < 1e-4  # grey far from it
    np.testing.assert_allclose(fringed.mean(axis=2), plain.mean(axis=2), atol=1e-5)  # luminance kept


def test_optics_are_drawn_per_seed_and_vary():
    assert sample_optics(np.random.default_rng(7)) == sample_optics(np.random.default_rng(7))
    drawn = [sample_optics(np.random.default_rng(s)) for s in range(60)]
    assert {o.psf for o in drawn} == {"gaussian", "airy", "motion"}
    assert any(o.pan_ratio > 1 for o in drawn) and any(o.pan_ratio == 1 for o in drawn)
    assert any(o.sharpen > 0 for o in drawn) and any(o.sharpen == 0 for o in drawn)
    again = [_apply(sample_optics(np.random.default_rng(3)), _edge_canvas()) for _ in range(2)]
    np.testing.assert_array_equal(again[0], again[1])


def _tiles(out: Path, styles: str) -> dict:
    assert main(["synth", "tiles", str(out), "--count", "6", "--size", "128", "--seed", "9", "--gsd", "0.5:1.5",
                 "--styles", styles]) == 0
    return json.loads((out / "manifest.json").read_text())


def test_styles_flag_draws_the_same_world_in_each_style_and_records_the_choice(tmp_path):
    one, other = _tiles(tmp_path / "default", "default"), _tiles(tmp_path / "facet", "facet")
    both = _tiles(tmp_path / "both", "default,facet")
    assert one["parameters"]["hull_styles"] == ["default"] and both["parameters"]["hull_styles"] == ["default", "facet"]
    assert {t["hull_style"] for t in one["tiles"]} == {"default"}
    assert {t["hull_style"] for t in other["tiles"]} == {"facet"}
    assert {t["hull_style"] for t in both["tiles"]} == {"default", "facet"}  # seed 9: both drawn
    for a, b, c in zip(one["tiles"], other["tiles"], both["tiles"], strict=True):
        assert a["vessels"] == b["vessels"] == c["vessels"] and a["view"] == b["view"]
        assert a["atmosphere"] == b["atmosphere"] == c["atmosphere"] and "optics" in a["atmosphere"]
    for split in ("train", "val", "test"):
        for label in sorted((tmp_path / "default" / split / "labelTxt").iterdir()):
            assert label.read_bytes() == (tmp_path / "facet" / split / "labelTxt" / label.name).read_bytes()
    image = "train/images/synth_000000.png"
    a = cv2.imread(str(tmp_path / "default" / image)).astype(np.float32)
    b = cv2.imread(str(tmp_path / "facet" / image)).astype(np.float32)
    assert np.abs(a - b).max() > 60  # the vessels differ ...
    mixed = cv2.imread(str(tmp_path / "both" / image)).astype(np.float32)
    style = both["tiles"][0]["hull_style"]
    np.testing.assert_array_equal(mixed, a if style == "default" else b)  # ... and a mixed set picks one


@pytest.mark.parametrize("styles", ["default,cartoon", "facet,facet", ""])
def test_bad_styles_fail_with_one_clear_line(tmp_path, capsys, styles):
    with pytest.raises(SystemExit) as exc:
        main(["synth", "tiles", str(tmp_path / "x"), "--styles", styles])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--styles" in err[-1] and "styles must be a comma-separated list of default, facet" in err[-1]
    assert not (tmp_path / "x").exists()


def test_an_ideal_sensor_draws_the_same_tiles_without_atmosphere_blur_noise_or_jpeg(tmp_path):
    """``--sensor ideal`` (a benchmark aid) keeps every vessel, view and label of the seed and
    leaves out haze, clouds, the point-spread function, noise, sharpening and JPEG."""
    out = tmp_path / "ideal"
    assert main(["synth", "tiles", str(out), "--count", "6", "--size", "128", "--seed", "9", "--gsd", "0.5:1.5",
                 "--format", "dota", "--sensor", "ideal"]) == 0
    ideal = json.loads((out / "manifest.json").read_text())
    random = _tiles(tmp_path / "random", "default,facet")
    assert ideal["parameters"]["sensor"] == "ideal" and random["parameters"]["sensor"] == "random"
    assert "perfect sensor" in (out / "README.md").read_text()
    for a, b in zip(ideal["tiles"], random["tiles"], strict=True):
        assert a["vessels"] == b["vessels"] and a["view"] == b["view"] and a["hull_style"] == b["hull_style"]
        assert a["atmosphere"]["noise_sigma"] == 0 and a["atmosphere"]["jpeg_quality"] is None
        assert a["atmosphere"]["haze"] == 0 and a["atmosphere"]["cloud_cover"] == 0 and "optics" not in a["atmosphere"]
    image = "train/images/synth_000000.png"
    flat = cv2.imread(str(out / image)).astype(np.float32)
    noisy = cv2.imread(str(tmp_path / "random" / image)).astype(np.float32)
    assert np.abs(flat - noisy).max() > 10
    # Open water away from everything: a perfect sensor shows its texture only, no pixel noise.
    assert np.abs(np.diff(flat[:8, :8], axis=1)).mean() < np.abs(np.diff(noisy[:8, :8], axis=1)).mean()


def test_an_unknown_sensor_fails_with_one_clear_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["synth", "tiles", str(tmp_path / "x"), "--sensor", "perfect"])
    assert exc.value.code == 2
    assert "--sensor" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "x").exists()
