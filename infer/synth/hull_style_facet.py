"""The ``facet`` hull style: a second way to draw vessels, written apart from :mod:`.vessels`'s
flat-paint drawing, so that a model trained on one style can be scored on the other.

What physics fixes is the same in both styles (docs/physics.md): the ship (kind, length, beam,
freeboard, antifouling band, house height, bulb) and the view, so the hull's shadow on the water
is the sweep of its waterline outline along the sun's shift of the freeboard (a strip
``physics.shadow_width_m`` wide beside a hull abeam of the sun), the visible hull side is the
sweep along the sensor's relief shift of the freeboard (``physics.side_strip_width_m``) with its
lowest ``antifouling_m`` in antifouling paint, and the bulb shows where
:meth:`.vessels.ShipGeometry.bulb` says. The cue switches (``cues``) act as in :mod:`.vessels`:
the heights the sensor and the sun see the deck at come from :class:`.vessels.ShipGeometry`.

What physics does not fix is drawn differently:

* Plan shape: a parallel mid-body at full beam between a bow entrance and a stern run, each a
  superellipse quadrant (half-breadth ``B/2 * (1 - s^p)^(1/p)``) with its own length and exponent
  per ship, and a transom of its own width; tugs and small craft get long round entrances, barges
  short raked ends. The outline is convex and spans exactly the ship's length and beam.
* Shading: Lambert's law with the sun's direction plus a skylight term, per surface: each hull-side
  facet (one per waterline edge facing the sensor) by its own outward normal, the deck in
  strips along its camber (``B/50``, the usual round of beam), house walls and roofs; a
  Blinn-Phong sheen towards the sensor; the house casts its shadow on the deck. Brightness is
  relative to a level surface in full sun (``albedo * (ambient + (1 - ambient) * n.s / sin(elev))``,
  capped), with the ambient share and the water-shadow darkness drawn per ship.
* Deck layout: tankers carry an off-centre catwalk, a pipe rack beside it, tank hatches in two
  rows, a manifold of crossover pipes with drip trays at a position of their own, windlasses on
  the foredeck and a stepped house (main block, narrower upper block, bridge wings) with a round
  funnel; container ships bays of 20 ft and 40 ft stacks with their own walls; bulk carriers
  side-rolling hatch covers split along the centreline and pedestal cranes on one side; tugs a
  rubber bow fender and a towing winch; barges an open hopper.
* Paints: tables of their own, the same for every load state.

Labels and placement do not depend on the style: the label box is the default geometry's
(:meth:`.vessels.ShipGeometry.box`, the visible hull and what stands on it), and every element
drawn here stays inside it (tested pixel by pixel): the hull within length x beam, the house within
the default house block's footprint and height, the funnel within the default funnel's footprint
and height, deck gear no higher than the default deck envelope of that kind. So a seed gives the
same vessels, boxes and load states in either style; the box can be a little looser off-nadir
where this style's structures are lower or smaller.
"""

from __future__ import annotations

import math

import numpy as np

from .canvas import Canvas, ellipse_points, sweep
from .physics import ALL_CUES, View, compass_to_pixel
from .vessels import CONTAINER_TIER_M, CONTAINER_TIERS, FOAM, FUNNEL_HEIGHT_M, Ship, ShipGeometry, with_nir

STYLE_SALT = 0x5EED_FACE  # this style's per-ship draws never reuse the default style's stream
HULL_PAINTS = np.array([
    [0.05, 0.05, 0.06], [0.10, 0.14, 0.30], [0.25, 0.26, 0.28], [0.45, 0.12, 0.10], [0.12, 0.28, 0.20],
    [0.55, 0.57, 0.58], [0.15, 0.30, 0.55], [0.55, 0.30, 0.12], [0.82, 0.83, 0.82],
])
DECK_PAINTS = np.array([
    [0.42, 0.17, 0.12], [0.25, 0.40, 0.30], [0.45, 0.47, 0.48], [0.55, 0.50, 0.40], [0.15, 0.28, 0.20],
    [0.30, 0.36, 0.42], [0.35, 0.22, 0.18],
])
ANTIFOULING_PAINTS = np.array([[0.55, 0.15, 0.12], [0.42, 0.16, 0.12], [0.18, 0.16, 0.16], [0.40, 0.22, 0.16]])
HOUSE_PAINTS = np.array([[0.90, 0.90, 0.88], [0.85, 0.82, 0.70], [0.72, 0.75, 0.76], [0.70, 0.80, 0.70],
                         [0.85, 0.45, 0.15]])
