"""Find a terminal's storage tanks in a scene and read each floating roof's fill (docs/tanks.md).

1. Candidates: OpenCV's ``HoughCircles`` (``HOUGH_GRADIENT_ALT``) on the brightness (mean of the
   first three bands, stretched 1-99 % over the scene), read window by window at a working GSD of
   ``WORK_GSD_M`` (a finer scene by GDAL's averaging, from overviews where the file has them; a
   coarser one upsampled bicubically by a whole factor, to ``WORK_GSD_M`` or finer), radii
   ``RADIUS_M``; windows overlap by a tank's diameter and a circle belongs to the window whose
   core holds its centre, so memory stays at one window whatever the scene's size.
2. Each candidate is measured at full resolution in a window around it
   (:mod:`.tank_geometry`): the outline (a capsule off-nadir), the crescent inside the rim and the
   shell's shadow on the ground. A candidate whose outline does not fit, or whose fitted radius
   is not the candidate's (within a share and ``RADIUS_SLACK_PX``) or under ``RADIUS_M``, is
   dropped.
3. Fill, with ``s`` the crescent's width and ``L`` the ground shadow's length (pixels):
   ``1 - s / L`` (the ratio method: no height, no sun elevation needed); with ``--tank-height H``,
   ``1 - s * gsd * tan(elevation) / H``. Where a tank's ground shadow cannot be measured (it runs
   into a neighbour, or the tank hides it), the height is the median of those measured from their
   shadows (``H = L * gsd * tan(elevation)``), or more where the tank's shadow ran at least that
   far, and the fill follows as with a given height. The interval widens each length by
   ``LENGTH_TOLERANCE_PX`` and a median height by ``MEDIAN_HEIGHT_SPREAD``.

The sun's and the sensor's angles are found as ``detect`` finds them
(:func:`~.view_angles.resolve_angles`: the caller's, ``<stem>.angles.json``, the GeoTIFF's
``SUN_ELEVATION``/``SUN_AZIMUTH``/``VIEW_ZENITH``/``VIEW_AZIMUTH`` items, a Maxar ``<stem>.IMD``)
and turned into image directions the same way (:func:`~.view_angles.image_frame`: through the
georeferencing at the scene centre, grid convergence included). Without the sun's angles nothing can
be measured (an error); without the view angles the scene is taken as nadir, with a warning. The
shadow geometry also needs a sun within :data:`SUN_ELEVATION_DEG` and a view zenith up to
:data:`MAX_VIEW_ZENITH_DEG`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..core.errors import RasterError, located
from .raster import RasterInfo, inspect_raster, open_raster, read_decimated, read_window
from .tank_file import Tank
from .tank_geometry import RIM_M, fit_crescent, fit_ground_shadow, fit_rim, soft_capsule
from .view_angles import ImageAngles, SceneAngles, image_direction, image_frame, resolve_angles

# Hough's radii run about a quarter too large on circles under about 10 px in radius (tanks at
# 2 m GSD), which the outline fit then refuses: candidates are sought at no coarser than this.
WORK_GSD_M = 1.0
RADIUS_M = (8.0, 50.0)
MAX_HEIGHT_M = 40.0
SUN_ELEVATION_DEG = (1.0, 89.0)  # a shadow at all, and one that tan(elevation) does not blow up
MAX_VIEW_ZENITH_DEG = 45.0
WORK_WINDOW = 2048
LENGTH_TOLERANCE_PX = 1.0
MEDIAN_HEIGHT_SPREAD = 0.15  # a farm's tanks differ in height by about this much
MAX_OUTLINE_RMS_PX = 1.5
MIN_OUTLINE_INLIERS = 0.6  # of the rays used
RADIUS_AGREEMENT = (0.8, 1.25)  # the fitted rim's radius over the candidate's
# Hough's radius and the rim's fit each err by about a pixel whatever the tank's size (at 2 m GSD,
# radii of 7-10 px, the Hough radius runs up to a quarter over the rim's): the share alone would
# drop small tanks whose outline fits well.
RADIUS_SLACK_PX = 1.5
HOUGH = {"dp": 1.0, "param1": 150.0, "param2": 0.6}


def scene_angles(info: RasterInfo, given: SceneAngles | None) -> tuple[SceneAngles, ImageAngles, list[str]]:
    """The scene's angles (module doc), as found and in the image frame, and warnings."""
    angles = resolve_angles(info.path, info.view_tags, given=given)
    if not angles.has_sun:
        raise RasterError(located(info.path, "no sun angles: tank fills are read from shadows, so the sun's direction "
                                             "is needed (GeoTIFF items SUN_ELEVATION and SUN_AZIMUTH, a "
                                             "<stem>.angles.json or .IMD beside the scene, --angles FILE, or "
                                             "--sun-elevation and --sun-azimuth; docs/view-angles.md)"))
    low, high = SUN_ELEVATION_DEG
    if not low <= angles.sun_elevation_deg <= high:
        raise RasterError(located(info.path, f"sun elevation {angles.sun_elevation_deg:g} ({angles.source}) is not "
                                             f"in [{low:g}, {high:g}] degrees, where tank shadows can be measured"))
    warnings = []
    if not angles.has_view:
        warnings.append("no view angles: taken as a nadir view (off-nadir displacement of the roofs is then not "
                        "corrected)")
        angles = replace(angles, view_zenith_deg=0.0)
    elif angles.view_zenith_deg > MAX_VIEW_ZENITH_DEG:
        raise RasterError(located(info.path, f"view zenith {angles.view_zenith_deg:g} ({angles.source}) is over "
                                             f"{MAX_VIEW_ZENITH_DEG:g} degrees: the shell hides the roof's crescent"))
    return angles, image_frame(angles, info.crs, info.transform, info.width, info.height), warnings


