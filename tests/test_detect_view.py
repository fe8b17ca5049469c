"""`tankerwatch detect` with a format_version 3 model: the sun and view angles it feeds, where it
finds them, what it refuses, and the freeboard it writes.

The ViewBlobDetector (tests/detect_fixtures.py) reports a freeboard that encodes the view row it was
given, and a spy on the session records every row, so these tests prove the exact row: the model
input's GSD at each pass, image-frame azimuths, NaN without angles.
"""

import inspect
import json
import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from raster_helpers import write_geotiff

from tankerwatch.infer.cli import main
from tankerwatch.infer.runtime.detection_file import read_detection_file
from tankerwatch.infer.runtime.onnx_model import OnnxDetector
from tankerwatch.infer.runtime.view_angles import image_azimuth_deg

torch = pytest.importorskip("torch")
from detect_fixtures import (  # noqa: E402  (needs torch)
    FIXTURE_META,
    NO_ANGLES_HALF_WIDTH,
    REACH_META,
    ViewBlobDetector,
    expected_freeboard,
    paint_vessel,
)

from tankerwatch.train import export  # noqa: E402

UTM52N = "EPSG:32652"
ORIGIN = (675000.0, 4740000.0)
TAGS = {"SUN_ELEVATION": "45.0", "SUN_AZIMUTH": "150.0", "VIEW_ZENITH": "20.0", "VIEW_AZIMUTH": "100.0"}
IMD_TEXT = "BEGIN_GROUP = IMAGE_1\n\tmeanSunAz = {az};\n\tmeanSunEl = 45.0;\n\tmeanSatAz = 100.0;\n" \
           "\tmeanSatEl = 70.0;\nEND_GROUP = IMAGE_1\n"


def _export_view_model(meta, path):
    if "view_input" not in inspect.getsource(export):
        pytest.skip("train/export.py does not export the view input (format_version 3) yet")
    export.export_onnx(ViewBlobDetector(), meta, path)
    return path


@pytest.fixture(scope="module")
def view_model(tmp_path_factory):
    return _export_view_model(FIXTURE_META, tmp_path_factory.mktemp("view_model") / "view.onnx")


@pytest.fixture
def fed(monkeypatch):
    """Every view row the model is given, in call order (one per image)."""
    rows = []
    real = OnnxDetector.run

    def spy(self, images, view=None):
        if view is not None:
            rows.extend(np.broadcast_to(np.asarray(view, np.float32), (len(images), 5)).tolist())
        return real(self, images, view)

    monkeypatch.setattr(OnnxDetector, "run", spy)
    return rows


def write_scene(path, gsd=2.0, tags=None, transform=None, size=(300, 400)):
    """A georeferenced 8-bit scene with one loaded tanker painted in the BlobDetector's code."""
    image = np.full((3, *size), 20, np.uint8)
    paint_vessel(image, [200.3, 150.6, 30.0, 7.0, 0.4], p_loaded=0.9)
    return write_geotiff(path, image, crs=UTM52N, tags=tags,
                         transform=transform or Affine(gsd, 0.0, ORIGIN[0], 0.0, -gsd, ORIGIN[1]))


def detect(*args):
    return main(["detect", *map(str, args), "--threads", "1", "--min-score", "0.5"])


def the_tanker(out, stem="s"):
    result = read_detection_file(out / f"{stem}.geojson")
    tankers = [p for p in result.properties if p["type"] == "tanker"]
    assert len(tankers) == 1
    return result.header, tankers[0]


def image_row(gsd, path, sun_el, sun_az, zenith, view_az):
    with rasterio.open(path) as ds:
        crs, transform, w, h = ds.crs, ds.transform, ds.width, ds.height
    return [gsd, sun_el, image_azimuth_deg(sun_az, crs, transform, w, h), zenith,
            image_azimuth_deg(view_az, crs, transform, w, h)]


def assert_freeboard(tanker, row):
    central, lo, hi = expected_freeboard(row)
    # The file keeps 2 decimals; the graph computes in float32.
    assert (tanker["freeboard_m"], tanker["freeboard_m_lo"], tanker["freeboard_m_hi"]) == pytest.approx(
        (central, lo, hi), abs=0.006)


