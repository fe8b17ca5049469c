"""Write small GeoTIFFs for the tests through rasterio."""

from __future__ import annotations

from pathlib import Path

import rasterio
from rasterio.transform import from_origin


def write_geotiff(path: Path, array, *, crs="EPSG:32633", transform=None, nodata=None, tags=None) -> Path:
    """Write ``array`` ``[bands, rows, cols]`` to ``path``; the transform defaults to 2 m pixels in UTM 33N."""
    count, height, width = array.shape
    transform = transform or from_origin(500_000.0, 4_700_000.0, 2.0, 2.0)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count,
                       dtype=array.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(array)
        if tags:
            dst.update_tags(**tags)
    return path
