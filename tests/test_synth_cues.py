"""The generator shows load state only through freeboard, and renders counterfactuals: the same
world with load-state cues switched off (issue 18)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import cv2
import numpy as np
import pytest
from scipy import stats

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.boxes import box_corners
from tankerwatch.infer.evaluation.colour_baseline import balanced_accuracy
from tankerwatch.infer.synth.canvas import Canvas
from tankerwatch.infer.synth.physics import (
    ALL_CUES,
    CUES,
    View,
    heading_to_azimuth_deg,
    parse_cues,
    sample_tanker,
    side_strip_width_m,
    visible_shadow_width_m,
)
from tankerwatch.infer.synth.tiles import TileSettings, compose_tile, render_tile
from tankerwatch.infer.synth.vessels import ShipGeometry, draw_ship, draw_wake, make_ship, to_label

SIZE = 256
N_TILES = 300  # about 650 tankers


@pytest.fixture(scope="module")
def tankers() -> list[dict]:
    """Every tanker of N_TILES composed tiles (nothing drawn) with what the picture shows of it."""
    settings = TileSettings(SIZE)
    found = []
    for index in range(N_TILES):
        world = compose_tile(21, index, settings)
        for ship in world.ships:
            if ship.kind != "tanker":
                continue
            geometry = ShipGeometry(ship, world.view)
            found.append({"ship": ship, "view": world.view, "geometry": geometry, "label": to_label(ship, world.view),
                          "empty": ship.load.value == "empty", "terminal": world.scene_kind == "terminal",
                          "cloud_spot": any(np.allclose(c, ship.centre) for c, _ in world.atmosphere.shadow_spots)})
    return found


def _fit_one_feature(values: np.ndarray, truth: np.ndarray):
    """The best one-feature rule on these samples: per category for a discrete feature (the state
    it is over-represented in), a threshold either way for a continuous one."""
    if values.dtype.kind in "bUO" or len(np.unique(values)) <= 12:
        over = {v: truth[values == v].mean() > truth.mean() for v in np.unique(values)}
        return lambda x: np.array([over.get(v, False) for v in x], dtype=np.int64)
    best, rule = 0.5, lambda x: np.zeros(len(x), np.int64)
    for cut in np.unique(values)[1:]:
        for sign in (1, -1):
            score = balanced_accuracy(truth, (sign * values >= sign * cut).astype(np.int64))
            if score > best:
                best, rule = score, (lambda c, s: lambda x: (s * x >= s * c).astype(np.int64))(cut, sign)
    return rule


def _single_feature_accuracy(values, empty: np.ndarray) -> float:
    """Balanced accuracy of the best one-feature classifier of the load state, two-fold: fitted on
    every other tanker and scored on the rest, both ways, so a feature that carries nothing scores
    about 0.5 and not the best of many cuts."""
    values, truth = np.asarray(values), empty.astype(np.int64)
    folds = np.arange(len(values)) % 2 == 0
    scores = [balanced_accuracy(truth[~fit], _fit_one_feature(values[fit], truth[fit])(values[~fit]))
              for fit in (folds, ~folds)]
    return float(np.mean(scores))


def test_tiles_hold_part_loaded_tankers_across_the_whole_range(tankers):
    drafts = np.array([t["ship"].tanker.draft_fraction for t in tankers])
    assert len(drafts) >= 300
    assert drafts.min() < 0.05 and drafts.max() > 0.95
    between = (drafts > 0.3) & (drafts < 0.75)  # neither near ballast nor near laden
    assert 0.1 < between.mean() < 0.3
    assert all((t["ship"].tanker.draft_fraction < 0.5) == t["empty"] for t in tankers)


def test_box_length_is_the_hulls_whatever_the_load(tankers):
    empty = np.array([t["empty"] for t in tankers])
    gsd = np.array([t["view"].gsd_m for t in tankers])
    length = np.array([t["ship"].length_m for t in tankers])
    ratio = np.array([t["label"].box[2] for t in tankers]) * gsd / length
    print(f"box length / hull length, median: empty {np.median(ratio[empty]):.4f} ({empty.sum()}), "
          f"loaded {np.median(ratio[~empty]):.4f} ({(~empty).sum()})")
    assert abs(np.median(ratio[empty]) / np.median(ratio[~empty]) - 1) < 0.01
    # Off-nadir the box also holds the ends of the hull side, freeboard x tan(zenith) along the
    # axis (a freeboard cue, as the side is); without them the two states must not differ at all.
    side_ends = np.array([abs(t["geometry"].deck_shift @ t["geometry"].u) for t in tankers])
    hull = (np.array([t["label"].box[2] for t in tankers]) - side_ends) * gsd / length
    assert stats.ks_2samp(hull[empty], hull[~empty]).pvalue > 0.05
    assert stats.mannwhitneyu(hull[empty], hull[~empty]).pvalue > 0.05
    # Seen from straight above the box is the hull, exactly: no bulb, foam or wake in it.
    for t in tankers:
        nadir = to_label(t["ship"], replace(t["view"], view_zenith_deg=0.0))
        assert nadir.box[2] * t["view"].gsd_m == pytest.approx(t["ship"].length_m, rel=1e-9)


def test_no_drawn_attribute_but_freeboard_tells_the_load(tankers):
    empty = np.array([t["empty"] for t in tankers])
    assert 0.3 < empty.mean() < 0.7

    def paint(part, how):
        return [how(t["ship"].paint[part][:3]) for t in tankers]

    attributes = {
        "bulb shown": [t["ship"].bulb_shown for t in tankers],
        "under way (wake, bow wave, foam)": [t["ship"].moving for t in tankers],
        "foam round the bulb": [t["geometry"].bulb_foam() is not None for t in tankers],
        "berthed": [t["ship"].berthed for t in tankers],
        "terminal tile": [t["terminal"] for t in tankers],
        "cloud shadow on it": [t["cloud_spot"] for t in tankers],
        "size class": [t["ship"].tanker.size_class for t in tankers],
        "length": [t["ship"].length_m for t in tankers],
        "house height": [t["ship"].house_height_m for t in tankers],
        "hull brightness": paint("hull", np.mean), "hull redness": paint("hull", lambda c: c[0] - c[2]),
        "deck brightness": paint("deck", np.mean), "deck redness": paint("deck", lambda c: c[0] - c[2]),
        "house brightness": paint("house", np.mean), "antifouling": paint("antifouling", np.mean),
        "distance from the tile's centre": [np.hypot(*(t["ship"].centre - SIZE / 2)) for t in tankers],
        "heading": [t["ship"].heading % math.pi for t in tankers],
        "GSD": [t["view"].gsd_m for t in tankers],
    }
    scores = {name: _single_feature_accuracy(values, empty) for name, values in attributes.items()}
    print("one-feature balanced accuracy (two-fold): " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    assert max(scores.values()) <= 0.6, scores
    # Freeboard itself does tell (relative to depth; the point of the generator), so the check can fail.
    freeboard_share = [t["ship"].freeboard_m / t["ship"].tanker.depth_m for t in tankers]
    assert _single_feature_accuracy(freeboard_share, empty) > 0.9


def test_bulb_breaks_the_surface_only_near_ballast_and_trim_is_by_the_stern():
    rng = np.random.default_rng(0)
    specs = [sample_tanker(rng, 350.0) for _ in range(2000)]
    for spec in specs:
        assert spec.trim_m >= 0 and spec.bow_draft_m <= spec.draft_m
        assert spec.with_draft(1.0).trim_m == 0.0
    clears = np.array([s.bulb_clearance_m > 0 for s in specs])
    drafts = np.array([s.draft_fraction for s in specs])
    assert clears[drafts < 0.1].mean() > 0.5 and not clears[drafts >= 0.5].any()
    assert clears[(drafts > 0.2) & (drafts < 0.5)].any(), "some part-loaded hulls show their bulb too"


def _bulb_tanker(moving: bool):
    rng = np.random.default_rng(4)
    spec = sample_tanker(rng, 100.0, draft_fraction=0.0)
    assert spec.bulb_emerged > 0.3
    ship = make_ship(rng, "x", "tanker", (150.0, 150.0), 0.4, tanker=spec, moving=moving)
    ship.bulb_sighting = 0.0
    return ship


@pytest.mark.parametrize("moving", [False, True])
def test_foam_and_bow_waves_only_on_ships_under_way(moving):
    view = View(gsd_m=1.0, sun_azimuth_deg=180.0, sun_elevation_deg=40.0, view_azimuth_deg=0.0, view_zenith_deg=0.0)
    ship = _bulb_tanker(moving)
    canvas = Canvas(300, 300, 3, fill=(0.1, 0.15, 0.2))
    draw_wake(canvas, ship, view)
    draw_ship(canvas, ship, view)
    changed = np.abs(canvas.pixels - np.array([0.1, 0.15, 0.2], np.float32)).max(axis=2) > 0.01
    hull = np.zeros((300, 300), np.uint8)
    geometry = ShipGeometry(ship, view)
    shapes = [box_corners(geometry.box()), cv2.convexHull(geometry.bulb().astype(np.float32)).reshape(-1, 2)]
    cv2.fillPoly(hull, [np.round(p * 16).astype(np.int32) for p in shapes], 1, shift=4)
    hull = cv2.dilate(hull, np.ones((3, 3), np.uint8))
    outside = int((changed & (hull == 0)).sum())
    if moving:
        assert outside > 100  # wake astern, bow wave, foam round the bulb
    else:
        assert outside == 0


def test_berthed_and_anchored_ships_lie_still(tankers):
    for t in tankers:
        assert not (t["ship"].berthed and t["ship"].moving)
        assert (t["geometry"].bulb_foam() is not None) <= t["ship"].moving


def test_cue_spellings():
    assert parse_cues("all") == ALL_CUES == parse_cues("shadow,side,bow") == parse_cues("bow, SIDE,shadow")
    assert parse_cues("none") == frozenset()
    assert parse_cues("side") == {"side"}
    for bad in ("", "shadows", "side,side", "all,bow", "none,side"):
        with pytest.raises(ValueError, match="cues must be"):
            parse_cues(bad)


def _near_tankers(world, cues_changed_reach_px: float) -> np.ndarray:
    """Pixels within ``cues_changed_reach_px`` of any tanker's hull, bulb or hull shadow."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    for ship in world.ships:
        if ship.kind != "tanker":
            continue
        g = ShipGeometry(ship, world.view)
        shadow = [p for p in g.shadow_polygons()]
        for poly in [box_corners(g.box()), g.drawn_points(), *shadow]:
            hull = cv2.convexHull(np.asarray(poly, np.float32)).reshape(-1, 2)
            cv2.fillPoly(mask, [np.round(hull * 16).astype(np.int32)], 1, shift=4)
    size = int(2 * cues_changed_reach_px + 1)
    return cv2.dilate(mask, np.ones((size, size), np.uint8)).astype(bool)


