"""Physics of the synthetic world: sun, sensor, and how a tanker's load state reaches the pixels.

Frames and units
----------------
Pixel frame as everywhere in the project (x = column, y = row, y down, origin at the top-left
corner of the top-left pixel). Synthetic images are north-up, so a compass azimuth ``az``
(degrees clockwise from north) is the pixel direction ``(sin az, -cos az)``. A bow heading ``h``
in the pixel frame (radians from +x towards +y) is the compass azimuth ``deg(h) + 90``.
Lengths are metres on the ground; ``gsd_m`` converts them to pixels.

The load-state cues (docs/physics.md)
-------------------------------------
* Draft: ``draft_m = ballast_draft + draft_fraction * (laden_draft - ballast_draft)``; the class
  table (``core/tanker_sizes.py``) gives the drafts and the moulded depth. ``draft_fraction`` is in
  [0, 1]; a tanker is *empty* when it is below 0.5, *loaded* otherwise.
* Freeboard: ``freeboard_m = depth_m - draft_m`` (metres of hull above the water).
* Shadow on the water: every point of the hull at height ``z`` casts its shadow ``z *
  cot(sun_elevation)`` metres away from the sun, so the deck edge's shadow lies ``freeboard *
  cot(elev)`` from the waterline and the strip of shadow beside the hull is ``freeboard *
  cot(elev) * |sin(sun_az - hull_az)|`` metres wide (:func:`shadow_width_m`); a hull pointing at
  the sun shows almost none.
* Hull side seen off-nadir: a point at height ``z`` appears ``z * tan(view_zenith)`` metres away
  from the sensor (relief displacement), so the deck slides away from the sensor and uncovers a
  strip of the sensor-facing hull side ``freeboard * tan(view_zenith) * |sin(view_az -
  hull_az)|`` metres wide (:func:`side_strip_width_m`). ``view_az`` is the azimuth from the ground
  to the satellite. At nadir the strip vanishes and only the shadow tells.
* Antifouling band: hulls are painted red below the laden waterline; the band visible above the
  water is ``laden_draft - draft`` metres high (0 when fully laden), i.e. the lowest part of the
  side strip.
* Bulbous bow: it sits about 0.5-0.7 x laden draft below the laden waterline and breaks the
  surface in ballast; it is drawn ahead of the stem when ``draft_fraction < BULB_VISIBLE_BELOW``,
  more of it the lighter the ship.

Sensor and sun
--------------
Sun elevation 18-67 degrees (Vostochny at about 11:00 solar time between the solstices, plus lower
winter/evening suns), azimuth 130-230 degrees (a morning pass: the sun in the south-east to
south-west). View zenith: 0-33 degrees (a third of the images are near nadir, < 3 degrees, like
Sentinel-2; 30 degrees off-nadir is about 33 degrees of zenith at 617 km), any view azimuth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.labels import LoadState
from ..core.tanker_sizes import BARRELS_PER_TONNE, CARGO_FRACTION, DEFAULT_CARGO, TANKER_CLASSES, TankerClass

# The project exists for small coastal tankers; the table's first class starts shorter (40 m)
# than any tanker this generator draws.
MIN_TANKER_LENGTH_M = 60.0
LOADED_FROM_FRACTION = 0.5
BULB_VISIBLE_BELOW = 0.35
SUN_ELEVATION_DEG = (18.0, 67.0)
SUN_AZIMUTH_DEG = (130.0, 230.0)
VIEW_ZENITH_DEG = (0.0, 33.0)
NEAR_NADIR_SHARE = 1 / 3
NEAR_NADIR_DEG = 3.0


def compass_to_pixel(azimuth_deg: float) -> np.ndarray:
    """Unit vector ``[2]`` in the (north-up) pixel frame of a compass azimuth in degrees."""
    a = math.radians(azimuth_deg)
    return np.array([math.sin(a), -math.cos(a)])


def heading_to_azimuth_deg(heading: float) -> float:
    """Compass azimuth (degrees, [0, 360)) of a pixel-frame heading in radians (north-up image)."""
    return (math.degrees(heading) + 90.0) % 360.0


def shadow_width_m(freeboard_m: float, sun_elevation_deg: float, sun_azimuth_deg: float,
                   hull_azimuth_deg: float) -> float:
    """Width (metres) of the strip of hull shadow beside the hull on the water."""
    return (freeboard_m / math.tan(math.radians(sun_elevation_deg))
            * abs(math.sin(math.radians(sun_azimuth_deg - hull_azimuth_deg))))


def side_strip_width_m(freeboard_m: float, view_zenith_deg: float, view_azimuth_deg: float,
                       hull_azimuth_deg: float) -> float:
    """Width (metres) of the strip of hull side an off-nadir view shows beside the deck."""
    return (freeboard_m * math.tan(math.radians(view_zenith_deg))
            * abs(math.sin(math.radians(view_azimuth_deg - hull_azimuth_deg))))


@dataclass(frozen=True)
class View:
    """Acquisition geometry: GSD (ground m/px), sun and sensor directions (degrees, compass)."""

    gsd_m: float
    sun_azimuth_deg: float
    sun_elevation_deg: float
    view_azimuth_deg: float
    view_zenith_deg: float

    def shadow_shift_px(self, height_m: float) -> np.ndarray:
        """Where the shadow of a point ``height_m`` above the surface falls, relative to its foot
        (pixels, away from the sun)."""
        run_m = height_m / math.tan(math.radians(self.sun_elevation_deg))
        return -compass_to_pixel(self.sun_azimuth_deg) * run_m / self.gsd_m

    def relief_shift_px(self, height_m: float) -> np.ndarray:
        """Where a point ``height_m`` above the surface appears, relative to its foot (pixels,
        away from the sensor)."""
        run_m = height_m * math.tan(math.radians(self.view_zenith_deg))
        return -compass_to_pixel(self.view_azimuth_deg) * run_m / self.gsd_m

    def to_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def sample_view(rng: np.random.Generator, gsd_m: float) -> View:
    """A random acquisition geometry at this GSD (ranges in the module docstring)."""
    if rng.random() < NEAR_NADIR_SHARE:
        zenith = rng.uniform(0.0, NEAR_NADIR_DEG)
    else:
        zenith = rng.uniform(NEAR_NADIR_DEG, VIEW_ZENITH_DEG[1])
    return View(gsd_m=float(gsd_m), sun_azimuth_deg=rng.uniform(*SUN_AZIMUTH_DEG),
                sun_elevation_deg=rng.uniform(*SUN_ELEVATION_DEG),
                view_azimuth_deg=rng.uniform(0.0, 360.0), view_zenith_deg=zenith)


@dataclass(frozen=True)
class TankerSpec:
    """One tanker's dimensions (metres) and how deep it floats."""

    size_class: str
    length_m: float
    beam_m: float
    depth_m: float
    laden_draft_m: float
    ballast_draft_m: float
    draft_fraction: float

    @property
    def draft_m(self) -> float:
        return self.ballast_draft_m + self.draft_fraction * (self.laden_draft_m - self.ballast_draft_m)

    @property
    def freeboard_m(self) -> float:
        return self.depth_m - self.draft_m

    @property
    def antifouling_m(self) -> float:
        """Height of the red antifouling band above the water (0 when fully laden)."""
        return self.laden_draft_m - self.draft_m

    @property
    def load(self) -> LoadState:
        return LoadState.LOADED if self.draft_fraction >= LOADED_FROM_FRACTION else LoadState.EMPTY

    @property
    def bulb_exposure(self) -> float:
        """0 (submerged) .. 1 (fully out): how much of the bulbous bow breaks the surface."""
        return max(0.0, (BULB_VISIBLE_BELOW - self.draft_fraction) / BULB_VISIBLE_BELOW)

    def cargo_capacity_barrels(self) -> float:
        """Barrels of refined product this tanker carries fully laden: deadweight at the same
        relative position of its class's range as its length, times the central cargo fraction and
        barrels per tonne of ``core.tanker_sizes``."""
        cls = next(c for c in TANKER_CLASSES if c.name == self.size_class)
        t = (self.length_m - cls.length_m[0]) / (cls.length_m[1] - cls.length_m[0])
        dwt = cls.dwt_t[0] + t * (cls.dwt_t[1] - cls.dwt_t[0])
        return dwt * CARGO_FRACTION[1] * BARRELS_PER_TONNE[DEFAULT_CARGO][1]

    def with_draft(self, draft_fraction: float) -> TankerSpec:
        return TankerSpec(self.size_class, self.length_m, self.beam_m, self.depth_m,
                          self.laden_draft_m, self.ballast_draft_m, float(draft_fraction))


