"""Vessels of the synthetic world: what they look like from above, and their exact labels.

Every vessel is a convex hull outline at the waterline (local metres: x towards the bow, y across)
raised by its freeboard. Drawing follows :mod:`.physics`: the hull's shadow is the sweep of
the outline from the water up to the deck along the sun's shadow shift; the visible hull side is
the sweep along the sensor's relief shift, its lowest ``antifouling_m`` painted red; the deck, its
fittings and the superstructure are drawn at their heights (deck, deck + house height), so a tall
house leans further off-nadir and throws a longer shadow.

Kinds: ``tanker`` (pointed bow, transom stern, accommodation block aft, centreline pipework and
catwalk, manifold amidships) and the distractors ``container`` (container bays in many colours),
``bulk`` (hatch covers), ``tug``, ``small`` (small craft) and ``barge``. Bulk carriers and barges
also ride high or low, and two in five bulk and container ships show a red antifouling band of
1-4 m: neither freeboard nor a red band alone makes an empty tanker.

Colours (display brightness R, G, B, NIR in [0, 1]) are drawn from the same tables whatever the
load state: red hulls and red decks appear on both empty and loaded tankers, so the red
antifouling band is not a colour flag.

Load-state cues and tells: freeboard reaches the pixels through the shadow and the hull side (and
the antifouling band on the side); the bulbous bow shows only as :func:`.physics.bulb_seen` allows.
Everything else (paints, deck fittings, house, size, wake, berth, motion) is drawn alike for empty
and loaded tankers. Whitewater (the wake, the bow wave, foam round a bulb) only on ships under way
(``moving``; never on a berthed or anchored one). ``cues`` (:data:`.physics.CUES`) switches the
light paths off on tankers for counterfactual renders: :class:`ShipGeometry` then draws the hull
shadows and the deck as if the freeboard were 0 to the sun or the sensor, and no bulb.

The label box is the hull: the smallest box aligned with the bow direction holding the waterline
outline, the displaced deck and what stands on it (house roof, funnel, deck cargo), under all cues;
never the shadow, the bulb, foam or wake. So a box's length is the hull's (plus the ends of the
hull side off-nadir) whatever the load state, and every pixel of the hull lies inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.labels import LoadState, Vessel, VesselType
from .canvas import Canvas, ellipse_points, sweep
from .physics import (
    ALL_CUES,
    TankerSpec,
    View,
    bulb_seen,
    heading_to_azimuth_deg,
    side_strip_width_m,
    visible_shadow_width_m,
)

DISTRACTOR_KINDS = ("container", "bulk", "tug", "small", "barge")
# (length m, beam / length, freeboard m, house height m) ranges per distractor kind.
DISTRACTOR_SIZES = {
    "container": ((140, 300), (0.13, 0.16), (6, 14), (14, 24)),
    "bulk": ((120, 290), (0.14, 0.17), (4, 14), (10, 18)),
    "tug": ((24, 40), (0.30, 0.36), (2, 3.5), (4, 7)),
    "small": ((8, 25), (0.25, 0.35), (0.8, 2), (1.5, 3)),
    "barge": ((40, 90), (0.22, 0.28), (1, 4), (0, 0)),
}
DISTRACTOR_WEIGHTS = {"container": 0.2, "bulk": 0.22, "tug": 0.22, "small": 0.18, "barge": 0.18}

# Paints: same tables for every load state (see module docstring).
HULL_PAINTS = np.array([
    [0.07, 0.07, 0.08], [0.22, 0.23, 0.25], [0.07, 0.11, 0.24], [0.38, 0.10, 0.09], [0.52, 0.14, 0.12],
    [0.09, 0.20, 0.13], [0.30, 0.34, 0.40], [0.70, 0.70, 0.68], [0.45, 0.20, 0.10],
])
HULL_WEIGHTS = np.array([0.24, 0.12, 0.14, 0.14, 0.12, 0.08, 0.08, 0.04, 0.04])
DECK_PAINTS = np.array([
    [0.48, 0.20, 0.15], [0.40, 0.13, 0.11], [0.22, 0.37, 0.25], [0.44, 0.45, 0.45], [0.60, 0.60, 0.58],
    [0.40, 0.30, 0.22], [0.28, 0.30, 0.33],
])
DECK_WEIGHTS = np.array([0.22, 0.14, 0.2, 0.18, 0.08, 0.08, 0.1])
ANTIFOULING_PAINTS = np.array([[0.47, 0.12, 0.11], [0.36, 0.09, 0.09], [0.12, 0.10, 0.10]])
ANTIFOULING_WEIGHTS = np.array([0.55, 0.3, 0.15])
HOUSE_PAINTS = np.array([[0.86, 0.86, 0.82], [0.78, 0.76, 0.70], [0.70, 0.72, 0.74], [0.80, 0.55, 0.25]])
CARGO_BOX_PAINTS = np.array([
    [0.62, 0.16, 0.12], [0.15, 0.28, 0.55], [0.20, 0.45, 0.25], [0.78, 0.78, 0.76], [0.82, 0.50, 0.15],
    [0.45, 0.45, 0.47], [0.55, 0.35, 0.20], [0.80, 0.70, 0.20],
])
SHADOW_FACTOR = 0.42
FUNNEL_HEIGHT_M = 4.0
TANKER_CRANE_M = 8.0
BULK_CRANE_M = 12.0
CONTAINER_TIER_M = 2.6
CONTAINER_TIERS = 5
FOAM = (0.85, 0.88, 0.88, 0.45)
# The bulbous bow (local metres, module docstring of .physics): its nose this share of the length
# ahead of the stem, its half-length and half-breadth at the widest.
BULB_REACH = 0.03
BULB_HALF_LENGTH = 0.06
BULB_HALF_BREADTH = 0.09  # x beam


def with_nir(rgb) -> np.ndarray:
    """Add a NIR value to a paint or man-made colour: roughly its mean brightness."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return np.concatenate([rgb, [0.85 * rgb.mean() + 0.03]])


