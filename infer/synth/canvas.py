"""Drawing surface of the generator: a float window onto a (possibly huge) virtual image.

A :class:`Canvas` holds ``[H, W, C]`` float32 values in [0, 1] (display brightness; channels R, G,
B and optionally NIR) for the window whose top-left pixel is ``origin`` of the whole image. Every
drawing call takes coordinates in the *whole image's* pixel frame (the project's: pixel ``(i, j)``
covers ``[i, i+1) x [j, j+1)``), so a scene rendered window by window draws each object exactly as
a single pass would. Coverage is area-weighted (see :meth:`Canvas.coverage`), so a sub-pixel
hull still leaves its true area-weighted trace at coarse GSD.

:func:`value_noise` is smooth noise defined on a hashed global lattice: the same seed and cell size
give the same value at the same whole-image pixel whatever window asks for it.
"""

from __future__ import annotations

import cv2
import numpy as np

_SUBPIXEL_BITS = 4
_SUBPIXEL = 1 << _SUBPIXEL_BITS
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _cv_points(points) -> np.ndarray:
    # cv2 puts pixel centres on integers; ours are at +0.5.
    p = (np.asarray(points, dtype=np.float64).reshape(-1, 2) - 0.5) * _SUBPIXEL
    return np.round(p).astype(np.int32)


class Canvas:
    """A window ``[H, W, C]`` of the whole image, at ``origin = (x0, y0)`` (whole-image pixels)."""

    def __init__(self, height: int, width: int, channels: int, origin=(0, 0), fill=None):
        self.origin = np.array(origin, dtype=np.float64)
        self.pixels = np.zeros((height, width, channels), dtype=np.float32)
        if fill is not None:
            self.pixels[:] = np.asarray(fill, dtype=np.float32)[:channels]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]

    def overlaps(self, points, margin: float = 2.0) -> bool:
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2) - self.origin
        return bool(p[:, 0].max() >= -margin and p[:, 1].max() >= -margin
                    and p[:, 0].min() <= self.width + margin and p[:, 1].min() <= self.height + margin)

    def coverage(self, polygons, supersample: int = 4):
        """Coverage ``[h, w]`` float32 in [0, 1] of the union of ``polygons`` (lists of ``[M, 2]``
        whole-image points), with the ``(row, col)`` slices of the window it covers; None if the
        polygons miss the window.

        Coverage is the share of each pixel's area inside, from a ``supersample`` x finer grid
        (edges right to 1/supersample px: cv2 keeps the last sub-pixel on right and bottom edges
        whose centre lies on the edge); cv2's own anti-aliasing spreads edges about 0.7 px
        too far, which would fatten a 1.4 px wide hull at 10 m GSD by half. ``supersample=1``
        (for land and other large areas) takes a whole pixel when its centre is inside."""
        polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) - self.origin for p in polygons]
        allp = np.concatenate(polys)
        x0 = max(int(np.floor(allp[:, 0].min())), 0)
        y0 = max(int(np.floor(allp[:, 1].min())), 0)
        x1 = min(int(np.ceil(allp[:, 0].max())) + 1, self.width)
        y1 = min(int(np.ceil(allp[:, 1].max())) + 1, self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        ss = int(supersample)
        mask = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), dtype=np.uint8)
        offset = np.array([x0, y0], dtype=np.float64)
        cv2.fillPoly(mask, [_cv_points((p - offset) * ss) for p in polys], 255, lineType=cv2.LINE_8,
                     shift=_SUBPIXEL_BITS)
        if ss > 1:
            mask = cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        return mask.astype(np.float32) * (1 / 255), (slice(y0, y1), slice(x0, x1))

    def fill(self, polygons, colour, alpha: float = 1.0) -> None:
        """Paint the union of ``polygons`` with ``colour`` (>= C values) at opacity ``alpha``."""
        got = self.coverage(polygons)
        if got is None:
            return
        cover, (rows, cols) = got
        c = np.asarray(colour, dtype=np.float32)[: self.channels]
        region = self.pixels[rows, cols]
        region += (c - region) * (cover * alpha)[..., None]

    def shade(self, polygons, factor: float, where: np.ndarray | None = None) -> None:
        """Multiply the union of ``polygons`` by ``factor`` (a shadow when < 1), only over the share
        ``where [H, W]`` (0..1, the whole window's pixels) of each pixel when given."""
        got = self.coverage(polygons)
        if got is None:
            return
        cover, (rows, cols) = got
        if where is not None:
            cover = cover * where[rows, cols]
        self.pixels[rows, cols] *= (1.0 - cover * (1.0 - factor))[..., None]

    def line(self, points, colour, width_px: float, alpha: float = 1.0) -> None:
        """A polyline ``width_px`` wide; thinner than a pixel, it is drawn 1 px wide at reduced
        opacity so its area-weighted brightness stays right."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(p) < 2 or not self.overlaps(p, margin=width_px + 2):
            return
        if width_px < 1.0:
            alpha *= width_px
            width_px = 1.0
        segments = []
        for a, b in zip(p[:-1], p[1:], strict=True):
            d = b - a
            n = np.hypot(*d)
            if n == 0:
                continue
            v = np.array([-d[1], d[0]]) / n * width_px / 2
            segments.append(np.stack([a - v, b - v, b + v, a + v]))
        if segments:
            self.fill(segments, colour, alpha)

    def blend_field(self, colour, weight: np.ndarray) -> None:
        """Mix the whole window towards ``colour`` with per-pixel ``weight [H, W]`` in [0, 1]."""
        c = np.asarray(colour, dtype=np.float32)[: self.channels]
        step = c - self.pixels
        step *= weight[..., None].astype(np.float32, copy=False)
        self.pixels += step


def sweep(points, shift) -> np.ndarray:
    """Convex hull ``[M, 2]`` of ``points`` and the same points moved by ``shift``: the region a
    convex outline covers while sliding along ``shift`` (a shadow, or a hull side seen off-nadir)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    both = np.concatenate([p, p + np.asarray(shift, dtype=np.float64)]).astype(np.float32)
    return cv2.convexHull(both.reshape(-1, 1, 2)).reshape(-1, 2).astype(np.float64)


