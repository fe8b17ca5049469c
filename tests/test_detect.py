"""`tankerwatch detect` on generated GeoTIFF scenes, with a fixture model whose outputs we control.

The BlobDetector (tests/detect_fixtures.py) reports painted vessels exactly where they are, so these
tests check placement on the ground, the tile merge, resampling, load calls and file handling; the
detector's own accuracy is the model's business.
"""

import json
import math
import subprocess
import sys

import numpy as np
import onnx
import pytest
import rasterio
from affine import Affine
from detect_fixtures import labelled_blobs, paint_vessel
from PIL import Image
from pyproj import Geod

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.georef import pixels_to_lonlat
from tankerwatch.infer.formats.dataset import write_dataset
from tankerwatch.infer.runtime.detect import DEFAULT_MIN_SCORE, plan_tiles, run_tiles
from tankerwatch.infer.runtime.detection_file import read_detection_file
from tankerwatch.infer.runtime.onnx_model import OnnxDetector
from tankerwatch.infer.runtime.raster import inspect_raster, read_decimated
from tankerwatch.infer.runtime.tiling import DEFAULT_MAX_GSD_M
from tankerwatch.train.export import evaluate_onnx

UTM52N = "EPSG:32652"  # Vostochny, 42.75 N 133.07 E
ORIGIN = (675000.0, 4740000.0)
GEOD = Geod(ellps="WGS84")


def write_scene(path, array, gsd=2.0, georeferenced=True, acquired="2024-05-01T02:10:00Z", **profile):
    count, height, width = array.shape
    options = dict(driver="GTiff", width=width, height=height, count=count, dtype=array.dtype, **profile)
    if georeferenced:
        options.update(crs=UTM52N, transform=Affine(gsd, 0.0, ORIGIN[0], 0.0, -gsd, ORIGIN[1]))
    with rasterio.open(path, "w", **options) as ds:
        ds.write(array)
        if acquired:
            ds.update_tags(ACQUISITION_DATETIME=acquired)
    return path


def sea(height, width, bands=3, dtype=np.uint8):
    return np.full((bands, height, width), 20, dtype)


def run_detect(*args):
    return main(["detect", *map(str, args), "--threads", "1"])


def test_detections_land_on_the_truth_with_their_load_state(blob_model, tmp_path, capsys):
    vessels = [  # box (source px), p_loaded painted, expected load call
        ([310.3, 200.6, 36.0, 8.0, 0.35], 0.92, "loaded"),
        ([700.2, 420.7, 30.0, 7.0, -1.1], 0.08, "empty"),
        ([1050.6, 130.2, 40.0, 9.0, 1.4], 0.5, "uncertain"),
    ]
    image = sea(560, 1250)
    for box, p_loaded, _ in vessels:
        paint_vessel(image, box, p_loaded=p_loaded)
    paint_vessel(image, [150.4, 470.3, 28.0, 6.0, 0.0], p_loaded=0.0, p_other=1.0)
    scene = write_scene(tmp_path / "port.tif", image)
    assert run_detect(blob_model, scene, "-o", tmp_path / "out", "--tile", 384) == 0
    summary = capsys.readouterr().out
    assert "port.tif: 4 vessels: 3 tankers (1 empty, 1 loaded, 1 uncertain), 1 other" in summary

    result = read_detection_file(tmp_path / "out" / "port.geojson")
    assert result.georeferenced and result.header["acquired"] == "2024-05-01T02:10:00Z"
    assert result.header["gsd_m"] == pytest.approx(2.0, rel=0.01)
    assert result.footprint is not None and result.footprint.area > 0
    with rasterio.open(scene) as ds:
        crs, transform = ds.crs, ds.transform
    for box, _, load in vessels:
        truth = pixels_to_lonlat(crs, transform, [box[:2]])[0]
        found = [i for i, p in enumerate(result.polygons)
                 if GEOD.inv(*truth, p.centroid.x, p.centroid.y)[2] < 2.0]  # within one pixel on the ground
        assert len(found) == 1, box
        detection, props = result.detections[found[0]], result.properties[found[0]]
        assert detection.vessel_type == "tanker" and detection.load == load
        assert props["length_m"] == pytest.approx(box[2] * 2.0, abs=2.5)
        np.testing.assert_allclose(detection.box_px[:2], box[:2], atol=0.5)
    others = [d for d in result.detections if d.vessel_type == "other"]
    assert len(others) == 1 and others[0].load == "unknown" and others[0].p_loaded is None
    assert (tmp_path / "out" / "port.csv").read_text().count("\n") == 5
    assert Image.open(tmp_path / "out" / "port.quicklook.png").size == (1250, 560)