def test_a_synthetic_scene_feeds_its_tags_in_the_image_frame(view_model, tmp_path, fed, capsys):
    scene = tmp_path / "port.tif"
    assert main(["synth", "scene", str(scene), "--size", "300", "--gsd", "2", "--seed", "5"]) == 0
    with rasterio.open(scene) as ds:
        tags = ds.tags()
    assert detect(view_model, scene, "-o", tmp_path / "out") == 0
    assert "geometry-free" not in capsys.readouterr().err
    header = read_detection_file(tmp_path / "out" / "port.geojson").header
    angles = [float(tags[k]) for k in ("SUN_ELEVATION", "SUN_AZIMUTH", "VIEW_ZENITH", "VIEW_AZIMUTH")]
    expected = image_row(header["tiling"]["model_gsd_m"], scene, *angles)
    assert fed and all(row == pytest.approx(expected, abs=1e-3) for row in fed)
    view = header["view"]
    assert view["source"] == "GeoTIFF tags" and view["load_geometry"] == "angles"
    assert [view[k] for k in ("sun_elevation_deg", "sun_azimuth_deg", "view_zenith_deg", "view_azimuth_deg")] \
        == pytest.approx(angles)
    # A UTM scene away from its zone's central meridian: grid north is not true north.
    assert view["image_sun_azimuth_deg"] == pytest.approx(expected[2], abs=1e-3)
    assert abs(view["image_sun_azimuth_deg"] - view["sun_azimuth_deg"]) > 0.1


def test_the_freeboard_is_the_models_and_flags_win_over_tags(view_model, tmp_path, fed, capsys):
    scene = write_scene(tmp_path / "s.tif", tags=TAGS)
    assert detect(view_model, scene, "-o", tmp_path / "tags") == 0
    header, tanker = the_tanker(tmp_path / "tags")
    row = image_row(2.0, scene, 45.0, 150.0, 20.0, 100.0)
    assert fed[0] == pytest.approx(row, abs=1e-3)
    assert_freeboard(tanker, row)
    assert tanker["freeboard_m_lo"] < tanker["freeboard_m"] < tanker["freeboard_m_hi"]

    fed.clear()
    assert detect(view_model, scene, "-o", tmp_path / "flags", "--sun-elevation", 30, "--sun-azimuth", 200,
                  "--view-zenith", 0) == 0
    header, tanker = the_tanker(tmp_path / "flags")
    assert header["view"]["source"] == "flags" and header["view"]["view_azimuth_deg"] is None
    row = image_row(2.0, scene, 30.0, 200.0, 0.0, 0.0)
    row[4] = 0.0  # nadir: no azimuth, fed as 0
    assert fed[0] == pytest.approx(row, abs=1e-3)
    assert_freeboard(tanker, row)


def test_sidecars_beside_the_scene_or_given(view_model, tmp_path, fed):
    scene = write_scene(tmp_path / "s.tif")
    (tmp_path / "s.angles.json").write_text(json.dumps({
        "sun_elevation_deg": 35.0, "sun_azimuth_deg": 120.0, "view_zenith_deg": 10.0, "view_azimuth_deg": 300.0}))
    assert detect(view_model, scene, "-o", tmp_path / "auto") == 0
    header, _ = the_tanker(tmp_path / "auto")
    assert header["view"]["source"] == "sidecar s.angles.json"
    assert fed[0] == pytest.approx(image_row(2.0, scene, 35.0, 120.0, 10.0, 300.0), abs=1e-3)

    fed.clear()
    imd = tmp_path / "elsewhere.IMD"
    imd.write_text(IMD_TEXT.format(az=150.0))
    assert detect(view_model, scene, "-o", tmp_path / "given", "--angles", imd) == 0
    header, _ = the_tanker(tmp_path / "given")
    assert header["view"]["source"] == "IMD elsewhere.IMD"
    assert fed[0] == pytest.approx(image_row(2.0, scene, 45.0, 150.0, 20.0, 100.0), abs=1e-3)