def header_angles(angles: SceneAngles) -> dict:
    """The tanks file header's ``angles`` member (:mod:`.tank_file`)."""
    values = {name.removesuffix("_deg"): None if v is None else round(v, 4) for name, v in angles.values().items()}
    return {**values, "source": angles.source}


def _brightness(array: np.ndarray) -> np.ndarray:
    return array[: min(3, array.shape[0])].astype(np.float32).mean(axis=0)


def _work_scale(gsd_m: float) -> tuple[float, int]:
    """``(factor, up)`` for reading a scene of ``gsd_m`` at the working GSD: a finer scene is read
    decimated by ``factor`` (full-resolution pixels per working pixel, >= 1, ``up`` 1); a coarser one
    at full resolution and upsampled by the integer ``up`` (working pixels per full-resolution pixel,
    ``factor`` = 1 / ``up``), so that the working GSD is never coarser than ``WORK_GSD_M``."""
    if gsd_m <= WORK_GSD_M:
        return WORK_GSD_M / gsd_m, 1
    up = math.ceil(gsd_m / WORK_GSD_M - 1e-6)
    return 1.0 / up, up


def _work_grey(ds, x0: int, y0: int, size: int, factor: float, up: int,
               stretch: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The stretched brightness (uint8) and validity of the working-pixel window ``[x0, x0 + size)``
    (both axes; ``x0``, ``size`` multiples of ``up``) on the working grid of :func:`_work_scale`."""
    if up == 1:
        full = round(size * factor)
        array, valid = read_window(ds, round(x0 * factor), round(y0 * factor), full, full, out_size=(size, size))
        brightness = _brightness(array)
    else:
        # Bicubic, not GDAL's averaging (which repeats pixels): the Hough stage needs edges where
        # they are, between pixels, to place circles a few pixels across.
        array, valid = read_window(ds, x0 // up, y0 // up, size // up, size // up)
        brightness = cv2.resize(_brightness(array), (size, size), interpolation=cv2.INTER_CUBIC)
        valid = np.repeat(np.repeat(valid, up, axis=0), up, axis=1)
    lo, hi = stretch
    return np.clip((brightness - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8), valid


def find_candidates(ds, gsd_m: float, stretch: tuple[float, float]) -> list[tuple[np.ndarray, float]]:
    """Circles ``(centre, radius)`` in full-resolution pixels, from windows read at the working GSD
    (:func:`_work_scale`)."""
    factor, up = _work_scale(gsd_m)
    work_gsd = gsd_m * factor
    r_lo, r_hi = (max(int(RADIUS_M[0] / work_gsd), 3), int(math.ceil(RADIUS_M[1] / work_gsd)))
    overlap = up * math.ceil((2 * r_hi + 8) / up)
    core = up * (max(WORK_WINDOW - 2 * overlap, 256) // up)
    width, height = math.ceil(ds.width / factor), math.ceil(ds.height / factor)
    found = []
    for wy in range(0, height, core):
        for wx in range(0, width, core):
            x0, y0 = wx - overlap, wy - overlap
            grey, valid = _work_grey(ds, x0, y0, core + 2 * overlap, factor, up, stretch)
            if not valid.any():
                continue
            circles = cv2.HoughCircles(grey, cv2.HOUGH_GRADIENT_ALT, minDist=2 * r_lo, minRadius=r_lo,
                                       maxRadius=r_hi, **HOUGH)
            for cx, cy, r in ([] if circles is None else circles[0]):
                # cv2's pixel centres are integers; ours are at +0.5.
                x, y = x0 + cx + 0.5, y0 + cy + 0.5
                if wx <= x < wx + core and wy <= y < wy + core and valid[int(cy), int(cx)]:
                    found.append((np.array([x, y]) * factor, float(r) * factor))
    return found


@dataclass
class Measured:
    """A candidate's measurements in full-resolution pixels (module doc)."""

    rim: np.ndarray  # centre of the rim circle as seen
    radius: float
    foot_per_shadow: np.ndarray  # the foot lies at rim - L * this, for a ground shadow L px long
    rms: float  # of the rim's edges about the circle
    crescent_px: float | None  # None: no crescent (fixed roof, or unreadable)
    shadow_px: float | None  # None: the ground shadow could not be measured
    shadow_at_least_px: float  # when not: it runs at least this far (into a neighbour)


def measure(ds, centre: np.ndarray, radius: float, gsd_m: float, angles: ImageAngles,
            others: list[tuple[np.ndarray, float]]) -> Measured | None:
    """Measure one candidate in a window around it; None when its outline does not fit a tank."""
    tan_elev = math.tan(math.radians(angles.sun_elevation_deg))
    tan_view = math.tan(math.radians(angles.view_zenith_deg))
    away_sun = -image_direction(angles.sun_azimuth_deg)
    away_sensor = -image_direction(angles.view_azimuth_deg)
    max_shadow = MAX_HEIGHT_M / tan_elev / gsd_m
    half = int(math.ceil(1.4 * radius + max_shadow * (1 + tan_view * tan_elev) + 8))
    x0, y0 = int(centre[0]) - half, int(centre[1]) - half
    array, valid = read_window(ds, x0, y0, 2 * half, 2 * half)
    image = _brightness(array)
    rim = fit_rim(image, centre - [x0, y0], radius, away_sun, away_sensor, MAX_HEIGHT_M * tan_view / gsd_m)
    if not _outline_fits(rim, radius, gsd_m):
        return None
    relief_per_shadow = tan_view * tan_elev
    inner = rim.radius - RIM_M / gsd_m
    crescent = (fit_crescent(image, rim.centre, inner, away_sun, away_sensor, relief_per_shadow)
                if inner > 2 else None)
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]] + 0.5
    obstacles = ~valid
    for c, r in others:
        obstacles |= soft_capsule(xs, ys, c - [x0, y0], c - [x0, y0], 1.1 * r + 1.0) > 0
    length, measured, at_least = fit_ground_shadow(image, rim, away_sun, away_sensor, relief_per_shadow, max_shadow,
                                                   obstacles)
    return Measured(rim.centre + [x0, y0], rim.radius, relief_per_shadow * away_sensor, rim.rms,
                    crescent.width if crescent is not None and crescent.floating else None,
                    length if measured else None, at_least)