def _pick(rng: np.random.Generator, table: np.ndarray, weights: np.ndarray | None = None, jitter=0.05):
    i = rng.choice(len(table), p=None if weights is None else weights / weights.sum())
    return with_nir(np.clip(table[i] * rng.uniform(1 - jitter, 1 + jitter, 3), 0, 1))


@dataclass
class Ship:
    """One vessel in the world. ``centre`` in whole-image pixels (the waterline outline's centre),
    ``heading`` the bow direction in radians in the pixel frame; sizes in metres."""

    vessel_id: str
    kind: str
    centre: np.ndarray
    heading: float
    length_m: float
    beam_m: float
    house_height_m: float
    seed: int
    tanker: TankerSpec | None = None
    moving: bool = False
    paint: dict = field(default_factory=dict)
    hull_freeboard_m: float = 0.0  # non-tankers; a tanker's follows from its draft
    boot_top_m: float = 0.0  # non-tankers riding light also show their antifouling band
    berthed: bool = False
    bulb_sighting: float = 1.0  # a tanker's uniform draw for physics.bulb_seen (sea state, water, sun)
    sts_pair: int | None = None  # truth: the ship-to-ship pair it lies in (synth.sts)

    @property
    def freeboard_m(self) -> float:
        return self.tanker.freeboard_m if self.tanker is not None else self.hull_freeboard_m

    @property
    def antifouling_m(self) -> float:
        """Height of the red antifouling band showing above the water."""
        band = self.tanker.antifouling_m if self.tanker is not None else self.boot_top_m
        return min(band, self.freeboard_m)

    @property
    def bulb_shown(self) -> bool:
        """Whether the picture shows this ship's bulbous bow (under all cues)."""
        return self.tanker is not None and bulb_seen(self.tanker, self.bulb_sighting)

    @property
    def vessel_type(self) -> VesselType:
        return VesselType.TANKER if self.kind == "tanker" else VesselType.OTHER

    @property
    def load(self) -> LoadState:
        return self.tanker.load if self.tanker is not None else LoadState.UNKNOWN


