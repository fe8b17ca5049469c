"""Ship-to-ship transfer candidates: the rafting rules, berths, the synthetic pairs and the report."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import shapely
from affine import Affine
from raster_helpers import write_geotiff
from rasterio.crs import CRS
from report_helpers import csv_rows

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.boxes import box_corners
from tankerwatch.infer.core.georef import pixels_to_lonlat
from tankerwatch.infer.report.inputs import ReportInputError, SeenVessel
from tankerwatch.infer.report.sts import learned_berths, read_berths
from tankerwatch.infer.report.tracking import Sighting, Track
from tankerwatch.infer.runtime.detection_file import Detection, read_detection_file, write_detection_files
from tankerwatch.infer.runtime.sts import Hull, find_rafts, flag_sts_pairs, max_gap_m, raft_ids, rafted
from tankerwatch.infer.synth.scene import SceneSettings, compose_scene, truth_detections

UTM = "EPSG:32653"
ORIGIN = (675000.0, 4740000.0)


def hull(cx, cy, length=100.0, width=16.0, angle=0.0, tanker=True) -> Hull:
    return Hull(box_corners([cx, cy, length, width, angle]), tanker)


def abreast(gap, length=100.0, width=16.0, shift=0.0, angle=0.0, tanker=True):
    """A second hull ``gap`` metres off the side of ``hull(0, 0)``, moved ``shift`` along it."""
    return hull(shift, width + gap, length, width, angle, tanker)


# --- the rules -------------------------------------------------------------------------------------

@pytest.mark.parametrize("gap", [2.0, 5.0, 7.9])
def test_parallel_hulls_a_fender_apart_are_rafted(gap):
    raft = rafted(hull(0, 0), abreast(gap), gsd_m=1.0)
    assert raft is not None and raft.gap_m == pytest.approx(gap) and raft.along_share == pytest.approx(1.0)


def test_the_gap_allowed_grows_by_two_pixels_of_the_gsd():
    assert max_gap_m(1.0) == 8.0 and max_gap_m(3.0) == 12.0
    assert rafted(hull(0, 0), abreast(11.0), gsd_m=1.0) is None
    assert rafted(hull(0, 0), abreast(11.0), gsd_m=3.0) is not None


def test_axes_more_than_ten_degrees_apart_are_not_rafted():
    assert rafted(hull(0, 0), abreast(4.0, angle=math.radians(8)), 1.0) is not None
    assert rafted(hull(0, 0), abreast(4.0, angle=math.radians(15)), 1.0) is None


def test_hulls_must_be_abreast_over_half_the_shorter_one():
    assert rafted(hull(0, 0), abreast(3.0, shift=45.0), 1.0) is not None  # 55 % overlap
    assert rafted(hull(0, 0), abreast(3.0, shift=60.0), 1.0) is None  # 40 %
    assert rafted(hull(0, 0), hull(103.0, 0), 1.0) is None  # end to end along a quay


def test_overlapping_boxes_pass_up_to_half_the_narrower_width_and_a_duplicate_does_not():
    raft = rafted(hull(0, 0), abreast(-4.0), 1.0)  # off-nadir, a box holds the hull side
    assert raft is not None and raft.gap_m == pytest.approx(-4.0)
    assert rafted(hull(0, 0), abreast(-10.0), 1.0) is None
    assert rafted(hull(0, 0), hull(1.0, 0.5), 1.0) is None


def test_a_pair_needs_a_tanker_and_two_hulls_of_forty_metres():
    assert rafted(hull(0, 0, tanker=False), abreast(3.0, tanker=False), 1.0) is None
    assert rafted(hull(0, 0), abreast(3.0, length=60.0, tanker=False), 1.0) is not None  # a bunker barge
    assert rafted(hull(0, 0), abreast(3.0, length=30.0, width=10.0, tanker=False), 1.0) is None  # a tug


def test_raft_ids_follow_the_order_of_each_rafts_first_vessel():
    hulls = [hull(500, 0), hull(0, 0), abreast(3.0), hull(500, 19.0), hull(0, 38.0), hull(2000, 0)]
    rafts = find_rafts(hulls, 1.0)
    assert [(r.first, r.second) for r in rafts] == [(0, 3), (1, 2), (2, 4)]
    assert raft_ids(len(hulls), rafts) == [1, 2, 2, 1, 2, None]


def test_flag_sts_pairs_sets_the_property_and_needs_a_gsd():
    def det(box, kind="tanker"):
        return Detection(box, 0.9, kind, 0.9, "loaded" if kind == "tanker" else "unknown",
                         0.9 if kind == "tanker" else None)

    detections = [det([100, 100, 50, 8, 0.3]), det([400, 400, 50, 8, 0.0]),
                  det([100 - 10 * math.sin(0.3), 100 + 10 * math.cos(0.3), 45, 8, 0.3], "other")]
    flagged = flag_sts_pairs(detections, gsd_m=2.0)  # 100 m and 90 m hulls, 4 m apart
    assert [d.extra["sts_pair"] for d in flagged] == [1, None, 1]
    assert [d.extra["sts_pair"] for d in flag_sts_pairs(detections, None)] == [None] * 3
    assert "sts_pair" not in detections[0].extra  # the inputs are left as they were


# --- berths ----------------------------------------------------------------------------------------

def test_berths_are_the_aoi_features_marked_so(tmp_path):
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kind": "berth"}, "geometry": {"type": "Point", "coordinates": [133, 42]}},
        {"type": "Feature", "properties": {"berth": "B2"}, "geometry": {"type": "Point", "coordinates": [133.1, 42]}},
        {"type": "Feature", "properties": {"name": "anchorage"},
         "geometry": {"type": "Polygon", "coordinates": [[[133, 42], [133.2, 42], [133.2, 42.2], [133, 42]]]}}]}))
    assert [b.x for b in read_berths(aoi)] == [133, 133.1]
    aoi.write_text(json.dumps({"type": "Feature", "properties": {"kind": "berth"}, "geometry": {"type": "Point"}}))
    with pytest.raises(ReportInputError, match=r"aoi.geojson: feature 0 \(a berth\): bad geometry"):
        read_berths(aoi)


def _track(track_id, lon, first, last) -> Track:
    vessel = SeenVessel(lon, 42.75, 100.0, 16.0, 90.0, "tanker", "empty", 0.1, 1.0)
    return Track(track_id, [Sighting(i, vessel) for i in range(first, last + 1)])


def test_a_berth_is_learned_where_two_tankers_lay_at_different_times_only():
    metre = 1 / 81_700  # degrees of longitude at 42.75 N
    tracks = [_track(1, 133.0, 0, 1), _track(2, 133.0 + 30 * metre, 2, 3),  # one after the other: a berth
              _track(3, 133.01, 0, 3), _track(4, 133.01 + 25 * metre, 1, 2)]  # side by side: a transfer
    berths = learned_berths(tracks)
    assert len(berths) == 2 and all(abs(b.x - 133.0) < 1e-3 for b in berths)


def test_a_spot_where_pair_after_pair_rafted_is_not_learned_as_a_berth():
    """A port's ship-to-ship area sees one transfer after another at the same spot: rafted sightings
    teach no berth, so the later pairs there are not hidden; a tanker that lay there alone does."""
    metre = 1 / 81_700
    first_pair = [_track(1, 133.0, 0, 2), _track(2, 133.0 + 25 * metre, 0, 2)]
    second_pair = [_track(3, 133.0 + 10 * metre, 4, 6), _track(4, 133.0 + 35 * metre, 4, 6)]
    rafted = {(i, t) for t, first in ((1, 0), (2, 0), (3, 4), (4, 4)) for i in range(first, first + 3)}
    assert learned_berths(first_pair + second_pair, rafted) == []
    assert len(learned_berths(first_pair + second_pair)) == 4
    rafted -= {(6, 3)}  # tanker 3 stayed on alone after its partner cast off
    assert len(learned_berths(first_pair + second_pair, rafted)) == 0  # 3 overlaps nobody alone in time
    later = _track(5, 133.0 + 5 * metre, 8, 9)
    assert len(learned_berths(first_pair + second_pair + [later], rafted)) == 2


# --- synthetic pairs -------------------------------------------------------------------------------

def _pairs(detections) -> dict[int, set]:
    pairs: dict[int, set] = {}
    for d in detections:
        if d.extra["sts_pair"] is not None:
            pairs.setdefault(d.extra["sts_pair"], set()).add(d.extra["vessel_id"])
    return pairs


def test_synth_scene_draws_pairs_with_truth_and_leaves_the_rest_of_the_scene_alone():
    settings = SceneSettings(size=2000, gsd_m=1.0, sts_pairs=2)
    world = compose_scene(3, settings)
    truth = truth_detections(world.ships, world.view)
    pairs = _pairs(truth)
    assert {"s000a", "s000b"} in pairs.values() and {"s001a", "s001b"} in pairs.values()
    assert all(len(p) == 2 for p in pairs.values())
    flagged = _pairs([d for d in flag_sts_pairs(truth, 1.0)])
    assert set(map(frozenset, pairs.values())) <= set(map(frozenset, flagged.values()))
    before = compose_scene(3, SceneSettings(size=2000, gsd_m=1.0, sts_pairs=0))
    same = [(s.vessel_id, tuple(s.centre)) for s in before.ships]
    assert [(s.vessel_id, tuple(s.centre)) for s in world.ships][:len(same)] == same
    assert before.atmosphere == world.atmosphere


def test_synth_scene_cli_writes_sts_pair_into_the_truth(tmp_path):
    scene = tmp_path / "s.tif"
    assert main(["synth", "scene", str(scene), "--size", "800", "--gsd", "2", "--seed", "1", "--sts", "2"]) == 0
    truth = read_detection_file(tmp_path / "s.truth.geojson")
    assert all("sts_pair" in p for p in truth.properties)
    assert len(_pairs(truth.detections)) >= 1


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sts") / "series"
    assert main(["synth", "series", str(out), "--dates", "4", "--size", "512", "--gsd", "2", "--seed", "3",
                 "--sts", "1"]) == 0
    return out



def test_synth_series_logs_a_transfer_whose_barrels_both_tankers_move(series):
    rows = csv_rows(series / "events.csv")
    transfers = [r for r in rows if r["event"] == "sts_transfer"]
    assert len(transfers) == 1
    giver, taker = transfers[0]["vessel_id"].split(";")
    moved = {(r["event"], r["vessel_id"]): float(r["cargo_barrels"]) for r in rows if r["event"] in ("loading", "discharge")}
    barrels = float(transfers[0]["cargo_barrels"])
    assert moved[("discharge", giver)] == pytest.approx(barrels, abs=1) == moved[("loading", taker)]
    assert json.loads((series / "manifest.json").read_text())["events"]["sts_transfer"] == 1


def test_report_lists_the_pairs_and_the_probable_transfer(series, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", *map(str, sorted(series.glob("*.truth.geojson"))), "-o", str(out), "--truth-events",
                 str(series / "events.csv")]) == 0
    printed = capsys.readouterr().out
    assert "1 probable transfers" in printed and "against the event log recall 1.000, precision 1.000" in printed
    pairs = csv_rows(out / "sts_pairs.csv")
    assert pairs and all({p["vessel_id_1"], p["vessel_id_2"]} == {"S001a", "S001b"} for p in pairs)
    assert all(p["type_1"] == p["type_2"] == "tanker" and p["load_1"] != p["load_2"] for p in pairs)
    (transfer,) = csv_rows(out / "sts_transfers.csv")
    true = next(r for r in csv_rows(series / "events.csv") if r["event"] == "sts_transfer")
    assert transfer["vessel_id"] == true["vessel_id"] == "S001a;S001b"
    assert (transfer["date_before"], transfer["date_after"]) == (true["date_before"], true["date_after"])
    assert float(transfer["barrels_low"]) <= float(true["cargo_barrels"]) <= float(transfer["barrels_high"])
    report = (out / "report.md").read_text()
    assert "## Ship-to-ship transfer candidates" in report and "track" in report and "sts_transfers.csv" in report


# --- berths in the report --------------------------------------------------------------------------

def _write_date(folder: Path, day: int, detections: list[Detection]) -> Path:
    transform = Affine(1.0, 0.0, ORIGIN[0], 0.0, -1.0, ORIGIN[1])
    acquired = datetime(2024, 5, day, 2, 10, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = {"source": f"d{day}.tif", "acquired": acquired, "gsd_m": 1.0, "model": None, "scaling": None}
    geojson, _ = write_detection_files(folder / f"d{day}", detections, header, crs=CRS.from_string(UTM),
                                       transform=transform, footprint_px=shapely.box(0, 0, 2000, 2000))
    return geojson


def _tanker(box, load):
    return Detection(box, 0.95, "tanker", 0.95, load, 0.9 if load == "loaded" else 0.1)


def test_a_pair_at_a_berth_is_left_out_and_a_pair_at_anchor_is_not(tmp_path, capsys):
    at_berth = [_tanker([300, 300, 120, 18, 0.0], "loaded"), _tanker([300, 322, 110, 18, 0.0], "empty")]
    at_anchor = [_tanker([1500, 1500, 120, 18, 0.5], "loaded"),
                 _tanker([1500 - 21 * math.sin(0.5), 1500 + 21 * math.cos(0.5), 118, 18, 0.5], "empty")]
    files = [_write_date(tmp_path, day, at_berth + at_anchor) for day in (1, 2)]
    to_lonlat = Affine(1.0, 0.0, ORIGIN[0], 0.0, -1.0, ORIGIN[1])
    berth = pixels_to_lonlat(UTM, to_lonlat, [[300, 280]])[0]
    area = pixels_to_lonlat(UTM, to_lonlat, [[0, 0], [2000, 0], [2000, 2000], [0, 2000], [0, 0]]).tolist()
    aoi = tmp_path / "terminal.geojson"
    aoi.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "terminal"}, "geometry": {"type": "Polygon", "coordinates": [area]}},
        {"type": "Feature", "properties": {"kind": "berth"},
         "geometry": {"type": "Point", "coordinates": [float(berth[0]), float(berth[1])]}}]}))
    assert read_detection_file(files[0]).detections[0].extra == {}  # files written without the property
    for args, pairs in (([], 4), (["--aoi", str(aoi)], 2)):
        out = tmp_path / f"report{len(args)}"
        assert main(["report", *map(str, files), "-o", str(out), *args]) == 0
        rows = csv_rows(out / "sts_pairs.csv")
        assert len(rows) == pairs
    assert all(float(r["lon"]) > float(berth[0]) + 0.01 for r in rows)
    assert "2 rafted pair(s) within 100 m of a berth left out" in (out / "report.md").read_text()
    assert not csv_rows(out / "sts_transfers.csv")  # nobody's load changed


def test_detect_writes_sts_pair_null_for_a_lone_vessel(blob_model, tmp_path):
    from detect_fixtures import paint_vessel

    image = np.full((3, 200, 200), 20, np.uint8)
    paint_vessel(image, [100.3, 100.6, 30.0, 7.0, 0.3], p_loaded=0.9)
    scene = tmp_path / "one.tif"
    write_geotiff(scene, image, crs=UTM, transform=Affine(2.0, 0.0, ORIGIN[0], 0.0, -2.0, ORIGIN[1]))
    assert main(["detect", str(blob_model), str(scene), "-o", str(tmp_path / "out"), "--threads", "1"]) == 0
    found = read_detection_file(tmp_path / "out" / "one.geojson")
    assert [p["sts_pair"] for p in found.properties] == [None]
    assert "sts_pair" in (tmp_path / "out" / "one.csv").read_text().splitlines()[0].split(",")
