"""`tankerwatch report` on hand-built dated detection files: tracking, events, volumes, bad inputs."""

from __future__ import annotations

import json
import math

import pytest
import shapely
from report_helpers import SIZE_PX, csv_rows, tanker, transform, write_scene

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.georef import pixels_to_lonlat
from tankerwatch.infer.core.tanker_sizes import cargo_barrels
from tankerwatch.infer.report.volume import estimate_volume

DATES = ["2024-03-01T02:10:00Z", "2024-03-09T02:10:00Z", "2024-03-17T02:10:00Z", "2024-03-25T02:10:00Z"]
A = (200, 200, 100)  # small coastal tanker at berth 1: (cx, cy, length m)
B = (200, 500, 180)  # MR1 at berth 2
C = (700, 800, 250)  # Aframax at the anchorage


def _series(folder):
    """A loads (empty, uncertain, loaded) and leaves; B arrives loaded and discharges; C stays loaded but is
    outside the third date's footprint; a tug is there throughout."""
    tug = tanker(600, 300, 30, None, vessel_type="other")
    half = shapely.box(0, 0, SIZE_PX, 600)  # the anchorage (C) was not imaged on date 3
    plan = [
        [tanker(*A, "empty"), tanker(*C, "loaded", angle=0.5), tug],
        [tanker(*A, "uncertain"), tanker(*B, "loaded"), tanker(*C, "loaded", angle=0.5), tug],
        [tanker(*A, "loaded"), tanker(*B, "empty"), tug],
        [tanker(*B, "empty"), tanker(*C, "loaded", angle=0.5), tug],
    ]
    paths = []
    for i, (date, detections) in enumerate(zip(DATES, plan, strict=True)):
        paths.append(write_scene(folder, f"d{i}", date, detections, footprint_px=half if i == 2 else None))
    return paths



def test_events_from_a_small_series(tmp_path, capsys):
    paths = _series(tmp_path)
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out)]) == 0
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out
    events = {(e["event"], e["date_before"][:10], e["date_after"][:10], round(float(e["length_m"])))
              for e in csv_rows(out / "events.csv")}
    assert events == {
        ("loading", "2024-03-01", "2024-03-17", 100),  # the uncertain date neither made nor broke it
        ("departure", "2024-03-17", "2024-03-25", 100),
        ("arrival", "2024-03-01", "2024-03-09", 180),
        ("discharge", "2024-03-09", "2024-03-17", 180),
    }  # and C, unseen on date 3 because it was not imaged there, neither left nor came back
    loading = next(e for e in csv_rows(out / "events.csv") if e["event"] == "loading")
    low, _, high = cargo_barrels(100)
    assert float(loading["barrels_low"]) <= low and float(loading["barrels_high"]) >= high
    counts = csv_rows(out / "counts.csv")
    assert [(c["tankers_empty"], c["tankers_loaded"], c["tankers_uncertain"], c["other_vessels"]) for c in counts] \
        == [("1", "1", "0", "1"), ("0", "2", "1", "1"), ("1", "1", "0", "1"), ("1", "1", "0", "1")]
    assert float(counts[2]["coverage"]) == pytest.approx(0.6, abs=0.01)
    totals = csv_rows(out / "totals.csv")
    assert [t["period"] for t in totals] == ["2024-03", "total"]
    assert totals[-1]["loadings"] == "1" and totals[-1]["discharges"] == "1"
    report = (out / "report.md").read_text()
    for needed in ("## Totals", "## Caveats", "timeline.png", "How the volumes are estimated", "small coastal"):
        assert needed in report
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table>" in (out / "report.html").read_text()


def test_same_inputs_give_the_same_bytes(tmp_path):
    paths = _series(tmp_path)
    for name in ("a", "b"):
        assert main(["report", *map(str, paths), "-o", str(tmp_path / name)]) == 0
    for output in ("report.md", "report.html", "events.csv", "counts.csv", "timeline.png", "map.svg", "events.geojson",
                   "detections.gpkg"):
        assert (tmp_path / "a" / output).read_bytes() == (tmp_path / "b" / output).read_bytes(), output


def test_aoi_counts_only_the_terminal(tmp_path):
    paths = _series(tmp_path)
    corners = pixels_to_lonlat("EPSG:32653", transform(), [[0, 0], [400, 0], [400, 650], [0, 650]])
    aoi = tmp_path / "berths.geojson"
    aoi.write_text(json.dumps({"type": "Polygon", "coordinates": [corners.tolist() + [corners[0].tolist()]]}))
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out), "--aoi", str(aoi)]) == 0
    counts = csv_rows(out / "counts.csv")
    assert [int(c["tankers"]) for c in counts] == [1, 2, 2, 1]  # C at the anchorage is outside
    assert [c["other_vessels"] for c in counts] == ["0"] * 4  # so is the tug


