"""Outputs a GIS or a dataframe opens as they are: detection files, the report's events.geojson and
detections.gpkg, georeferenced quick-looks and the self-contained report.html with its map."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from xml.etree import ElementTree

import geopandas
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from report_helpers import UTM53, csv_rows, tanker, transform, write_scene
from test_report import DATES, _series

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.georef import pixels_to_lonlat, pixels_to_map
from tankerwatch.infer.runtime.detect import SceneAnalysis
from tankerwatch.infer.runtime.detection_file import BOX_COLUMNS
from tankerwatch.infer.runtime.quicklook import sidecar_paths, write_quicklook
from tankerwatch.infer.runtime.raster import inspect_raster, read_decimated


def rfc7946_problems(data) -> list[str]:
    """What keeps ``data`` from being an RFC 7946 FeatureCollection: no ``crs`` member, positions
    lon/lat in range, Polygon rings closed with at least 4 positions, exteriors counter-clockwise
    and holes clockwise."""
    problems = []
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        return ["not a FeatureCollection with a features list"]
    if "crs" in data:
        problems.append("has a crs member (RFC 7946 removed it: coordinates are always WGS84 lon/lat)")
    for index, feature in enumerate(data["features"]):
        if feature.get("type") != "Feature" or "properties" not in feature or "geometry" not in feature:
            problems.append(f"feature {index}: not a Feature with geometry and properties")
            continue
        geometry = feature["geometry"]
        if "crs" in feature or (isinstance(geometry, dict) and "crs" in geometry):
            problems.append(f"feature {index}: has a crs member")
        if geometry is None:
            continue
        shape = shapely.geometry.shape(geometry)
        xy = shapely.get_coordinates(shape)
        if not (np.all(np.abs(xy[:, 0]) <= 180) and np.all(np.abs(xy[:, 1]) <= 90)):
            problems.append(f"feature {index}: positions outside lon [-180, 180] / lat [-90, 90]")
        polygons = list(getattr(shape, "geoms", [shape])) if shape.geom_type.endswith("Polygon") else []
        for raw_rings, polygon in zip(_raw_rings(geometry), polygons, strict=True):
            if any(len(r) < 4 or r[0] != r[-1] for r in raw_rings):
                problems.append(f"feature {index}: a ring is not closed or has under 4 positions")
            if not polygon.exterior.is_ccw:
                problems.append(f"feature {index}: exterior ring is clockwise")
            if any(ring.is_ccw for ring in polygon.interiors):
                problems.append(f"feature {index}: a hole is counter-clockwise")
    return problems


def _raw_rings(geometry: dict) -> list:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    return list(geometry["coordinates"]) if geometry["type"] == "MultiPolygon" else []


def test_the_validator_catches_what_rfc7946_forbids():
    ring = [[0, 0], [1, 0], [1, 1], [0, 0]]
    good = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    assert rfc7946_problems(good) == []
    clockwise = json.loads(json.dumps(good))
    clockwise["features"][0]["geometry"]["coordinates"] = [ring[::-1]]
    assert "exterior ring is clockwise" in rfc7946_problems(clockwise)[0]
    assert "crs member" in rfc7946_problems({**good, "crs": {"type": "name"}})[0]
    far = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [400000.0, 4700000.0]}}]}
    assert "outside lon" in rfc7946_problems(far)[0]


def test_detection_files_open_in_geopandas_with_dates_sources_and_plain_box_numbers(tmp_path):
    geojson = write_scene(tmp_path, "scene", DATES[0], [tanker(200, 200, 100, "empty"), tanker(600, 300, 30, None,
                                                                                                vessel_type="other")],
                          model={"id": "f" * 64})
    data = json.loads(geojson.read_text())
    assert rfc7946_problems(data) == []
    frame = geopandas.read_file(geojson)
    assert frame.crs.to_epsg() == 4326 and len(frame) == 2
    assert list(frame["source"]) == ["scene.tif"] * 2 and list(frame["model_id"]) == ["f" * 64] * 2
    assert list(frame["acquired"]) == [pd.Timestamp(DATES[0])] * 2  # read as a UTC datetime, not text
    rows = geopandas.read_file(geojson.with_suffix(".csv"), X_POSSIBLE_NAMES="x", Y_POSSIBLE_NAMES="y",
                               AUTODETECT_TYPE="YES")
    assert list(rows["source"]) == ["scene.tif"] * 2 and list(rows["acquired"]) == [pd.Timestamp(DATES[0])] * 2
    for column, index in zip(BOX_COLUMNS, range(5), strict=True):
        assert rows[column].dtype == np.float64
        np.testing.assert_allclose(rows[column], [f["properties"]["box_px"][index] for f in data["features"]])
    # The CSV's point is the polygon's centre, in lon/lat.
    np.testing.assert_allclose(rows.geometry.x, [shapely.centroid(g).x for g in frame.geometry], atol=1e-7)


def _aoi(folder):
    """Two named berths, an anchorage and a point berth, in lon/lat."""
    def square(x0, y0, x1, y1):
        ring = pixels_to_lonlat(UTM53, transform(), [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
        return {"type": "Polygon", "coordinates": [ring.tolist()]}

    point = pixels_to_lonlat(UTM53, transform(), [(400, 200)])[0].tolist()
    features = [{"type": "Feature", "properties": {"name": name}, "geometry": square(*box)}
                for name, box in (("berth 1", (100, 100, 300, 300)), ("berth 2", (100, 400, 300, 600)),
                                  ("anchorage", (500, 650, 900, 950)))]
    features.append({"type": "Feature", "properties": {"berth": "B3"}, "geometry": {"type": "Point", "coordinates": point}})
    path = folder / "terminal.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The small series of test_report, with quick-looks georeferenced as detect writes them, reported
    over an area of interest with named berths."""
    folder = tmp_path_factory.mktemp("gis")
    paths = _series(folder)
    for stem in ("d0", "d2"):
        write_quicklook(folder / f"{stem}.quicklook.png", np.full((3, 50, 50), 60, np.uint8), np.zeros((0, 5)), [],
                        0.05, crs=UTM53, source_transform=transform(), source_size=(1000, 1000))
    out = folder / "out"
    assert main(["report", *map(str, paths), "-o", str(out), "--aoi", str(_aoi(folder))]) == 0
    return out