def test_vessels_straddling_tile_borders_are_found_once(blob_model, tmp_path):
    # --tile 384 at 2 m: overlap 170 px, tiles start at x = 0, 205, 411, 616; cores meet at 294.5,
    # 500 and 705.5. One vessel sits on a core boundary, one across the cut edge of tile 1 (x = 589),
    # one across two tile edges at once in x and y.
    boxes = [[500.4, 150.3, 44.0, 8.0, 0.1], [588.7, 300.2, 40.0, 8.0, 0.0], [410.6, 383.5, 40.0, 9.0, 1.2]]
    image = sea(620, 1000)
    for box in boxes:
        paint_vessel(image, box)
    scene = write_scene(tmp_path / "border.tif", image)
    assert run_detect(blob_model, scene, "-o", tmp_path / "tiled", "--tile", 384) == 0
    assert run_detect(blob_model, scene, "-o", tmp_path / "whole", "--tile", 1024) == 0
    tiled = read_detection_file(tmp_path / "tiled" / "border.geojson").detections
    whole = read_detection_file(tmp_path / "whole" / "border.geojson").detections
    assert json.loads((tmp_path / "tiled" / "border.geojson").read_text())["tankerwatch"]["tiling"]["tile_px"] == 384
    assert len(tiled) == len(whole) == len(boxes)
    for box in boxes:
        near = [d for d in tiled if math.dist(d.box_px[:2], box[:2]) < 2]
        assert len(near) == 1
        assert near[0].box_px[2] == pytest.approx(box[2], abs=1.0)  # whole, not a cut-off piece


def test_fine_scene_is_resampled_into_the_model_range(blob_model, tmp_path, capsys):
    # 0.5 m pixels, model trained for 1-4 m: run at 1 m, report boxes in the 0.5 m source pixels.
    box = [801.0, 402.0, 70.0, 16.0, 0.6]
    image = sea(900, 1600)
    paint_vessel(image, box, p_loaded=0.95)
    scene = write_scene(tmp_path / "fine.tif", image, gsd=0.5)
    assert run_detect(blob_model, scene, "-o", tmp_path / "out") == 0
    assert "resampling" in capsys.readouterr().err
    (detection,) = read_detection_file(tmp_path / "out" / "fine.geojson").detections
    np.testing.assert_allclose(detection.box_px[:2], box[:2], atol=1.0)
    assert detection.box_px[2] == pytest.approx(box[2], abs=2.0)
    assert detection.load == "loaded"


def test_load_is_uncertain_above_the_models_load_gsd(blob_model, tmp_path):
    image = sea(400, 600)
    paint_vessel(image, [300.3, 200.2, 20.0, 6.0, 0.3], p_loaded=0.95)
    scene = write_scene(tmp_path / "coarse.tif", image, gsd=3.5)  # inside 1-4 m, above load_max_gsd_m 3
    assert run_detect(blob_model, scene, "-o", tmp_path / "out") == 0
    (detection,) = read_detection_file(tmp_path / "out" / "coarse.geojson").detections
    assert detection.load == "uncertain" and detection.p_loaded > 0.9