def test_without_angles_the_load_stage_runs_geometry_free_and_says_so(view_model, tmp_path, fed, capsys):
    scene = write_scene(tmp_path / "s.tif")
    assert detect(view_model, scene, "-o", tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "note: s.tif: no sun or view angles" in err and "geometry-free" in err
    assert fed[0][0] == pytest.approx(2.0, abs=1e-3) and all(math.isnan(v) for v in fed[0][1:])
    header, tanker = the_tanker(tmp_path / "out")
    assert header["view"]["source"] is None and header["view"]["load_geometry"] == "geometry-free"
    central = 10 * fed[0][0]
    assert (tanker["freeboard_m"], tanker["freeboard_m_lo"], tanker["freeboard_m_hi"]) == pytest.approx(
        (central, central - NO_ANGLES_HALF_WIDTH, central + NO_ANGLES_HALF_WIDTH), abs=0.006)


def test_a_scene_without_a_gsd_is_read_at_the_gsd_training_assumes(view_model, tmp_path, fed, capsys):
    from types import SimpleNamespace

    from tankerwatch.train.lightning_module import view_row

    image = np.full((300, 400, 3), 20, np.uint8)
    paint_vessel(image.transpose(2, 0, 1), [200.3, 150.6, 30.0, 7.0, 0.4], p_loaded=0.9)
    Image.fromarray(image).save(tmp_path / "s.png")
    assert detect(view_model, tmp_path / "s.png", "-o", tmp_path / "out") == 0
    assert "GSD unknown" in capsys.readouterr().err
    # fit and calibrate read a labelled image without a GSD through view_row: the same GSD, so a
    # load calibration fitted on such images holds for such scenes.
    unlabelled_gsd = SimpleNamespace(gsd_m=None, image=SimpleNamespace(angles=None))
    trained_at = float(view_row(unlabelled_gsd, 1.0, FIXTURE_META["gsd_range_m"])[0, 0])
    assert trained_at == pytest.approx(2.0)  # the geometric middle of the fixture model's 1-4 m
    assert {round(row[0], 4) for row in fed} == {round(trained_at, 4)}


def test_a_resampled_scene_feeds_the_model_inputs_gsd_and_a_rotated_one_turns_azimuths(view_model, tmp_path, fed):
    fine = write_scene(tmp_path / "fine.tif", gsd=0.5, tags=TAGS, size=(600, 800))  # outside 1-4 m: run at 1 m
    assert detect(view_model, fine, "-o", tmp_path / "out") == 0
    assert {round(row[0], 3) for row in fed} == {1.0}

    fed.clear()
    b = math.radians(30.0)  # image up points 30 degrees east of grid north
    turned = Affine(2 * math.cos(b), -2 * math.sin(b), ORIGIN[0], -2 * math.sin(b), -2 * math.cos(b), ORIGIN[1])
    scene = write_scene(tmp_path / "turned.tif", tags=TAGS, transform=turned)
    assert detect(view_model, scene, "-o", tmp_path / "out") == 0
    north_up = image_row(2.0, write_scene(tmp_path / "plain.tif", tags=TAGS), 45.0, 150.0, 20.0, 100.0)
    assert fed[0][2] == pytest.approx(north_up[2] - 30.0, abs=0.01)
    assert fed[0][4] == pytest.approx(north_up[4] - 30.0, abs=0.01)


def test_each_pass_feeds_its_own_gsd(tmp_path, fed):
    model = _export_view_model(REACH_META, tmp_path / "reach.onnx")
    scene = write_scene(tmp_path / "s.tif", tags=TAGS)
    assert detect(model, scene, "-o", tmp_path / "out") == 0
    header = read_detection_file(tmp_path / "out" / "s.geojson").header
    gsds = sorted({round(row[0], 3) for row in fed})
    assert len(gsds) == 2 and gsds[0] == pytest.approx(header["tiling"]["model_gsd_m"], abs=1e-3)
    assert all(row[1:] == pytest.approx(fed[0][1:]) for row in fed)  # the angles are the scene's, every pass


@pytest.mark.parametrize(("tags", "flags", "imd_az", "expected"), [
    ({**TAGS, "SUN_ELEVATION": "95"}, [], None, "s.tif: SUN_ELEVATION 95 is outside (0, 90] degrees"),
    ({**TAGS, "VIEW_ZENITH": "75"}, [], None, "s.tif: VIEW_ZENITH 75 is outside [0, 60) degrees"),
    ({k: v for k, v in TAGS.items() if k != "SUN_AZIMUTH"}, [], None,
     "s.tif: SUN_ELEVATION is given without SUN_AZIMUTH"),
    (TAGS, [], 160.0, "s.tif: SUN_AZIMUTH 150 (GeoTIFF tags) and meanSunAz 160 (IMD s.IMD) disagree by 10.0"),
    (None, ["--sun-elevation", 40], None, "--sun-elevation is given without --sun-azimuth"),
    (None, ["--view-zenith", 70, "--view-azimuth", 10], None, "--view-zenith 70 is outside [0, 60)"),
    (None, ["--sun-elevation", 40, "--sun-azimuth", 10, "--angles", "x.json"], None, "not both"),
])
def test_bad_angles_are_refused_in_one_line(view_model, tmp_path, capsys, tags, flags, imd_az, expected):
    scene = write_scene(tmp_path / "s.tif", tags=tags)
    if imd_az is not None:
        (tmp_path / "s.IMD").write_text(IMD_TEXT.format(az=imd_az))
    assert detect(view_model, scene, "-o", tmp_path / "out", *flags) == 2
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and expected in errors[0] and "Traceback" not in err
    assert not list((tmp_path / "out").glob("*.geojson"))


def test_an_older_model_says_the_angles_are_not_used(blob_model, tmp_path, capsys):
    scene = write_scene(tmp_path / "s.tif", tags={**TAGS, "SUN_ELEVATION": "95"})  # never read for it
    assert detect(blob_model, scene, "-o", tmp_path / "out", "--sun-elevation", 40, "--sun-azimuth", 150) == 0
    assert "takes no sun and view angles: those given (flags) are not used" in capsys.readouterr().err
    header, tanker = the_tanker(tmp_path / "out")
    assert "view" not in header and tanker["freeboard_m_lo"] is None


def test_the_api_takes_angles_for_arrays_and_many_scenes(view_model, tmp_path, fed):
    from tankerwatch.infer import Detector

    image = np.full((3, 300, 400), 20, np.uint8)
    paint_vessel(image, [200.3, 150.6, 30.0, 7.0, 0.4], p_loaded=0.9)
    detector = Detector(view_model, threads=1)
    angles = {"sun_elevation_deg": 45.0, "sun_azimuth_deg": 150.0, "view_zenith_deg": 20.0, "view_azimuth_deg": 100.0}
    found = detector.detect(image, gsd=2.0, angles=angles, name="a.tif")
    assert found.header["view"]["source"] == "angles argument"
    assert any("taken in the image frame, as if north were up" in note for note in found.notes)
    assert fed[0] == pytest.approx([2.0, 45.0, 150.0, 20.0, 100.0])
    bare = detector.detect(image, gsd=2.0, name="b.tif")
    assert bare.header["view"]["load_geometry"] == "geometry-free"

    scenes = [write_scene(tmp_path / f"s{i}.tif") for i in range(2)]
    outcomes = detector.detect_many(scenes, tmp_path / "out", cluster="none", angles=angles)
    assert [o.status for o in outcomes] == ["done", "done"]
    assert read_detection_file(tmp_path / "out" / "s1.geojson").header["view"]["source"] == "angles argument"


def test_a_local_cluster_feeds_the_same_angles_as_one_process(view_model, tmp_path, capsys):
    pytest.importorskip("distributed")
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "a_tags.tif", tags=TAGS)
    write_scene(scenes / "b_sidecar.tif")
    (scenes / "b_sidecar.angles.json").write_text(json.dumps({"sun_elevation_deg": 35.0, "sun_azimuth_deg": 120.0}))
    write_scene(scenes / "c_none.tif")
    outputs = {}
    for cluster in ("none", "local"):
        assert main(["detect", str(view_model), str(scenes), "-o", str(tmp_path / cluster), "--threads", "2",
                     "--cluster", cluster, "--workers", "2", "--min-score", "0.5"]) == 0
        outputs[cluster] = {p.name: p.read_bytes() for p in sorted((tmp_path / cluster).iterdir())}
    assert sum(name.endswith(".geojson") for name in outputs["none"]) == 3 and outputs["none"] == outputs["local"]
    headers = {name: json.loads(data)["tankerwatch"]["view"] for name, data in outputs["local"].items()
               if name.endswith(".geojson")}
    assert [h["source"] for h in headers.values()] == ["GeoTIFF tags", "sidecar b_sidecar.angles.json", None]
    assert capsys.readouterr().err.count("geometry-free") == 4  # b_sidecar and c_none, in each run
