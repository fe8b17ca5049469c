"""`tankerwatch synth scene` and `synth series`: georeferencing, truth files, streaming, event logs."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import CRS

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.boxes import box_corners
from tankerwatch.infer.core.georef import WGS84, pixels_to_lonlat
from tankerwatch.infer.core.labels import SHADOW_SURFACES
from tankerwatch.infer.report.events import EVENTS_CSV_COLUMNS
from tankerwatch.infer.report.inputs import read_aoi
from tankerwatch.infer.report.sts import read_berths
from tankerwatch.infer.runtime.detection_file import read_detection_file
from tankerwatch.infer.runtime.raster import inspect_raster
from tankerwatch.infer.synth.aoi import aoi_features
from tankerwatch.infer.synth.background import Berth, Layout
from tankerwatch.infer.synth.physics import (
    View,
    heading_to_azimuth_deg,
    side_strip_width_m,
    visible_shadow_width_m,
)
from tankerwatch.infer.synth.scene import SceneSettings, compose_scene, render_window, scene_transform
from tankerwatch.infer.synth.tiles import UTM_CRS, grid_north_deg

SCENE = 1100  # crosses a 1024-pixel window boundary


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scene") / "vostochny.tif"
    assert main(["synth", "scene", str(path), "--size", str(SCENE), "--gsd", "1.5", "--seed", "2",
                 "--acquired", "2024-05-02T02:10:00Z"]) == 0
    return path


def test_scene_is_a_tiled_georeferenced_geotiff_at_vostochny(scene):
    info = inspect_raster(scene)
    assert (info.width, info.height, info.count, info.dtype) == (SCENE, SCENE, 3, "uint8")
    assert CRS.from_user_input(info.crs).to_epsg() == 32653
    assert info.gsd_m == pytest.approx(1.5, rel=1e-3)
    assert info.acquired == "2024-05-02T02:10:00Z"
    lon, lat = pixels_to_lonlat(info.crs, info.transform, [[SCENE / 2, SCENE / 2]])[0]
    assert lon == pytest.approx(133.07, abs=1e-4) and lat == pytest.approx(42.75, abs=1e-4)
    with rasterio.open(scene) as ds:
        assert ds.profile["tiled"] and ds.profile["compress"] == "deflate"


def test_scene_is_a_cloud_optimised_geotiff(scene):
    """512 px tiles, average overviews down to one tile, in COG layout (GDAL writes LAYOUT=COG only
    for a file with the COG structure: header and overview IFDs first, tiles in order)."""
    with rasterio.open(scene) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.block_shapes == [(512, 512)] * 3
        assert ds.overviews(1) == [2, 4]  # 1,100 px: 550, then 275 (under one tile)
        assert ds.tags()["ACQUISITION_DATETIME"] == "2024-05-02T02:10:00Z"
        full = ds.read(1).astype(float)
        half = ds.read(1, out_shape=(550, 550))  # served by the 2x overview
    expected = full.reshape(550, 2, 550, 2).mean(axis=(1, 3))
    assert np.abs(half - expected).max() <= 1.0  # an area average, not a decimation


def test_truth_geojson_round_trips_to_the_raster_georeferencing(scene):
    truth = read_detection_file(scene.with_name("vostochny.truth.geojson"))
    info = inspect_raster(scene)
    assert truth.header["acquired"] == "2024-05-02T02:10:00Z" and truth.georeferenced
    assert truth.detections
    types = set()
    for det, polygon, props in zip(truth.detections, truth.polygons, truth.properties, strict=True):
        box = det.box_px.copy()
        corners = box_corners(box)
        assert (corners >= 0).all() and (corners <= SCENE).all()
        ring = np.asarray(polygon.exterior.coords)[:4]
        expected = pixels_to_lonlat(info.crs, info.transform, corners)
        # The ring holds the same four corners (its start and direction are the file's).
        for point in expected:
            assert np.min(np.abs(ring - point).max(axis=1)) < 2e-7
        assert props["truth"] is True and props["vessel_id"]
        if det.vessel_type == "tanker":
            assert (props["draft_fraction"] < 0.5) == (det.load == "empty")
            assert det.p_loaded == (1.0 if det.load == "loaded" else 0.0)
            assert props["length_m"] >= 59
        else:
            assert det.load == "unknown" and props["draft_fraction"] is None
        types.add(det.vessel_type)
    assert types == {"tanker", "other"}


def test_scene_records_its_angles_and_each_tankers_freeboard_cues(scene):
    truth = read_detection_file(scene.with_name("vostochny.truth.geojson"))
    view = truth.header["synthetic"]["view"]
    assert truth.header["synthetic"]["cues"] == ["shadow", "side", "bow"]
    with rasterio.open(scene) as ds:
        tags, north = ds.tags(), grid_north_deg(ds.crs, ds.transform, ds.width)
    # The tags are compass bearings: the drawn (grid) azimuths plus the grid convergence.
    for tag, key, offset in (("SUN_ELEVATION", "sun_elevation_deg", 0.0), ("SUN_AZIMUTH", "sun_azimuth_deg", north),
                             ("VIEW_ZENITH", "view_zenith_deg", 0.0), ("VIEW_AZIMUTH", "view_azimuth_deg", north)):
        assert (float(tags[tag]) - view[key] - offset + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=1e-3)
    tankers = [(det, props) for det, props in zip(truth.detections, truth.properties, strict=True)
               if det.vessel_type == "tanker"]
    assert tankers
    for det, props in tankers:
        hull_az = heading_to_azimuth_deg(det.box_px[4])  # the box axis: bow or stern, the same widths
        assert props["shadow_width_m"] == pytest.approx(visible_shadow_width_m(
            props["freeboard_m"], props["freeboard_m"], View(**view), hull_az), rel=5e-3, abs=5e-3)
        assert props["side_strip_m"] == pytest.approx(side_strip_width_m(
            props["freeboard_m"], view["view_zenith_deg"], view["view_azimuth_deg"], hull_az), rel=5e-3, abs=5e-3)
        assert props["shadow_surface"] in SHADOW_SURFACES


def test_scene_windows_show_every_vessel_inside_its_box(scene):
    """The file equals window-by-window drawing, and removing the vessels changes each box."""
    settings = SceneSettings(size=SCENE, gsd_m=1.5)
    world = compose_scene(2, settings)
    with rasterio.open(scene) as ds:
        stored = ds.read(window=((0, 1024), (0, 1024)))
    bounds = np.array([[0, 0, SCENE, SCENE]] * len(world.ships), dtype=float)
    redrawn = render_window(world, 2, 0, 0, 1024, 1024, 3, bounds)
    np.testing.assert_array_equal(np.moveaxis(stored, 0, 2), np.round(np.clip(redrawn, 0, 1) * 255))
    empty = render_window(replace(world, ships=[]), 2, 0, 0, 1024, 1024, 3, bounds[:0])
    changed = np.abs(redrawn - empty).max(axis=2) > 0.02
    truth = read_detection_file(scene.with_name("vostochny.truth.geojson"))
    for det in truth.detections:
        cx, cy = det.box_px[:2]
        if cx < 1020 and cy < 1020:
            assert changed[int(cy), int(cx)] or changed[int(cy) - 2:int(cy) + 3, int(cx) - 2:int(cx) + 3].mean() > 0.5


def test_same_seed_same_scene_bytes(tmp_path):
    paths = []
    for name in ("a", "b"):
        path = tmp_path / name / "s.tif"
        assert main(["synth", "scene", str(path), "--size", "300", "--gsd", "2", "--seed", "9"]) == 0
        paths.append(path)
    for suffix in (".tif", ".truth.geojson", ".truth.csv"):
        a, b = (p.with_name("s" + suffix).read_bytes() for p in paths)
        assert a == b, suffix


@pytest.mark.parametrize("args, message", [
    (["--gsd", "50"], "--gsd must be between"),
    (["--size", "100"], "--size must be between"),
])
def test_scene_bad_arguments(tmp_path, capsys, args, message):
    assert main(["synth", "scene", str(tmp_path / "s.tif"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_scene_refuses_an_unwritable_place_and_a_bad_date(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["synth", "scene", str(blocker / "s.tif"), "--size", "256"]) == 2
    assert "file: not a folder" in capsys.readouterr().err
    assert main(["synth", "scene", str(tmp_path / "s.tif"), "--size", "256", "--acquired", "yesterday"]) == 2
    assert "--acquired must be an ISO 8601 date-time" in capsys.readouterr().err
    assert not (tmp_path / "s.tif").exists()


def test_scene_refuses_a_non_tiff_name_and_an_existing_file(tmp_path, capsys, scene):
    assert main(["synth", "scene", str(tmp_path / "s.png"), "--size", "256"]) == 2
    assert "give a .tif name" in capsys.readouterr().err
    assert main(["synth", "scene", str(scene), "--size", "256"]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("series") / "terminal"
    assert main(["synth", "series", str(out), "--dates", "5", "--seed", "4", "--size", "640", "--gsd", "1.5"]) == 0
    return out


def _states(series: Path) -> tuple[list[str], list[dict]]:
    manifest = json.loads((series / "manifest.json").read_text())
    dates, states = [], []
    for scene in manifest["scenes"]:
        truth = read_detection_file(series / scene["truth"])
        assert inspect_raster(series / scene["file"]).acquired == scene["acquired"] == truth.header["acquired"]
        dates.append(scene["acquired"])
        states.append({p["vessel_id"]: (d.load, p["draft_fraction"], p["sts_pair"]) for d, p in
                       zip(truth.detections, truth.properties, strict=True) if d.vessel_type == "tanker"})
    return dates, states


def test_series_event_log_matches_the_per_date_labels(series):
    dates, states = _states(series)
    assert len(dates) == 5 and dates == sorted(dates)
    expected = set()
    for i in range(len(dates)):
        for vid, (load, *_) in states[i].items():
            if i > 0 and vid not in states[i - 1]:
                expected.add(("arrival", vid, dates[i - 1], dates[i]))
            if i + 1 < len(dates):
                if vid not in states[i + 1]:
                    expected.add(("departure", vid, dates[i], dates[i + 1]))
                elif states[i + 1][vid][0] != load:
                    kind = "loading" if load == "empty" else "discharge"
                    expected.add((kind, vid, dates[i], dates[i + 1]))
        # A ship-to-ship transfer: one of a pair goes loaded -> empty while the other goes empty -> loaded.
        after = states[i + 1] if i + 1 < len(dates) else {}
        changed = {vid: (s[0], after[vid][0], s[2]) for vid, s in states[i].items() if vid in after and s[2]}
        for giver, (was, now, pair) in changed.items():
            for taker, (was_t, now_t, pair_t) in changed.items():
                if pair == pair_t and (was, now, was_t, now_t) == ("loaded", "empty", "empty", "loaded"):
                    expected.add(("sts_transfer", f"{giver};{taker}", dates[i], dates[i + 1]))
    with open(series / "events.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == EVENTS_CSV_COLUMNS
        rows = list(reader)
    assert {(r["event"], r["vessel_id"], r["date_before"], r["date_after"]) for r in rows} == expected
    assert {r["event"] for r in rows} >= {"arrival", "departure", "loading", "sts_transfer"}
    for r in rows:
        moved = r["cargo_barrels"]
        assert (moved != "") == (r["event"] in ("loading", "discharge", "sts_transfer"))
        if r["event"] == "sts_transfer":
            continue
        if moved:
            assert float(moved) > 0
            before, after = states[dates.index(r["date_before"])], states[dates.index(r["date_after"])]
            assert before[r["vessel_id"]][0] != after[r["vessel_id"]][0]


def test_series_area_of_interest_holds_every_vessel_and_berth_but_not_the_land(series):
    aoi_path = series / json.loads((series / "manifest.json").read_text())["aoi"]
    waters, berths = read_aoi(aoi_path), read_berths(aoi_path)
    footprint = read_detection_file(next(series.glob("*.truth.geojson"))).footprint
    assert 0.3 < waters.area / footprint.area < 0.97  # the land, the quays and the jetties are left out
    berthed_near = []
    for truth_file in series.glob("*.truth.geojson"):
        for feature in json.loads(truth_file.read_text())["features"]:
            hull = shapely.geometry.shape(feature["geometry"])
            assert waters.covers(hull.centroid), f"{truth_file.name}: {feature['properties']['vessel_id']} ashore"
            berthed_near.append(min(b.distance(hull) for b in berths))
    assert len(berths) >= 2 and min(berthed_near) < 1e-4  # some hull lies along a berth's line (degrees)


def test_the_area_of_interest_leaves_out_land_and_jetty_heads_and_draws_each_berth_along_its_front():
    layout = Layout(1000, 1000, 2.0, 0, np.zeros(3))
    layout.land = [np.array([[0, 0], [1000, 0], [1000, 200], [0, 200]], dtype=float)]
    trestle = np.array([[490, 200], [510, 200], [510, 500], [490, 500]], dtype=float)
    head = np.array([[400, 500], [600, 500], [600, 530], [400, 530]], dtype=float)
    layout.jetties = [(trestle, head)]
    layout.berths = [Berth(np.array([500.0, 530.0]), 0.0, 300.0, np.array([0.0, 1.0]))]
    transform = scene_transform(1000, 2.0)
    features = aoi_features(layout, 1000, UTM_CRS, transform)["features"]
    waters = shapely.geometry.shape(features[0]["geometry"])
    berth = shapely.geometry.shape(features[1]["geometry"])

    def lonlat(x, y):
        return shapely.Point(pixels_to_lonlat(UTM_CRS, transform, [[x, y]])[0])

    assert waters.covers(lonlat(500, 800)) and waters.covers(lonlat(500, 545))  # open water; a berthed hull
    assert not waters.covers(lonlat(500, 100)) and not waters.covers(lonlat(450, 515))  # land; the jetty head
    assert not waters.covers(lonlat(500, 300))  # the trestle
    assert waters.exterior.is_ccw  # RFC 7946
    ends = np.asarray(berth.coords)
    assert WGS84.inv(*ends[0], *ends[1])[2] == pytest.approx(300.0, rel=1e-3)


def test_series_tankers_mostly_arrive_empty(series):
    with open(series / "events.csv", newline="") as f:
        arrivals = [r["load"] for r in csv.DictReader(f) if r["event"] == "arrival"]
    assert arrivals and arrivals.count("empty") >= arrivals.count("loaded")


def test_series_overwrite_leaves_no_stale_dates(tmp_path):
    out = tmp_path / "s"
    assert main(["synth", "series", str(out), "--dates", "3", "--size", "256", "--seed", "1"]) == 0
    assert main(["synth", "series", str(out), "--dates", "2", "--size", "256", "--seed", "1",
                 "--start", "2025-01-01", "--overwrite"]) == 0
    assert len(list(out.glob("*.tif"))) == 2 and len(list(out.glob("*.truth.geojson"))) == 2
    assert len(list(out.glob("*.truth.csv"))) == 2


def test_series_bad_arguments(tmp_path, capsys, series):
    assert main(["synth", "series", str(series), "--dates", "2", "--size", "256"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["synth", "series", str(tmp_path / "x"), "--dates", "2", "--start", "March"]) == 2
    assert "--start must be a date" in capsys.readouterr().err
