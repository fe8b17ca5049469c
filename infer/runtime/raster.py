"""Raster input: PNG, JPEG, TIFF and GeoTIFF through GDAL (rasterio), size-checked before decoding.

Arrays are ``[C, H, W]`` in the file's native dtype (uint8, uint16, float, ...), bands in file order
unless ``bands`` (1-based, as GDAL numbers them) selects some. Pixel ``a[:, j, i]`` covers
``[i, i+1) x [j, j+1)`` of the GDAL pixel frame; ``transform * (x, y)`` is that point's map position.

Validity comes only from what the file declares (a nodata value, an internal or sidecar mask, an
alpha band), through GDAL's dataset mask; zeros are never taken to mean "no data".

Sources are local paths, GDAL paths or URLs (:mod:`tankerwatch.infer.runtime.sources`): ``https://``
and ``s3://`` are read through ``/vsicurl/`` and ``/vsis3/`` with bounded retries and timeouts.
Reduced-resolution reads (:func:`read_decimated`, :func:`read_window` with ``out_size``) go through
GDAL's resampling, which reads the file's overviews when it has them (a cloud-optimised GeoTIFF):
a 4x coarser read of such a file decodes 16x fewer pixels, and over HTTP fetches only their blocks.

Every failure a user can cause (missing file, not an image, corrupt data, too many pixels, a band
that does not exist, an HTTP error, a timeout, a cut transfer) raises
:class:`~tankerwatch.infer.core.errors.RasterError` naming the file or URL as given.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
import warnings
from dataclasses import dataclass, field
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
from .sources import gdal_path, is_network, network_env, network_option

# Header-level cap: scenes this large are still read window by window (``detect`` tiles them).
MAX_SCENE_PIXELS = 20_000 * 20_000
# Whole-image decodes (training images, label checks) hold the full array in memory: cap lower.
MAX_DECODE_PIXELS = 10_000 * 10_000
# GDAL metadata item holding the acquisition time (UTC); TIFFTAG_DATETIME is file creation time.
ACQUISITION_TAG = "ACQUISITION_DATETIME"
# GDAL metadata items holding the sun and view angles (degrees; infer/runtime/view_angles.py).
VIEW_TAGS = ("SUN_ELEVATION", "SUN_AZIMUTH", "VIEW_ZENITH", "VIEW_AZIMUTH")


@dataclass(frozen=True)
class RasterInfo:
    """What a raster's header says, read without decoding any pixels.

    ``crs`` is a rasterio CRS or None; ``transform`` an ``affine.Affine`` (GDAL convention, the
    identity when the file is not georeferenced); ``acquired`` a UTC ISO 8601 string
    (``YYYY-MM-DDTHH:MM:SSZ``) from the ``ACQUISITION_DATETIME`` tag or None; ``gsd_m`` ground metres
    per pixel at the scene centre (geodesic) or None without georeferencing. ``path`` is the
    source as it was given (a ``Path``, or the text of a URL or GDAL path), as errors name it.
    ``view_tags``: those of the metadata items :data:`VIEW_TAGS` the file has, as text.
    """

    path: Path | str
    width: int
    height: int
    count: int
    dtype: str
    crs: object
    transform: object
    nodata: float | None
    acquired: str | None
    gsd_m: float | None
    view_tags: dict[str, str] = field(default_factory=dict)

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and not self.transform.is_identity


@contextlib.contextmanager
def open_raster(path, max_pixels: int = MAX_SCENE_PIXELS):
    """Open ``path`` (a local path, GDAL path or URL) with rasterio, refusing missing, unreadable or
    over-cap files with RasterError naming ``path`` as given.

    The size check uses the header only, so an oversized file is refused before any decoding. A
    network source stays under :func:`~tankerwatch.infer.runtime.sources.network_env` while open.
    """
    target = gdal_path(path)
    # /vsimem/ (the API's arrays) and other GDAL virtual file systems have no file to look for first.
    if not target.startswith("/vsi") and not Path(target).is_file():
        raise RasterError(located(path, "no such image file"))
    with network_env(target):
        dataset = _Opened(_open(path, target), path if target.startswith("/vsi") else Path(target), target)
        try:
            pixels = dataset.width * dataset.height
            if pixels > max_pixels:
                raise RasterError(located(path, f"{dataset.width} x {dataset.height} = {pixels:,} pixels exceeds "
                                                f"the cap of {max_pixels:,}; refusing to decode it"))
            if dataset.driver == "PNG":
                if target.startswith("/vsi"):
                    # GDAL decodes a cut PNG without a word, and only a local file can be checked first.
                    raise RasterError(located(path, "a PNG is only read from a local file (it cannot be checked "
                                                    "for truncation remotely); use a GeoTIFF or download it"))
                _check_png_complete(Path(target), *_file_identity(Path(target)))
            if dataset.count < 1:
                raise RasterError(located(path, "image has no bands"))
            yield dataset
        finally:
            dataset.close()


def _open(path, target: str):
    try:
        with warnings.catch_warnings():
            # Plain PNG/JPEG files are welcome: georeferencing is optional (see RasterInfo).
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(target)
    except RasterioError as exc:
        raise RasterError(located(path, _open_failure(exc, target))) from None


class _Opened:
    """An open dataset named as the user gave it (``name``: a local file's Path, else the text, not
    its ``/vsicurl/`` path), so errors raised while reading name what they wrote; everything else
    is the rasterio dataset's. ``retries``: how many times a failed read of a network source is
    tried again, each time on a fresh open (:meth:`reopen`)."""

    def __init__(self, dataset, where, target: str):
        self._dataset, self.name, self._target = dataset, where, target
        self.retries = int(network_option("GDAL_HTTP_MAX_RETRY")) if is_network(target) else 0

    def __getattr__(self, attribute):
        return getattr(self._dataset, attribute)

    def reopen(self) -> None:
        """Close and open again. Under :func:`~.sources.network_env` a network file is not cached
        across opens, so this fetches afresh what a cut transfer left short."""
        self._dataset.close()
        self._dataset = _open(self.name, self._target)

    def close(self) -> None:
        self._dataset.close()


def _open_failure(exc: RasterioError, target: str) -> str:
    """What went wrong opening ``target``, in GDAL's words less its own path (the message names
    the source as given), e.g. ``HTTP response code: 404``."""
    message = _gdal_message(exc).replace(f"'{target}' ", "").replace(target, "the file")
    if is_network(target):
        return f"cannot read it over the network ({message})"
    return f"not an image GDAL can read ({message})"


def inspect_raster(path, max_pixels: int = MAX_SCENE_PIXELS) -> RasterInfo:
    """Read a raster's header (size, bands, dtype, georeferencing, nodata, acquisition time, GSD)."""
    with open_raster(path, max_pixels) as ds:
        return _info(ds)