def test_events_geojson_is_rfc7946_and_joins_the_events_csv(report):
    data = json.loads((report / "events.geojson").read_text())
    assert rfc7946_problems(data) == []
    table = csv_rows(report / "events.csv")
    assert len(data["features"]) == len(table) == 4
    for feature, row in zip(data["features"], table, strict=True):
        props = feature["properties"]
        assert feature["geometry"]["type"] == "Point"
        assert feature["geometry"]["coordinates"] == [pytest.approx(float(row["lon"])), pytest.approx(float(row["lat"]))]
        assert {k: "" if props[k] is None else str(props[k]) for k in row} == row
    loading = next(f["properties"] for f in data["features"] if f["properties"]["event"] == "loading")
    assert (loading["load_before"], loading["load_after"]) == ("empty", "loaded")
    assert (loading["source_before"], loading["source_after"]) == ("d0.geojson", "d2.geojson")
    assert loading["barrels_low"] < loading["cargo_barrels"] < loading["barrels_high"]
    arrival = next(f["properties"] for f in data["features"] if f["properties"]["event"] == "arrival")
    assert arrival["load_before"] is None and arrival["barrels_low"] is None
    frame = geopandas.read_file(report / "events.geojson")
    assert frame.crs.to_epsg() == 4326
    assert list(frame["date_after"]) == [pd.Timestamp(r["date_after"]) for r in table]
    assert list(frame["source_after"]) == [f["properties"]["source_after"] for f in data["features"]]


def test_the_geopackage_holds_every_date_with_numeric_boxes_and_track_ids(report):
    assert [list(layer) for layer in pyogrio.list_layers(report / "detections.gpkg")] == [["detections", "Polygon"]]
    info = pyogrio.read_info(report / "detections.gpkg")
    types = dict(zip(info["fields"], info["ogr_types"], strict=True))
    assert {types[c] for c in BOX_COLUMNS} == {"OFTReal"} and types["acquired"] == "OFTDateTime"
    # Types come from the schema, not from these dates' values: model_id is null in every file here.
    assert (types["model_id"], types["p_loaded"], types["track_id"]) == ("OFTString", "OFTReal", "OFTInteger64")
    frame = geopandas.read_file(report / "detections.gpkg")
    assert frame.crs.to_epsg() == 4326
    assert len(frame) == 3 + 4 + 3 + 3  # every detection of every date, the tug and outside the area too
    by_file = frame.groupby("file")["acquired"].first()
    assert [by_file[f"d{i}.geojson"] for i in range(4)] == [pd.Timestamp(d) for d in DATES]
    assert set(frame["source"]) == {f"d{i}.tif" for i in range(4)}
    assert (frame["cx_px"] > 0).all() and frame["angle_rad"].dtype == np.float64
    events = json.loads((report / "events.geojson").read_text())["features"]
    loading = next(e["properties"] for e in events if e["properties"]["event"] == "loading")
    track = frame[frame["track_id"] == loading["track_id"]]
    assert sorted(track["file"]) == ["d0.geojson", "d1.geojson", "d2.geojson"]  # tanker A, until it left
    assert list(track.sort_values("acquired")["load"]) == ["empty", "uncertain", "loaded"]
    assert frame.loc[frame["type"] == "other", "track_id"].isna().all()