def _outline_fits(rim, candidate_radius: float, gsd_m: float) -> bool:
    """Whether a fitted rim (full-resolution pixels) is a tank's outline: its edges fit, its radius
    is the candidate's within ``RADIUS_AGREEMENT`` and ``RADIUS_SLACK_PX``, and it is no smaller
    than the smallest tank searched for (``RADIUS_M``, metres at ``gsd_m``), which the slack alone
    would let a fit shrunk onto a deck or a shadow pass as."""
    lo, hi = RADIUS_AGREEMENT
    agrees = lo * candidate_radius - RADIUS_SLACK_PX <= rim.radius <= hi * candidate_radius + RADIUS_SLACK_PX
    return (rim.rms <= MAX_OUTLINE_RMS_PX and rim.inliers >= MIN_OUTLINE_INLIERS and agrees
            and rim.radius * gsd_m >= RADIUS_M[0])


def _distinct(found: list[Measured]) -> list[Measured]:
    """One measurement per tank: of rims closer than half a radius (two circles found on one
    tank, e.g. its rim and its lit deck), the one whose edges fit best."""
    kept: list[Measured] = []
    for m in sorted(found, key=lambda m: m.rms):
        if all(np.hypot(*(m.rim - k.rim)) >= 0.5 * max(m.radius, k.radius) for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: (m.rim[1], m.rim[0]))


