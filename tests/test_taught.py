"""A model claims only what it was taught: training records which heads had labels, the ONNX
metadata carries it (``tankerwatch.taught``), and ``detect`` and ``report`` report the rest as unknown.

One fixture model is exported through the real export path with ``taught`` saying no type and no
load; the load-only and pre-``taught`` variants are that file with its metadata rewritten.
"""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest
from detect_fixtures import FIXTURE_META, BlobDetector, paint_vessel
from PIL import Image
from report_helpers import write_scene as write_detections
from test_detect import rewrite_metadata, run_detect, sea, write_scene

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.errors import ModelError
from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType
from tankerwatch.infer.runtime.detection_file import Detection, read_detection_file
from tankerwatch.infer.runtime.onnx_model import OnnxDetector
from tankerwatch.infer.runtime.quicklook import CLASS_STYLE
from tankerwatch.train.datamodule import label_counts_of, taught_heads
from tankerwatch.train.export import export_onnx, model_metadata

SHIP_COUNTS = {"vessels": 40, "tanker": 0, "other": 0, "empty": 0, "loaded": 0}


@pytest.fixture(scope="module")
def untyped_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("taught") / "ships.onnx"
    export_onnx(BlobDetector(), {**FIXTURE_META, "taught": {"type": False, "load": False},
                                 "label_counts": SHIP_COUNTS}, path)
    return path


def with_taught(source, target, text):
    """A copy of ``source`` whose ``tankerwatch.taught`` is ``text`` (None: no such key, as before it existed)."""
    def change(props):
        props.pop("tankerwatch.taught")
        if text is not None:
            props["tankerwatch.taught"] = text
    return rewrite_metadata(source, target, change)


def port(path, boxes=(([60.3, 60.6, 30.0, 7.0, 0.3], 0.92, 0.0), ([180.2, 140.7, 26.0, 6.0, -1.1], 0.08, 0.0),
                      ([100.6, 200.2, 24.0, 6.0, 1.4], 0.0, 1.0))):
    """A 2 m scene with a loaded tanker, an empty one and an other vessel, in the BlobDetector's code."""
    image = sea(256, 256)
    for box, p_loaded, p_other in boxes:
        paint_vessel(image, box, p_loaded=p_loaded, p_other=p_other)
    return write_scene(path, image)


