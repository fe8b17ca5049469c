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
* Trim: in ballast a tanker trims by the stern (the stern draws more than the bow), by
  ``ballast_trim_m`` = 0.5-1.5 % of its length, shrinking to even keel fully laden:
  ``trim_m = ballast_trim_m * (1 - draft_fraction)``; the bow draws ``draft_m - trim_m / 2``.
  Freeboard is drawn at the mean draft along the whole hull.
* Bulbous bow: an ellipsoid under the stem whose top lies ``bulb_top_m`` (0.45-0.62 x laden
  draft) above the keel, of half-height ``BULB_HALF_HEIGHT`` x laden draft. It breaks the surface
  only where its top clears the water at the bow's own draft (:attr:`TankerSpec.bulb_clearance_m`
  > 0: most hulls near ballast, some part-loaded ones, none from 0.5); even then swell, turbid
  water and the sun's angle hide it most of the time: it is seen with probability
  ``BULB_SEEN_MAX`` x the share of its half-height above the water (:func:`bulb_seen`).
  Whitewater round it only on a ship under way.
* Draft fractions (:func:`sample_draft_fraction`): near ballast (``NEAR_BALLAST``) or near laden
  (``NEAR_LADEN``), except a share drawn anywhere in the state's range: ``PART_LOADED_SHARE`` for
  scenes and series (a terminal's trade), a third for training tiles (``tiles``).

Cue switches (counterfactual renders)
-------------------------------------
``CUES`` names the load-state cues a render can switch off, each a light path that carries
freeboard into the pixels: ``shadow`` (the sun: without it, hull shadows fall as if the freeboard
were 0), ``side`` (the sensor: without it, the deck and everything on it sit at their nadir places,
no hull side or antifouling band shows), ``bow`` (the bulbous bow). They are switched off on tankers
only, after every random draw, so one seed gives the same world under every cue set.

Sensor and sun
--------------
Sun elevation 18-67 degrees (Vostochny at about 11:00 solar time between the solstices, plus lower
winter/evening suns), azimuth 130-230 degrees (a morning pass: the sun in the south-east to
south-west). View zenith: 0-33 degrees (a third of the images are near nadir, < 3 degrees, like
Sentinel-2; 30 degrees off-nadir is about 33 degrees of zenith at 617 km), any view azimuth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..core.labels import LoadState
from ..core.tanker_sizes import BARRELS_PER_TONNE, CARGO_FRACTION, DEFAULT_CARGO, TANKER_CLASSES, TankerClass

# The project exists for small coastal tankers; the table's first class starts shorter (40 m)
# than any tanker this generator draws.
MIN_TANKER_LENGTH_M = 60.0
LOADED_FROM_FRACTION = 0.5
# Draft fractions (sample_draft_fraction): near ballast or near laden, as a terminal's trade leaves
# tankers, except a share drawn anywhere in [0, 1]; tiles raise that share so that part-loaded
# hulls, whose freeboard differs least from the other state's, are common enough to learn.
NEAR_BALLAST = (0.0, 0.3)
NEAR_LADEN = (0.75, 1.0)
PART_LOADED_SHARE = 0.1
BALLAST_TRIM_PER_LENGTH = (0.005, 0.015)
BULB_TOP_PER_LADEN_DRAFT = (0.45, 0.62)
BULB_HALF_HEIGHT = 0.12  # x laden draft
BULB_SEEN_MAX = 0.5
CUES = ("shadow", "side", "bow")
ALL_CUES = frozenset(CUES)
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


def visible_shadow_width_m(shadow_height_m: float, deck_height_m: float, view: View, hull_azimuth_deg: float) -> float:
    """Width (metres) of the hull's shadow strip left visible on the water: :func:`shadow_width_m`
    less what the deck covers when it leans over the shadow. An off-nadir view displaces the deck
    away from the sensor by the side strip's width (:func:`side_strip_width_m`); when the sun and
    the sensor lie on the same side of the hull the shadow falls on the far side, under the
    displaced deck, and only the part beyond it shows."""
    shadow = shadow_width_m(shadow_height_m, view.sun_elevation_deg, view.sun_azimuth_deg, hull_azimuth_deg)
    lean = side_strip_width_m(deck_height_m, view.view_zenith_deg, view.view_azimuth_deg, hull_azimuth_deg)
    same_side = (math.sin(math.radians(view.sun_azimuth_deg - hull_azimuth_deg))
                 * math.sin(math.radians(view.view_azimuth_deg - hull_azimuth_deg))) > 0
    return max(0.0, shadow - lean) if same_side else shadow


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

    def gdal_tags(self, grid_north_deg: float = 0.0) -> dict[str, str]:
        """The angles as GeoTIFF metadata items (docs/physics.md): degrees, azimuths clockwise from
        true north, ``VIEW_AZIMUTH`` from the ground towards the sensor. The generator draws with
        azimuths in the image grid (up = grid north); ``grid_north_deg`` is grid north's bearing
        from true north at the scene (the grid convergence of a projected CRS), added so the tags
        are the compass bearings a real product's metadata would hold."""
        return {name: f"{value % 360.0 if name.endswith('AZIMUTH') else value:.4f}" for name, value in (
            ("SUN_ELEVATION", self.sun_elevation_deg), ("SUN_AZIMUTH", self.sun_azimuth_deg + grid_north_deg),
            ("VIEW_ZENITH", self.view_zenith_deg), ("VIEW_AZIMUTH", self.view_azimuth_deg + grid_north_deg))}


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
    """One tanker's dimensions (metres) and how deep it floats; ``ballast_trim_m`` and
    ``bulb_top_m`` as in the module docstring (0: even keel, no bulb above the keel)."""

    size_class: str
    length_m: float
    beam_m: float
    depth_m: float
    laden_draft_m: float
    ballast_draft_m: float
    draft_fraction: float
    ballast_trim_m: float = 0.0
    bulb_top_m: float = 0.0

    @property
    def draft_m(self) -> float:
        """Mean draft."""
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
    def trim_m(self) -> float:
        """Stern draft minus bow draft (trim by the stern), metres."""
        return self.ballast_trim_m * (1.0 - self.draft_fraction)

    @property
    def bow_draft_m(self) -> float:
        return self.draft_m - self.trim_m / 2

    @property
    def bulb_clearance_m(self) -> float:
        """How far the bulb's top stands above the water at the bow (negative: submerged)."""
        return self.bulb_top_m - self.bow_draft_m

    @property
    def bulb_emerged(self) -> float:
        """Share of the bulb's half-height above the water: 0 (submerged) .. 1 (out to its widest)."""
        return min(max(self.bulb_clearance_m / (BULB_HALF_HEIGHT * self.laden_draft_m), 0.0), 1.0)

    def cargo_capacity_barrels(self) -> float:
        """Barrels of refined product this tanker carries fully laden: deadweight at the same
        relative position of its class's range as its length, times the central cargo fraction and
        barrels per tonne of ``core.tanker_sizes``."""
        cls = next(c for c in TANKER_CLASSES if c.name == self.size_class)
        t = (self.length_m - cls.length_m[0]) / (cls.length_m[1] - cls.length_m[0])
        dwt = cls.dwt_t[0] + t * (cls.dwt_t[1] - cls.dwt_t[0])
        return dwt * CARGO_FRACTION[1] * BARRELS_PER_TONNE[DEFAULT_CARGO][1]

    def with_draft(self, draft_fraction: float) -> TankerSpec:
        return replace(self, draft_fraction=float(draft_fraction))


def bulb_seen(spec: TankerSpec, sighting: float) -> bool:
    """Whether the bulbous bow shows in the picture: it must break the surface, and swell, turbid
    water and the sun hide it unless ``sighting`` (the ship's uniform [0, 1) draw, decided with the
    scene) falls below ``BULB_SEEN_MAX`` x its emerged share."""
    return sighting < BULB_SEEN_MAX * spec.bulb_emerged


def parse_cues(text: str) -> frozenset[str]:
    """A cue set from ``shadow,side,bow`` (any subset, comma-separated), ``all`` or ``none``."""
    words = [w.strip().lower() for w in text.split(",")]
    if words == ["all"]:
        return ALL_CUES
    if words == ["none"]:
        return frozenset()
    unknown = [w for w in words if w not in CUES]
    if unknown or len(set(words)) != len(words):
        raise ValueError(f"cues must be a comma-separated list of {', '.join(CUES)} (each once), "
                         f"'all' or 'none'; got {text!r}")
    return frozenset(words)


def cue_names(cues: frozenset[str]) -> list[str]:
    """The cue set as a list in ``CUES`` order (manifests, headers)."""
    return [c for c in CUES if c in cues]


def classes_that_fit(max_length_m: float) -> list[TankerClass]:
    """Size classes with some length between MIN_TANKER_LENGTH_M and ``max_length_m``."""
    return [c for c in TANKER_CLASSES
            if c.length_m[1] > MIN_TANKER_LENGTH_M and max(c.length_m[0], MIN_TANKER_LENGTH_M) <= max_length_m]


def sample_draft_fraction(rng: np.random.Generator, load: LoadState | None = None,
                          part_loaded_share: float = PART_LOADED_SHARE) -> float:
    """A draft fraction: with probability ``part_loaded_share`` uniform over the whole range of
    ``load`` ([0, 0.5) empty, [0.5, 1] loaded, [0, 1] when None), else near ballast
    (``NEAR_BALLAST``) or near laden (``NEAR_LADEN``), at even odds when ``load`` is None."""
    part_loaded = rng.random() < part_loaded_share
    if load is None and part_loaded:
        return float(rng.uniform(0.0, 1.0))
    if load is None:
        load = LoadState.EMPTY if rng.random() < 0.5 else LoadState.LOADED
    empty = load is LoadState.EMPTY
    if part_loaded:
        low, high = (0.0, LOADED_FROM_FRACTION) if empty else (LOADED_FROM_FRACTION, 1.0)
    else:
        low, high = NEAR_BALLAST if empty else NEAR_LADEN
    return float(rng.uniform(low, high))


def sample_tanker(rng: np.random.Generator, max_length_m: float, load: LoadState | None = None,
                  draft_fraction: float | None = None, small_weight: float = 3.0,
                  part_loaded_share: float = PART_LOADED_SHARE) -> TankerSpec:
    """A tanker no longer than ``max_length_m``; the small coastal class is drawn ``small_weight``
    times as often as each other class that fits; the draft as :func:`sample_draft_fraction` draws
    it unless ``draft_fraction`` is given. Trim and bulb height as the module docstring says.

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
    laden_draft = at(cls.laden_draft_m)
    # From a child generator: these hidden dimensions leave the parent's later draws (which ships,
    # where, how laden) as a seed gave them without trim and bulb.
    hull = rng.spawn(1)[0]
    trim = hull.uniform(*BALLAST_TRIM_PER_LENGTH) * length
    bulb_top = hull.uniform(*BULB_TOP_PER_LADEN_DRAFT) * laden_draft
    if draft_fraction is None:
        draft_fraction = sample_draft_fraction(rng, load, part_loaded_share)
    return TankerSpec(cls.name, float(length), float(beam), float(at(cls.depth_m)), float(laden_draft),
                      float(at(cls.ballast_draft_m)), float(draft_fraction), float(trim), float(bulb_top))
