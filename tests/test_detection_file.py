import json
import math

import numpy as np
import pytest
import shapely
from affine import Affine

from tankerwatch.infer.core.errors import TankerwatchError
from tankerwatch.infer.runtime.detection_file import Detection, read_detection_file, write_detection_files

UTM53 = "EPSG:32653"
TRANSFORM = Affine(1.0, 0, 342_000.0, 0, -1.0, 4_733_000.0)


def _detections():
    return [
        Detection([100, 200, 120, 20, 0.3], 0.9, "tanker", 0.8, "loaded", 0.91, heading=0.3 + math.pi,
                  extra={"vessel_id": "T1"}),
        Detection([400, 50, 30, 8, -1.0], 0.6, "other", 0.7, "unknown", None),
    ]


def test_geojson_is_lonlat_ccw_and_round_trips(tmp_path):
    header = {"source": "scene.tif", "acquired": "2024-03-01T02:10:00Z", "acquired_from": "raster metadata",
              "gsd_m": 1.0}
    geojson, csv_path = write_detection_files(tmp_path / "scene", _detections(), header, UTM53, TRANSFORM,
                                              footprint_px=shapely.box(0, 0, 1000, 1000))
    data = json.loads(geojson.read_text())
    ring = data["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert shapely.LinearRing(ring).is_ccw
    lon, lat = ring[0]
    assert 132 < lon < 134 and 42 < lat < 43.5
    props = data["features"][0]["properties"]
    assert props["length_m"] == pytest.approx(120, rel=0.01)
    assert props["vessel_id"] == "T1" and props["load"] == "loaded"
    parsed = read_detection_file(geojson)
    assert parsed.georeferenced
    assert [d.load for d in parsed.detections] == ["loaded", "unknown"]
    np.testing.assert_allclose(parsed.detections[0].box_px, [100, 200, 120, 20, 0.3], atol=1e-3)
    assert parsed.footprint.contains(parsed.polygons[0])
    assert csv_path.read_text().count("\n") == 3


def test_same_input_same_bytes(tmp_path):
    a, _ = write_detection_files(tmp_path / "a", _detections(), {"source": "s"}, UTM53, TRANSFORM)
    b, _ = write_detection_files(tmp_path / "b", _detections(), {"source": "s"}, UTM53, TRANSFORM)
    assert a.read_bytes() == b.read_bytes()


def test_pixel_coordinates_without_georeferencing_warn(tmp_path, capsys):
    path, _ = write_detection_files(tmp_path / "p", _detections(), {"source": "p.png", "gsd_m": 0.5})
    assert "no georeferencing" in capsys.readouterr().err
    parsed = read_detection_file(path)
    assert not parsed.georeferenced
    assert parsed.properties[0]["length_m"] == pytest.approx(60)


@pytest.mark.parametrize("content, message", [
    ("not json", "not a readable GeoJSON"),
    ('{"type": "FeatureCollection", "features": []}', "no 'tankerwatch' header"),
    ('{"type": "FeatureCollection", "tankerwatch": {"format_version": 99}, "features": []}', "format_version"),
])
def test_bad_files_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.geojson"
    path.write_text(content)
    with pytest.raises(TankerwatchError, match=message):
        read_detection_file(path)
