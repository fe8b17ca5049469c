"""The mapping from raw raster values to the model's uint8 input: part of the model, not of the data.

A :class:`Scaling` is chosen when training, stored (``to_dict``) in the checkpoint and the ONNX
metadata, and applied identically by training, parity tests and ``detect``:

* ``bands``: 1-based band numbers (GDAL order) to feed the model, or None for all bands in order;
* ``method='percentile'``: per band, the ``percentiles`` (default 1 % and 99 %) of the scene's valid
  pixels map to 0 and 255. They are computed once per scene from a read decimated to <= 2,048 px
  (:func:`~tankerwatch.infer.runtime.raster.read_decimated`; from the file's overviews when it has
  them, as a cloud-optimised GeoTIFF does: averaged pixels, so the 1 % and 99 % points sit a few
  grey levels closer together than from every n-th pixel of a file without overviews), never per
  tile or training crop, and only pixels the file declares valid (nodata / mask / alpha) count;
  zeros are not guessed to be nodata.
* ``method='fixed'``: ``value_range`` ``(lo, hi)`` maps to 0..255 for every band (e.g. (0, 255) for
  8-bit imagery). A fixed 0..10,000 range suits raw Sentinel-2 L2A but saturates the sen2ships files,
  which are reflectance x 65,535: use the percentile stretch there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import ConfigError
from .raster import inspect_raster, read_decimated

METHODS = ("percentile", "fixed")
STATS_MAX_SIDE = 2048


@dataclass(frozen=True)
class Scaling:
    bands: tuple[int, ...] | None = None
    method: str = "percentile"
    percentiles: tuple[float, float] = (1.0, 99.0)
    value_range: tuple[float, float] = (0.0, 255.0)

    def __post_init__(self):
        if self.bands is not None:
            bands = tuple(self.bands)
            if not bands or any(isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1
                                for b in bands):
                raise ConfigError(f"scaling bands must be 1-based band numbers, got {list(bands)}")
            object.__setattr__(self, "bands", tuple(int(b) for b in bands))
        if self.method not in METHODS:
            raise ConfigError(f"scaling method must be one of {list(METHODS)}, got {self.method!r}")
        object.__setattr__(self, "percentiles", _pair("percentiles", self.percentiles))
        object.__setattr__(self, "value_range", _pair("value_range", self.value_range))
        low, high = self.percentiles
        if not 0.0 <= low < high <= 100.0:
            raise ConfigError(f"scaling percentiles must satisfy 0 <= low < high <= 100, got {[low, high]}")
        if not self.value_range[0] < self.value_range[1]:
            raise ConfigError(f"scaling value_range must have low < high, got {list(self.value_range)}")

    def to_dict(self) -> dict:
        """Plain-JSON form, as stored in checkpoints and ONNX metadata."""
        return {"bands": None if self.bands is None else list(self.bands), "method": self.method,
                "percentiles": list(self.percentiles), "value_range": list(self.value_range)}

    @classmethod
    def from_dict(cls, data) -> Scaling:
        if not isinstance(data, dict):
            raise ConfigError(f"scaling must be a mapping, got {type(data).__name__}")
        unknown = set(data) - {"bands", "method", "percentiles", "value_range"}
        if unknown:
            raise ConfigError(f"unknown scaling keys {sorted(unknown)}; known: bands, method, percentiles, "
                              f"value_range")
        kwargs = dict(data)
        if kwargs.get("bands") is not None:
            if not isinstance(kwargs["bands"], (list, tuple)):
                raise ConfigError(f"scaling bands must be a list of band numbers, got {kwargs['bands']!r}")
            kwargs["bands"] = tuple(kwargs["bands"])
        return cls(**kwargs)

    def band_count(self, image_bands: int) -> int:
        """Number of channels the model sees for an image with ``image_bands`` bands."""
        return image_bands if self.bands is None else len(self.bands)

    def scene_limits(self, path) -> tuple[np.ndarray, np.ndarray]:
        """Per-band ``(lo, hi)`` float64 ``[C]`` for the whole scene at ``path`` (see module doc)."""
        if self.method == "fixed":
            count = self.band_count(inspect_raster(path).count)
            return self.limits(np.zeros((count, 1, 1)))
        array, valid = read_decimated(path, STATS_MAX_SIDE, bands=self.bands)
        return self.limits(array, valid)

    def limits(self, array, valid=None) -> tuple[np.ndarray, np.ndarray]:
        """Per-band ``(lo, hi)`` from an in-memory scene ``[C, H, W]`` (already band-selected).

        For images small enough to hold whole (e.g. synthetic tiles, each its own scene). Non-finite
        values and pixels where ``valid`` is False are left out; a band with no valid pixel gets
        (0, 0), which :func:`to_uint8` maps to 0.
        """
        array = np.asarray(array)
        count = array.shape[0]
        if self.method == "fixed":
            return np.full(count, self.value_range[0]), np.full(count, self.value_range[1])
        keep = np.ones(array.shape[1:], dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
        lo, hi = np.zeros(count), np.zeros(count)
        for band in range(count):
            values = array[band][keep].astype(np.float64)
            values = values[np.isfinite(values)]
            if values.size:
                lo[band], hi[band] = np.percentile(values, self.percentiles)
        return lo, hi


def to_uint8(array, lo, hi) -> np.ndarray:
    """Map ``array [C, H, W]`` linearly so ``lo[c]`` -> 0 and ``hi[c]`` -> 255, clipped and rounded.

    A band with ``hi <= lo`` (a constant scene) maps to 0 below or at ``lo`` and 255 above it;
    NaN maps to 0, infinities to 0 or 255.
    """
    a = np.asarray(array)
    lo = np.asarray(lo, dtype=np.float64).reshape(-1, 1, 1)
    hi = np.asarray(hi, dtype=np.float64).reshape(-1, 1, 1)
    if a.ndim != 3 or lo.shape[0] != a.shape[0] or hi.shape[0] != a.shape[0]:
        raise ConfigError(f"scaling limits for {lo.shape[0]} bands do not fit an image of shape {a.shape}")
    if a.dtype.kind in "ui" and a.dtype.itemsize <= 2:
        # Every value an 8- or 16-bit band can hold goes through the formula once, then a table
        # lookup maps the pixels: the same bytes, without float arithmetic per pixel (a third of
        # a whole-scene run's time otherwise).
        info = np.iinfo(a.dtype)
        table = _stretch(np.arange(info.min, info.max + 1, dtype=np.float64)[None, None, :], lo, hi)
        offset = a.astype(np.int64) - info.min if info.min else a
        return np.stack([np.take(table[band, 0], offset[band]) for band in range(a.shape[0])])
    return _stretch(a.astype(np.float64), lo, hi)


def _stretch(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The linear stretch of :func:`to_uint8` on float64 ``values`` broadcast against ``lo``/``hi``."""
    span = hi - lo
    # A constant band has no span: a tiny one turns the stretch into a step at lo.
    scale = 255.0 / np.where(span > 0, span, 1e-12)
    out = (values - lo) * scale
    out = np.nan_to_num(out, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _pair(name: str, value) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"scaling {name} must be two numbers, got {value!r}") from None
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ConfigError(f"scaling {name} must be finite, got {[low, high]}")
    return low, high