GEAR_PAINTS = np.array([[0.80, 0.70, 0.20], [0.85, 0.85, 0.82], [0.50, 0.52, 0.52], [0.30, 0.50, 0.30]])
SMALL_HULL_PAINTS = np.array([[0.88, 0.88, 0.86], [0.70, 0.72, 0.74], [0.20, 0.35, 0.60], [0.60, 0.15, 0.12]])
CONTAINER_PAINTS = np.array([
    [0.55, 0.25, 0.20], [0.25, 0.35, 0.50], [0.70, 0.70, 0.68], [0.35, 0.45, 0.35], [0.60, 0.45, 0.25],
    [0.40, 0.40, 0.42], [0.20, 0.22, 0.25], [0.75, 0.60, 0.25],
])
CARGO_PAINTS = np.array([[0.18, 0.18, 0.18], [0.50, 0.44, 0.33], [0.60, 0.55, 0.48]])
SHADOW_FACTOR = (0.30, 0.55)
AMBIENT = (0.25, 0.45)
MAX_LIGHT = 1.6  # a wall facing a low sun: brighter than the deck, within reason
CAMBER_PER_BEAM = 1 / 50
DECK_STRIPS = 8
TEU_M, FEU_M, CONTAINER_WIDTH_M = 6.1, 12.2, 2.44
# Heights above deck of this style's gear: no higher than the default style's deck envelope over
# the same footprint (container stacks share its tier height and count), so the label box holds it.
GEAR_M = 1.2
BULK_COAMING_M = 2.0
BULK_CRANE_POST_M = 10.0
BARGE_CARGO_M = 1.8


class Light:
    """Sun, sky and sensor for Lambert shading in the pixel frame (x, y on the ground, z up)."""

    def __init__(self, view: View, rng: np.random.Generator):
        elev = math.radians(view.sun_elevation_deg)
        self.sun = np.array([*(compass_to_pixel(view.sun_azimuth_deg) * math.cos(elev)), math.sin(elev)])
        zen = math.radians(view.view_zenith_deg)
        to_sensor = np.array([*(compass_to_pixel(view.view_azimuth_deg) * math.sin(zen)), math.cos(zen)])
        half = self.sun + to_sensor
        self.half = half / np.linalg.norm(half)
        self.to_sensor_ground = compass_to_pixel(view.view_azimuth_deg)
        self.ambient = float(rng.uniform(*AMBIENT))
        self.sheen = float(rng.uniform(0.0, 0.18))
        self.sheen_power = float(rng.uniform(4.0, 30.0))

    def shade(self, albedo: np.ndarray, normal) -> np.ndarray:
        """Brightness (R, G, B, NIR) of paint ``albedo`` on a surface with unit ``normal`` (x, y, z)."""
        n = np.asarray(normal, dtype=np.float64)
        direct = min(max(float(n @ self.sun), 0.0) / self.sun[2], MAX_LIGHT)
        sheen = self.sheen * max(float(n @ self.half), 0.0) ** self.sheen_power
        return np.clip(albedo * (self.ambient + (1 - self.ambient) * direct) + sheen, 0.0, 1.0)


def _pick(rng: np.random.Generator, table: np.ndarray, jitter: float = 0.08) -> np.ndarray:
    return with_nir(np.clip(table[rng.integers(len(table))] * rng.uniform(1 - jitter, 1 + jitter, 3), 0, 1))