def classes_that_fit(max_length_m: float) -> list[TankerClass]:
    """Size classes with some length between MIN_TANKER_LENGTH_M and ``max_length_m``."""
    return [c for c in TANKER_CLASSES
            if c.length_m[1] > MIN_TANKER_LENGTH_M and max(c.length_m[0], MIN_TANKER_LENGTH_M) <= max_length_m]


def sample_draft_fraction(rng: np.random.Generator, load: LoadState | None = None) -> float:
    """Mostly near ballast or near laden, with one in ten part-loaded anywhere in [0, 1]."""
    if load is None:
        load = LoadState.EMPTY if rng.random() < 0.5 else LoadState.LOADED
    if rng.random() < 0.1:
        low, high = (0.0, 0.5) if load is LoadState.EMPTY else (0.5, 1.0)
    else:
        low, high = (0.0, 0.3) if load is LoadState.EMPTY else (0.75, 1.0)
    return float(rng.uniform(low, high))


def sample_tanker(rng: np.random.Generator, max_length_m: float, load: LoadState | None = None,
                  draft_fraction: float | None = None, small_weight: float = 3.0) -> TankerSpec:
    """A tanker no longer than ``max_length_m``; the small coastal class is drawn ``small_weight``
    times as often as each other class that fits.

    Within a class every dimension sits at the same relative position of its range (a longer ship
    is also broader and deeper), with a little independent jitter on the beam.
    """
    classes = classes_that_fit(max_length_m)
    if not classes:
        raise ValueError(f"no tanker class fits in {max_length_m:.0f} m")
    weights = np.array([small_weight if c is TANKER_CLASSES[0] else 1.0 for c in classes])
    cls = classes[rng.choice(len(classes), p=weights / weights.sum())]
    low = max(cls.length_m[0], MIN_TANKER_LENGTH_M)
    high = min(cls.length_m[1], max_length_m)
    length = rng.uniform(low, high)
    t = (length - cls.length_m[0]) / (cls.length_m[1] - cls.length_m[0])

    def at(bounds):
        return bounds[0] + t * (bounds[1] - bounds[0])

    beam = at(cls.beam_m) * rng.uniform(0.95, 1.05)
    if draft_fraction is None:
        draft_fraction = sample_draft_fraction(rng, load)
    return TankerSpec(cls.name, float(length), float(beam), float(at(cls.depth_m)), float(at(cls.laden_draft_m)),
                      float(at(cls.ballast_draft_m)), float(draft_fraction))