def ellipse_points(centre, half_length: float, half_width: float, angle: float, n: int = 24) -> np.ndarray:
    """``[n, 2]`` points on an ellipse (pixels; ``angle`` of its first axis from +x towards +y)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    local = np.stack([half_length * np.cos(t), half_width * np.sin(t)], axis=1)
    c, s = np.cos(angle), np.sin(angle)
    return local @ np.array([[c, s], [-s, c]]) + np.asarray(centre, dtype=np.float64)


def _hash_uniform(seed: int, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) values ``[len(iy), len(ix)]`` from a splitmix64 hash of (seed, ix, iy)."""
    with np.errstate(over="ignore"):
        h = (iy.astype(np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)
             ^ ix.astype(np.uint64)[None, :] * np.uint64(0xC2B2AE3D27D4EB4F)
             ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * np.uint64(0x165667B19E3779F9)) & _MASK64
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return ((h >> np.uint64(40)).astype(np.float32)) * np.float32(1.0 / (1 << 24))


def _axis_weights(start: float, n: int, cell: float):
    t = (np.arange(n, dtype=np.float64) + start + 0.5) / cell
    i0 = np.floor(t).astype(np.int64)
    f = (t - i0).astype(np.float32)
    f = f * f * (3 - 2 * f)  # smoothstep: no visible lattice creases
    return i0, f


def value_noise(seed: int, origin, height: int, width: int, cell_px: float) -> np.ndarray:
    """Smooth noise ``[height, width]`` in [0, 1) with features about ``cell_px`` pixels across,
    for the window at ``origin`` of the whole image (same values wherever the window is cut)."""
    ix0, fx = _axis_weights(float(origin[0]), width, cell_px)
    iy0, fy = _axis_weights(float(origin[1]), height, cell_px)
    bx, by = ix0.min(), iy0.min()
    lattice = _hash_uniform(seed, np.arange(bx, ix0.max() + 2), np.arange(by, iy0.max() + 2))
    cols = lattice[:, ix0 - bx] * (1 - fx) + lattice[:, ix0 - bx + 1] * fx
    return cols[iy0 - by] * (1 - fy)[:, None] + cols[iy0 - by + 1] * fy[:, None]


def fractal_noise(seed: int, origin, height: int, width: int, cell_px: float, octaves: int = 3,
                  min_cell_px: float = 2.0) -> np.ndarray:
    """Sum of :func:`value_noise` octaves (cell halving, weight halving), scaled to about [0, 1)."""
    total = np.zeros((height, width), dtype=np.float32)
    norm = 0.0
    weight = 1.0
    cell = cell_px
    for octave in range(octaves):
        if cell < min_cell_px:
            break
        total += weight * value_noise(seed * 31 + octave, origin, height, width, cell)
        norm += weight
        weight *= 0.5
        cell /= 2
    if norm == 0:
        return np.full((height, width), 0.5, dtype=np.float32)
    return total / norm
