"""Sun and view angles: reading them from each source, checking them, and turning azimuths into the
image frame (infer/runtime/view_angles.py), plus the format_version 3 contract constants."""

import json
import math

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS, Proj

from tankerwatch.infer.core.errors import ConfigError, ModelError, RasterError
from tankerwatch.infer.runtime.onnx_model import (
    METADATA_PREFIX,
    VIEW_INPUT_SPEC,
    Outputs,
    decode_metadata,
)
from tankerwatch.infer.runtime.view_angles import (
    ImageAngles,
    SceneAngles,
    angles_argument,
    from_flags,
    from_stac,
    image_azimuth_deg,
    image_frame,
    read_imd,
    read_sidecar,
    resolve_angles,
    zenith_from_off_nadir,
)

UTM52N = CRS.from_epsg(32652)  # central meridian 129 E
ON_MERIDIAN = (500000.0, 4740000.0)  # on the central meridian: grid north is true north
TAGS = {"SUN_ELEVATION": "40.0", "SUN_AZIMUTH": "150.0", "VIEW_ZENITH": "20.0", "VIEW_AZIMUTH": "100.0"}
IMD_TEXT = """BEGIN_GROUP = IMAGE_1
\tsatId = "WV03";
\tmeanSunAz = 150.4;
\tmeanSunEl = 40.2;
\tmeanSatAz = 100.3;
\tmeanSatEl = 69.8;
\tmeanOffNadirViewAngle = 18.1;
END_GROUP = IMAGE_1
"""


def rotated(degrees, size=(1000, 800), gsd=2.0, centre=ON_MERIDIAN):
    """A transform whose image up points at grid bearing ``degrees`` (clockwise from grid north) and
    whose centre pixel lies at ``centre``."""
    b = math.radians(degrees)
    linear = Affine(gsd * math.cos(b), -gsd * math.sin(b), 0.0, -gsd * math.sin(b), -gsd * math.cos(b), 0.0)
    x, y = linear @ (size[0] / 2, size[1] / 2)
    return Affine.translation(centre[0] - x, centre[1] - y) @ linear


def north_up(size=(1000, 800), centre=ON_MERIDIAN):
    return rotated(0.0, size, centre=centre)


def test_flags_come_in_pairs_and_a_nadir_view_needs_no_azimuth():
    assert from_flags() is None
    nadir = from_flags(40, 150, 0, None)
    assert nadir.complete and nadir.view_azimuth_deg is None and nadir.source == "flags"
    with pytest.raises(ConfigError, match="--sun-elevation is given without --sun-azimuth"):
        from_flags(40, None, None, None)
    with pytest.raises(ConfigError, match="--view-azimuth is given without --view-zenith"):
        from_flags(40, 150, None, 90)
    with pytest.raises(ConfigError, match="--view-zenith 12 is given without --view-azimuth|--view-zenith is given"):
        from_flags(None, None, 12, None)


@pytest.mark.parametrize(("values", "message"), [
    ((0, 150, 10, 90), r"--sun-elevation 0 is outside \(0, 90\]"),
    ((91, 150, 10, 90), r"--sun-elevation 91 is outside"),
    ((40, 360, 10, 90), r"--sun-azimuth 360 is outside \[0, 360\)"),
    ((40, -10, 10, 90), r"--sun-azimuth -10 is outside .*add 360"),
    ((40, 150, 70, 90), r"--view-zenith 70 is outside \[0, 60\) degrees \(this large, it is more likely a satellite"),
    ((40, 150, 10, math.nan), r"--view-azimuth nan is not a number"),
])
def test_angles_out_of_range_are_refused_naming_the_flag(values, message):
    with pytest.raises(ConfigError, match=message):
        from_flags(*values)


def test_sidecar_json_and_its_mistakes(tmp_path):
    good = tmp_path / "a.angles.json"
    good.write_text(json.dumps({"sun_elevation_deg": 40, "sun_azimuth_deg": 150, "view_zenith_deg": None,
                                "view_azimuth_deg": None}))
    angles = read_sidecar(good)
    assert angles.has_sun and not angles.has_view and angles.source == "sidecar a.angles.json"
    typo = tmp_path / "b.json"
    typo.write_text(json.dumps({"sun_elevation": 40}))
    with pytest.raises(RasterError, match=r"b.json: unknown key 'sun_elevation'"):
        read_sidecar(typo)
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"sun_elevation_deg": 40, "sun_azimuth_deg": 150, "view_zenith_deg": 75,
                               "view_azimuth_deg": 10}))
    with pytest.raises(RasterError, match=r"c.json: view_zenith_deg 75 is outside"):
        read_sidecar(bad)
    with pytest.raises(RasterError, match="no such file"):
        read_sidecar(tmp_path / "missing.json")