def test_quicklook_copies_keep_their_world_files(report):
    copies = sorted((report / "quicklooks").glob("*.png"))
    assert [p.name for p in copies] == ["000_20240301T021000.png", "002_20240317T021000.png"]
    for copy in copies:
        with rasterio.open(copy) as ds:
            assert ds.crs == UTM53
            np.testing.assert_allclose(ds.bounds, (398_000, 4_734_000, 399_000, 4_735_000))


def test_report_html_stands_alone_with_a_map_of_the_events(report):
    page = (report / "report.html").read_text()
    links = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert links and all(link.startswith("data:") for link in links)  # timeline and quick-looks embedded
    assert len([link for link in links if link.startswith("data:image/png;base64,")]) == 3
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    assert svg == (report / "map.svg").read_text().strip()
    ElementTree.fromstring(svg)  # well-formed, so it also opens alone as map.svg
    events = json.loads((report / "events.geojson").read_text())["features"]
    kinds = re.findall(r'class="event event-(\w+)"', svg)
    assert sorted(kinds) == sorted(e["properties"]["event"] for e in events)
    for name in ("berth 1", "berth 2", "anchorage", "B3"):
        assert f">{name}</text>" in svg
    assert svg.count('class="footprint"') == 4 and 'class="scale-bar"' in svg and 'class="north-arrow"' in svg
    assert "](map.svg)" in (report / "report.md").read_text()


def test_map_is_drawn_to_scale_with_north_up():
    """Two events 1 km apart east-west, then north-south: the marker centres are as far apart in
    pixels as the scale bar says 1 km is, and the northern one is higher on the page."""
    from tankerwatch.infer.core.georef import WGS84
    from tankerwatch.infer.report.events import Event
    from tankerwatch.infer.report.map_svg import render_map_svg

    when = datetime(2024, 3, 1, tzinfo=timezone.utc)
    east_lon, _, _ = WGS84.fwd(10.0, 55.0, 90.0, 1000.0)
    _, north_lat, _ = WGS84.fwd(10.0, 55.0, 0.0, 1000.0)
    # One kind, so the markers have one shape and their centroids sit equally off the positions.
    events = [Event("loading", track, when, when, lon, lat, 100.0, "loaded")
              for track, (lon, lat) in enumerate([(10.0, 55.0), (east_lon, 55.0), (10.0, north_lat)])]
    svg = render_map_svg([], events)
    centres = [np.mean(np.array(re.findall(r"([\d.]+) ([\d.]+)", d), dtype=float), axis=0)
               for d in re.findall(r'class="event event-\w+" d="([^"]+)"', svg)]
    bar = re.search(r'class="scale-bar"><rect x="[\d.]+" y="[\d.]+" width="([\d.]+)".*?<text[^>]*>([\d.]+) (k?m)<',
                    svg, re.S)
    px_per_m = float(bar.group(1)) / (float(bar.group(2)) * (1000 if bar.group(3) == "km" else 1))
    east = centres[1] - centres[0]
    north = centres[2] - centres[0]
    assert 1000 * px_per_m > 300  # so one pixel is a third of a percent
    assert np.hypot(*east) == pytest.approx(1000 * px_per_m, abs=1.0) and abs(east[1]) < 1.0
    assert np.hypot(*north) == pytest.approx(1000 * px_per_m, abs=1.0)
    assert north[1] < 0 and abs(north[0]) < 1.0


