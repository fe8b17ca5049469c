"""Measuring one tank in a window of pixels: its outline, the crescent of shadow on a floating
roof, and the shell's shadow on the ground (docs/tanks.md).

Frames and units: window pixels (x = column, y = row, pixel centres at +0.5); directions are unit
vectors in that frame: ``away_sun`` points the way shadows fall, ``away_sensor`` the way relief
displacement moves a raised point. ``relief_per_shadow`` = tan(view zenith) x tan(sun elevation):
pixels a point moves off-nadir per pixel of its shadow's run, so both the crescent and the deck's
displacement follow from one unknown (the crescent's width ``s``).

The geometry (floating roof at depth ``d`` below the rim, shell height ``H``; every length in
pixels on the ground):

* the rim is fitted to the strongest bright-to-dark edge on rays from the centre on the side away
  from the sun (the shell's top against its own shadow; no crescent there); off nadir the outline
  there is the rim's disc swept towards the sensor down to the foot (the wall seen), a capsule,
  used where it fits clearly better than a circle;
* off-nadir the rim appears ``k = H tan(view zenith)`` from the foot along ``away_sensor``, which is
  ``L * relief_per_shadow`` for a ground shadow of length ``L``;
* the lit part of the deck, seen through the rim's opening (radius ``r - rim``), is
  ``disc(c_deck) & disc(c_deck + s * away_sun) & disc(c_rim)`` with ``c_deck = c_rim - s *
  relief_per_shadow * away_sensor``; ``s`` = d / tan(elevation) is the crescent's width along the
  sun's azimuth through the centre;
* the ground shadow beyond the foot is the capsule from the foot disc to the foot disc moved ``L``
  = H / tan(elevation) along ``away_sun``.

``s`` and ``L`` are each the one parameter of a two-region model (dark, lit) fitted by maximising
the between-region variance of the brightness, with area-weighted (soft) region edges, so that
every pixel along a curved edge contributes and the widths come out to a fraction of a pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

RIM_M = 0.8  # width of the shell's top ring seen from above (assumed; the generator draws this)
OUTLINE_RAYS = 120
# Rays within 60 degrees of the anti-sun direction: there the rim borders the lit deck inside and
# the tank's own shadow outside for any crescent narrower than the radius.
ANTI_SUN_COS = 0.5
MIN_RAYS = 16
SWEPT_BETTER = 0.8  # the swept outline's rms against the circle's, to be preferred
# The crescent must be this much darker than the lit deck (a fixed cone roof's shaded half is
# about 0.9 of its lit half; a deck's crescent about 0.45 before haze).
FLOATING_MAX_DARK_RATIO = 0.75
MIN_CRESCENT_PX = 0.3
CORRIDOR_HALF_WIDTH = 0.6  # of the radius: the strip of ground shadow used for its length


@dataclass(frozen=True)
class Rim:
    """The fitted rim circle (pixels) and how well the edges fit it."""

    centre: np.ndarray
    radius: float
    rms: float
    inliers: float  # share of rays whose edge fits


def _soft_disc(x, y, centre, radius: float) -> np.ndarray:
    """Share of each pixel inside a disc (exact for a straight edge through the pixel's centre)."""
    return np.clip(radius - np.hypot(x - centre[0], y - centre[1]) + 0.5, 0.0, 1.0)


def _segment_distance(x, y, a, b) -> np.ndarray:
    ab = np.asarray(b, dtype=np.float64) - a
    length2 = float(ab @ ab)
    t = np.zeros_like(x) if length2 == 0 else np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / length2, 0, 1)
    return np.hypot(x - a[0] - t * ab[0], y - a[1] - t * ab[1])


def soft_capsule(x, y, a, b, radius: float) -> np.ndarray:
    """Share of each pixel inside the union of discs of ``radius`` centred on segment a-b."""
    return np.clip(radius - _segment_distance(x, y, a, b) + 0.5, 0.0, 1.0)


def separation(values: np.ndarray, weights: np.ndarray, share: np.ndarray) -> tuple[float, float, float]:
    """Between-region variance of ``values`` split by ``share`` (0..1 per pixel in region one),
    with the two regions' means."""
    w1, w0 = weights * share, weights * (1.0 - share)
    n1, n0 = float(w1.sum()), float(w0.sum())
    if n1 < 1.0 or n0 < 1.0:
        return 0.0, math.nan, math.nan
    m1, m0 = float((w1 * values).sum() / n1), float((w0 * values).sum() / n0)
    return n1 * n0 / (n1 + n0) ** 2 * (m1 - m0) ** 2, m1, m0


def best_length(objective, upper: float, step: float = 1.0) -> float:
    """The length in [0, upper] maximising ``objective``: a grid, then golden-section search
    around its best point."""
    grid = np.arange(0.0, upper + step / 2, step)
    scores = [objective(v) for v in grid]
    i = int(np.argmax(scores))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(14):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if objective(a) >= objective(b):
            hi = b
        else:
            lo = a
    return (lo + hi) / 2