def _fill_interval(crescent: float, shadow: float, spread: float) -> tuple[float, float, float]:
    """Fill (central, lo, hi) from the crescent's width over the full shadow's (both pixels), the
    shadow known to a share ``spread``."""
    d = LENGTH_TOLERANCE_PX
    central = 1 - crescent / shadow
    lo = 1 - (crescent + d) / max(shadow * (1 - spread) - d, 1e-9)
    hi = 1 - max(crescent - d, 0.0) / (shadow * (1 + spread) + d)
    return tuple(float(min(max(v, 0.0), 1.0)) for v in (central, lo, hi))


def assemble(found: list[Measured], gsd_m: float, sun_elevation_deg: float,
             tank_height_m: float | None) -> list[Tank]:
    """Tanks with heights and fills (module doc, step 3)."""
    tan_elev = math.tan(math.radians(sun_elevation_deg))
    heights = [m.shadow_px * gsd_m * tan_elev for m in found if m.shadow_px is not None]
    median = statistics.median(heights) if heights else None
    tanks = []
    for m in found:
        if tank_height_m is not None:
            height, source = tank_height_m, "given"
        elif m.shadow_px is not None:
            height, source = m.shadow_px * gsd_m * tan_elev, "shadow"
        elif median is not None:
            # A shadow that ran into a neighbour still bounds the height from below.
            height, source = max(median, m.shadow_at_least_px * gsd_m * tan_elev), "scene median"
        else:
            height, source = None, None
        fill, foot = None, m.rim
        if height is not None:
            # The full shadow's length in pixels: measured, or what the height makes it.
            shadow = m.shadow_px if source == "shadow" else height / tan_elev / gsd_m
            foot = m.rim - shadow * m.foot_per_shadow
            if m.crescent_px is not None:
                fill = _fill_interval(m.crescent_px, shadow, MEDIAN_HEIGHT_SPREAD if source == "scene median" else 0.0)
        tanks.append(Tank(centre_px=(float(foot[0]), float(foot[1])), radius_px=m.radius,
                          radius_m=m.radius * gsd_m, roof="floating" if fill is not None else "fixed_or_unknown",
                          fill=fill, height_m=height, height_from=source,
                          inner_shadow_m=None if m.crescent_px is None else m.crescent_px * gsd_m,
                          outer_shadow_m=None if m.shadow_px is None else m.shadow_px * gsd_m))
    return tanks


def find_tanks(path, tank_height_m: float | None = None,
               angles: SceneAngles | None = None) -> tuple[list[Tank], dict, list[str]]:
    """Every tank in the scene at ``path``: the tanks, a header for the tanks file, warnings.
    ``angles``: the caller's sun and view angles, ahead of the scene's own (module doc)."""
    decimated, valid = read_decimated(path)
    values = _brightness(decimated)[valid]
    if values.size == 0:
        raise RasterError(located(path, "no valid pixels"))
    stretch = tuple(float(v) for v in np.percentile(values, (1.0, 99.0)))
    info = inspect_raster(path)
    if not info.georeferenced:
        raise RasterError(located(path, "not georeferenced: tank sizes and positions need the scene's georeferencing"))
    found_angles, image, warnings = scene_angles(info, angles)
    with open_raster(path) as ds:
        candidates = find_candidates(ds, info.gsd_m, stretch)
        found = []
        for i, (centre, radius) in enumerate(candidates):
            others = [c for j, c in enumerate(candidates) if j != i and np.hypot(*(c[0] - centre)) < 6 * radius + 100]
            got = measure(ds, centre, radius, info.gsd_m, image, others)
            if got is not None:
                found.append(got)
        found = _distinct(found)
    header = {"source": getattr(info.path, "name", str(info.path)), "acquired": info.acquired,
              "gsd_m": round(info.gsd_m, 4), "angles": header_angles(found_angles),
              "method": "tank-height" if tank_height_m is not None else "shadow-ratio"}
    return assemble(found, info.gsd_m, image.sun_elevation_deg, tank_height_m), header, warnings