def test_a_berth_given_as_a_line_is_drawn_along_its_face():
    import shapely

    from tankerwatch.infer.core.georef import WGS84
    from tankerwatch.infer.report.inputs import AoiPart
    from tankerwatch.infer.report.map_svg import render_map_svg

    east_lon, _, _ = WGS84.fwd(10.0, 55.0, 90.0, 300.0)
    berth = AoiPart(shapely.LineString([(10.0, 55.0), (east_lon, 55.0)]), "berth 7")
    waters = AoiPart(shapely.Polygon([(9.99, 54.99), (10.01, 54.99), (10.01, 55.01), (9.99, 55.01)]), "waters")
    svg = render_map_svg([], [], [waters, berth])
    ElementTree.fromstring(svg)
    (line,) = re.findall(r'<path class="berth" d="M([\d.]+) ([\d.]+) L([\d.]+) ([\d.]+)"', svg)
    x0, y0, x1, y1 = map(float, line)
    assert x1 - x0 > 10 and abs(y1 - y0) < 0.5  # 300 m due east: a horizontal stroke
    assert ">berth 7</text>" in svg and svg.count('class="aoi"') == 1


def test_without_the_geo_extra_the_report_says_so_and_leaves_no_stale_geopackage(tmp_path, monkeypatch, capsys):
    paths = [write_scene(tmp_path, f"d{i}", date, [tanker(200, 200, 100, "empty")]) for i, date in enumerate(DATES[:2])]
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out)]) == 0
    assert (out / "detections.gpkg").is_file()
    monkeypatch.setattr("tankerwatch.infer.commands.report.geopackage_available", lambda: False)
    assert main(["report", *map(str, paths), "-o", str(out), "--overwrite"]) == 0
    assert "detections.gpkg not written: it needs the geo extra" in capsys.readouterr().err
    assert not (out / "detections.gpkg").exists()
    assert "detections.gpkg" not in (out / "report.md").read_text()


def _geotiff(path, width, height, crs, tf):
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint8", crs=crs,
                       transform=tf) as ds:
        ds.write(np.full((3, height, width), 80, np.uint8))


@pytest.mark.parametrize("crs, tf", [
    (UTM53, Affine(0.5, 0.0, 398_000.0, 0.0, -0.5, 4_735_000.0)),
    # lon/lat degrees, whose CRS lists latitude first: the PAM sidecar must still say x is longitude
    (CRS.from_epsg(4326), Affine(1e-5, 0.0, 133.75, 0.0, -1e-5, 42.76)),
    # a rotated grid: the world file carries the rotation terms
    (UTM53, Affine(0.4, 0.1, 398_000.0, 0.1, -0.4, 4_735_000.0)),
])
def test_quicklook_world_file_puts_its_corners_on_the_scene(tmp_path, crs, tf):
    scene = tmp_path / "scene.tif"
    _geotiff(scene, 1001, 701, crs, tf)  # decimated by 4 to 251 x 176: not a whole number either way
    info = inspect_raster(scene)
    preview, _ = read_decimated(scene, 256)
    analysis = SceneAnalysis(scene, info, [], {"source": "scene.tif", "acquired": None}, info.gsd_m, [], preview,
                             shapely.box(0, 0, 1001, 701))
    quicklook = analysis.write(tmp_path / "out")[0]
    world, pam = sidecar_paths(quicklook)
    assert world.name == "scene.quicklook.pgw" and pam.name == "scene.quicklook.png.aux.xml"
    with rasterio.open(quicklook) as ds:
        assert ds.crs == crs and (ds.width, ds.height) == (251, 176)
        picture = [(0, 0), (ds.width, 0), (ds.width, ds.height), (0, ds.height)]
        placed = pixels_to_map(ds.transform, picture)
    pixel = np.hypot(*(placed[1] - placed[0])) / 251  # one quick-look pixel, in map units
    corners = pixels_to_map(tf, [(0, 0), (1001, 0), (1001, 701), (0, 701)])
    assert np.hypot(*(placed - corners).T).max() < pixel / 1000  # well within one quick-look pixel


def test_a_quicklook_without_georeferencing_has_no_world_file(tmp_path):
    picture = tmp_path / "scene.quicklook.png"
    world, pam = sidecar_paths(picture)
    world.write_text("stale\n")
    pam.write_text("<PAMDataset/>\n")
    write_quicklook(picture, np.zeros((3, 20, 30), np.uint8), np.zeros((0, 5)), [], 0.1)
    assert picture.is_file() and not world.exists() and not pam.exists()
