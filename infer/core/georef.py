"""Georeferencing: pixel <-> map <-> lon/lat, and geodesic sizes on the WGS84 ellipsoid.

Pixel coordinates follow GDAL: ``transform * (x, y)`` is the map position of the point ``(x, y)``
where x is the column and y the row, measured from the top-left corner of the top-left pixel (a
pixel's centre is at ``+0.5``). Lon/lat are degrees on WGS84 (EPSG:4326), longitude first.

Ground sizes are geodesic, never the CRS's nominal pixel size: in Web Mercator a nominal 10 m
pixel covers about ``10 cos(latitude)`` m on the ground.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from affine import Affine
from pyproj import CRS, Geod, Transformer

WGS84 = Geod(ellps="WGS84")
# A local frame's touching point is snapped to this many decimals of a degree (about a kilometre).
LOCAL_FRAME_DECIMALS = 2


@functools.lru_cache(maxsize=32)
def _transformers(crs_wkt: str) -> tuple[Transformer, Transformer]:
    crs = CRS.from_wkt(crs_wkt)
    return (Transformer.from_crs(crs, "EPSG:4326", always_xy=True),
            Transformer.from_crs("EPSG:4326", crs, always_xy=True))


@functools.lru_cache(maxsize=64)
def _aeqd(lon: float, lat: float) -> Transformer:
    return Transformer.from_crs("EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m",
                                always_xy=True)


def local_frame(lon: float, lat: float) -> Transformer:
    """Lon/lat -> metres (``always_xy``) on an azimuthal equidistant plane touching the WGS84
    ellipsoid at the point of a :data:`LOCAL_FRAME_DECIMALS`-decimal degree grid nearest
    ``(lon, lat)``: places that near each other (a terminal's dates, its pairs) share one cached
    transformer. Within 10 km of that point lengths hold to 5e-7 and directions to
    0.1 degree x tan(latitude)."""
    return _aeqd(round(lon, LOCAL_FRAME_DECIMALS), round(lat, LOCAL_FRAME_DECIMALS))


def _wkt(crs) -> str:
    return CRS.from_user_input(crs).to_wkt()


def pixels_to_map(transform: Affine, xy) -> np.ndarray:
    """Map coordinates ``[N, 2]`` of pixel points ``[N, 2]``."""
    p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    a, b, c, d, e, f = tuple(transform)[:6]
    return np.stack([a * p[:, 0] + b * p[:, 1] + c, d * p[:, 0] + e * p[:, 1] + f], axis=1)


def pixels_to_lonlat(crs, transform: Affine, xy) -> np.ndarray:
    """Lon/lat ``[N, 2]`` of pixel points ``[N, 2]`` of a raster with this CRS and transform."""
    m = pixels_to_map(transform, xy)
    lon, lat = _transformers(_wkt(crs))[0].transform(m[:, 0], m[:, 1])
    return np.stack([np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)], axis=1)


def lonlat_to_pixels(crs, transform: Affine, lonlat) -> np.ndarray:
    """Pixel points ``[N, 2]`` of lon/lat points ``[N, 2]`` (the inverse of pixels_to_lonlat)."""
    q = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
    x, y = _transformers(_wkt(crs))[1].transform(q[:, 0], q[:, 1])
    inverse = ~transform
    return pixels_to_map(inverse, np.stack([np.asarray(x), np.asarray(y)], axis=1))


def _geodesic_distance(lonlat_a: np.ndarray, lonlat_b: np.ndarray) -> np.ndarray:
    _, _, dist = WGS84.inv(lonlat_a[:, 0], lonlat_a[:, 1], lonlat_b[:, 0], lonlat_b[:, 1])
    return np.asarray(dist, dtype=np.float64)


def ground_gsd_m(crs, transform: Affine, width: int, height: int) -> float:
    """Ground metres per pixel at the scene centre: the mean of the centre pixel's geodesic
    column and row sizes."""
    cx, cy = width / 2.0, height / 2.0
    pts = pixels_to_lonlat(crs, transform, [[cx, cy], [cx + 1, cy], [cx, cy + 1]])
    sizes = _geodesic_distance(pts[[0, 0]], pts[[1, 2]])
    return float(sizes.mean())


def box_size_m(crs, transform: Affine, box) -> tuple[float, float]:
    """Geodesic ``(length_m, width_m)`` of an oriented pixel box ``[cx, cy, L, W, angle]``.

    Each is the mean of the two opposite edges of the box's corners on the ground.
    """
    from .boxes import box_corners

    ll = pixels_to_lonlat(crs, transform, box_corners(box))
    edges = _geodesic_distance(ll, np.roll(ll, -1, axis=0))  # c0c1 (W), c1c2 (L), c2c3 (W), c3c0 (L)
    return float((edges[1] + edges[3]) / 2), float((edges[0] + edges[2]) / 2)


def heading_deg(crs, transform: Affine, box, heading_rad: float) -> float:
    """Geodesic bearing of the bow in degrees ``[0, 360)``, clockwise from true north.

    ``heading_rad`` is the bow direction in the pixel frame (from +x towards +y).
    """
    cx, cy, length = float(box[0]), float(box[1]), max(float(box[2]), 1.0)
    tip = [cx + math.cos(heading_rad) * length / 2, cy + math.sin(heading_rad) * length / 2]
    ll = pixels_to_lonlat(crs, transform, [[cx, cy], tip])
    azimuth, _, _ = WGS84.inv(ll[0, 0], ll[0, 1], ll[1, 0], ll[1, 1])
    return float(np.mod(azimuth, 360.0))


def bearing_to_pixel_heading(crs, transform: Affine, xy, bearing_deg: float) -> float:
    """Pixel-frame bow direction (radians, ``[0, 2 pi)``) of a geodesic bearing at pixel ``xy``."""
    start = pixels_to_lonlat(crs, transform, [xy])[0]
    lon, lat, _ = WGS84.fwd(start[0], start[1], bearing_deg, 10.0)
    end = lonlat_to_pixels(crs, transform, [[lon, lat]])[0]
    return float(np.mod(math.atan2(end[1] - xy[1], end[0] - xy[0]), 2 * math.pi))
