"""`report --terminals`: many terminals in one run, and the date-by-date reading that lets a year of
daily files fit in memory (the incremental tracker, the streamed report against the batch API)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from report_helpers import ORIGIN, SIZE_PX, UTM53, csv_rows, tanker, transform, write_scene

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.georef import pixels_to_lonlat
from tankerwatch.infer.report.events import find_events
from tankerwatch.infer.report.inputs import DatedScene, SeenVessel, load_scenes
from tankerwatch.infer.report.render import event_row
from tankerwatch.infer.report.terminals import folder_names
from tankerwatch.infer.report.tracking import (
    Sighting,
    Track,
    Tracker,
    TrackingTolerances,
    _pair_costs,
    greedy_pairs,
    tanker_sightings,
    track_tankers,
)

EAST = (ORIGIN[0] + 5_000.0, ORIGIN[1])  # a second terminal 5 km east of the first
DATES = ["2024-03-01T02:10:00Z", "2024-03-02T02:10:00Z", "2024-03-03T02:10:00Z", "2024-03-04T02:10:00Z"]
WIDE = shapely.box(0, 0, 6_000, SIZE_PX)  # a scene reaching from the first terminal to the second


def _area(origin, box_px=(100, 100, 900, 900)) -> dict:
    """A lon/lat GeoJSON polygon of pixel box ``box_px`` of a scene whose top-left corner is ``origin``."""
    x0, y0, x1, y1 = box_px
    ring = pixels_to_lonlat(UTM53, transform(1.0, origin), [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
    return {"type": "Polygon", "coordinates": [ring.tolist()]}


def _terminals(path: Path, features: list) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _feature(name, geometry) -> dict:
    return {"type": "Feature", "properties": {} if name is None else {"name": name}, "geometry": geometry}



def _two_terminals(tmp_path: Path) -> tuple[list[Path], Path]:
    """West (Kozmino Berth 1) loads a tanker on dates 1-2; East sees one tanker discharge on dates 2-3.
    The last date is one wide scene over both: it goes to both terminals."""
    det = tmp_path / "det"
    det.mkdir()
    west, east = tanker(500, 500, 180, "empty"), tanker(500, 400, 250, "loaded")
    paths = [
        write_scene(det, "west_d1", DATES[0], [west]),
        write_scene(det, "west_d2", DATES[1], [tanker(500, 500, 180, "loaded")]),
        write_scene(det, "east_d2", DATES[1], [east], origin=EAST),
        write_scene(det, "east_d3", DATES[2], [tanker(500, 400, 250, "empty")], origin=EAST),
        # West's tanker has left; East's is still there, empty (at pixel 5,500 of the wide scene).
        write_scene(det, "wide_d4", DATES[3], [tanker(5_500, 400, 250, "empty")], footprint_px=WIDE),
    ]
    terminals = _terminals(tmp_path / "terminals.geojson", [_feature("Kozmino Berth 1", _area(ORIGIN)),
                                                            _feature("East/Anchorage", _area(EAST))])
    return paths, terminals


def test_each_terminal_gets_its_files_and_a_report(tmp_path, capsys):
    paths, terminals = _two_terminals(tmp_path)
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out), "--terminals", str(terminals)]) == 0
    printed = capsys.readouterr().out
    assert "2 of 2 terminals reported from 5 files" in printed
    assert "Kozmino Berth 1: 3 dates" in printed
    west, east = out / "Kozmino_Berth_1", out / "East_Anchorage"
    for folder in (west, east):
        for name in ("report.md", "report.html", "events.csv", "counts.csv", "totals.csv", "timeline.png", "map.svg",
                     "events.geojson", "detections.gpkg"):
            assert (folder / name).is_file(), folder / name
    assert [c["source"] for c in csv_rows(west / "counts.csv")] == ["west_d1.geojson", "west_d2.geojson", "wide_d4.geojson"]
    assert [c["source"] for c in csv_rows(east / "counts.csv")] == ["east_d2.geojson", "east_d3.geojson", "wide_d4.geojson"]
    assert {e["event"] for e in csv_rows(west / "events.csv")} == {"loading", "departure"}
    assert {e["event"] for e in csv_rows(east / "events.csv")} == {"discharge"}  # still there on the wide date
    assert "inside the area of interest Kozmino Berth 1" in (west / "report.md").read_text()

    rows = {r["terminal"]: r for r in csv_rows(out / "summary.csv")}
    assert list(rows) == ["Kozmino Berth 1", "East/Anchorage"]
    assert rows["Kozmino Berth 1"]["folder"] == "Kozmino_Berth_1" and rows["Kozmino Berth 1"]["status"] == "ok"
    assert (rows["Kozmino Berth 1"]["dates"], rows["Kozmino Berth 1"]["first_date"],
            rows["Kozmino Berth 1"]["last_date"]) == ("3", "2024-03-01T02:10:00Z", "2024-03-04T02:10:00Z")
    assert (rows["Kozmino Berth 1"]["loadings"], rows["Kozmino Berth 1"]["discharges"]) == ("1", "0")
    assert (rows["East/Anchorage"]["loadings"], rows["East/Anchorage"]["discharges"]) == ("0", "1")
    assert rows["Kozmino Berth 1"]["tankers"] == "1"
    loaded = [float(rows["Kozmino Berth 1"][f"barrels_loaded_{k}"]) for k in ("low", "central", "high")]
    assert 0 < loaded[0] <= loaded[1] <= loaded[2]
    assert "dark_sightings" not in rows["Kozmino Berth 1"]  # no AIS given
    index = (out / "index.html").read_text()
    assert 'href="Kozmino_Berth_1/report.html"' in index and 'href="East_Anchorage/report.html"' in index
    assert "| Kozmino Berth 1 | Kozmino_Berth_1 | ok |" in (out / "summary.md").read_text()


def test_terminal_without_files_and_a_failing_terminal_do_not_stop_the_others(tmp_path, capsys):
    paths, _ = _two_terminals(tmp_path)
    # A second file of the same time over West: West cannot make a report; East still does.
    paths.append(write_scene(tmp_path / "det", "west_d1_again", DATES[0], [tanker(500, 500, 180, "empty")]))
    far = (ORIGIN[0] + 50_000.0, ORIGIN[1])
    terminals = _terminals(tmp_path / "t.geojson", [_feature("West", _area(ORIGIN)), _feature("East", _area(EAST)),
                                                    _feature("Far", _area(far))])
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out), "--terminals", str(terminals)]) == 1
    err = capsys.readouterr().err
    assert "West: failed:" in err and "same acquisition date" in err
    assert "Far: no file's footprint meets this terminal" in err
    rows = {r["terminal"]: r for r in csv_rows(out / "summary.csv")}
    assert rows["West"]["status"].startswith("failed: ") and rows["West"]["dates"] == ""
    assert rows["Far"]["status"] == "no files"
    assert rows["East"]["status"] == "ok" and rows["East"]["dates"] == "3"
    assert (out / "East" / "report.md").is_file() and not (out / "West").exists()
    assert 'href="West/report.html"' not in (out / "index.html").read_text()


def test_a_broken_file_is_skipped_and_named(tmp_path, capsys):
    paths, terminals = _two_terminals(tmp_path)
    data = json.loads(paths[1].read_text())
    data["features"][0]["properties"]["score"] = "high"  # the header reads; the detections do not
    paths[1].write_text(json.dumps(data))
    (tmp_path / "det" / "junk.geojson").write_text("{not json")
    out = tmp_path / "out"
    assert main(["report", str(tmp_path / "det"), "-o", str(out), "--terminals", str(terminals)]) == 1
    err = capsys.readouterr().err
    assert "skipped " in err and "junk.geojson" in err
    assert "Kozmino Berth 1: skipped " in err and "west_d2.geojson: feature 0: bad feature properties" in err
    rows = {r["terminal"]: r for r in csv_rows(tmp_path / "out" / "summary.csv")}
    assert rows["Kozmino Berth 1"]["status"] == "inputs skipped" and rows["Kozmino Berth 1"]["dates"] == "2"
    assert rows["East/Anchorage"]["status"] == "ok"
    assert "junk.geojson" in (out / "summary.md").read_text()


@pytest.mark.parametrize(("features", "message"), [
    ([_feature("A", None)], "feature 0 (A): bad geometry"),
    ([_feature("A", _area(ORIGIN)), _feature(None, _area(EAST))], "feature 1: no 'name' property"),
    ([_feature("A", _area(ORIGIN)), _feature(" ", _area(EAST))], "feature 1: no 'name' property"),
    ([_feature("Berth", {"type": "Point", "coordinates": [132.0, 42.7]})],
     "feature 0 (Berth): geometry is a Point; a terminal needs a Polygon or MultiPolygon"),
    ([_feature("A", _area(ORIGIN)), _feature("A", _area(EAST))], "feature 1: name 'A' is used by feature 0 too"),
    ([], "no features"),
])
def test_bad_terminals_file_is_one_line_naming_the_feature(tmp_path, capsys, features, message):
    paths, _ = _two_terminals(tmp_path)
    terminals = _terminals(tmp_path / "bad.geojson", features)
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out), "--terminals", str(terminals)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(terminals) in err and message in err
    assert not out.exists()


def test_terminals_refuses_aoi_and_an_earlier_run(tmp_path, capsys):
    paths, terminals = _two_terminals(tmp_path)
    args = ["report", *map(str, paths), "-o", str(tmp_path / "out"), "--terminals", str(terminals)]
    assert main([*args, "--aoi", str(terminals)]) == 2
    assert "--aoi and --terminals" in capsys.readouterr().err
    assert main(args) == 0
    assert main(args) == 2
    assert "already holds a summary" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_folder_names_are_safe_and_distinct():
    names = ["Ras Tanura", "ras tanura", "../etc/passwd", "東京", "Sheskharis (Novorossiysk)", "São Sebastião",
             "summary.csv", ".hidden"]
    assert folder_names(names, reserved=("summary.csv",)) == [
        "Ras_Tanura", "ras_tanura-2", "etc_passwd", "terminal-4", "Sheskharis_Novorossiysk", "Sao_Sebastiao",
        "summary.csv-2", "hidden"]


def _batch_tracks(scenes, tolerances, aoi):
    """The tracker as it was before it was made incremental (all dates at once), kept verbatim as the
    reference the incremental one must reproduce."""
    tracks = []
    for index, scene in enumerate(scenes):
        vessels = tanker_sightings(scene, aoi)
        active = [t for t in tracks if not t.ended]
        pairs = greedy_pairs(_pair_costs(active, vessels, tolerances)) if active and vessels else []
        matched_tracks, matched_vessels = set(), set()
        for r, c in pairs:
            track = active[r]
            track.sightings.append(Sighting(index, vessels[c]))
            track.missed, track.first_absent = 0, None
            matched_tracks.add(r)
            matched_vessels.add(c)
        for r, track in enumerate(active):
            if r in matched_tracks or not scene.imaged(track.last.vessel.lon, track.last.vessel.lat):
                continue
            track.missed += 1
            if track.first_absent is None:
                track.first_absent = index
            track.ended = track.missed > tolerances.max_missed
        for c, vessel in enumerate(vessels):
            if c not in matched_vessels:
                tracks.append(Track(track_id=len(tracks) + 1, sightings=[Sighting(index, vessel)]))
    return tracks


def _random_series(seed: int, dates: int = 60) -> list[DatedScene]:
    """Berths that tankers come to, load at, jitter at and leave; partial footprints; some vessels
    of other types and some weak or uncertain calls."""
    from datetime import datetime, timedelta, timezone

    rng = np.random.default_rng(seed)
    berths = [(132.0 + 0.002 * k, 42.7 + 0.0005 * (k % 3)) for k in range(12)]
    present: dict[int, dict] = {}
    scenes = []
    for day in range(dates):
        for k in range(len(berths)):
            if k in present and rng.random() < 0.15:
                del present[k]
            elif k not in present and rng.random() < 0.2:
                present[k] = {"length": float(rng.uniform(80, 330)), "axis": float(rng.uniform(0, 180)),
                              "load": "empty"}
            if k in present and rng.random() < 0.2:
                present[k]["load"] = "loaded"
        west_only = rng.random() < 0.2
        footprint = shapely.box(131.99, 42.69, 132.011 if west_only else 132.03, 42.71)
        vessels = []
        for k, ship in present.items():
            lon, lat = berths[k][0] + rng.normal(0, 1e-4), berths[k][1] + rng.normal(0, 1e-4)
            if not footprint.covers(shapely.Point(lon, lat)) or rng.random() < 0.05:
                continue  # not imaged, or missed
            load = "uncertain" if rng.random() < 0.1 else ship["load"]
            kind = "other" if rng.random() < 0.03 else "tanker"
            vessels.append(SeenVessel(lon, lat, ship["length"] * rng.uniform(0.95, 1.05), ship["length"] / 6,
                                      (ship["axis"] + rng.normal(0, 3)) % 180, kind,
                                      load if kind == "tanker" else "unknown", None, 0.9))
        scenes.append(DatedScene(path=Path(f"d{day}.geojson"),
                                 acquired=datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(days=day),
                                 acquired_from="flag", footprint=footprint, gsd_m=0.5, crs=None, model=None,
                                 vessels=vessels))
    return scenes


def _shape(tracks):
    return [(t.track_id, [(s.scene_index, id(s.vessel)) for s in t.sightings], t.missed, t.ended, t.first_absent)
            for t in tracks]


@pytest.mark.parametrize(("seed", "max_missed"), [(1, 0), (2, 1), (3, 2)])
def test_incremental_tracker_reproduces_the_batch_tracker(seed, max_missed):
    scenes = _random_series(seed)
    tolerances = TrackingTolerances(max_missed=max_missed)
    aoi = shapely.box(131.995, 42.695, 132.02, 42.705)
    for area in (None, aoi):
        expected = _batch_tracks(scenes, tolerances, area)
        tracker = Tracker(tolerances, area)
        track_of = [tracker.step(index, scene) for index, scene in enumerate(scenes)]
        assert _shape(tracker.tracks) == _shape(expected)
        assert len(expected) > 15 and any(len(t.sightings) > 5 for t in expected)  # the series is not trivial
        for index, mapping in enumerate(track_of):  # what each step returned is where the sighting went
            assert mapping == {id(s.vessel): t.track_id for t in expected for s in t.sightings if s.scene_index == index}
        assert _shape(track_tankers(scenes, tolerances, area)) == _shape(_batch_tracks(scenes, tolerances, area))


def test_streamed_report_matches_the_batch_api(tmp_path):
    """The CLI reads one file at a time; the public API holds every date at once: same events."""
    det = tmp_path / "det"
    det.mkdir()
    rng = np.random.default_rng(7)
    berths = [(150 + 110 * k, 300 + 90 * (k % 2)) for k in range(7)]
    loads = {}
    paths = []
    for day in range(20):
        detections = []
        for k, (cx, cy) in enumerate(berths):
            state = loads.get(k)
            roll = rng.random()
            state = (None if roll < 0.15 else "loaded" if roll < 0.35 else state) if state else \
                ("empty" if roll < 0.3 else None)
            loads[k] = state
            if state:
                detections.append(tanker(cx + rng.normal(0, 2), cy + rng.normal(0, 2), 90 + 25 * k, state,
                                         angle=0.1 * k))
        paths.append(write_scene(det, f"t_{day:02d}", f"2024-05-{day + 1:02d}T01:00:00Z", detections,
                                 footprint_px=shapely.box(0, 0, 600 if day % 5 == 3 else SIZE_PX, SIZE_PX)))
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out), "--max-missed", "1"]) == 0
    inputs = load_scenes(paths)
    events = find_events(track_tankers(inputs.scenes, TrackingTolerances(max_missed=1)), inputs.scenes, "refined")
    assert len(events) > 10
    streamed = [list(row.values()) for row in csv_rows(out / "events.csv")]
    assert streamed == [["" if v is None else str(v) for v in event_row(e)] for e in events]


def test_memory_stays_with_the_tracks_not_the_files(tmp_path):
    """After the pass, no date holds its detections: only tallies, tracks and the dots remain."""
    from tankerwatch.infer.report.inputs import check_series, scan_scenes
    from tankerwatch.infer.report.series import stream_series

    det = tmp_path / "det"
    det.mkdir()
    paths = [write_scene(det, f"s{d}", f"2024-01-{d + 1:02d}", [tanker(300, 300, 200, "empty"),
                                                                 tanker(600, 300, 30, None, vessel_type="other")])
             for d in range(5)]
    inputs = scan_scenes(paths)
    check_series(inputs)
    assert all(not s.vessels for s in inputs.scenes)
    seen = []
    series = stream_series(inputs.scenes, Tracker(), consumers=[lambda i, scene, track_of: seen.append(
        (i, len(scene.vessels), len(scene.records), sorted(track_of.values())))])
    assert seen == [(d, 2, 2, [1]) for d in range(5)]
    assert all(not s.vessels and not s.records for s in series.scenes)
    assert [len(t.sightings) for t in series.tracks] == [5]
    assert [(t.empty, t.other) for t in series.tallies] == [(1, 1)] * 5
    assert len(series.seen) == 2 and math.isfinite(next(iter(series.seen))[0])


def test_summary_counts_dark_tankers_with_ais(tmp_path):
    paths, terminals = _two_terminals(tmp_path)
    lon, lat = pixels_to_lonlat(UTM53, transform(1.0, ORIGIN), [[500, 500]])[0]
    ais = tmp_path / "ais.csv"  # West's tanker transmits on both its dates; East's never does
    ais.write_text("mmsi,time,lon,lat\n" + "".join(
        f"273000001,{day}T02:{minute}:00Z,{lon:.7f},{lat:.7f}\n" for day in ("2024-03-01", "2024-03-02")
        for minute in ("05", "15")))
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out), "--terminals", str(terminals), "--ais", str(ais)]) == 0
    rows = {r["terminal"]: r for r in csv_rows(out / "summary.csv")}
    assert (rows["Kozmino Berth 1"]["tanker_sightings"], rows["Kozmino Berth 1"]["dark_sightings"]) == ("2", "0")
    assert (rows["East/Anchorage"]["tanker_sightings"], rows["East/Anchorage"]["dark_sightings"]) == ("3", "3")
    assert (out / "East_Anchorage" / "ais_matches.csv").is_file()


def test_the_ais_file_is_read_once_and_its_bad_rows_named_once(tmp_path, capsys, monkeypatch):
    from tankerwatch.infer.commands import report

    paths, terminals = _two_terminals(tmp_path)
    ais = tmp_path / "ais.csv"
    ais.write_text("mmsi,time,lon,lat\n273000001,2024-03-01T02:05:00Z,north,43.0\n"
                   "273000001,2024-03-01T02:05:00Z,132.8,42.7\n")
    reads = []
    real = report.read_ais
    monkeypatch.setattr(report, "read_ais", lambda path, *rest: reads.append(path) or real(path, *rest))
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out), "--terminals", str(terminals), "--ais", str(ais)]) == 1
    named = [line for line in capsys.readouterr().err.splitlines() if "bad row" in line]
    assert reads == [ais]
    assert len(named) == 1 and named[0].endswith("ais.csv:2: bad row skipped: lon 'north' is not a number")