def test_tracks_survive_small_moves_but_not_other_ships(tmp_path):
    """A tanker shifted 20 m and turned 5 degrees is the same; one 80 m away, or a third shorter, is not."""
    turn = math.radians(5)
    paths = [write_scene(tmp_path, "d0", DATES[0], [tanker(*A, "empty")]),
             write_scene(tmp_path, "d1", DATES[1], [tanker(A[0] + 20, A[1], A[2], "loaded", angle=turn)]),
             write_scene(tmp_path, "d2", DATES[2], [tanker(A[0] + 100, A[1], A[2], "loaded")]),
             write_scene(tmp_path, "d3", DATES[3], [tanker(A[0] + 100, A[1], 60, "loaded")])]
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out)]) == 0
    kinds = [(e["event"], e["date_after"][:10]) for e in csv_rows(out / "events.csv")]
    assert kinds == [("loading", "2024-03-09"),
                     ("arrival", "2024-03-17"), ("departure", "2024-03-17"),
                     ("arrival", "2024-03-25"), ("departure", "2024-03-25")]


def test_max_missed_bridges_a_missed_detection(tmp_path):
    paths = [write_scene(tmp_path, f"d{i}", date, [tanker(*A, load)] if load else [])
             for i, (date, load) in enumerate(zip(DATES, ["empty", "empty", None, "loaded"], strict=True))]
    strict_out, lenient_out = tmp_path / "strict", tmp_path / "lenient"
    assert main(["report", *map(str, paths), "-o", str(strict_out)]) == 0
    assert [e["event"] for e in csv_rows(strict_out / "events.csv")] == ["departure", "arrival"]
    assert main(["report", *map(str, paths), "-o", str(lenient_out), "--max-missed", "1"]) == 0
    assert [(e["event"], e["date_before"][:10], e["date_after"][:10]) for e in csv_rows(lenient_out / "events.csv")] \
        == [("loading", "2024-03-09", "2024-03-25")]


def test_volume_range_widens_across_a_class_boundary():
    inside = estimate_volume(90.0, error_m=5.0)
    straddling = estimate_volume(118.0, error_m=5.0)
    assert inside.classes == ("small coastal / product",)
    assert straddling.classes == ("small coastal / product", "general purpose / small Handysize")
    assert straddling.low == inside.low and straddling.high > cargo_barrels(118.0)[2]
    assert inside.low < inside.central < inside.high


def test_dates_out_of_order_are_sorted_with_a_warning(tmp_path, capsys):
    paths = _series(tmp_path)
    out = tmp_path / "out"
    assert main(["report", *map(str, reversed(paths)), "-o", str(out)]) == 0
    assert "not given in date order" in capsys.readouterr().err
    assert [c["date"][:10] for c in csv_rows(out / "counts.csv")] == [d[:10] for d in DATES]