def test_model_not_taught_types_reports_every_vessel_as_unknown(untyped_model, tmp_path, capsys):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    port(scenes / "a.tif")
    port(scenes / "b.tif")
    out = tmp_path / "out"
    assert run_detect(untyped_model, scenes, "-o", out) == 0
    captured = capsys.readouterr()
    assert captured.err.count("note: ships.onnx was trained without type labels: vessels are reported with "
                              "type 'unknown'") == 1
    lines = captured.out.strip().splitlines()
    assert [line.split(" -> ")[0] for line in lines] == ["a.tif: 3 vessels (types not taught)",
                                                         "b.tif: 3 vessels (types not taught)"]
    assert "tanker" not in captured.out and "other" not in captured.out
    for stem in ("a", "b"):
        parsed = read_detection_file(out / f"{stem}.geojson")
        assert len(parsed.detections) == 3
        assert all((d.vessel_type, d.type_score, d.load, d.p_loaded) == ("unknown", None, "unknown", None)
                   for d in parsed.detections)
        model = parsed.header["model"]
        assert model["taught"] == {"type": False, "load": False} and model["label_counts"] == SHIP_COUNTS
        with open(out / f"{stem}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert {(r["type"], r["type_score"], r["load"], r["p_loaded"]) for r in rows} == {("unknown", "", "unknown", "")}
    picture = np.asarray(Image.open(out / "a.quicklook.png").convert("RGB"))
    assert (picture == CLASS_STYLE["vessel"][1]).all(axis=2).any()


def test_model_not_taught_load_reports_tankers_without_a_load_state(untyped_model, tmp_path, capsys):
    model = with_taught(untyped_model, tmp_path / "typed.onnx", '{"load": false, "type": true}')
    scenes = [port(tmp_path / "a.tif"), port(tmp_path / "b.tif")]
    assert run_detect(model, *scenes, "-o", tmp_path / "out") == 0
    captured = capsys.readouterr()
    assert captured.err.count("note: typed.onnx was trained without load labels: tankers are reported with "
                              "load 'unknown'") == 1
    assert "a.tif: 3 vessels: 2 tankers (load not taught), 1 other ->" in captured.out
    detections = read_detection_file(tmp_path / "out" / "a.geojson").detections
    assert sorted((d.vessel_type, d.load, d.p_loaded) for d in detections) == [
        ("other", "unknown", None), ("tanker", "unknown", None), ("tanker", "unknown", None)]
    assert all(d.type_score is not None for d in detections)


def test_model_exported_before_the_key_is_taught_both(untyped_model, tmp_path, capsys):
    model = with_taught(untyped_model, tmp_path / "old.onnx", None)
    info = OnnxDetector(model).info
    assert (info.types_taught, info.load_taught, info.untaught_note()) == (True, True, None)
    assert run_detect(model, port(tmp_path / "a.tif"), "-o", tmp_path / "out") == 0
    captured = capsys.readouterr()
    assert "trained without" not in captured.err
    assert "a.tif: 3 vessels: 2 tankers (1 empty, 1 loaded, 0 uncertain), 1 other ->" in captured.out
    parsed = read_detection_file(tmp_path / "out" / "a.geojson")
    assert parsed.header["model"]["taught"] == {"type": True, "load": True}
    assert sorted(d.load for d in parsed.detections) == ["empty", "loaded", "unknown"]


@pytest.mark.parametrize("key, text, expected", [
    ("taught", '"no"', "taught must be a mapping"),
    ("taught", '{"type": false}', "taught must be a mapping"),
    ("taught", '{"type": 0, "load": 1}', "taught must be a mapping"),
    ("label_counts", '{"tanker": -1}', "label_counts must be a mapping of label names to whole numbers"),
])
def test_bad_taught_metadata_is_refused_in_one_line(untyped_model, tmp_path, capsys, key, text, expected):
    bad = rewrite_metadata(untyped_model, tmp_path / "bad.onnx", lambda props: props.update({f"tankerwatch.{key}": text}))
    assert run_detect(bad, port(tmp_path / "s.tif"), "-o", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and "bad.onnx" in err


def test_export_carries_taught_only_when_the_checkpoint_records_it():
    values = model_metadata(BlobDetector(), {**FIXTURE_META, "taught": {"type": True, "load": False},
                                             "label_counts": {"vessels": 3, "tanker": 2, "other": 1}})
    assert values["taught"] == {"type": True, "load": False} and values["label_counts"]["tanker"] == 2
    assert "taught" not in model_metadata(BlobDetector(), FIXTURE_META)  # an older checkpoint
    with pytest.raises(ModelError, match="taught must be"):
        model_metadata(BlobDetector(), {**FIXTURE_META, "taught": {"type": "yes", "load": True}})


def test_label_counts_need_both_type_classes_and_cue_widths_for_load():
    def source(gsd_m, *classes, widths=None, upsample=1.0):
        extra = {} if widths is None else {"shadow_width_m": widths[0], "side_strip_m": widths[1]}
        vessels = [Vessel([50, 50, 20, 5, 0], t, s, **extra) for t, s in classes]
        return SimpleNamespace(image=LabelledImage("x.png", 100, 100, gsd_m, vessels), gsd_m=gsd_m, upsample=upsample)

    empty, loaded = (VesselType.TANKER, LoadState.EMPTY), (VesselType.TANKER, LoadState.LOADED)
    other, ship = (VesselType.OTHER, LoadState.UNKNOWN), (VesselType.UNKNOWN, LoadState.UNKNOWN)
    ships = label_counts_of([source(10.0, ship, ship)], load_max_gsd_m=3.0)
    assert ships == {"vessels": 2, "tanker": 0, "other": 0, "empty": 0, "loaded": 0, "cue_widths": 0}
    assert taught_heads(ships) == {"type": False, "load": False, "laden_fraction": False}
    # Load labels without measured widths teach the load stage nothing; one type class teaches no type.
    tankers_only = label_counts_of([source(1.0, empty, loaded)], load_max_gsd_m=3.0)
    assert (tankers_only["empty"], tankers_only["loaded"]) == (1, 1)
    assert taught_heads(tankers_only) == {"type": False, "load": False, "laden_fraction": False}
    measured = label_counts_of([source(1.0, empty, loaded, other, widths=(3.0, 1.0))], load_max_gsd_m=3.0)
    assert measured["cue_widths"] == 2  # tankers only
    assert taught_heads(measured) == {"type": True, "load": True, "laden_fraction": True}
    # Load labels at 10 m are not counted; the scale jitter's finest crop of a 3.5 m image is.
    coarse = label_counts_of([source(10.0, empty, loaded, other)], load_max_gsd_m=3.0, max_scale=1.25)
    assert (coarse["empty"], coarse["loaded"], coarse["tanker"]) == (0, 0, 2)
    jittered = label_counts_of([source(3.5, empty, loaded, other)], load_max_gsd_m=3.0, max_scale=1.25)
    assert (jittered["empty"], jittered["loaded"]) == (1, 1)
    # Widths count where the load is visible, as the crops give them.
    too_coarse = label_counts_of([source(10.0, empty, loaded, widths=(3.0, 1.0))], load_max_gsd_m=3.0, max_scale=1.25)
    assert too_coarse["cue_widths"] == 0 and not taught_heads(too_coarse)["load"]


def test_detection_of_unknown_type_has_no_type_score_or_load():
    box = [10, 10, 20, 5, 0]
    assert Detection(box, 0.9, "unknown", None, "unknown", None).type_score is None
    for bad in (dict(type_score=0.5, load="unknown", p_loaded=None), dict(type_score=None, load="loaded", p_loaded=0.9)):
        with pytest.raises(ValueError):
            Detection(box, 0.9, "unknown", **bad)
    with pytest.raises(ValueError, match="type_score is null exactly when"):
        Detection(box, 0.9, "tanker", None, "loaded", 0.9)


def test_report_counts_no_tankers_from_a_model_not_taught_types(tmp_path, capsys):
    model = {"id": "cd" * 32, "taught": {"type": False, "load": False}}
    untyped = [Detection([200, 200, 100, 17, 0.0], 0.9, "unknown", None, "unknown", None),
               Detection([600, 300, 30, 5, 0.0], 0.8, "unknown", None, "unknown", None)]
    paths = [write_detections(tmp_path, f"d{i}", date, untyped, model=model)
             for i, date in enumerate(("2024-03-01T02:10:00Z", "2024-03-09T02:10:00Z"))]
    out = tmp_path / "report"
    assert main(["report", *map(str, paths), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "0 tankers tracked, 0 events" in captured.out
    assert captured.err.count("trained without type labels") == 1
    with open(out / "counts.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["tankers"], r["other_vessels"]) for r in rows] == [("0", "0"), ("0", "0")]
    document = (out / "report.md").read_text()
    assert "2 of 2 files come from a model trained without type labels: their 4 vessels are of unknown type" in document
    assert "trained without type labels, so its vessels are of unknown type" in document.split("## Caveats")[1]
    assert json.loads(paths[0].read_text())["features"][0]["properties"]["type"] == "unknown"
