"""Raster input: PNG, JPEG, TIFF and GeoTIFF through GDAL (rasterio), size-checked before decoding.

Arrays are ``[C, H, W]`` in the file's native dtype (uint8, uint16, float, ...), bands in file order
unless ``bands`` (1-based, as GDAL numbers them) selects some. Pixel ``a[:, j, i]`` covers
``[i, i+1) x [j, j+1)`` of the GDAL pixel frame; ``transform * (x, y)`` is that point's map position.

Validity comes only from what the file declares (a nodata value, an internal or sidecar mask, an
alpha band), through GDAL's dataset mask; zeros are never taken to mean "no data".

Every failure a user can cause (missing file, not an image, corrupt data, too many pixels, a band
that does not exist) raises :class:`~tankerwatch.infer.core.errors.RasterError` naming the file.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from ..core.errors import RasterError, first_line, located
from ..core.georef import ground_gsd_m
from ..core.timestamps import normalise_utc

# Header-level cap: scenes this large are still read window by window (``detect`` tiles them).
MAX_SCENE_PIXELS = 20_000 * 20_000
# Whole-image decodes (training images, label checks) hold the full array in memory: cap lower.
MAX_DECODE_PIXELS = 10_000 * 10_000
# GDAL metadata item holding the acquisition time (UTC); TIFFTAG_DATETIME is file creation time.
ACQUISITION_TAG = "ACQUISITION_DATETIME"


@dataclass(frozen=True)
class RasterInfo:
    """What a raster's header says, read without decoding any pixels.

    ``crs`` is a rasterio CRS or None; ``transform`` an ``affine.Affine`` (GDAL convention, the
    identity when the file is not georeferenced); ``acquired`` a UTC ISO 8601 string
    (``YYYY-MM-DDTHH:MM:SSZ``) from the ``ACQUISITION_DATETIME`` tag or None; ``gsd_m`` ground metres
    per pixel at the scene centre (geodesic) or None without georeferencing.
    """

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    crs: object
    transform: object
    nodata: float | None
    acquired: str | None
    gsd_m: float | None

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and not self.transform.is_identity


@contextlib.contextmanager
def open_raster(path, max_pixels: int = MAX_SCENE_PIXELS):
    """Open ``path`` with rasterio, refusing missing, unreadable or over-cap files with RasterError.

    The size check uses the header only, so an oversized file is refused before any decoding.
    """
    path = Path(path)
    # /vsimem/ (the API's arrays) and other GDAL virtual file systems have no file to look for first.
    if not str(path).startswith("/vsi") and not path.is_file():
        raise RasterError(located(path, "no such image file"))
    try:
        with warnings.catch_warnings():
            # Plain PNG/JPEG files are welcome: georeferencing is optional (see RasterInfo).
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            dataset = rasterio.open(path)
    except RasterioError as exc:
        raise RasterError(located(path, f"not an image GDAL can read ({_gdal_message(exc)})")) from None
    with dataset:
        pixels = dataset.width * dataset.height
        if pixels > max_pixels:
            raise RasterError(located(path, f"{dataset.width} x {dataset.height} = {pixels:,} pixels exceeds "
                                            f"the cap of {max_pixels:,}; refusing to decode it"))
        if dataset.driver == "PNG":
            _check_png_complete(path, *_file_identity(path))
        if dataset.count < 1:
            raise RasterError(located(path, "image has no bands"))
        yield dataset


def inspect_raster(path, max_pixels: int = MAX_SCENE_PIXELS) -> RasterInfo:
    """Read a raster's header (size, bands, dtype, georeferencing, nodata, acquisition time, GSD)."""
    with open_raster(path, max_pixels) as ds:
        return _info(ds)


def _info(ds) -> RasterInfo:
    path = Path(ds.name)
    crs = ds.crs
    transform = ds.transform
    georeferenced = crs is not None and not transform.is_identity
    gsd = None
    if georeferenced:
        try:
            gsd = ground_gsd_m(crs, transform, ds.width, ds.height)
        except Exception as exc:  # pyproj raises several types for CRSs it cannot handle
            raise RasterError(located(path, f"cannot compute ground GSD from its georeferencing "
                                            f"({first_line(exc)})")) from None
    return RasterInfo(path=path, width=ds.width, height=ds.height, count=ds.count, dtype=ds.dtypes[0],
                      crs=crs, transform=transform, nodata=ds.nodata,
                      acquired=_acquired(path, ds.tags().get(ACQUISITION_TAG)), gsd_m=gsd)


def _acquired(path: Path, text: str | None) -> str | None:
    """Normalise an ACQUISITION_DATETIME value to UTC ``YYYY-MM-DDTHH:MM:SSZ`` (naive means UTC)."""
    if text is None or not text.strip():
        return None
    try:
        return normalise_utc(text)
    except ValueError:
        raise RasterError(located(path, f"{ACQUISITION_TAG} {text.strip()!r} is not an ISO 8601 date-time")) from None