def _superellipse(s: np.ndarray, power: float) -> np.ndarray:
    return (1.0 - np.clip(s, 0.0, 1.0) ** power) ** (1.0 / power)


def plan_outline_m(kind: str, length: float, beam: float, rng: np.random.Generator) -> np.ndarray:
    """Convex waterline outline ``[M, 2]`` in local metres (x to the bow, y across), spanning
    ``[-L/2, L/2] x [-B/2, B/2]``; shape drawn from ``rng`` (module doc)."""
    if kind in ("tug", "small"):
        entrance, bow_p = rng.uniform(0.35, 0.5), rng.uniform(1.6, 2.3)
        run, stern_p, transom = rng.uniform(0.1, 0.25), rng.uniform(2.0, 3.0), rng.uniform(0.55, 0.8)
    elif kind == "barge":
        entrance, bow_p = rng.uniform(0.04, 0.08), rng.uniform(1.0, 2.0)
        run, stern_p, transom = rng.uniform(0.03, 0.06), rng.uniform(3.0, 6.0), rng.uniform(0.8, 0.92)
    else:
        entrance, bow_p = rng.uniform(0.12, 0.22), rng.uniform(1.7, 2.6)
        run, stern_p, transom = rng.uniform(0.1, 0.2), rng.uniform(1.8, 3.0), rng.uniform(0.55, 0.85)
    half_l, half_b = length / 2, beam / 2
    s = np.linspace(0.0, 1.0, 10)
    x_bow = half_l - entrance * length * (1 - s)
    if kind == "barge":  # a raked square end, 0.8 beams wide at the stem, not a point
        bow_tip = half_b * (1 - 0.2 * s**bow_p)
    else:
        bow_tip = half_b * _superellipse(s, bow_p)
    x_stern = -half_l + run * length * (1 - s)
    stern = transom * half_b + (1 - transom) * half_b * _superellipse(s, stern_p)
    # Starboard from the stem to the transom, then port back: bow point first, as vessels' outlines.
    starboard = np.concatenate([np.stack([x_bow, bow_tip], 1)[::-1], np.stack([x_stern, stern], 1)])
    starboard = starboard[starboard[:, 1] > 1e-9]
    return np.concatenate([[[half_l, 0.0]], starboard, (starboard * [1, -1])[::-1]])