def test_scene_without_vessels_gives_a_valid_empty_file(blob_model, tmp_path, capsys):
    scene = write_scene(tmp_path / "calm.tif", sea(300, 300))
    assert run_detect(blob_model, scene, "-o", tmp_path / "out") == 0
    data = json.loads((tmp_path / "out" / "calm.geojson").read_text())
    assert data["type"] == "FeatureCollection" and data["features"] == []
    assert data["tankerwatch"]["footprint"]["type"] == "Polygon"
    assert "calm.tif: 0 vessels" in capsys.readouterr().out


def test_image_without_georeferencing_gives_pixel_coordinates_and_a_warning(blob_model, tmp_path, capsys):
    image = sea(200, 240)
    paint_vessel(image, [120.3, 80.6, 30.0, 8.0, 0.2])
    Image.fromarray(image.transpose(1, 2, 0)).save(tmp_path / "plain.png")
    assert run_detect(blob_model, tmp_path / "plain.png", "-o", tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "no georeferencing" in err and "GSD unknown" in err
    result = read_detection_file(tmp_path / "out" / "plain.geojson")
    assert result.header["coordinates"] == "pixel" and len(result.detections) == 1
    assert result.header["gsd_m"] is None and result.properties[0]["length_m"] is None  # never a guess
    np.testing.assert_allclose(result.polygons[0].centroid.coords[0], [120.3, 80.6], atol=0.5)


def test_gsd_flag_sizes_an_image_without_georeferencing(blob_model, tmp_path, capsys):
    image = sea(400, 480)
    paint_vessel(image, [240.3, 200.6, 60.0, 14.0, 0.2])  # 30 m at 0.5 m: the model sees it at 1 m
    Image.fromarray(image.transpose(1, 2, 0)).save(tmp_path / "fine.png")
    assert run_detect(blob_model, tmp_path / "fine.png", "-o", tmp_path / "out", "--gsd", 0.5) == 0
    err = capsys.readouterr().err
    assert "resampling: scene GSD 0.50 m" in err and "GSD unknown" not in err
    result = read_detection_file(tmp_path / "out" / "fine.geojson")
    assert result.header["gsd_m"] == 0.5 and result.properties[0]["length_m"] == pytest.approx(30.0, abs=1.5)


def test_folder_run_skips_broken_files_and_reruns_skip_done_scenes(blob_model, tmp_path, capsys):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    image = sea(300, 300)
    paint_vessel(image, [150.5, 150.5, 30.0, 8.0, 0.5])
    write_scene(scenes / "a_good.tif", image)
    good_bytes = (scenes / "a_good.tif").read_bytes()
    (scenes / "b_truncated.tif").write_bytes(good_bytes[: len(good_bytes) // 3])
    (scenes / "c_text.tif").write_text("not an image\n")
    write_scene(scenes / "d_gray.tif", sea(300, 300, bands=1))
    out = tmp_path / "out"
    assert run_detect(blob_model, scenes, "-o", out) == 1
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 3
    assert any("b_truncated.tif" in s for s in skipped) and any("c_text.tif" in s for s in skipped)
    assert any("d_gray.tif" in s and "1 band(s) but the model takes 3" in s for s in skipped)
    assert "3 of 4 scenes failed" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["a_good.csv", "a_good.geojson", "a_good.quicklook.pgw",
                                                     "a_good.quicklook.png", "a_good.quicklook.png.aux.xml"]

    before = (out / "a_good.geojson").stat().st_mtime_ns
    run_detect(blob_model, scenes / "a_good.tif", "-o", out)
    assert "already done" in capsys.readouterr().out
    assert (out / "a_good.geojson").stat().st_mtime_ns == before
    first = (out / "a_good.geojson").read_bytes()
    assert run_detect(blob_model, scenes / "a_good.tif", "-o", out, "--overwrite") == 0
    assert (out / "a_good.geojson").read_bytes() == first  # deterministic


def rewrite_metadata(source, target, change):
    proto = onnx.load(str(source))
    props = {p.key: p.value for p in proto.metadata_props}
    change(props)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(target))
    return target


@pytest.mark.parametrize("case, expected", [
    ("text", "not an ONNX model"),
    ("no_metadata", "without tankerwatch metadata"),
    ("future_version", "format_version 99 is not one this tankerwatch reads"),
    ("bad_json", "tankerwatch.top_k is not valid JSON"),
    ("bad_band", "load_uncertain_band must be"),
    ("zero_reach", "max_vessel_px must be a finite number > 0"),
    ("nan_reach", "max_vessel_px must be a finite number > 0"),
    ("text_reach", "max_vessel_px must be a finite number > 0"),
])
def test_bad_models_are_refused_in_one_line(blob_model, tmp_path, capsys, case, expected):
    bad = tmp_path / "bad.onnx"
    if case == "text":
        bad.write_text("hello\n")
    else:
        edits = {
            "no_metadata": lambda p: p.clear(),
            "future_version": lambda p: p.update({"tankerwatch.format_version": "99"}),
            "bad_json": lambda p: p.update({"tankerwatch.top_k": "{32"}),
            "bad_band": lambda p: p.update({"tankerwatch.load_uncertain_band": "[0.8, 0.2]"}),
            "zero_reach": lambda p: p.update({"tankerwatch.max_vessel_px": "0"}),
            "nan_reach": lambda p: p.update({"tankerwatch.max_vessel_px": "NaN"}),
            "text_reach": lambda p: p.update({"tankerwatch.max_vessel_px": '"190 px"'}),
        }
        rewrite_metadata(blob_model, bad, edits[case])
    scene = write_scene(tmp_path / "s.tif", sea(100, 100))
    assert run_detect(bad, scene, "-o", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and "bad.onnx" in err
    assert not list((tmp_path / "out").glob("*.geojson"))


def test_bad_scene_inputs_are_refused_in_one_line(blob_model, tmp_path, capsys):
    wide = write_scene(tmp_path / "wide.tif", sea(100, 100, dtype=np.uint16))
    assert run_detect(blob_model, wide, "-o", tmp_path / "out") == 2
    assert "uint16 pixels would saturate the model's 8-bit fixed value range" in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    scene = write_scene(tmp_path / "s.tif", sea(100, 100))
    assert run_detect(blob_model, scene, "-o", blocker / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "output folder is not writable" in err
    assert run_detect(blob_model, tmp_path / "missing.tif", "-o", tmp_path / "out") == 2
    assert "missing.tif" in capsys.readouterr().err
    assert not list((tmp_path / "out").iterdir())  # nothing half-written


def test_console_script_runs_detect(blob_model, tmp_path):
    scene = write_scene(tmp_path / "one.tif", sea(128, 128))
    done = subprocess.run([sys.executable, "-m", "tankerwatch.infer.cli", "detect", str(blob_model), str(scene),
                           "-o", str(tmp_path / "out"), "--device", "cpu"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "one.tif: 0 vessels" in done.stdout and "on cpu" in done.stderr


def test_blob_model_scores_perfectly_on_its_own_colour_code(blob_model, tmp_path):
    # evaluate_onnx (export's accuracy report) against a model whose answers are known.
    write_dataset(labelled_blobs(tmp_path / "raw", count=2), tmp_path / "val", "dota")
    figures = evaluate_onnx(blob_model, tmp_path / "val")
    assert figures["vessel_AP50"] > 0.99 and figures["load_accuracy"] == 1.0


def test_evaluation_resamples_into_the_models_range_as_detect_does(blob_model, tmp_path):
    """Images at 3 m, a model trained at 1-4 m: evaluated enlarged 1.5x to 2 m (detect's default
    --max-gsd), boxes mapped back to the image's pixels, so the perfect answers stay perfect."""
    images = labelled_blobs(tmp_path / "raw", count=2)
    for image in images:
        image.gsd_m = 3.0
    write_dataset(images, tmp_path / "val", "dota")
    figures = evaluate_onnx(blob_model, tmp_path / "val")
    assert figures["vessel_AP50"] > 0.99 and figures["vessel_AP50_95"] > 0.5


def test_min_score_sets_the_operating_point_and_is_recorded(blob_model, tmp_path, capsys):
    image = sea(300, 400)
    paint_vessel(image, [200.3, 150.6, 36.0, 8.0, 0.35], p_loaded=0.9)
    scene = write_scene(tmp_path / "port.tif", image)
    counts = {}
    for min_score in (0.0, 1.0):
        out = tmp_path / f"out{min_score}"
        assert run_detect(blob_model, scene, "-o", out, "--min-score", min_score) == 0
        result = read_detection_file(out / "port.geojson")
        assert result.header["min_score"] == min_score
        counts[min_score] = len(result.detections)
    assert counts[0.0] >= 1 and counts[1.0] == 0
    assert run_detect(blob_model, scene, "-o", tmp_path / "bad", "--min-score", 1.5) == 2
    assert "--min-score must be between 0 and 1" in capsys.readouterr().err


# -- two passes: a model that boxes vessels only up to max_vessel_px ---------------------------------

@pytest.fixture(scope="module")
def reach_models(reach_model, tmp_path_factory):
    """The session's ``reach_model`` and the same file without ``max_vessel_px`` (a model exported
    before the key existed)."""
    plain = tmp_path_factory.mktemp("reach") / "plain.onnx"
    rewrite_metadata(reach_model, plain, lambda p: p.pop("tankerwatch.max_vessel_px"))
    return reach_model, plain


LONG = [420.3, 300.6, 100.0, 16.0, 0.3]  # 250 m at 2.5 m: twice the blob window, 2.3 x max_vessel_px
SHORT = [[120.4, 110.2, 24.0, 7.0, -0.4], [760.6, 480.3, 30.0, 8.0, 1.1], [150.2, 500.7, 20.0, 6.0, 0.0]]


def long_vessel_scene(path, gsd=2.5):
    # The short vessels lie farther from the long one than a coarse window reaches (the fixture
    # measures every bright pixel in its window); alongside is merge_passes' unit test's business.
    image = sea(600, 900)
    paint_vessel(image, LONG, p_loaded=0.92)
    for box in SHORT:
        paint_vessel(image, box, p_loaded=0.1)
    paint_vessel(image, [780.2, 100.5, 26.0, 7.0, 0.5], p_other=1.0)
    return write_scene(path, image, gsd=gsd)


def near(detections, box, tolerance=3.0):
    return [d for d in detections if math.dist(d.box_px[:2], box[:2]) < tolerance]


def test_coarse_pass_finds_a_vessel_longer_than_the_model_reaches_once(reach_models, tmp_path, capsys):
    scene = long_vessel_scene(tmp_path / "long.tif")
    # --max-gsd 16: the fine pass at the scene's own 2.5 m, not enlarged into the model's range.
    assert run_detect(reach_models[0], scene, "-o", tmp_path / "out", "--max-gsd", 16) == 0
    captured = capsys.readouterr()
    # 340 m at 2.5 m is 136 px, 3.09 x the model's 44: the second pass runs at 7.73 m.
    assert "note: long.tif: coarse pass at 7.73 m" in captured.err
    assert "long.tif: 5 vessels: 4 tankers (3 empty, 1 loaded, 0 uncertain), 1 other" in captured.out
    result = read_detection_file(tmp_path / "out" / "long.geojson")
    assert len(result.detections) == 5
    (index,) = [i for i, d in enumerate(result.detections) if math.dist(d.box_px[:2], LONG[:2]) < 3.0]
    big = result.detections[index]
    assert big.box_px[2] == pytest.approx(LONG[2], abs=3.0) and big.box_px[3] == pytest.approx(LONG[3], abs=3.0)
    assert big.box_px[4] == pytest.approx(LONG[4], abs=0.05) and big.load == "loaded"
    assert result.properties[index]["length_m"] == pytest.approx(250.0, abs=8.0)
    for box in SHORT:  # from the fine pass: full-resolution boxes
        (small,) = near(result.detections, box, 1.0)
        assert small.box_px[2] == pytest.approx(box[2], abs=1.0) and small.load == "empty"
    # the schema is unchanged: the same header members as a single-pass run
    header = json.loads((tmp_path / "out" / "long.geojson").read_text())["tankerwatch"]
    assert set(header["tiling"]) == {"tile_px", "overlap_px", "model_gsd_m", "test_time_flips"}
    assert header["tiling"]["model_gsd_m"] == 2.5 and header["tiling"]["test_time_flips"] is False


def single_pass_boxes(model, scene, max_gsd_m=DEFAULT_MAX_GSD_M):
    """What detect did before the coarse pass existed: one grid, one run, NMS across tiles."""
    detector = OnnxDetector(model, device="cpu", threads=1)
    info = inspect_raster(scene)
    grid = plan_tiles(info, info.gsd_m, detector, None, [], max_gsd_m=max_gsd_m)
    preview, valid = read_decimated(scene, 2048, bands=detector.info.scaling.bands)
    lo, hi = detector.info.scaling.limits(preview, valid)
    found = run_tiles(detector, scene, grid, lo, hi, 2, progress=False)
    return found.boxes[found.scores >= DEFAULT_MIN_SCORE]


def test_model_without_max_vessel_px_runs_the_single_pass(reach_models, tmp_path, capsys):
    scene = long_vessel_scene(tmp_path / "long.tif")
    assert run_detect(reach_models[1], scene, "-o", tmp_path / "out") == 0
    assert "coarse" not in capsys.readouterr().err
    detections = read_detection_file(tmp_path / "out" / "long.geojson").detections
    np.testing.assert_allclose(np.array([d.box_px for d in detections]), single_pass_boxes(reach_models[1], scene),
                               atol=1e-3)  # rounded in the file
    # ...which boxes the long vessel short: what the coarse pass is for.
    pieces = [d for d in detections if math.dist(d.box_px[:2], LONG[:2]) < LONG[2] / 2]
    assert pieces and all(d.box_px[2] < LONG[2] - 20 for d in pieces)


def test_no_coarse_pass_where_the_longest_vessel_fits(reach_models, tmp_path, capsys):
    # At 8 m the longest vessel is 42.5 px, inside the model's 44: one pass, as before.
    image = sea(300, 400)
    paint_vessel(image, [200.3, 150.6, 30.0, 7.0, 0.2])
    scene = write_scene(tmp_path / "coarse.tif", image, gsd=8.0)
    assert run_detect(reach_models[0], scene, "-o", tmp_path / "out", "--max-gsd", 16) == 0
    assert "coarse" not in capsys.readouterr().err
    detections = read_detection_file(tmp_path / "out" / "coarse.geojson").detections
    np.testing.assert_allclose(np.array([d.box_px for d in detections]),
                               single_pass_boxes(reach_models[0], scene, max_gsd_m=16), atol=1e-3)
    # By default the 8 m scene runs enlarged to 2 m, where the longest vessel (170 px) needs the coarse pass.
    assert run_detect(reach_models[0], scene, "-o", tmp_path / "enlarged") == 0
    err = capsys.readouterr().err
    assert "enlarged: scene GSD 8.00 m is above --max-gsd 2 m; running at 2.00 m" in err and "coarse pass" in err
    header = json.loads((tmp_path / "enlarged" / "coarse.geojson").read_text())["tankerwatch"]
    assert header["tiling"]["model_gsd_m"] == pytest.approx(2.0, abs=1e-3) and header["gsd_m"] == pytest.approx(8.0, abs=1e-3)
