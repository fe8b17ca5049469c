import math

import numpy as np
import pytest
from affine import Affine

from tankerwatch.infer.core.georef import (
    bearing_to_pixel_heading,
    box_size_m,
    ground_gsd_m,
    heading_deg,
    lonlat_to_pixels,
    pixels_to_lonlat,
)

UTM53 = "EPSG:32653"
# 2 m pixels near Vostochny, north up.
TRANSFORM = Affine(2.0, 0, 342_000.0, 0, -2.0, 4_733_000.0)


def test_pixel_lonlat_round_trip():
    xy = [[0, 0], [100.5, 200.25], [2048, 2048]]
    back = lonlat_to_pixels(UTM53, TRANSFORM, pixels_to_lonlat(UTM53, TRANSFORM, xy))
    np.testing.assert_allclose(back, xy, atol=1e-6)


def test_utm_gsd_is_close_to_nominal():
    assert ground_gsd_m(UTM53, TRANSFORM, 1000, 1000) == pytest.approx(2.0, rel=2e-3)


def test_web_mercator_gsd_shrinks_with_latitude():
    lat = 35.1  # Busan
    import pyproj
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(129.0, lat)
    gsd = ground_gsd_m("EPSG:3857", Affine(10, 0, x - 5000, 0, -10, y + 5000), 1000, 1000)
    assert gsd == pytest.approx(10 * math.cos(math.radians(lat)), rel=5e-3)


def test_box_size_and_heading_on_the_ground():
    box = [500, 500, 100, 20, math.pi / 2]  # long axis along +y (south on a north-up raster)
    length, width = box_size_m(UTM53, TRANSFORM, box)
    assert (length, width) == pytest.approx((200, 40), rel=2e-3)
    # Grid north differs from true north by the meridian convergence (about 1.3 deg here).
    assert heading_deg(UTM53, TRANSFORM, box, math.pi / 2) == pytest.approx(180, abs=2.0)
    assert heading_deg(UTM53, TRANSFORM, box, 0.0) == pytest.approx(90, abs=2.0)
    east = bearing_to_pixel_heading(UTM53, TRANSFORM, (500, 500), 90.0)
    assert math.cos(east) == pytest.approx(1, abs=1e-3)