def test_a_maxar_imd_gives_the_zenith_from_the_satellite_elevation(tmp_path):
    imd = tmp_path / "scene.IMD"
    imd.write_text(IMD_TEXT)
    angles = read_imd(imd)
    assert (angles.sun_elevation_deg, angles.sun_azimuth_deg, angles.view_azimuth_deg) == (40.2, 150.4, 100.3)
    assert angles.view_zenith_deg == pytest.approx(20.2)
    assert angles.source == "IMD scene.IMD"
    imd.write_text(IMD_TEXT.replace("\tmeanSatEl = 69.8;\n", ""))
    assert read_imd(imd).view_zenith_deg == pytest.approx(zenith_from_off_nadir(18.1))
    imd.write_text(IMD_TEXT.replace("meanSatEl = 69.8", "meanSatEl = 20.0"))
    with pytest.raises(RasterError, match=r"scene.IMD: meanSatEl 20 gives a view zenith of 70"):
        read_imd(imd)
    imd.write_text(IMD_TEXT.replace("\tmeanSunEl = 40.2;\n", ""))
    with pytest.raises(RasterError, match="scene.IMD: meanSunAz is given without meanSunEl"):
        read_imd(imd)


def test_off_nadir_becomes_a_larger_zenith_and_stac_prefers_the_incidence_angle():
    assert zenith_from_off_nadir(0.0) == 0.0
    assert zenith_from_off_nadir(30.0) == pytest.approx(33.2, abs=0.1)  # WorldView-3's orbit is 617 km
    for orbit_km in (450.0, 700.0):  # the nominal orbit's error stays under the agreement tolerance
        assert abs(zenith_from_off_nadir(30.0, orbit_km) - zenith_from_off_nadir(30.0)) < 0.85
    view = {"sun_elevation": 61.5, "sun_azimuth": 141.0, "off_nadir": 12.25, "azimuth": 98.0}
    assert from_stac(view, "item.json").view_zenith_deg == pytest.approx(zenith_from_off_nadir(12.25))
    assert from_stac({**view, "incidence_angle": 13.0}, "item.json").view_zenith_deg == 13.0
    with pytest.raises(RasterError, match=r"item.json: view:sun_elevation -3 is outside"):
        from_stac({**view, "sun_elevation": -3.0}, "item.json")


def test_sources_rank_per_pair_and_product_metadata_must_agree(tmp_path):
    raster = tmp_path / "scene.tif"
    raster.write_bytes(b"")  # only its name and neighbours matter here
    assert resolve_angles(raster, {}) == SceneAngles()
    tags = resolve_angles(raster, TAGS)
    assert tags.source == "GeoTIFF tags" and tags.view_azimuth_deg == 100.0
    (tmp_path / "scene.IMD").write_text(IMD_TEXT)  # within a degree of the tags: they agree
    assert resolve_angles(raster, TAGS).source == "GeoTIFF tags"
    assert resolve_angles(raster, {}).source == "IMD scene.IMD"
    given = from_flags(30, 200, None, None)
    mixed = resolve_angles(raster, TAGS, given=given)
    assert mixed.source == "flags (sun), GeoTIFF tags (view)"
    assert (mixed.sun_elevation_deg, mixed.view_zenith_deg) == (30.0, 20.0)
    stac = {"sun_elevation": 40.5, "sun_azimuth": 150.5, "incidence_angle": 20.5, "azimuth": 100.5}
    assert resolve_angles(raster, TAGS, stac_view=stac, stac_where="item.json").source == "STAC view"
    (tmp_path / "scene.angles.json").write_text(json.dumps({"sun_elevation_deg": 45.0, "sun_azimuth_deg": 10.0}))
    assert resolve_angles(raster, TAGS).source == "sidecar scene.angles.json (sun), GeoTIFF tags (view)"

    (tmp_path / "scene.IMD").write_text(IMD_TEXT.replace("meanSunAz = 150.4", "meanSunAz = 158.0"))
    with pytest.raises(RasterError, match=r"scene.tif: SUN_AZIMUTH 150 \(GeoTIFF tags\) and meanSunAz 158 "
                                          r"\(IMD scene.IMD\) disagree by 8.0 degrees"):
        resolve_angles(raster, TAGS, given=given)  # even when the caller's angles win: the file is broken