def test_duplicate_dates_are_an_error(tmp_path, capsys):
    a = write_scene(tmp_path, "a", DATES[0], [tanker(*A, "empty")])
    b = write_scene(tmp_path, "b", DATES[0], [tanker(*A, "loaded")])
    assert main(["report", str(a), str(b), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "same acquisition date" in err and "a.geojson" in err and "b.geojson" in err
    assert not (tmp_path / "out").exists()


def test_places_that_do_not_overlap_are_an_error(tmp_path, capsys):
    here = write_scene(tmp_path, "here", DATES[0], [tanker(*A, "empty")])
    there = write_scene(tmp_path, "there", DATES[1], [tanker(*A, "loaded")], origin=(500_000.0, 4_800_000.0))
    assert main(["report", str(here), str(there), "-o", str(tmp_path / "out")]) == 2
    assert "overlaps no other file's footprint" in capsys.readouterr().err


def test_mixed_crs_is_handled_with_a_warning(tmp_path, capsys):
    """The same tanker written once from UTM and once from Web Mercator: one track, a loading event."""
    from pyproj import Transformer

    first = write_scene(tmp_path, "utm", DATES[0], [tanker(*A, "empty")])
    lonlat = pixels_to_lonlat("EPSG:32653", transform(), [[0, 0], [A[0], A[1]]])
    merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    corner_x, corner_y = merc.transform(*lonlat[0])
    centre_x, centre_y = merc.transform(*lonlat[1])
    scale = 1 / math.cos(math.radians(lonlat[1][1]))  # a Web Mercator metre is shorter on the ground
    second = write_scene(tmp_path, "merc", DATES[1],
                         [tanker((centre_x - corner_x) / scale, (corner_y - centre_y) / scale, A[2], "loaded")],
                         crs="EPSG:3857", origin=(corner_x, corner_y), pixel_size=scale)
    out = tmp_path / "out"
    assert main(["report", str(first), str(second), "-o", str(out)]) == 0
    assert "source CRSs differ" in capsys.readouterr().err
    assert [e["event"] for e in csv_rows(out / "events.csv")] == ["loading"]


def test_pixel_coordinate_files_are_skipped_and_named(tmp_path, capsys):
    paths = _series(tmp_path)
    pixel = write_scene(tmp_path, "nogeo", "2024-04-02", [tanker(*A, "empty")], georeferenced=False)
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json")
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), str(pixel), str(broken), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "nogeo.geojson: detections are in pixel coordinates" in err
    assert "broken.geojson: not a readable GeoJSON file" in err
    assert "Skipped" in (out / "report.md").read_text()


def test_no_usable_files_is_an_error(tmp_path, capsys):
    pixel = write_scene(tmp_path, "nogeo", DATES[0], [tanker(*A, "empty")], georeferenced=False)
    assert main(["report", str(pixel), "-o", str(tmp_path / "out")]) == 2
    assert "no usable detection files" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.geojson"), "-o", str(tmp_path / "out")]) == 2
    assert "missing.geojson: no such file" in capsys.readouterr().err


def test_dates_from_file_names_and_flags(tmp_path, capsys):
    a = write_scene(tmp_path, "terminal_20240301", None, [tanker(*A, "empty")])
    b = write_scene(tmp_path, "terminal_20240309", None, [tanker(*A, "loaded")])
    assert main(["report", str(a), str(b), "-o", str(tmp_path / "x")]) == 2
    assert "no acquisition date in the file; give --dates or --date-pattern" in capsys.readouterr().err
    assert main(["report", str(a), str(b), "-o", str(tmp_path / "p"), "--date-pattern", r"_(\d{8})"]) == 0
    assert csv_rows(tmp_path / "p" / "events.csv")[0]["date_after"] == "2024-03-09"
    assert main(["report", str(a), str(b), "-o", str(tmp_path / "f"), "--dates", "2024-05-02,2024-05-01"]) == 0
    assert csv_rows(tmp_path / "f" / "events.csv")[0]["event"] == "discharge"  # b came first by the flag
    assert main(["report", str(a), str(b), "-o", str(tmp_path / "g"), "--dates", "2024-05-02"]) == 2
    assert "--dates gives 1 dates for 2 files" in capsys.readouterr().err


def test_existing_report_needs_overwrite(tmp_path, capsys):
    paths = _series(tmp_path)
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out)]) == 0
    assert main(["report", *map(str, paths), "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["report", *map(str, paths), "-o", str(out), "--overwrite", "--cargo", "crude"]) == 0
    assert "Cargo 'crude'" in (out / "report.md").read_text()


def test_scoring_against_a_known_event_log(tmp_path, capsys):
    paths = _series(tmp_path)
    low, _, high = cargo_barrels(100)
    log = tmp_path / "events.csv"
    log.write_text("vessel_id,event,date_before,date_after,length_m,cargo_barrels\n"
                   f"A,loading,2024-03-01T02:10:00Z,2024-03-09T02:10:00Z,100,{(low + high) / 2}\n"
                   "A,departure,2024-03-17T02:10:00Z,2024-03-25T02:10:00Z,100,\n"
                   "B,arrival,2024-03-01T02:10:00Z,2024-03-09T02:10:00Z,180,\n"
                   "D,arrival,2024-03-09T02:10:00Z,2024-03-17T02:10:00Z,90,\n")  # never reported: missed
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out), "--truth-events", str(log)]) == 0
    # The loading was reported with a wider bracket (across the uncertain date) and still matches; the
    # discharge is not in the log: spurious. 3 of 4 true found, 3 of 4 reported right.
    assert "recall 0.750, precision 0.750; true volume within the stated range for 1/1" in capsys.readouterr().out
    assert "## Against the known event log" in (out / "report.md").read_text()
    log.write_text("event,date_before\nloading,2024-03-01\n")
    assert main(["report", *map(str, paths), "-o", str(out), "--overwrite", "--truth-events", str(log)]) == 2
    assert "events.csv:2: missing date_after" in capsys.readouterr().err


