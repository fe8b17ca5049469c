"""Scaling raw values to the model's uint8 input: per-scene percentiles, fixed ranges, round trips."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tankerwatch.infer.core.errors import ConfigError
from tankerwatch.infer.runtime.scaling import Scaling, to_uint8


def write_tif(path, array, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
                       count=array.shape[0], dtype=array.dtype, crs="EPSG:3857",
                       transform=from_origin(0, 0, 10, 10), nodata=nodata) as dst:
        dst.write(array)
    return path


def test_percentile_limits_ignore_declared_nodata_but_not_zeros(tmp_path):
    rng = np.random.default_rng(0)
    band = rng.integers(1000, 3001, size=(60, 60)).astype(np.uint16)
    band[:10] = 0  # genuine dark pixels (not declared nodata)
    with_nodata = band.copy()
    with_nodata[-10:] = 65535
    # GDAL's dataset mask: a pixel is nodata when every band holds the nodata value.
    path = write_tif(tmp_path / "a.tif", np.stack([with_nodata, with_nodata]), nodata=65535)
    lo, hi = Scaling().scene_limits(path)
    valid = np.ones_like(band, bool)
    valid[-10:] = False
    expected = np.percentile(band[valid].astype(float), [1, 99])
    assert lo[0] == pytest.approx(0.0)  # the zeros count: 1 % of valid pixels are 0
    np.testing.assert_allclose([lo[0], hi[0]], expected)


def test_sen2ships_like_range_is_not_saturated(tmp_path):
    # Reflectance x 65,535: water ~ 3,000, land ~ 15,000, bright roofs saturate.
    rng = np.random.default_rng(2)
    scene = rng.normal(3000, 300, size=(3, 100, 100)).clip(0, 65535)
    scene[:, :30] = rng.normal(15000, 2000, size=(3, 30, 100))
    scene[:, 0, :5] = 65535
    scene = scene.astype(np.uint16)
    path = write_tif(tmp_path / "s.tif", scene)
    scaling = Scaling(bands=(3, 2, 1))
    lo, hi = scaling.scene_limits(path)
    image = to_uint8(scene[[2, 1, 0]], lo, hi)
    land = image[:, 1:30]
    assert land.mean() > 150 and (land == 255).mean() < 0.1  # land is bright but distinguishable
    fixed = Scaling(method="fixed", value_range=(0, 10000))
    flo, fhi = fixed.scene_limits(path)
    assert (to_uint8(scene, flo, fhi)[:, 1:30] == 255).mean() > 0.9  # why a fixed 0..10,000 is wrong here


def test_decimated_stats_match_full_resolution(tmp_path):
    rng = np.random.default_rng(3)
    scene = rng.gamma(2.0, 500.0, size=(1, 3000, 2500)).astype(np.float32)
    path = write_tif(tmp_path / "big.tif", scene)
    lo, hi = Scaling().scene_limits(path)
    full = np.percentile(scene, [1, 99])
    np.testing.assert_allclose([lo[0], hi[0]], full, rtol=0.03)


def test_to_uint8_endpoints_clipping_constant_and_nan():
    a = np.array([[[0.0, 25.0, 100.0, 200.0, np.nan]], [[5.0, 5.0, 5.0, 6.0, 4.0]]])
    out = to_uint8(a, lo=[0.0, 5.0], hi=[100.0, 5.0])
    assert out.dtype == np.uint8
    assert out[0, 0].tolist() == [0, 64, 255, 255, 0]
    assert out[1, 0].tolist() == [0, 0, 0, 255, 0]
    with pytest.raises(ConfigError, match="do not fit"):
        to_uint8(a, lo=[0.0], hi=[1.0])


def test_dict_round_trip_and_validation():
    s = Scaling(bands=(4, 3, 2), method="percentile", percentiles=(2, 98))
    d = s.to_dict()
    assert d == {"bands": [4, 3, 2], "method": "percentile", "percentiles": [2.0, 98.0],
                 "value_range": [0.0, 255.0]}
    assert Scaling.from_dict(d) == s
    assert Scaling.from_dict({}) == Scaling()
    for bad in ({"method": "gamma"}, {"bands": [0]}, {"percentiles": [99, 1]}, {"value_range": [5, 5]},
                {"bands": "rgb"}, {"colour": 1}, {"percentiles": [1, float("nan")]}):
        with pytest.raises(ConfigError):
            Scaling.from_dict(bad)


def test_fixed_limits_follow_band_selection(tmp_path):
    path = write_tif(tmp_path / "f.tif", np.zeros((4, 3, 3), np.uint8))
    lo, hi = Scaling(method="fixed").scene_limits(path)
    assert lo.tolist() == [0.0] * 4 and hi.tolist() == [255.0] * 4
    lo, hi = Scaling(bands=(1, 2), method="fixed").scene_limits(path)
    assert len(lo) == 2


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_integer_fast_path_gives_the_float_formula_bytes(dtype):
    """8- and 16-bit bands go through a lookup table; it must match the float stretch exactly,
    including the constant band (hi == lo) and limits outside the dtype's range."""
    from tankerwatch.infer.runtime.scaling import _stretch

    info = np.iinfo(dtype)
    rng = np.random.default_rng(3)
    image = rng.integers(info.min, info.max, size=(3, 40, 50), endpoint=True).astype(dtype)
    lo = np.array([float(info.min), 120.0, 7.0])
    hi = np.array([float(info.max), 120.0, 9000.5])
    expected = _stretch(image.astype(np.float64), lo.reshape(-1, 1, 1), hi.reshape(-1, 1, 1))
    assert np.array_equal(to_uint8(image, lo, hi), expected)