def test_agreement_wraps_round_north_and_ignores_the_azimuth_of_a_near_nadir_view(tmp_path):
    raster = tmp_path / "scene.tif"
    raster.write_bytes(b"")
    (tmp_path / "scene.IMD").write_text(IMD_TEXT.replace("meanSunAz = 150.4", "meanSunAz = 0.3")
                                        .replace("meanSatEl = 69.8", "meanSatEl = 88.0")
                                        .replace("meanSatAz = 100.3", "meanSatAz = 280.0"))
    tags = {**TAGS, "SUN_AZIMUTH": "359.6", "VIEW_ZENITH": "2.2"}
    assert resolve_angles(raster, tags).sun_azimuth_deg == 359.6


def test_bad_tags_name_the_file_and_the_tag(tmp_path):
    raster = tmp_path / "scene.tif"
    raster.write_bytes(b"")
    with pytest.raises(RasterError, match=r"scene.tif: SUN_ELEVATION 'high' is not a number"):
        resolve_angles(raster, {**TAGS, "SUN_ELEVATION": "high"})
    with pytest.raises(RasterError, match=r"scene.tif: VIEW_AZIMUTH is given without VIEW_ZENITH"):
        resolve_angles(raster, {k: v for k, v in TAGS.items() if k != "VIEW_ZENITH"})


def test_north_up_keeps_azimuths_and_a_rotated_transform_turns_them():
    size = (1000, 800)
    for azimuth in (0.0, 37.5, 180.0, 359.0):
        assert image_azimuth_deg(azimuth, UTM52N, north_up(), *size) == pytest.approx(azimuth, abs=1e-6)
        # Image up points 30 degrees east of north: north is 30 degrees anticlockwise of up.
        assert image_azimuth_deg(azimuth, UTM52N, rotated(30.0), *size) == pytest.approx((azimuth - 30.0) % 360,
                                                                                         abs=1e-6)
    assert image_azimuth_deg(90.0, UTM52N, rotated(180.0), *size) == pytest.approx(270.0, abs=1e-6)
    mirrored = north_up() @ Affine.scale(-1.0, 1.0) @ Affine.translation(-size[0], 0.0)  # east on the left
    assert image_azimuth_deg(90.0, UTM52N, mirrored, *size) == pytest.approx(270.0, abs=1e-6)
    assert image_azimuth_deg(123.0, None, Affine.identity(), *size) == 123.0  # no georeferencing: as given


def test_grid_convergence_off_the_central_meridian():
    centre = (300000.0, 4740000.0)  # about 2.4 degrees west of 129 E at 42.8 N
    size = (1000, 1000)
    lon, lat = Proj(UTM52N)(*centre, inverse=True)
    # PROJ's convergence: grid north's bearing from true north (negative west of the central meridian).
    convergence = Proj(UTM52N).get_factors(lon, lat).meridian_convergence
    assert convergence < -1.0
    got = image_azimuth_deg(150.0, UTM52N, north_up(size, centre), *size)
    assert got == pytest.approx(150.0 - convergence, abs=0.01)


def test_the_view_row_carries_image_azimuths_or_nans():
    angles = from_flags(40, 150, 20, 100)
    image = image_frame(angles, UTM52N, rotated(90.0, (100, 100)), 100, 100)
    assert image.row(1.5).tolist() == pytest.approx([1.5, 40.0, 60.0, 20.0, 10.0])
    assert image.row(1.5).dtype == np.float32
    nadir = image_frame(from_flags(40, 150, 0, None), UTM52N, north_up((100, 100)), 100, 100)
    assert nadir.view_azimuth_deg == 0.0
    unknown = image_frame(from_flags(40, 150, None, None), UTM52N, north_up((100, 100)), 100, 100)
    assert unknown == ImageAngles() and not unknown.known
    row = unknown.row(2.0)
    assert row[0] == 2.0 and np.isnan(row[1:]).all()