def _ray_edges(smooth: np.ndarray, centre: np.ndarray, angles: np.ndarray,
               reach: tuple[float, float]) -> np.ndarray:
    """Per ray, the point (sub-pixel) of the strongest bright-to-dark step going outwards; rays
    with none are left out."""
    step = 0.25
    rho = np.arange(reach[0], reach[1], step)
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    xs = (centre[0] + dirs[:, :1] * rho - 0.5).astype(np.float32)  # cv2 samples at integer centres
    ys = (centre[1] + dirs[:, 1:] * rho - 0.5).astype(np.float32)
    profile = cv2.remap(smooth, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    drop = -np.gradient(profile, axis=1)
    j = np.argmax(drop, axis=1)
    rows = np.arange(len(drop))
    ok = (j > 0) & (j < len(rho) - 1) & (drop[rows, j] > 0)
    j = np.clip(j, 1, len(rho) - 2)
    a, b, c = drop[rows, j - 1], drop[rows, j], drop[rows, j + 1]
    curvature = a - 2 * b + c
    offset = np.where(curvature < 0, 0.5 * (a - c) / np.where(curvature < 0, curvature, -1.0), 0.0)
    points = centre + dirs * (rho[j] + offset * step)[:, None]
    return points[ok]


def _capsule_fit(points: np.ndarray, toward_sensor: np.ndarray, start: np.ndarray, radius: float,
                 max_relief: float) -> tuple[np.ndarray, float, float]:
    """Least squares (Gauss-Newton, numerical Jacobian) of the outline: discs of radius ``r`` from
    the rim centre ``c`` to ``c + k * toward_sensor`` (the foot), ``k`` in [0, ``max_relief``]
    (0 when ``max_relief`` is). Returns c, r, k."""
    free = max_relief > 0
    params = np.array([start[0], start[1], radius, 0.0])
    count = 4 if free else 3

    def residuals(p):
        return _segment_distance(points[:, 0], points[:, 1], p[:2], p[:2] + p[3] * toward_sensor) - p[2]

    for _ in range(15):
        res = residuals(params)
        jac = np.empty((len(points), count))
        for j in range(count):
            step = np.zeros(4)
            step[j] = 1e-3
            jac[:, j] = (residuals(params + step) - res) / 1e-3
        delta = np.linalg.lstsq(jac, -res, rcond=None)[0]
        params[:count] += delta
        params[3] = min(max(params[3], 0.0), max_relief) if free else 0.0
        if np.abs(delta).max() < 1e-3:
            break
    return params[:2].copy(), float(params[2]), float(params[3])


def fit_rim(image: np.ndarray, centre: np.ndarray, radius: float, away_sun: np.ndarray,
            away_sensor: np.ndarray, max_relief: float) -> Rim:
    """The rim circle near ``centre``/``radius`` (a first guess, pixels), from the strongest
    bright-to-dark edge on rays away from the sun's side (where a crescent's edge would compete).
    Off-nadir, rays towards the sensor cross the wall and end at the foot: the outline is then the
    rim's disc swept towards the sensor (module doc), used where it fits clearly better than a
    circle (on an arc that misses the sensor's side the sweep is not determined)."""
    circle = _fit_outline(image, centre, radius, away_sun, away_sensor, 0.0)
    if max_relief < 1.0:
        return circle
    swept = _fit_outline(image, centre, radius, away_sun, away_sensor, max_relief)
    return swept if swept.rms < SWEPT_BETTER * circle.rms and swept.inliers >= circle.inliers else circle


def _fit_outline(image: np.ndarray, centre: np.ndarray, radius: float, away_sun: np.ndarray,
                 away_sensor: np.ndarray, max_relief: float) -> Rim:
    smooth = cv2.GaussianBlur(image, (0, 0), 1.0)
    angles = np.linspace(0, 2 * np.pi, OUTLINE_RAYS, endpoint=False)
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    chosen = angles[dirs @ away_sun > ANTI_SUN_COS]
    # A first guess can be far off (a circle found through the lit deck and the crescent): look
    # wide, then again from the fitted outline.
    rim, r, k = np.asarray(centre, dtype=np.float64), radius, 0.0
    for reach in ((0.5, 1.4), (0.85, 1.15)):
        points = _ray_edges(smooth, rim - 0.5 * k * away_sensor, chosen, (reach[0] * r, reach[1] * r + max_relief + 2))
        if len(points) < MIN_RAYS:
            return Rim(rim, r, math.inf, 0.0)
        keep = _consistent(_segment_distance(points[:, 0], points[:, 1], rim, rim - k * away_sensor))
        for _ in range(4):
            rim, r, k = _capsule_fit(points[keep], -away_sensor, rim, r, max_relief)
            if not 0.5 * radius < r < 1.5 * radius:
                return Rim(rim, r, math.inf, 0.0)
            res = _segment_distance(points[:, 0], points[:, 1], rim, rim - k * away_sensor) - r
            scale = max(1.4826 * float(np.median(np.abs(res[keep]))), 0.35)
            keep = np.abs(res) < 3 * scale
            if keep.sum() < MIN_RAYS // 2:
                return Rim(rim, r, math.inf, 0.0)
    return Rim(rim, r, float(np.sqrt(np.mean(res[keep] ** 2))), float(keep.mean()))


def _consistent(distance: np.ndarray) -> np.ndarray:
    """The edge points whose distance (pixels) from the guessed outline is near the median one:
    the least-squares fit then starts from the tank's own edge, not from a neighbour's that some
    rays reach first, whatever the guess's radius."""
    offset = distance - float(np.median(distance))
    scale = max(1.4826 * float(np.median(np.abs(offset))), 0.35)
    return np.abs(offset) < 3 * scale


@dataclass(frozen=True)
class Crescent:
    """The crescent's width ``s`` (pixels along the sun's azimuth) and the region means."""

    width: float
    lit_mean: float
    dark_mean: float

    @property
    def floating(self) -> bool:
        """A crescent darker than the deck, with some deck lit (else no fill can be read)."""
        return (math.isfinite(self.lit_mean) and self.lit_mean > 0 and self.width >= MIN_CRESCENT_PX
                and self.dark_mean < FLOATING_MAX_DARK_RATIO * self.lit_mean)


def fit_crescent(image: np.ndarray, rim: np.ndarray, inner_radius: float, away_sun: np.ndarray,
                 away_sensor: np.ndarray, relief_per_shadow: float) -> Crescent:
    """Fit the crescent inside the rim's opening (module doc); ``inner_radius`` is the opening's."""
    x0, y0 = (np.floor(rim - inner_radius) - 1).astype(int)
    x1, y1 = (np.ceil(rim + inner_radius) + 2).astype(int)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
    values = image[y0:y1, x0:x1].astype(np.float64)
    x, y = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
    # Leave out the pixel next to the rim, which mixes the rim's brightness in.
    weights = _soft_disc(x, y, rim, inner_radius - 1.0)
    opening = _soft_disc(x, y, rim, inner_radius)

    def lit(s: float) -> np.ndarray:
        deck = rim - s * relief_per_shadow * away_sensor
        return _soft_disc(x, y, deck, inner_radius) * _soft_disc(x, y, deck + s * away_sun, inner_radius) * opening

    width = best_length(lambda s: separation(values, weights, lit(s))[0], 2 * inner_radius)
    _, lit_mean, dark_mean = separation(values, weights, lit(width))
    return Crescent(width, lit_mean, dark_mean)


def fit_ground_shadow(image: np.ndarray, rim: Rim, away_sun: np.ndarray, away_sensor: np.ndarray,
                      relief_per_shadow: float, max_length: float, obstacles: np.ndarray) -> tuple[float, bool, float]:
    """Length ``L`` (pixels) of the shell's ground shadow beyond the foot, whether it could be
    measured (lit ground must show beyond its end before the corridor meets ``obstacles``, a bool
    mask of other tanks' pixels, or ``max_length``), and the least it can be when not (the free
    ground before the obstacle). The foot lies ``L * relief_per_shadow`` behind
    the rim (towards the sensor); the tank's own image, rim to foot, is left out."""
    r = rim.radius
    side = np.array([-away_sun[1], away_sun[0]])
    reach = r + max_length * (1 + relief_per_shadow)
    x0, y0 = np.floor(rim.centre - reach).astype(int)
    x1, y1 = np.ceil(rim.centre + reach).astype(int) + 1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return math.nan, False, 0.0
    x, y = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
    values = image[y0:y1, x0:x1].astype(np.float64)

    def foot(length: float) -> np.ndarray:
        return rim.centre - length * relief_per_shadow * away_sensor

    length = max_length / 2
    for _ in range(2):  # the tank's image to leave out depends on the length: refine once
        base = foot(length)
        along = (x - base[0]) * away_sun[0] + (y - base[1]) * away_sun[1]
        across = (x - base[0]) * side[0] + (y - base[1]) * side[1]
        corridor = (along > 0) & (np.abs(across) < CORRIDOR_HALF_WIDTH * r)
        blocked = corridor & obstacles[y0:y1, x0:x1]
        limit = float(along[blocked].min()) if blocked.any() else r + max_length
        weights = (corridor & (along < limit)).astype(np.float64)
        weights *= 1.0 - soft_capsule(x, y, base, rim.centre, r + 1.0)
        if weights.sum() < 10:
            return math.nan, False, 0.0

        def dark(v: float) -> np.ndarray:
            return soft_capsule(x, y, foot(v), foot(v) + v * away_sun, r)

        length = best_length(lambda v, w=weights: separation(values, w, dark(v))[0], limit)
    _, dark_mean, lit_mean = separation(values, weights, dark(length))
    # Lit ground must show beyond the end (on the axis, where the shadow reaches farthest).
    measured = length + r < limit - 2.0 and math.isfinite(lit_mean) and dark_mean < FLOATING_MAX_DARK_RATIO * lit_mean
    return length, measured, max(limit - r - 2.0, 0.0)
