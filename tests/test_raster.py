"""Raster input: formats, bands, dtypes, georeferencing, windows, and refusing bad files."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from PIL import Image
from raster_helpers import write_geotiff
from rasterio.transform import from_origin

from tankerwatch.infer.core.errors import RasterError
from tankerwatch.infer.runtime.raster import inspect_raster, read_decimated, read_image, read_window


@pytest.mark.parametrize("mode,bands", [("L", 1), ("RGB", 3), ("RGBA", 4)])
def test_png_bands_are_read_channel_first(tmp_path, mode, bands):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(7, 5, bands), dtype=np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(pixels.squeeze(-1) if bands == 1 else pixels, mode).save(path)
    array = read_image(path)
    assert array.shape == (bands, 7, 5) and array.dtype == np.uint8
    np.testing.assert_array_equal(array, np.moveaxis(pixels, -1, 0))
    info = inspect_raster(path)
    assert (info.width, info.height, info.count) == (5, 7, bands)
    assert info.crs is None and info.gsd_m is None and info.acquired is None and not info.georeferenced


def test_jpeg_and_uint16_png(tmp_path):
    Image.fromarray(np.full((6, 4, 3), 128, np.uint8)).save(tmp_path / "a.jpg")
    assert read_image(tmp_path / "a.jpg").shape == (3, 6, 4)
    Image.fromarray(np.arange(24, dtype=np.uint16).reshape(4, 6) * 1000).save(tmp_path / "b.png")
    b = read_image(tmp_path / "b.png")
    assert b.dtype == np.uint16 and b[0, 3, 5] == 23000


def test_geotiff_header_gsd_time_and_band_selection(tmp_path):
    array = np.arange(4 * 8 * 10, dtype=np.float32).reshape(4, 8, 10)
    path = write_geotiff(tmp_path / "s.tif", array, tags={"ACQUISITION_DATETIME": "2024-03-05T01:02:03+09:00",
                                                           "TIFFTAG_DATETIME": "2030:01:01 00:00:00"})
    info = inspect_raster(path)
    assert info.count == 4 and info.dtype == "float32" and info.georeferenced
    assert info.acquired == "2024-03-04T16:02:03Z"  # converted to UTC
    assert info.gsd_m == pytest.approx(2.0, rel=0.01)  # UTM: ground ~= nominal near the central meridian
    np.testing.assert_array_equal(read_image(path, bands=(4, 2)), array[[3, 1]])
    with pytest.raises(RasterError, match=r"s\.tif.*bands \[5\].*1\.\.4"):
        read_image(path, bands=(5,))


def test_web_mercator_ground_gsd_is_smaller_than_nominal(tmp_path):
    # 10 m Web Mercator pixels at ~54.5 N (Gdynia) cover ~5.8 m on the ground.
    y = 7_270_000.0
    path = write_geotiff(tmp_path / "m.tif", np.zeros((1, 10, 10), np.uint16), crs="EPSG:3857",
                         transform=from_origin(2_060_000.0, y, 10.0, 10.0))
    assert inspect_raster(path).gsd_m == pytest.approx(5.8, abs=0.1)


def test_naive_acquisition_time_is_utc_and_garbage_is_refused(tmp_path):
    a = write_geotiff(tmp_path / "a.tif", np.zeros((1, 2, 2), np.uint8),
                      tags={"ACQUISITION_DATETIME": "2024-03-05 01:02:03"})
    assert inspect_raster(a).acquired == "2024-03-05T01:02:03Z"
    b = write_geotiff(tmp_path / "b.tif", np.zeros((1, 2, 2), np.uint8), tags={"ACQUISITION_DATETIME": "soon"})
    with pytest.raises(RasterError, match=r"b\.tif.*ACQUISITION_DATETIME"):
        inspect_raster(b)


def test_window_past_the_edge_is_padded_invalid_and_nodata_is_declared_only(tmp_path):
    array = np.arange(1, 13, dtype=np.uint16).reshape(1, 3, 4)
    array[0, 0, 0] = 0  # a zero that is not nodata
    array[0, 2, 3] = 7777
    path = write_geotiff(tmp_path / "n.tif", array, nodata=7777)
    pixels, valid = read_window(path, col_off=-1, row_off=1, width=6, height=3)
    assert pixels.shape == (1, 3, 6) and valid.shape == (3, 6)
    np.testing.assert_array_equal(pixels[0, 0, 1:5], array[0, 1])
    assert valid[0, 1:5].all() and not valid[0, 0] and not valid[0, 5] and not valid[2].any()
    assert not valid[1, 4]  # the nodata pixel
    whole, whole_valid = read_window(path, 0, 0, 4, 3)
    assert whole_valid[0, 0]  # zero is valid: nodata is never guessed
    with rasterio.open(path) as ds:  # an open dataset works too
        np.testing.assert_array_equal(read_window(ds, 0, 0, 4, 3)[0], whole)


def test_decimated_read_is_bounded_and_carries_the_mask(tmp_path):
    array = np.ones((2, 50, 120), np.uint8)
    array[:, :, :60] = 0
    path = write_geotiff(tmp_path / "d.tif", array, nodata=0)
    pixels, valid = read_decimated(path, max_side=32)
    assert max(pixels.shape[1:]) <= 32 and pixels.shape[0] == 2
    assert valid.shape == pixels.shape[1:]
    assert not valid[:, :10].any() and valid[:, -10:].all()


def test_missing_non_image_and_corrupt_files_are_one_line_errors(tmp_path):
    with pytest.raises(RasterError, match=r"nope\.png: no such image file"):
        inspect_raster(tmp_path / "nope.png")
    text = tmp_path / "notes.png"
    text.write_text("hello, not an image\n")
    with pytest.raises(RasterError, match=r"notes\.png: not an image") as info:
        read_image(text)
    assert "\n" not in str(info.value)
    good = write_geotiff(tmp_path / "c.tif", np.ones((1, 64, 64), np.uint16))
    data = good.read_bytes()
    broken = tmp_path / "broken.tif"
    broken.write_bytes(data[:300])
    with pytest.raises(RasterError, match=r"broken\.tif"):
        read_image(broken)


def test_pixel_cap_refuses_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(path)

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded despite the cap")

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", no_decode)
    with pytest.raises(RasterError, match=r"big\.png: 40 x 30 = 1,200 pixels exceeds the cap of 1,000"):
        read_image(path, max_pixels=1000)
    with pytest.raises(RasterError, match="exceeds the cap"):
        inspect_raster(path, max_pixels=1000)


def test_a_window_read_at_a_coarser_size_averages_and_pads_like_a_full_one(tmp_path):
    # 4 x 4 blocks of one value each, a nodata corner; the window starts 4 px before the image.
    array = np.kron(np.arange(1, 17, dtype=np.uint16).reshape(4, 4), np.ones((4, 4), np.uint16))[None]
    array[0, :4, :4] = 999
    path = write_geotiff(tmp_path / "w.tif", array, nodata=999)
    pixels, valid = read_window(path, -4, 0, 20, 16, out_size=(5, 4))
    assert pixels.shape == (1, 4, 5) and valid.shape == (4, 5)
    assert not valid[:, 0].any() and not valid[0, 1]  # past the edge, and the nodata block
    np.testing.assert_array_equal(pixels[0, :, 1:][valid[:, 1:]], np.arange(1, 17)[1:])  # each block's mean
    assert read_window(path, -4, 0, 20, 16)[0].shape == (1, 16, 20)  # without out_size: full resolution


def test_sources_are_named_as_given_and_urls_stay_whole(tmp_path):
    with pytest.raises(RasterError, match=r"^nope/x\.tif: no such image file"):
        inspect_raster("nope/x.tif")
    path = write_geotiff(tmp_path / "p.tif", np.zeros((1, 4, 4), np.uint8))
    assert inspect_raster(str(path)).path == path  # a local file is named by its Path
    with pytest.raises(RasterError, match=r"^https://127\.0\.0\.1:9/x\.tif: cannot read it over the network"):
        inspect_raster("https://127.0.0.1:9/x.tif")  # port 9 (discard): refused at once, no internet