def test_the_api_takes_a_mapping_or_a_sidecar_path(tmp_path):
    assert angles_argument(None) is None
    mapping = angles_argument({"sun_elevation_deg": 40, "sun_azimuth_deg": 150})
    assert mapping.source == "angles argument" and not mapping.has_view
    with pytest.raises(ConfigError, match="unknown key 'sun_el'"):
        angles_argument({"sun_el": 40})
    with pytest.raises(ConfigError, match="angles argument: sun_azimuth_deg is given without sun_elevation_deg"):
        angles_argument({"sun_azimuth_deg": 150})
    (tmp_path / "x.IMD").write_text(IMD_TEXT)
    assert angles_argument(tmp_path / "x.IMD").source == "IMD x.IMD"


def _v3_props(**overrides):
    values = {"format_version": 3, "project_version": "0", "type_names": ["tanker", "other"],
              "load_names": ["empty", "loaded"], "in_channels": 3,
              "scaling": {"bands": None, "method": "fixed", "percentiles": [1.0, 99.0], "value_range": [0.0, 255.0]},
              "input_multiple": 4, "output_stride": 4, "top_k": 8, "gsd_range_m": [1.0, 4.0],
              "load_uncertain_band": [0.3, 0.7], "load_max_gsd_m": 3.0, "config_sha256": "0", "val_metrics": {},
              "precision": "fp32", "laden_fraction_quantiles": [0.5, 0.1, 0.9], "view_input": VIEW_INPUT_SPEC,
              **overrides}
    return {METADATA_PREFIX + k: json.dumps(v) for k, v in values.items() if v is not None}


def test_version_3_metadata_needs_the_view_input_spec():
    info = decode_metadata(_v3_props(), "m.onnx", "0" * 64)
    assert info.view_input and info.output_names[-1] == "freeboard_m"
    assert not decode_metadata(_v3_props(format_version=2, view_input=None), "m.onnx", "0" * 64).view_input
    with pytest.raises(ModelError, match="m.onnx: metadata lacks tankerwatch.view_input"):
        decode_metadata(_v3_props(view_input=None), "m.onnx", "0" * 64)
    with pytest.raises(ModelError, match="m.onnx: metadata tankerwatch.view_input must be the mapping"):
        decode_metadata(_v3_props(view_input={**VIEW_INPUT_SPEC, "azimuth_frame": "geographic"}), "m.onnx", "0" * 64)


def test_outputs_carry_the_freeboard_through_take_and_concatenate():
    k = 3
    outputs = Outputs(np.zeros((1, k, 5), np.float32), np.array([[0.9, 0.8, 0.0]], np.float32),
                      np.zeros((1, k, 2), np.float32), np.zeros((1, k, 2), np.float32), np.array([2]),
                      np.zeros((1, k, 3), np.float32), np.arange(9, dtype=np.float32).reshape(1, k, 3))
    one = outputs.image(0)
    assert one.freeboard_m.shape == (2, 3)
    both = Outputs.concatenate([one, one.take(np.array([1]))])
    assert both.freeboard_m[:, 0].tolist() == [0.0, 3.0, 3.0] and both.count.tolist() == [3]
    older = Outputs.concatenate([one._replace(freeboard_m=None), one])
    assert older.freeboard_m is None


def test_the_generators_tags_read_back_as_the_angles_it_drew(tmp_path):
    """The generator draws with azimuths in the image grid and writes compass bearings (grid
    convergence added, 1.3 degrees at its UTM scene); detect's conversion gives the drawn ones back."""
    import rasterio

    from tankerwatch.infer.runtime.view_angles import from_tags
    from tankerwatch.infer.synth.scene import SceneSettings, write_scene

    path = tmp_path / "scene.tif"
    write_scene(path, SceneSettings(size=400, gsd_m=1.0), seed=3)
    drawn = json.loads((tmp_path / "scene.truth.geojson").read_text())["tankerwatch"]["synthetic"]["view"]
    with rasterio.open(path) as raster:
        tags = raster.tags()
        image = image_frame(from_tags(tags, path), raster.crs, raster.transform, raster.width, raster.height)
    assert abs(float(tags["SUN_AZIMUTH"]) - drawn["sun_azimuth_deg"]) > 1.0  # the convergence is there
    assert image.sun_azimuth_deg == pytest.approx(drawn["sun_azimuth_deg"], abs=2e-3)
    assert image.view_azimuth_deg == pytest.approx(drawn["view_azimuth_deg"], abs=2e-3)