def _info(ds) -> RasterInfo:
    path = ds.name
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
    tags = ds.tags()
    return RasterInfo(path=path, width=ds.width, height=ds.height, count=ds.count, dtype=ds.dtypes[0],
                      crs=crs, transform=transform, nodata=ds.nodata,
                      acquired=_acquired(path, tags.get(ACQUISITION_TAG)), gsd_m=gsd,
                      view_tags={k: tags[k] for k in VIEW_TAGS if k in tags})


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
                bands=None, out_size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read pixels ``[row_off, row_off + height) x [col_off, col_off + width)``.

    Returns ``(array [C, height, width] native dtype, valid [height, width] bool)``. The window may
    reach past the image edges: those pixels are 0 and not valid. Inside the image, ``valid`` is
    GDAL's dataset mask (declared nodata, mask or alpha only). ``path_or_dataset`` is a path or an
    open rasterio dataset (from :func:`open_raster`), so a tiler opens the file once.

    ``out_size`` ``(out_width, out_height)`` reads the window resampled to that size instead: pixel
    values by area averaging (GDAL ``average``), validity by nearest neighbour, from the file's
    overviews when it has them (a coarse pass over a cloud-optimised GeoTIFF reads the overview,
    not the full-resolution blocks).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"window size must be positive, got {width} x {height}")
    if isinstance(path_or_dataset, (str, Path)):
        with open_raster(path_or_dataset) as ds:
            return read_window(ds, col_off, row_off, width, height, bands, out_size)
    ds = path_or_dataset
    indexes = _band_indexes(ds, bands)
    out_width, out_height = out_size or (width, height)
    sx, sy = out_width / width, out_height / height
    array = np.zeros((len(indexes), out_height, out_width), dtype=ds.dtypes[0])
    valid = np.zeros((out_height, out_width), dtype=bool)
    c0, r0 = max(col_off, 0), max(row_off, 0)
    c1, r1 = min(col_off + width, ds.width), min(row_off + height, ds.height)
    # The part inside the image, in output pixels (the identity without out_size).
    o_c0, o_c1 = round((c0 - col_off) * sx), min(round((c1 - col_off) * sx), out_width)
    o_r0, o_r1 = round((r0 - row_off) * sy), min(round((r1 - row_off) * sy), out_height)
    if c1 > c0 and r1 > r0 and o_c1 > o_c0 and o_r1 > o_r0:
        window = Window(c0, r0, c1 - c0, r1 - r0)
        inner = (slice(o_r0, o_r1), slice(o_c0, o_c1))
        shape = (o_r1 - o_r0, o_c1 - o_c0)
        scaled = out_size is not None
        array[(slice(None), *inner)] = _read(ds, indexes=indexes, window=window, resampling=Resampling.average,
                                             **({"out_shape": (len(indexes), *shape)} if scaled else {}))
        valid[inner] = True if _all_valid(ds) else _read(ds, mask=True, window=window, resampling=Resampling.nearest,
                                                          **({"out_shape": shape} if scaled else {})) > 0
    return array, valid


def _all_valid(ds) -> bool:
    """True when GDAL's dataset mask is all valid by declaration (no nodata, mask band or alpha),
    so reading it would only decode a block of 255s."""
    return all(flags == [MaskFlags.all_valid] for flags in ds.mask_flag_enums)


def read_decimated(path, max_side: int = 2048, bands=None,
                   max_pixels: int = MAX_SCENE_PIXELS) -> tuple[np.ndarray, np.ndarray]:
    """Whole scene read at reduced resolution, longest side ``<= max_side`` (nearest neighbour).

    Returns ``(array [C, h, w], valid [h, w] bool)``. GDAL reads the file's overviews when it has
    them (the coarsest one still at least as fine as the requested size), so a cloud-optimised
    scene's statistics cost a few of its overview blocks, not every full-resolution one.
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
    with decoding failures turned into RasterError.

    A failed read of a network source is tried again on a fresh open, up to ``ds.retries`` times
    with GDAL's growing delay: GDAL retries HTTP errors and timeouts itself, but a transfer cut
    short reaches here as a TIFF read error. Every try failing fails the read.
    """
    retries, attempt = getattr(ds, "retries", 0), 0
    while True:
        try:
            return ds.dataset_mask(**kwargs) if mask else ds.read(**kwargs)
        except (RasterioError, MemoryError) as exc:
            if attempt == retries or isinstance(exc, MemoryError):
                raise RasterError(located(ds.name, f"cannot decode pixels ({_gdal_message(exc)})")) from None
        time.sleep(float(network_option("GDAL_HTTP_RETRY_DELAY")) * 2**attempt)
        attempt += 1
        ds.reopen()


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