def _band_indexes(ds, bands) -> list[int]:
    if bands is None:
        return list(range(1, ds.count + 1))
    indexes = [int(b) for b in bands]
    bad = [b for b in indexes if not 1 <= b <= ds.count]
    if not indexes or bad:
        raise RasterError(located(ds.name, f"bands {list(bands)} requested but the image has bands "
                                           f"1..{ds.count}"))
    return indexes


def read_image(path, bands=None, max_pixels: int = MAX_DECODE_PIXELS) -> np.ndarray:
    """Decode a whole image to ``[C, H, W]`` (native dtype), after checking its size from the header."""
    with open_raster(path, max_pixels) as ds:
        indexes = _band_indexes(ds, bands)
        return _read(ds, indexes=indexes)


def read_window(path_or_dataset, col_off: int, row_off: int, width: int, height: int,
                bands=None) -> tuple[np.ndarray, np.ndarray]:
    """Read pixels ``[row_off, row_off + height) x [col_off, col_off + width)``.

    Returns ``(array [C, height, width] native dtype, valid [height, width] bool)``. The window may
    reach past the image edges: those pixels are 0 and not valid. Inside the image, ``valid`` is
    GDAL's dataset mask (declared nodata, mask or alpha only). ``path_or_dataset`` is a path or an
    open rasterio dataset (from :func:`open_raster`), so a tiler opens the file once.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"window size must be positive, got {width} x {height}")
    if isinstance(path_or_dataset, (str, Path)):
        with open_raster(path_or_dataset) as ds:
            return read_window(ds, col_off, row_off, width, height, bands)
    ds = path_or_dataset
    indexes = _band_indexes(ds, bands)
    array = np.zeros((len(indexes), height, width), dtype=ds.dtypes[0])
    valid = np.zeros((height, width), dtype=bool)
    c0, r0 = max(col_off, 0), max(row_off, 0)
    c1, r1 = min(col_off + width, ds.width), min(row_off + height, ds.height)
    if c1 > c0 and r1 > r0:
        window = Window(c0, r0, c1 - c0, r1 - r0)
        inner = (slice(r0 - row_off, r1 - row_off), slice(c0 - col_off, c1 - col_off))
        array[(slice(None), *inner)] = _read(ds, indexes=indexes, window=window)
        valid[inner] = True if _all_valid(ds) else _read(ds, mask=True, window=window) > 0
    return array, valid


def _all_valid(ds) -> bool:
    """True when GDAL's dataset mask is all valid by declaration (no nodata, mask band or alpha),
    so reading it would only decode a block of 255s."""
    return all(flags == [MaskFlags.all_valid] for flags in ds.mask_flag_enums)


def read_decimated(path, max_side: int = 2048, bands=None,
                   max_pixels: int = MAX_SCENE_PIXELS) -> tuple[np.ndarray, np.ndarray]:
    """Whole scene read at reduced resolution, longest side ``<= max_side`` (nearest neighbour).

    Returns ``(array [C, h, w], valid [h, w] bool)``; GDAL uses the file's overviews when present.
    This is what per-scene statistics (the percentile stretch) are computed from.
    """
    with open_raster(path, max_pixels) as ds:
        indexes = _band_indexes(ds, bands)
        factor = max(1, math.ceil(max(ds.width, ds.height) / max_side))
        shape = (max(1, math.ceil(ds.height / factor)), max(1, math.ceil(ds.width / factor)))
        array = _read(ds, indexes=indexes, out_shape=(len(indexes), *shape), resampling=Resampling.nearest)
        valid = _read(ds, mask=True, out_shape=shape, resampling=Resampling.nearest) > 0
        return array, valid


def _read(ds, mask: bool = False, **kwargs) -> np.ndarray:
    """``ds.read`` or ``ds.dataset_mask`` (GDAL: a pixel is invalid where every band is nodata),
    with decoding failures turned into RasterError."""
    try:
        return ds.dataset_mask(**kwargs) if mask else ds.read(**kwargs)
    except (RasterioError, MemoryError) as exc:
        raise RasterError(located(ds.name, f"cannot decode pixels ({_gdal_message(exc)})")) from None


def _gdal_message(exc: BaseException) -> str:
    """GDAL's own words: rasterio raises "Read failed. See previous exception for details." and
    chains the error that names the tile or the codec problem."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return first_line(exc)


def _file_identity(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=64)
def _check_png_complete(path: Path, size: int, mtime_ns: int) -> None:
    """Refuse a truncated or corrupt PNG before decoding: GDAL's PNG driver decodes a cut file
    without a word (the missing rows come out as whatever its buffer held), so a broken download
    would pass as an empty sea. Pillow's ``verify`` walks every chunk and its CRC up to IEND without
    decompressing. Cached per (path, size, mtime): ``detect`` opens a scene several times."""
    try:
        with warnings.catch_warnings():
            # The size was capped from the header already; Pillow's own bomb limit is lower.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.verify()
    except Image.DecompressionBombError:
        raise RasterError(located(path, "PNG too large to check for truncation; convert it to a tiled GeoTIFF "
                                        "(gdal_translate -of COG)")) from None
    except Exception as exc:  # Pillow raises SyntaxError, OSError, struct.error... for broken files
        raise RasterError(located(path, f"truncated or corrupt PNG ({first_line(exc)})")) from None