def clip_convex(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """The part ``[M, 2]`` of polygon ``subject`` inside the convex polygon ``clip`` (possibly
    empty; Sutherland-Hodgman)."""
    poly = np.asarray(subject, dtype=np.float64).reshape(-1, 2)
    clip = np.asarray(clip, dtype=np.float64).reshape(-1, 2)
    centre = clip.mean(axis=0)
    for i in range(len(clip)):
        if len(poly) == 0:
            break
        a, b = clip[i], clip[(i + 1) % len(clip)]
        inward = np.array([a[1] - b[1], b[0] - a[0]])
        if inward @ (centre - a) < 0:
            inward = -inward
        d = (poly - a) @ inward
        out = []
        for k in range(len(poly)):
            p, q, dp, dq = poly[k], poly[(k + 1) % len(poly)], d[k], d[(k + 1) % len(poly)]
            if dp >= 0:
                out.append(p)
            if (dp >= 0) != (dq >= 0):
                out.append(p + (q - p) * (dp / (dp - dq)))
        poly = np.array(out).reshape(-1, 2)
    return poly


def _rect(x0, x1, y0, y1) -> np.ndarray:
    return np.array([[x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float64)


def _local(g: ShipGeometry, px: np.ndarray) -> np.ndarray:
    """Whole-image pixels (at ground level) back to the ship's local metres."""
    d = np.asarray(px, dtype=np.float64).reshape(-1, 2) - g.ship.centre
    return np.stack([d @ g.u, d @ g.v], axis=1) * g.view.gsd_m


class FacetShip:
    """One ship's drawing in this style: its outline, house blocks and paints (module doc)."""

    def __init__(self, ship: Ship, view: View, cues: frozenset[str]):
        self.ship, self.view = ship, view
        self.g = ShipGeometry(ship, view, cues)
        self.deck_m = self.g.deck_height_m  # the freeboard, or 0 with the "side" cue off
        rng = np.random.default_rng([ship.seed, STYLE_SALT])
        self.rng = rng
        self.light = Light(view, rng)
        self.outline = plan_outline_m(ship.kind, ship.length_m, ship.beam_m, rng)
        small = ship.kind == "small"
        self.paint = {"hull": _pick(rng, SMALL_HULL_PAINTS if small else HULL_PAINTS),
                      "deck": _pick(rng, DECK_PAINTS), "antifouling": _pick(rng, ANTIFOULING_PAINTS),
                      "house": _pick(rng, HOUSE_PAINTS), "gear": _pick(rng, GEAR_PAINTS)}
        self.shadow_factor = float(rng.uniform(*SHADOW_FACTOR))
        self.blocks = self._house_blocks()

    def _house_blocks(self) -> list[tuple[np.ndarray, float, float, str]]:
        """House as ``(outline m, base and top heights above deck, part)`` blocks inside the
        default house block's footprint, reaching the house height, then the funnel (inside the
        default funnel's footprint, below its top); parts ``house``, ``bridge``, ``wings``,
        ``funnel``."""
        g, ship, rng = self.g, self.ship, self.rng
        if g.house_foot is None:
            return []
        foot = _local(g, g.house_foot)
        x0, x1 = foot[:, 0].min(), foot[:, 0].max()
        half = foot[:, 1].max()
        depth, height = x1 - x0, ship.house_height_m
        if ship.kind in ("tug", "small"):
            return [(_rect(x0 + rng.uniform(0, 0.2) * depth, x1, -half * rng.uniform(0.7, 1.0),
                           half * rng.uniform(0.7, 1.0)), 0.0, height, "bridge")]
        lower = rng.uniform(0.4, 0.65) * height
        blocks = [(_rect(x0 + rng.uniform(0.0, 0.15) * depth, x1, -half * rng.uniform(0.8, 1.0),
                         half * rng.uniform(0.8, 1.0)), 0.0, lower, "house")]
        upper_half = half * rng.uniform(0.5, 0.75)
        blocks.append((_rect(x0 + rng.uniform(0.2, 0.4) * depth, x1 - rng.uniform(0.0, 0.1) * depth,
                             -upper_half, upper_half), lower, height, "bridge"))
        wing = rng.uniform(0.08, 0.15) * depth
        blocks.append((_rect(x1 - wing, x1, -half, half), height - 1.0, height, "wings"))
        funnel_top = g.funnel_top()
        if funnel_top is not None:
            rect = _local(g, funnel_top - self.view.relief_shift_px(self.deck_m + height + FUNNEL_HEIGHT_M))
            centre = rect.mean(axis=0)
            radius = 0.45 * min(np.ptp(rect[:, 0]), np.ptp(rect[:, 1]))
            circle = ellipse_points(centre, radius, radius, 0.0, n=14)
            blocks.append((circle, height, height + rng.uniform(0.5, 1.0) * FUNNEL_HEIGHT_M, "funnel"))
        return blocks

    # Geometry helpers: local metres at a height above the waterline to whole-image pixels.
    def at(self, local_m, height_m: float) -> np.ndarray:
        return self.g.at_height(local_m, height_m)

    def normal_px(self, local_normal) -> np.ndarray:
        n = np.asarray(local_normal, dtype=np.float64)
        return n[0] * self.g.u + n[1] * self.g.v

    def walls(self, canvas: Canvas, outline_m: np.ndarray, base_m: float, top_m: float, albedo: np.ndarray) -> None:
        """The sensor-facing vertical facets of a convex outline between two heights, each lit by
        its own outward normal."""
        if top_m <= base_m or self.view.view_zenith_deg <= 0:
            return
        centroid = outline_m.mean(axis=0)
        for i in range(len(outline_m)):
            a, b = outline_m[i], outline_m[(i + 1) % len(outline_m)]
            edge = b - a
            if np.hypot(*edge) < 1e-9:
                continue
            n_local = np.array([edge[1], -edge[0]]) / np.hypot(*edge)
            if n_local @ ((a + b) / 2 - centroid) < 0:
                n_local = -n_local
            n = self.normal_px(n_local)
            if n @ self.light.to_sensor_ground <= 0:
                continue
            quad = np.concatenate([self.at([a, b], base_m), self.at([b, a], top_m)])
            canvas.fill([quad], self.light.shade(albedo, [n[0], n[1], 0.0]))

    def roof(self, canvas: Canvas, outline_m: np.ndarray, height_m: float, albedo: np.ndarray) -> None:
        canvas.fill([self.at(outline_m, height_m)], self.light.shade(albedo, [0.0, 0.0, 1.0]))

    def box(self, canvas: Canvas, outline_m: np.ndarray, base_m: float, top_m: float, albedo: np.ndarray) -> None:
        self.walls(canvas, outline_m, base_m, top_m, albedo)
        self.roof(canvas, outline_m, top_m, albedo)


def draw_shadow(canvas: Canvas, ship: Ship, view: View, cues: frozenset[str] = ALL_CUES,
                ground_m: float = 0.0, where: np.ndarray | None = None) -> None:
    """The hull's and the house blocks' shadows on a surface ``ground_m`` above the water (only
    what stands above it casts one there), over the share ``where`` of each canvas pixel that is
    that surface (:mod:`.shadow_ground`; None: all) (module doc)."""
    f = FacetShip(ship, view, cues)
    hull_above = f.g.shadow_height_m - ground_m  # the freeboard (or 0 with the "shadow" cue off) above it
    polys = [sweep(f.at(f.outline, 0.0), view.shadow_shift_px(hull_above))] if hull_above > 0 else []
    for outline, base, top, _ in f.blocks:
        low, high = max(hull_above + base, 0.0), hull_above + top
        if high > low:
            polys.append(sweep(f.at(outline, 0.0) + view.shadow_shift_px(low), view.shadow_shift_px(high - low)))
    _shade_union(canvas, polys, f.shadow_factor, where)


def _shade_union(canvas: Canvas, polygons: list[np.ndarray], factor: float, where: np.ndarray | None = None) -> None:
    """Multiply the union of overlapping ``polygons`` by ``factor`` once (one cv2 fill of several
    overlapping polygons leaves holes where they overlap), over the share ``where`` of each pixel."""
    covers = [got for got in (canvas.coverage([p]) for p in polygons) if got is not None]
    if not covers:
        return
    y0 = min(rows.start for _, (rows, _) in covers)
    y1 = max(rows.stop for _, (rows, _) in covers)
    x0 = min(cols.start for _, (_, cols) in covers)
    x1 = max(cols.stop for _, (_, cols) in covers)
    union = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    for cover, (rows, cols) in covers:
        part = union[rows.start - y0:rows.stop - y0, cols.start - x0:cols.stop - x0]
        np.maximum(part, cover, out=part)
    if where is not None:
        union *= where[y0:y1, x0:x1]
    canvas.pixels[y0:y1, x0:x1] *= (1.0 - union * (1.0 - factor))[..., None]


def draw_ship(canvas: Canvas, ship: Ship, view: View, cues: frozenset[str] = ALL_CUES) -> None:
    """Hull side facets (antifouling band, then topside), bulb, cambered deck, gear, house."""
    f = FacetShip(ship, view, cues)
    g = f.g
    if not canvas.overlaps(g.drawn_points(), margin=4):
        return
    band = min(ship.antifouling_m, f.deck_m)
    f.walls(canvas, f.outline, 0.0, band, f.paint["antifouling"])
    f.walls(canvas, f.outline, band, f.deck_m, f.paint["hull"])
    bulb = g.bulb()
    if bulb is not None:
        foam = g.bulb_foam()
        if foam is not None:
            canvas.line(np.concatenate([foam, foam[:1]]), FOAM, width_px=max(0.8 / view.gsd_m, 0.5), alpha=0.45)
        # Awash, the sea covers part of it: the less stands out, the fainter it shows.
        canvas.fill([bulb], f.light.shade(f.paint["antifouling"], [0.0, 0.0, 1.0]),
                    alpha=0.45 + 0.45 * ship.tanker.bulb_emerged)
    _deck(canvas, f)
    _GEAR[ship.kind](canvas, f)
    _house(canvas, f)


def _deck(canvas: Canvas, f: FacetShip) -> None:
    """Deck in strips along its camber, a pale rail along its edge, weathering patches."""
    ship, rng = f.ship, f.rng
    half_b, freeboard = ship.beam_m / 2, f.deck_m
    camber = CAMBER_PER_BEAM * ship.beam_m
    edges = np.linspace(-half_b, half_b, DECK_STRIPS + 1)
    for y0, y1 in zip(edges[:-1], edges[1:], strict=True):
        strip = clip_convex(f.outline, _rect(-ship.length_m, ship.length_m, y0, y1))
        if len(strip) < 3:
            continue
        slope = 8 * camber * ((y0 + y1) / 2) / ship.beam_m**2  # -dz/dy of z = c (1 - (2y/B)^2)
        n = f.normal_px([0.0, slope])
        normal = np.array([n[0], n[1], 1.0]) / math.sqrt(1 + slope**2)
        canvas.fill([f.at(strip, freeboard)], f.light.shade(f.paint["deck"], normal))
    rail = f.at(_inset(f, _line_half_m(f, 0.35) + 0.2), freeboard)
    canvas.line(np.concatenate([rail, rail[:1]]), f.light.shade(f.paint["gear"], [0, 0, 1]),
                width_px=0.35 / f.view.gsd_m, alpha=0.7)
    stain = f.light.shade(f.paint["deck"] * 0.7, [0, 0, 1])
    for _ in range(int(rng.integers(0, 6))):  # weathering, kept well inside the deck's edge
        x = rng.uniform(-0.3, 0.3) * ship.length_m
        y = rng.uniform(-0.25, 0.25) * ship.beam_m
        centre = f.at([[x, y]], freeboard)[0]
        canvas.fill([ellipse_points(centre, rng.uniform(0.02, 0.05) * ship.length_m / f.view.gsd_m,
                                    rng.uniform(0.04, 0.1) * ship.beam_m / f.view.gsd_m, ship.heading, n=12)],
                    stain, alpha=rng.uniform(0.2, 0.45))


def _line_half_m(f: FacetShip, width_m: float) -> float:
    """Half the width (metres) :meth:`Canvas.line` paints for a line ``width_m`` wide (at least a pixel)."""
    return max(width_m, f.view.gsd_m) / 2


def _inset(f: FacetShip, by_m: float) -> np.ndarray:
    """The plan outline pulled about ``by_m`` metres in from its edge (a line along it stays on deck)."""
    return f.outline * [1 - 2 * by_m / f.ship.length_m, 1 - 2 * by_m / f.ship.beam_m]


def _house_shadow_on_deck(canvas: Canvas, f: FacetShip) -> None:
    """The house's shadow where it falls on the deck (drawn on the deck, clipped to it)."""
    view, freeboard = f.view, f.deck_m
    to_local = np.array([f.g.u, f.g.v]).T * view.gsd_m
    shadows = []
    for outline, base, top, _ in f.blocks:
        if base > 0:
            continue
        shift_local = view.shadow_shift_px(top) @ to_local  # the shadow's run, in local metres
        shadow = clip_convex(sweep(outline, shift_local), f.outline)
        if len(shadow) >= 3:
            shadows.append(f.at(shadow, freeboard))
    _shade_union(canvas, shadows, f.shadow_factor + 0.15)


def _house(canvas: Canvas, f: FacetShip) -> None:
    if not f.blocks:
        return
    _house_shadow_on_deck(canvas, f)
    freeboard = f.deck_m
    for outline, base, top, part in f.blocks:
        albedo = f.paint["hull"] * 0.8 + 0.08 if part == "funnel" else f.paint["house"]
        f.box(canvas, outline, freeboard + base, freeboard + top, albedo)
        if part == "bridge":  # bridge windows: a dark band along the block's front
            front = outline[:, 0].max()
            half = outline[:, 1].max()
            canvas.fill([f.at(_rect(front - 0.6, front, -half, half), freeboard + top)], with_nir([0.1, 0.12, 0.15]),
                        alpha=0.7)


def _tanker_gear(canvas: Canvas, f: FacetShip) -> None:
    ship, rng, gsd = f.ship, f.rng, f.view.gsd_m
    L, B, F = ship.length_m, ship.beam_m, f.deck_m
    gear, deck_level = f.paint["gear"], F
    x_aft, x_fwd = -0.33 * L, 0.37 * L
    side = 1.0 if rng.random() < 0.5 else -1.0
    y_walk = side * rng.uniform(0.08, 0.2) * B
    walk_w = rng.uniform(1.2, 1.8)
    walk = _rect(x_aft, x_fwd, y_walk - walk_w / 2, y_walk + walk_w / 2)
    f.box(canvas, walk, deck_level, F + GEAR_M, gear)
    pipes = int(rng.integers(3, 8))
    pipe_colour = f.light.shade(gear * rng.uniform(0.6, 0.9), [0, 0, 1])
    for k in range(pipes):
        y = y_walk - side * (walk_w / 2 + 0.6 + 0.7 * k)
        canvas.line(f.at([[x_aft, y], [x_fwd, y]], F + 0.8), pipe_colour, width_px=rng.uniform(0.35, 0.6) / gsd)
    hatch = f.light.shade(gear * 0.8, [0, 0, 1])
    for x in np.arange(x_aft + 0.03 * L, x_fwd, rng.uniform(0.05, 0.08) * L):
        for y in (-0.3 * B, 0.3 * B):
            centre = f.at([[x, y]], F + 0.6)[0]
            canvas.fill([ellipse_points(centre, 0.6 / gsd, 0.6 / gsd, 0.0, n=10)], hatch)
    x_m = rng.uniform(-0.06, 0.04) * L
    for k in range(int(rng.integers(2, 5))):
        x = x_m + 1.8 * k
        canvas.line(f.at([[x, -0.4 * B], [x, 0.4 * B]], F + 1.0), pipe_colour, width_px=0.7 / gsd)
    tray = f.light.shade(with_nir([0.75, 0.75, 0.72]), [0, 0, 1])
    for y in (-0.38 * B, 0.38 * B):
        canvas.fill([f.at(_rect(x_m - 1.0, x_m + 1.8 * 3 + 1.0, y - 1.0, y + 1.0), F)], tray, alpha=0.8)
    windlass = f.light.shade(with_nir([0.15, 0.15, 0.16]), [0, 0, 1])
    for y in (-0.15 * B, 0.15 * B):
        canvas.fill([f.at(_rect(0.41 * L, 0.43 * L, y - 1.0, y + 1.0), F)], windlass)


def _container_gear(canvas: Canvas, f: FacetShip) -> None:
    ship, rng = f.ship, f.rng
    L, B, F = ship.length_m, ship.beam_m, f.deck_m
    house_x = [(o[:, 0].min(), o[:, 0].max()) for o, _, _, _ in f.blocks] or [(0.0, 0.0)]
    rows = max(int(0.86 * B // CONTAINER_WIDTH_M), 1)
    y0 = -rows * CONTAINER_WIDTH_M / 2
    x = -0.38 * L
    while x < 0.34 * L:
        bay = FEU_M if rng.random() < 0.7 else TEU_M
        if any(lo - 1 < x + bay and x < hi + 1 for lo, hi in house_x) or x + bay > 0.34 * L:
            x += bay + 0.8
            continue
        if rng.random() > 0.1:
            tiers = int(rng.integers(1, CONTAINER_TIERS + 1))
            for r in range(rows):
                stack = tiers - int(rng.random() < 0.2)
                if stack <= 0:
                    continue
                cell = _rect(x, x + bay, y0 + r * CONTAINER_WIDTH_M + 0.05, y0 + (r + 1) * CONTAINER_WIDTH_M - 0.05)
                f.box(canvas, cell, F, F + stack * CONTAINER_TIER_M, _pick(rng, CONTAINER_PAINTS, jitter=0.12))
        x += bay + 0.8


def _bulk_gear(canvas: Canvas, f: FacetShip) -> None:
    ship, rng = f.ship, f.rng
    L, B, F = ship.length_m, ship.beam_m, f.deck_m
    holds = int(rng.integers(5, 10))
    xs = np.linspace(-0.3 * L, 0.34 * L, holds + 1)
    cover = _pick(rng, DECK_PAINTS * 1.2)
    for x0, x1 in zip(xs[:-1], xs[1:], strict=True):
        pitch = x1 - x0
        for y_lo, y_hi in ((-0.28 * B, -0.01 * B), (0.01 * B, 0.28 * B)):
            f.box(canvas, _rect(x0 + 0.12 * pitch, x1 - 0.12 * pitch, y_lo, y_hi), F, F + BULK_COAMING_M, cover)
    if rng.random() < 0.5:
        crane = _pick(rng, GEAR_PAINTS)
        for x in xs[1:-1:2]:
            foot = [x, 0.05 * B + 1.3]  # pedestals on one side of the centreline
            f.box(canvas, ellipse_points(foot, 1.2, 1.2, 0.0, n=10), F, F + BULK_CRANE_POST_M, crane)
            canvas.line(f.at([foot, [x + 0.5 * (xs[1] - xs[0]), 0.3 * B]], F + BULK_CRANE_POST_M),
                        f.light.shade(crane, [0, 0, 1]), width_px=0.8 / f.view.gsd_m)


def _tug_gear(canvas: Canvas, f: FacetShip) -> None:
    ship = f.ship
    fore = _inset(f, _line_half_m(f, 0.9) + 0.1)
    fore = fore[fore[:, 0] > 0.1 * ship.length_m]
    canvas.line(f.at(fore, f.deck_m), with_nir([0.06, 0.06, 0.06]), width_px=0.9 / f.view.gsd_m)
    winch = f.light.shade(f.paint["gear"], [0, 0, 1])
    canvas.fill([f.at(_rect(-0.4 * ship.length_m, -0.3 * ship.length_m, -0.15 * ship.beam_m,
                            0.15 * ship.beam_m), f.deck_m)], winch)


def _small_gear(canvas: Canvas, f: FacetShip) -> None:
    return None  # a small craft shows its hull and cabin


def _barge_gear(canvas: Canvas, f: FacetShip) -> None:
    ship, rng = f.ship, f.rng
    L, B, F = ship.length_m, ship.beam_m, f.deck_m
    hold = _rect(-0.4 * L, 0.4 * L, -0.32 * B, 0.32 * B)
    canvas.fill([f.at(hold, F)], f.light.shade(f.paint["deck"] * 0.45, [0, 0, 1]))
    if rng.random() < 0.6:
        cargo = _pick(rng, CARGO_PAINTS)
        heap = _rect(rng.uniform(-0.38, -0.1) * L, rng.uniform(0.1, 0.38) * L, -0.28 * B, 0.28 * B)
        f.box(canvas, heap, F, F + BARGE_CARGO_M, cargo)


_GEAR = {"tanker": _tanker_gear, "container": _container_gear, "bulk": _bulk_gear, "tug": _tug_gear,
         "small": _small_gear, "barge": _barge_gear}