def test_switching_a_cue_off_changes_pixels_only_round_tankers():
    changed_by = {cue: 0 for cue in CUES}
    settings = TileSettings(SIZE, gsd_range=(0.5, 1.5))
    indices = list(range(6))
    # A tile whose tanker shows its bulb, so switching the bow off has something to remove.
    indices.append(next(i for i in range(6, 200) if any(s.bulb_shown for s in compose_tile(8, i, settings).ships)))
    for index in indices:
        full, world = render_tile(8, index, settings)
        # Blur (sigma <= 1 px) and JPEG blocks (16 px for the subsampled colour) spread a change
        # this far at most: a change at a block's edge reaches across the block (20 px, seen on a
        # bright quay beside a berthed hull).
        near = _near_tankers(world, cues_changed_reach_px=20)
        for cue in CUES:
            image, other = render_tile(8, index, replace(settings, cues=ALL_CUES - {cue}))
            assert [to_label(s, other.view).box.tolist() for s in other.ships] == \
                [to_label(s, world.view).box.tolist() for s in world.ships]
            differs = (image != full).any(axis=2)
            assert not differs[~near].any(), (index, cue)
            changed_by[cue] += int(differs.sum())
    assert all(n > 0 for n in changed_by.values()), changed_by


def test_cli_counterfactual_tiles_keep_labels_and_record_cues(tmp_path):
    runs = {}
    for name, cues in (("all", "all"), ("no_shadow", "side,bow"), ("none", "none")):
        out = tmp_path / name
        assert main(["synth", "tiles", str(out), "--count", "6", "--size", "128", "--seed", "5", "--cues", cues]) == 0
        runs[name] = out
    labels = {name: sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*.txt"))
              for name, out in runs.items()}
    assert labels["all"] and labels["all"] == labels["no_shadow"] == labels["none"]
    manifests = {name: json.loads((out / "manifest.json").read_text()) for name, out in runs.items()}
    assert manifests["all"]["parameters"]["cues"] == ["shadow", "side", "bow"]
    assert manifests["no_shadow"]["parameters"]["cues"] == ["side", "bow"]
    assert manifests["none"]["parameters"]["cues"] == []
    for tile_all, tile_none in zip(manifests["all"]["tiles"], manifests["none"]["tiles"], strict=True):
        assert tile_all["view"] == tile_none["view"]
        view = View(**tile_all["view"])
        for v_all, v_none in zip(tile_all["vessels"], tile_none["vessels"], strict=True):
            assert v_all["box_px"] == v_none["box_px"] and v_all["freeboard_m"] == v_none["freeboard_m"]
            heading = v_all["box_px"][4]  # the bow direction is the box angle or opposite: same widths
            hull_az = heading_to_azimuth_deg(heading)
            assert v_all["shadow_width_m"] == pytest.approx(visible_shadow_width_m(
                v_all["freeboard_m"], v_all["freeboard_m"], view, hull_az), rel=5e-3, abs=5e-3)
            assert v_all["side_strip_m"] == pytest.approx(side_strip_width_m(
                v_all["freeboard_m"], view.view_zenith_deg, view.view_azimuth_deg, hull_az), rel=5e-3, abs=5e-3)
            if v_all["kind"] == "tanker":
                assert v_none["shadow_width_m"] == v_none["side_strip_m"] == 0.0 and not v_none["bulb_drawn"]
            else:  # distractors keep their cues
                assert v_none["shadow_width_m"] == v_all["shadow_width_m"]
    assert "Load-state cues drawn on tankers: none" in (runs["none"] / "README.md").read_text()