def make_ship(rng: np.random.Generator, vessel_id: str, kind: str, centre, heading: float,
              tanker: TankerSpec | None = None, length_m: float | None = None, moving: bool = False) -> Ship:
    """A ship of ``kind`` with its paints; a tanker takes its dimensions from ``tanker``."""
    paint = {"hull": _pick(rng, HULL_PAINTS, HULL_WEIGHTS), "deck": _pick(rng, DECK_PAINTS, DECK_WEIGHTS),
             "antifouling": _pick(rng, ANTIFOULING_PAINTS, ANTIFOULING_WEIGHTS),
             "house": _pick(rng, HOUSE_PAINTS), "fittings": with_nir(np.array([0.62, 0.63, 0.60]) * rng.uniform(0.8, 1.1))}
    if kind == "tanker":
        if tanker is None:
            raise ValueError("a tanker needs its TankerSpec")
        house = 8.0 + 10.0 * min(tanker.length_m / 250.0, 1.0) + rng.uniform(-1.5, 1.5)
        seed = int(rng.integers(2**31))
        return Ship(vessel_id, kind, np.asarray(centre, dtype=np.float64), float(heading), tanker.length_m,
                    tanker.beam_m, house, seed, tanker, moving, paint,
                    bulb_sighting=float(np.random.default_rng([seed, 1]).random()))
    (l_lo, l_hi), (b_lo, b_hi), (f_lo, f_hi), (h_lo, h_hi) = DISTRACTOR_SIZES[kind]
    length = rng.uniform(l_lo, l_hi) if length_m is None else length_m
    if kind == "small":
        paint["hull"] = with_nir(np.array([0.85, 0.86, 0.86]) * rng.uniform(0.85, 1.05))
        paint["deck"] = with_nir(np.array([0.80, 0.80, 0.78]) * rng.uniform(0.8, 1.05))
    boot_top = float(rng.uniform(1.0, 4.0)) if kind in ("bulk", "container") and rng.random() < 0.4 else 0.0
    return Ship(vessel_id, kind, np.asarray(centre, dtype=np.float64), float(heading), float(length),
                float(length * rng.uniform(b_lo, b_hi)), float(rng.uniform(h_lo, h_hi)), int(rng.integers(2**31)),
                None, moving, paint, hull_freeboard_m=float(rng.uniform(f_lo, f_hi)), boot_top_m=boot_top)


def hull_outline_m(kind: str, length: float, beam: float) -> np.ndarray:
    """Convex waterline outline ``[M, 2]`` in local metres (x to the bow, y across), bow first."""
    half_l, half_b = length / 2, beam / 2
    if kind == "barge":
        rake = 0.06 * length
        return np.array([[half_l, -0.8 * half_b], [half_l, 0.8 * half_b], [half_l - rake, half_b],
                         [-half_l, half_b], [-half_l, -half_b], [half_l - rake, -half_b]])
    if kind in ("tug", "small"):
        t = np.linspace(-np.pi / 2, np.pi / 2, 9)
        bow = np.stack([half_l * 0.45 * np.cos(t) + half_l * 0.55, half_b * np.sin(t)], axis=1)
        stern = np.stack([-half_l + half_l * 0.25 * (1 - np.cos(t[::-1] * 0.9)), half_b * 0.92 * np.sin(t[::-1])], axis=1)
        return np.concatenate([bow, stern])[::-1]
    bow_length = (0.16 if kind == "tanker" else 0.13) * length
    s = np.linspace(0, 1, 7)
    x_bow = half_l - bow_length + s * bow_length
    y_bow = half_b * (1 - s ** 1.8)
    starboard = np.stack([x_bow[::-1], y_bow[::-1]], axis=1)[:-1]  # bow point excluded, added once
    stern = np.array([[-half_l + 0.05 * length, half_b], [-half_l + 0.01 * length, 0.9 * half_b],
                      [-half_l, 0.78 * half_b]])
    side = np.concatenate([starboard, stern])
    port = side[::-1] * np.array([1, -1])
    return np.concatenate([[[half_l, 0.0]], side, port])


