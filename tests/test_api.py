"""The Python API: one Detector, scenes or arrays in, detections in memory, files only on request.

The fixture model (tests/detect_fixtures.py) reports painted vessels exactly where they are, so
what is checked here is the plumbing: the same pixels give the same vessels whether they come
from a file or an array, in either layout, and the records hold what the detection file holds.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from detect_fixtures import paint_vessel

from tankerwatch.infer import Detections, Detector
from tankerwatch.infer.cli import main
from tankerwatch.infer.core.errors import ConfigError
from tankerwatch.infer.runtime.detection_file import read_detection_file

README = Path(__file__).resolve().parents[1] / "README.md"
UTM52N = "EPSG:32652"
TRANSFORM = Affine(2.0, 0.0, 675000.0, 0.0, -2.0, 4740000.0)
ACQUIRED = "2024-05-01T02:10:00Z"


@pytest.fixture(scope="module")
def harbour() -> np.ndarray:
    """uint8 [3, 300, 400]: a loaded tanker, an empty one and another vessel on dark water."""
    image = np.full((3, 300, 400), 20, np.uint8)
    paint_vessel(image, [100.5, 100.5, 40.0, 9.0, 0.3], p_loaded=0.9)
    paint_vessel(image, [280.5, 120.5, 36.0, 8.0, -0.6], p_loaded=0.1)
    paint_vessel(image, [200.5, 230.5, 30.0, 8.0, 1.2], p_other=0.9)
    return image


def write_geotiff(path, image):
    with rasterio.open(path, "w", driver="GTiff", width=image.shape[2], height=image.shape[1],
                       count=image.shape[0], dtype=image.dtype, crs=UTM52N, transform=TRANSFORM) as ds:
        ds.write(image)
        ds.update_tags(ACQUISITION_DATETIME=ACQUIRED)
    return path


def without_source(collection: dict) -> dict:
    """A collection with the scene's name taken out (an array's name differs from a file's)."""
    collection = json.loads(json.dumps(collection))
    collection["tankerwatch"].pop("source")
    for feature in collection["features"]:
        feature["properties"].pop("source")
    return collection


def test_a_scene_in_memory_is_what_the_cli_writes(blob_model, harbour, tmp_path):
    scene = write_geotiff(tmp_path / "port.tif", harbour)
    found = Detector(blob_model, device="cpu", threads=1).detect(scene)
    assert isinstance(found, Detections) and found.coordinates == "lonlat"
    assert found.counts() == {"vessels": 3, "tanker": 2, "other": 1, "empty": 1, "loaded": 1, "uncertain": 0}
    assert not list(tmp_path.glob("*.geojson"))  # detecting writes nothing

    assert main(["detect", str(blob_model), str(scene), "-o", str(tmp_path / "cli"), "--threads", "1"]) == 0
    written = json.loads((tmp_path / "cli" / "port.geojson").read_text())
    assert found.to_geojson() == written
    assert [p.name for p in found.write(tmp_path / "api")] == ["port.quicklook.png", "port.geojson", "port.csv"]
    for name in ("port.geojson", "port.csv"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()


def test_records_hold_every_property_lon_lat_polygons_and_plain_box_numbers(blob_model, harbour, tmp_path):
    found = Detector(blob_model, device="cpu", threads=1).detect(write_geotiff(tmp_path / "port.tif", harbour))
    file = read_detection_file(found.write(tmp_path / "out")[1])
    for record, properties, polygon in zip(found.records, file.properties, file.polygons, strict=True):
        assert {k: v for k, v in record.items() if k in properties} == properties
        assert record["source"] == "port.tif" and record["acquired"] == ACQUIRED
        assert record["model_id"] == found.header["model"]["id"]
        assert [record[k] for k in ("cx_px", "cy_px", "length_px", "width_px", "angle_rad")] == record["box_px"]
        assert record["geometry"].equals_exact(polygon, 1e-9)
        lon, lat = record["geometry"].centroid.coords[0]
        assert 131.0 < lon < 131.3 and 42.7 < lat < 42.8  # the scene origin, UTM 52N
    loaded = next(r for r in found if r["load"] == "loaded")
    assert loaded["length_m"] == pytest.approx(80.0, abs=3.0)  # 40 px at 2 m


@pytest.mark.parametrize("layout", ["CHW", "HWC"])
def test_an_array_gives_the_vessels_of_the_same_pixels_on_disk(blob_model, harbour, tmp_path, layout):
    detector = Detector(blob_model, device="cpu", threads=1)
    from_file = detector.detect(write_geotiff(tmp_path / "port.tif", harbour))
    pixels = harbour if layout == "CHW" else np.ascontiguousarray(harbour.transpose(1, 2, 0))
    from_array = detector.detect(pixels, transform=TRANSFORM, crs=UTM52N, acquired=ACQUIRED, name="port")
    assert from_array.header["source"] == "port.tif"
    assert without_source(from_array.to_geojson()) == without_source(from_file.to_geojson())
    assert [p.name for p in from_array.write(tmp_path / "out")][1] == "port.geojson"


def test_an_array_without_georeferencing_is_sized_by_its_gsd(blob_model, harbour):
    found = Detector(blob_model, device="cpu", threads=1).detect(harbour, gsd=2.0)
    assert found.coordinates == "pixel" and found.header["gsd_m"] == 2.0 and found.header["acquired"] is None
    loaded = next(r for r in found if r["load"] == "loaded")
    assert loaded["geometry"].centroid.x == pytest.approx(100.5, abs=1.0)  # pixel frame
    assert loaded["length_m"] == pytest.approx(80.0, abs=3.0)


def test_geodataframe_has_a_row_per_vessel_with_dates_and_sources(blob_model, harbour, tmp_path):
    geopandas = pytest.importorskip("geopandas")
    found = Detector(blob_model, device="cpu", threads=1).detect(write_geotiff(tmp_path / "port.tif", harbour))
    frame = found.to_geodataframe()
    assert isinstance(frame, geopandas.GeoDataFrame) and len(frame) == 3
    assert frame.crs.to_epsg() == 4326
    assert set(frame["acquired"]) == {ACQUIRED} and set(frame["source"]) == {"port.tif"}
    assert frame["length_px"].dtype.kind == "f" and "box_px" not in frame.columns
    assert sorted(frame["type"]) == ["other", "tanker", "tanker"]


@pytest.mark.parametrize(("pixels", "kwargs", "says"), [
    (np.zeros((5, 300, 400), np.uint8), {}, "band axis"),
    (np.zeros((300,), np.uint8), {}, "must be"),
    (np.zeros((3, 64, 64), np.float64), {}, "float64"),
    (np.zeros((3, 64, 64), np.uint8), {"transform": TRANSFORM}, "both transform and crs"),
    (np.zeros((3, 64, 64), np.uint8), {"acquired": "last Tuesday"}, "ISO 8601"),
])
def test_bad_arrays_are_refused_in_one_line(blob_model, pixels, kwargs, says):
    with pytest.raises(ConfigError, match=says):
        Detector(blob_model, device="cpu", threads=1).detect(pixels, **kwargs)


def test_the_readme_example_runs_as_written(blob_model, harbour, tmp_path, monkeypatch):
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert block, "README has no Python example"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.onnx").write_bytes(blob_model.read_bytes())
    write_geotiff(tmp_path / "scene.tif", harbour)
    namespace = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert isinstance(namespace["found"], Detections) and len(namespace["found"]) == 3
    assert (tmp_path / "detections" / "scene.geojson").is_file()