def test_scene_counterfactual_keeps_truth_and_records_cues(tmp_path):
    paths = {}
    for cues in ("all", "none"):
        paths[cues] = tmp_path / cues / "s.tif"
        assert main(["synth", "scene", str(paths[cues]), "--size", "400", "--gsd", "1", "--seed", "3",
                     "--cues", cues]) == 0
    truth = {cues: json.loads(path.with_name("s.truth.geojson").read_text()) for cues, path in paths.items()}
    assert truth["all"]["tankerwatch"]["synthetic"]["cues"] == ["shadow", "side", "bow"]
    assert truth["none"]["tankerwatch"]["synthetic"]["cues"] == []
    features = {cues: t["features"] for cues, t in truth.items()}
    assert [f["geometry"] for f in features["all"]] == [f["geometry"] for f in features["none"]]
    tankers = [f["properties"] for f in features["none"] if f["properties"]["type"] == "tanker"]
    assert tankers and all(p["shadow_width_m"] == p["side_strip_m"] == 0.0 and p["freeboard_m"] > 0 for p in tankers)


def test_the_load_stage_puts_each_shadow_on_the_side_the_generator_draws_it():
    """``cue_sides`` (which side of a box the load stage reads the shadow on, from the scene's
    angles) agrees with the pixels: the same tile rendered with and without shadows differs on
    that side of each tanker whose shadow shows beside its midbody (and no neighbour's falls there)."""
    torch = pytest.importorskip("torch")
    from tankerwatch.models.freeboard import cue_directions, cue_sides

    settings = TileSettings(SIZE, gsd_range=(0.5, 1.0))
    checked = 0
    for index in range(40):
        full, world = render_tile(4, index, settings)
        image, _ = render_tile(4, index, replace(settings, cues=ALL_CUES - {"shadow"}))
        darker = (image.astype(np.int32) - full.astype(np.int32)).sum(axis=2) > 6
        view = world.view
        row = torch.tensor([[view.gsd_m, view.sun_elevation_deg, view.sun_azimuth_deg, view.view_zenith_deg,
                             view.view_azimuth_deg]], dtype=torch.float64)
        jj, ii = np.mgrid[0:SIZE, 0:SIZE]
        boxes = [to_label(ship, view).box for ship in world.ships]
        for ship, box in zip(world.ships, boxes, strict=True):
            label = to_label(ship, view)
            alone = all(other is box or np.hypot(*(other[:2] - box[:2])) > 0.6 * box[2] for other in boxes)
            if ship.kind != "tanker" or not alone or not (label.shadow_width_m or 0) >= 2 * view.gsd_m:
                continue
            along = (ii + 0.5 - box[0]) * math.cos(box[4]) + (jj + 0.5 - box[1]) * math.sin(box[4])
            across = -(ii + 0.5 - box[0]) * math.sin(box[4]) + (jj + 0.5 - box[1]) * math.cos(box[4])
            strip_px = label.shadow_width_m / view.gsd_m
            beside = darker & (np.abs(along) < 0.3 * box[2]) & (np.abs(across) < 0.5 * box[3] + strip_px + 1)
            if beside.sum() < 10:
                continue
            side = cue_sides(torch.from_numpy(np.asarray(box, np.float64)).view(1, 1, 5), cue_directions(row))
            assert float(side[0, 0, 0]) == np.sign(across[beside].mean()), index
            checked += 1
    assert checked >= 10