def test_caveats_name_the_model_and_coarse_dates(tmp_path):
    model = {"id": "ab" * 32, "gsd_range_m": [0.5, 3.0], "load_uncertain_band": [0.3, 0.7], "load_max_gsd_m": 3.0,
             "val_metrics": {"vessel_AP50": 0.8125, "load_accuracy": 0.9, "confusion": [[1, 2], [3, 4]]}}
    paths = [write_scene(tmp_path, "fine", DATES[0], [tanker(*A, "empty")], model=model),
             write_scene(tmp_path, "coarse", DATES[1], [tanker(A[0] / 10, A[1] / 10, A[2], "uncertain", gsd=10)],
                         gsd=10, model=model)]
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out)]) == 0
    caveats = (out / "report.md").read_text().split("## Caveats")[1]
    assert "model abababababababab" in caveats and "vessel_AP50 0.812" in caveats and "confusion" not in caveats
    assert "dates that coarse here: 2024-03-09T02:10:00Z" in caveats
    assert csv_rows(out / "events.csv") == []  # an uncertain sighting neither loads nor discharges


def test_min_score_drops_weak_detections(tmp_path):
    ghost = tanker(800, 150, 120, "empty", score=0.2)  # a weak false positive on the second date only
    paths = [write_scene(tmp_path, "d0", DATES[0], [tanker(*A, "empty")]),
             write_scene(tmp_path, "d1", DATES[1], [tanker(*A, "loaded"), ghost])]
    assert main(["report", *map(str, paths), "-o", str(tmp_path / "all")]) == 0
    assert [e["event"] for e in csv_rows(tmp_path / "all" / "events.csv")] == ["arrival", "loading"]
    assert main(["report", *map(str, paths), "-o", str(tmp_path / "strong"), "--min-score", "0.5"]) == 0
    assert [e["event"] for e in csv_rows(tmp_path / "strong" / "events.csv")] == ["loading"]
    assert "detections scored 0.5 or more" in (tmp_path / "strong" / "report.md").read_text()


def test_bad_flags_and_unwritable_output_are_one_line_errors(tmp_path, capsys):
    paths = _series(tmp_path)
    (tmp_path / "file").write_text("")
    assert main(["report", *map(str, paths), "-o", str(tmp_path / "file" / "out")]) == 2
    assert "cannot create the report folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["report", *map(str, paths), "-o", str(tmp_path / "out"), "--date-pattern", "(\\d{8"])
    assert exit_info.value.code == 2 and "not a regular expression" in capsys.readouterr().err


def test_aoi_elsewhere_is_an_error(tmp_path, capsys):
    paths = _series(tmp_path)
    aoi = tmp_path / "elsewhere.geojson"
    aoi.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[10, 50], [10.1, 50], [10.1, 50.1], [10, 50]]]}}))
    assert main(["report", *map(str, paths), "-o", str(tmp_path / "out"), "--aoi", str(aoi)]) == 2
    assert "d0.geojson: footprint does not overlap the area of interest" in capsys.readouterr().err
    aoi.write_text(json.dumps({"type": "Point", "coordinates": [10, 50]}))
    assert main(["report", *map(str, paths), "-o", str(tmp_path / "out"), "--aoi", str(aoi)]) == 2
    assert "elsewhere.geojson: no Polygon in the area of interest" in capsys.readouterr().err


def test_quicklooks_next_to_the_detections_are_copied_into_the_report(tmp_path):
    from PIL import Image

    paths = _series(tmp_path)
    Image.new("RGB", (8, 8), (0, 90, 160)).save(tmp_path / "d1.quicklook.png")
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out)]) == 0
    copied = list((out / "quicklooks").glob("*.png"))
    assert [p.name for p in copied] == ["001_20240309T021000.png"]
    assert copied[0].read_bytes() == (tmp_path / "d1.quicklook.png").read_bytes()
    assert "](quicklooks/001_20240309T021000.png)" in (out / "report.md").read_text()


def test_side_by_side_tankers_keep_their_own_tracks(tmp_path):
    """Two like tankers 40 m apart (ship-to-ship): each matches the nearer sighting, not the other ship."""
    near, far = (300, 300, 110), (300, 340, 105)
    paths = [write_scene(tmp_path, "d0", DATES[0], [tanker(*near, "empty"), tanker(*far, "loaded")]),
             write_scene(tmp_path, "d1", DATES[1], [tanker(far[0] + 5, far[1], far[2], "loaded"),
                                                    tanker(near[0] + 5, near[1], near[2], "loaded")])]
    out = tmp_path / "out"
    assert main(["report", *map(str, paths), "-o", str(out)]) == 0
    events = csv_rows(out / "events.csv")
    assert [(e["event"], e["track_id"], round(float(e["length_m"]))) for e in events] == [("loading", "1", 110)]