def _rect_m(x0, x1, y0, y1) -> np.ndarray:
    return np.array([[x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float64)


class ShipGeometry:
    """A ship's outlines in whole-image pixels under one view, drawn with ``cues`` (module doc):
    ``deck_height_m`` is the height the sensor sees the deck at, ``shadow_height_m`` the one its
    shadows start from (both the freeboard, or 0 with that cue off on a tanker)."""

    def __init__(self, ship: Ship, view: View, cues: frozenset[str] = ALL_CUES):
        self.ship, self.view = ship, view
        self.cues = cues if ship.tanker is not None else ALL_CUES
        self.deck_height_m = ship.freeboard_m if "side" in self.cues else 0.0
        self.shadow_height_m = ship.freeboard_m if "shadow" in self.cues else 0.0
        c, s = math.cos(ship.heading), math.sin(ship.heading)
        self.u, self.v = np.array([c, s]), np.array([-s, c])
        self.waterline = self.to_px(hull_outline_m(ship.kind, ship.length_m, ship.beam_m))
        self.deck_shift = view.relief_shift_px(self.deck_height_m)
        self.deck = self.waterline + self.deck_shift
        self.house_foot = self.to_px(self._house_m()) if ship.house_height_m > 0 else None

    def to_px(self, local_m) -> np.ndarray:
        p = np.asarray(local_m, dtype=np.float64).reshape(-1, 2) / self.view.gsd_m
        return self.ship.centre + p[:, :1] * self.u + p[:, 1:] * self.v

    def at_height(self, local_m, height_m: float) -> np.ndarray:
        return self.to_px(local_m) + self.view.relief_shift_px(height_m)

    def _house_m(self) -> np.ndarray:
        ship = self.ship
        L, B = ship.length_m, ship.beam_m
        if ship.kind in ("tug", "small"):
            return _rect_m(-0.15 * L, 0.2 * L, -0.3 * B, 0.3 * B)
        if ship.kind == "container" and L > 220:
            return _rect_m(-0.2 * L, -0.14 * L, -0.42 * B, 0.42 * B)
        depth = 0.09 if L > 150 else 0.13
        return _rect_m(-0.49 * L + 0.02 * L, -0.49 * L + (0.02 + depth) * L, -0.42 * B, 0.42 * B)

    def house_top(self) -> np.ndarray | None:
        if self.house_foot is None:
            return None
        return self.house_foot + self.view.relief_shift_px(self.deck_height_m + self.ship.house_height_m)

    def bulb(self) -> np.ndarray | None:
        """Outline of the bulbous bow's emerged part where the picture shows it (else None): the
        section of the bulb's ellipsoid at the waterline, wider the more of it stands out."""
        tanker = self.ship.tanker
        if tanker is None or "bow" not in self.cues or not self.ship.bulb_shown:
            return None
        s = tanker.bulb_emerged
        scale = math.sqrt(s * (2.0 - s))
        L, B = self.ship.length_m, self.ship.beam_m
        half_length = BULB_HALF_LENGTH * L
        centre = self.to_px([[L / 2 + BULB_REACH * L - half_length, 0.0]])[0]
        return ellipse_points(centre, scale * half_length / self.view.gsd_m,
                              scale * BULB_HALF_BREADTH * B / self.view.gsd_m, self.ship.heading, n=16)

    def bulb_foam(self) -> np.ndarray | None:
        """Whitewater round the shown bulb of a ship under way (None otherwise)."""
        bulb = self.bulb()
        if bulb is None or not self.ship.moving:
            return None
        centre = bulb.mean(axis=0)
        return centre + (bulb - centre) * 1.4

    def funnel_top(self) -> np.ndarray | None:
        ship = self.ship
        if self.house_foot is None or ship.kind not in ("tanker", "bulk", "container"):
            return None
        L, B = ship.length_m, ship.beam_m
        x_aft = self._house_m()[:, 0].min()
        funnel = _rect_m(x_aft + 0.005 * L, x_aft + 0.03 * L, -0.08 * B, 0.08 * B)
        return self.at_height(funnel, self.deck_height_m + ship.house_height_m + FUNNEL_HEIGHT_M)

    def body_points(self) -> np.ndarray:
        """Every outline point of the hull as seen (not its shadow, bulb or foam): waterline, deck,
        house, funnel, deck cargo and cranes at their heights."""
        parts = [self.waterline, self.deck]
        ship = self.ship
        for local, height in _RAISED_ENVELOPES[ship.kind](ship.length_m, ship.beam_m):
            parts.append(self.at_height(local, self.deck_height_m + height))
        for extra in (self.house_top(), self.funnel_top()):
            if extra is not None:
                parts.append(extra)
        return np.concatenate(parts)

    def bow_outlines(self) -> list[np.ndarray]:
        """The outlines drawn beyond the hull at the bow: the shown bulb and its foam (maybe none)."""
        bulb = self.bulb()
        if bulb is None:
            return []
        foam = self.bulb_foam()
        return [bulb] if foam is None else [bulb, foam]

    def drawn_points(self) -> np.ndarray:
        """Every outline point :func:`draw_ship` paints: the hull, the shown bulb and its foam."""
        return np.concatenate([self.body_points(), *self.bow_outlines()])

    def cue_widths_m(self) -> tuple[float, float]:
        """Width (metres) of the hull's shadow strip left visible on the water and of its visible
        side as drawn (0 for a switched-off cue), from the formulas of :mod:`.physics`
        (:func:`.physics.visible_shadow_width_m`: the displaced deck covers part of a shadow on
        the side away from the sensor)."""
        view = self.view
        hull_az = heading_to_azimuth_deg(self.ship.heading)
        return (visible_shadow_width_m(self.shadow_height_m, self.deck_height_m, view, hull_az),
                side_strip_width_m(self.deck_height_m, view.view_zenith_deg, view.view_azimuth_deg, hull_az))

    def box(self) -> np.ndarray:
        """Label box ``[cx, cy, L, W, angle]`` aligned with the bow direction (module docstring);
        a label takes it from the geometry under all cues (:func:`to_label`)."""
        p = self.body_points()
        a, b = p @ self.u, p @ self.v
        a0, a1, b0, b1 = a.min(), a.max(), b.min(), b.max()
        centre = self.u * (a0 + a1) / 2 + self.v * (b0 + b1) / 2
        return np.array([centre[0], centre[1], a1 - a0, b1 - b0, self.ship.heading])

    def shadow_polygons(self, ground_m: float = 0.0) -> list[np.ndarray]:
        """The hull's and the house's shadows on a surface ``ground_m`` above the water: only what
        stands above that surface casts one there (sides are vertical, so the outline is the same
        at every height)."""
        view, ship = self.view, self.ship
        hull_above = self.shadow_height_m - ground_m
        polys = [sweep(self.waterline, view.shadow_shift_px(hull_above))] if hull_above > 0 else []
        if self.house_foot is not None:
            base = max(hull_above, 0.0)
            top = hull_above + ship.house_height_m
            if top > base:
                polys.append(sweep(self.house_foot + view.shadow_shift_px(base), view.shadow_shift_px(top - base)))
        return polys


def to_label(ship: Ship, view: View, cues: frozenset[str] = ALL_CUES, shadow_surface: str | None = None) -> Vessel:
    """The exact label of a ship under this view: the box with every cue drawn (so a switched-off
    cue never moves it), the shadow and side-strip widths as drawn under ``cues``, and what the
    shadow lies on when known (:func:`.shadow_ground.shadow_surfaces`)."""
    shadow_m, side_m = ShipGeometry(ship, view, cues).cue_widths_m()
    return Vessel(box=ShipGeometry(ship, view).box(), vessel_type=ship.vessel_type, load=ship.load,
                  heading=ship.heading, vessel_id=ship.vessel_id,
                  draft_fraction=None if ship.tanker is None else round(ship.tanker.draft_fraction, 4),
                  shadow_width_m=round(shadow_m, 3), side_strip_m=round(side_m, 3), shadow_surface=shadow_surface)


def draw_wake(canvas: Canvas, ship: Ship, view: View) -> None:
    """For a ship under way: a turbulent wake astern (about 3 ship lengths, widening from 0.7 to
    1.6 beams and fading), faint Kelvin arms at 19.5 degrees either side, and a bow wave."""
    if not ship.moving:
        return
    g = ShipGeometry(ship, view)
    L, B = ship.length_m, ship.beam_m
    steps = 8
    reach = 3.0 * L
    for k in range(steps):
        x0, x1 = -L / 2 - k * reach / steps, -L / 2 - (k + 1) * reach / steps
        w0, w1 = 0.35 * B * (1 + 1.3 * k / steps), 0.35 * B * (1 + 1.3 * (k + 1) / steps)
        quad = g.to_px([[x0, -w0], [x0, w0], [x1, w1], [x1, -w1]])
        canvas.fill([quad], FOAM, alpha=0.24 * (1 - k / steps) ** 1.5)
    spread = math.tan(math.radians(19.5))
    for side in (-1, 1):
        for k in range(3):  # fading with distance from the ship
            x0, x1 = L / 2 - k * 0.7 * L, L / 2 - (k + 1) * 0.7 * L
            arm = g.to_px([[x0, side * (0.5 * B + (L / 2 - x0) * spread)],
                           [x1, side * (0.5 * B + (L / 2 - x1) * spread)]])
            canvas.line(arm, FOAM, width_px=max(0.25 * B / view.gsd_m, 0.3), alpha=0.07 * (1 - k / 3))
    bow = g.to_px([[L / 2 + 0.01 * L, 0.0], [L / 2 - 0.08 * L, 0.62 * B], [L / 2 - 0.08 * L, -0.62 * B]])
    canvas.fill([bow], FOAM, alpha=0.35)


def draw_shadow(canvas: Canvas, ship: Ship, view: View, cues: frozenset[str] = ALL_CUES,
                ground_m: float = 0.0, where: np.ndarray | None = None) -> None:
    """The hull's and the house's shadows on a surface ``ground_m`` above the water, over the share
    ``where`` of each canvas pixel that is that surface (:mod:`.shadow_ground`; None: all)."""
    polygons = ShipGeometry(ship, view, cues).shadow_polygons(ground_m)
    if polygons:
        canvas.shade(polygons, SHADOW_FACTOR, where)


def draw_ship(canvas: Canvas, ship: Ship, view: View, cues: frozenset[str] = ALL_CUES) -> None:
    """Hull side (with the antifouling band), bulb, deck and deck fittings, house."""
    g = ShipGeometry(ship, view, cues)
    if not canvas.overlaps(g.drawn_points(), margin=4):
        return
    paint = ship.paint
    if g.deck_height_m > 0:
        band = ship.antifouling_m
        if band > 0:
            canvas.fill([sweep(g.waterline, view.relief_shift_px(band))], paint["antifouling"])
        band_top = g.waterline + view.relief_shift_px(band)
        canvas.fill([sweep(band_top, g.deck_shift - view.relief_shift_px(band))], paint["hull"])
    bulb = g.bulb()
    if bulb is not None:
        foam = g.bulb_foam()
        if foam is not None:
            canvas.fill([foam], FOAM, alpha=0.5)
        # Awash, water washes over it: the less stands out, the fainter it shows.
        canvas.fill([bulb], paint["antifouling"] * 0.85, alpha=0.5 + 0.4 * ship.tanker.bulb_emerged)
    canvas.fill([g.deck], paint["deck"])
    rng = np.random.default_rng(ship.seed)
    _DECK_PAINTERS[ship.kind](canvas, g, rng)
    if g.house_foot is not None:
        top = g.house_top()
        walls = sweep(g.house_foot + g.deck_shift, view.relief_shift_px(ship.house_height_m))
        canvas.fill([walls], paint["house"] * 0.72)
        canvas.fill([top], paint["house"])
        funnel = g.funnel_top()
        if funnel is not None:
            canvas.fill([funnel], paint["hull"] * 0.9 + 0.05)


def _paint_tanker(canvas: Canvas, g: ShipGeometry, rng: np.random.Generator) -> None:
    ship, gsd = g.ship, g.view.gsd_m
    L, B, F = ship.length_m, ship.beam_m, g.deck_height_m
    fittings = ship.paint["fittings"]
    x_fwd, x_aft = 0.4 * L, -0.36 * L
    for y, w, shade in ((-0.06 * B, 1.2, 1.0), (-0.1 * B, 0.8, 0.85), (0.02 * B, 1.0, 1.1)):
        canvas.line(g.at_height([[x_aft, y], [x_fwd, y]], F + 1.0), fittings * shade, width_px=w / gsd)
    manifold_x = rng.uniform(-0.03, 0.03) * L
    for dx in (-2.5, 0.0, 2.5):
        canvas.line(g.at_height([[manifold_x + dx, -0.42 * B], [manifold_x + dx, 0.42 * B]], F + 1.5),
                    fittings, width_px=0.9 / gsd)
    crane = g.at_height([[manifold_x + 5, 0.3 * B], [manifold_x + 5 + 0.04 * L, 0.05 * B]], F + TANKER_CRANE_M)
    canvas.line(crane, fittings * 0.7, width_px=0.6 / gsd)
    for x in np.linspace(x_aft + 0.04 * L, x_fwd - 0.04 * L, 6):  # pipe supports / deck frames
        canvas.line(g.at_height([[x, -0.3 * B], [x, 0.15 * B]], F + 0.5), fittings * 0.8, width_px=0.4 / gsd,
                    alpha=0.6)


def _paint_container(canvas: Canvas, g: ShipGeometry, rng: np.random.Generator) -> None:
    ship = g.ship
    L, B, F = ship.length_m, ship.beam_m, g.deck_height_m
    house = g._house_m()
    x_start, x_end = -0.4 * L, 0.36 * L
    bay = 12.8
    rows = max(int(B * 0.9 // 2.5), 1)
    for x0 in np.arange(x_start, x_end - bay, bay):
        if house[:, 0].min() - 1 < x0 + bay and x0 < house[:, 0].max() + 1:
            continue
        if rng.random() < 0.12:
            continue
        stack = F + CONTAINER_TIER_M * rng.integers(1, CONTAINER_TIERS + 1)
        cells = []
        for r in range(rows):
            y0 = -B * 0.45 + r * (B * 0.9 / rows)
            cells.append((_rect_m(x0 + 0.4, x0 + bay - 0.4, y0 + 0.1, y0 + B * 0.9 / rows - 0.1),
                          CARGO_BOX_PAINTS[rng.integers(len(CARGO_BOX_PAINTS))]))
        for rect, colour in cells:
            canvas.fill([g.at_height(rect, stack)], with_nir(colour * rng.uniform(0.85, 1.1)))


def _paint_bulk(canvas: Canvas, g: ShipGeometry, rng: np.random.Generator) -> None:
    ship = g.ship
    L, B, F = ship.length_m, ship.beam_m, g.deck_height_m
    n = int(rng.integers(5, 10))
    colour = with_nir(DECK_PAINTS[rng.integers(len(DECK_PAINTS))] * rng.uniform(0.9, 1.2))
    xs = np.linspace(-0.32 * L, 0.36 * L, n + 1)
    pitch = xs[1] - xs[0]
    for x0 in xs[:-1]:
        rect = _rect_m(x0 + 0.18 * pitch, x0 + 0.88 * pitch, -0.3 * B, 0.3 * B)
        canvas.fill([g.at_height(rect, F + 2.0)], colour)
        canvas.line(g.at_height([[x0 + 0.53 * pitch, -0.3 * B], [x0 + 0.53 * pitch, 0.3 * B]], F + 2.1),
                    colour * 0.6, width_px=0.4 / g.view.gsd_m)
    if rng.random() < 0.5:  # deck cranes between the hatches
        for x0 in xs[1:-1]:
            canvas.line(g.at_height([[x0, 0.0], [x0 + 0.6 * pitch, 0.35 * B]], F + BULK_CRANE_M), with_nir([0.7, 0.6, 0.2]),
                        width_px=1.0 / g.view.gsd_m)


def _paint_tug(canvas: Canvas, g: ShipGeometry, rng: np.random.Generator) -> None:
    # Fender tyres round the gunwale: a dark rim.
    rim = g.deck + (g.deck.mean(axis=0) - g.deck) * 0.08
    canvas.line(np.concatenate([rim, rim[:1]]), with_nir([0.05, 0.05, 0.05]), width_px=0.8 / g.view.gsd_m)


def _paint_small(canvas: Canvas, g: ShipGeometry, rng: np.random.Generator) -> None:
    return None  # the white hull and cabin are all a small craft shows


def _paint_barge(canvas: Canvas, g: ShipGeometry, rng: np.random.Generator) -> None:
    ship = g.ship
    if rng.random() < 0.6:
        heap = with_nir([[0.2, 0.2, 0.2], [0.55, 0.48, 0.35], [0.5, 0.45, 0.4]][rng.integers(3)])
        for _k in range(int(rng.integers(1, 4))):
            x = rng.uniform(-0.3, 0.3) * ship.length_m
            centre = g.at_height([[x, 0.0]], g.deck_height_m + 2)[0]
            canvas.fill([ellipse_points(centre, 0.12 * ship.length_m / g.view.gsd_m,
                                        0.3 * ship.beam_m / g.view.gsd_m, ship.heading)], heap)


# Where each kind's deck fittings and cargo reach: (local outline in metres, height above deck).
_RAISED_ENVELOPES = {
    "tanker": lambda L, B: [(_rect_m(-0.36 * L, 0.4 * L, -0.42 * B, 0.42 * B), 1.5),
                            (_rect_m(-0.03 * L + 5, 0.07 * L + 5, 0.05 * B, 0.3 * B), TANKER_CRANE_M)],
    "container": lambda L, B: [(_rect_m(-0.4 * L, 0.36 * L, -0.45 * B, 0.45 * B), CONTAINER_TIER_M * CONTAINER_TIERS)],
    "bulk": lambda L, B: [(_rect_m(-0.32 * L, 0.36 * L, -0.3 * B, 0.3 * B), 2.1),
                          (_rect_m(-0.32 * L, 0.36 * L, 0.0, 0.35 * B), BULK_CRANE_M)],
    "tug": lambda L, B: [],
    "small": lambda L, B: [],
    "barge": lambda L, B: [(_rect_m(-0.42 * L, 0.42 * L, -0.3 * B, 0.3 * B), 2.0)],
}

_DECK_PAINTERS = {"tanker": _paint_tanker, "container": _paint_container, "bulk": _paint_bulk,
                  "tug": _paint_tug, "small": _paint_small, "barge": _paint_barge}


def sample_distractor_kind(rng: np.random.Generator, max_length_m: float) -> str | None:
    """A distractor kind that can be shorter than ``max_length_m`` (None if none can)."""
    kinds = [k for k in DISTRACTOR_KINDS if DISTRACTOR_SIZES[k][0][0] <= max_length_m]
    if not kinds:
        return None
    w = np.array([DISTRACTOR_WEIGHTS[k] for k in kinds])
    return kinds[rng.choice(len(kinds), p=w / w.sum())]
