"""Water and land of a port: the layout (where things are) and how a window of it is drawn.

A :class:`Layout` is a list of objects in whole-image pixels, made once per image or scene from a
seed, so any window can be drawn on its own (see :mod:`synth_canvas`). Sizes are chosen in metres
and converted with the GSD, so a tank farm looks the same size at 0.5 m and at 10 m per pixel.

* Water: a base colour (open sea, green coastal, turbid harbour, dark), slow colour variation
  (features of about 600 m), wave texture (about 4 m), and sun glint whose strength follows the
  view: strongest when the sensor sits near the sun's mirror direction (azimuth sun + 180 degrees,
  zenith 90 degrees - sun elevation).
* Land: soil, concrete and vegetation mixed by noise (vegetation is bright in NIR); roads; a quay
  along part of the shore and jetties with T-heads reaching into the water, with pipelines; an
  oil tank farm of round tanks (12-40 m radius, 12-22 m high) inside bund walls, their roofs
  floating at a known fill or fixed (``Layout.roofs``, :mod:`.floating_roofs`), and buildings
  (5-25 m high). Tanks and buildings lean off-nadir and cast shadows like vessels do.
* Berths: places alongside the quay and the jetty heads where a vessel may lie, with their
  heading and free length.

Scenes and series get one terminal with the shore to the north, like Vostochny's. Tiles get open
water or a window onto a terminal laid out at full scale (kilometres across, turned to a random
direction) around them: :meth:`Layout.window` cuts the part a tile sees and moves it into the
tile's own pixel frame, so jetties, quays and tanks keep their true size at every GSD. The layout
also notes where its structures are (``jetties``, ``quay_fronts``, ``coast``, ``seaward``) so a
window can be aimed at them; these notes are never drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely

from .canvas import Canvas, fractal_noise, sweep, value_noise
from .floating_roofs import circle_points, draw_tank, sample_roofs
from .physics import View
from .vessels import with_nir

WATER_COLOURS = np.array([
    [0.08, 0.14, 0.21, 0.015], [0.09, 0.17, 0.18, 0.02], [0.16, 0.18, 0.14, 0.04], [0.06, 0.09, 0.12, 0.01],
    [0.11, 0.19, 0.23, 0.02],
])
SOIL = (0.42, 0.38, 0.32, 0.40)
CONCRETE = (0.60, 0.59, 0.56, 0.55)
VEGETATION = (0.16, 0.24, 0.12, 0.55)
ASPHALT = (0.20, 0.20, 0.21, 0.20)
TANK_ROOFS = np.array([[0.82, 0.82, 0.80], [0.68, 0.69, 0.68], [0.55, 0.56, 0.55], [0.75, 0.72, 0.62]])
ROOF_COLOURS = np.array([[0.55, 0.55, 0.55], [0.70, 0.70, 0.68], [0.45, 0.30, 0.25], [0.30, 0.40, 0.50],
                         [0.85, 0.85, 0.84], [0.35, 0.36, 0.38]])
PIPE = (0.70, 0.70, 0.66, 0.6)
SHADOW_FACTOR = 0.45


@dataclass
class Berth:
    """Where a vessel may lie: centre (pixels), heading (radians, pixel frame), free length (m),
    and the side (unit vector, pixels) on which the water is."""

    centre: np.ndarray
    heading: float
    max_length_m: float
    seaward: np.ndarray


@dataclass
class Layout:
    width: int
    height: int
    gsd_m: float
    seed: int
    water: np.ndarray
    land: list = field(default_factory=list)  # polygons [M, 2]
    quays: list = field(default_factory=list)  # polygons (concrete, at the water's edge)
    roads: list = field(default_factory=list)  # (polyline [M, 2], width m)
    pipelines: list = field(default_factory=list)  # polylines
    bunds: list = field(default_factory=list)  # polygons
    tanks: list = field(default_factory=list)  # (cx, cy, radius px, height m, roof colour)
    roofs: list = field(default_factory=list)  # floating_roofs.Roof per tank, in the order of tanks
    buildings: list = field(default_factory=list)  # (polygon, height m, roof colour)
    berths: list = field(default_factory=list)
    glint: float = 0.0
    # Where the structures are, for aiming a window at them (not drawn): (trestle, head) polygons
    # of each jetty, the seaward edge [2, 2] of each quay, the coastline, and the unit vector
    # pointing from land to water.
    jetties: list = field(default_factory=list)
    quay_fronts: list = field(default_factory=list)
    coast: np.ndarray | None = None
    seaward: np.ndarray | None = None

    def obstacles(self):
        """Union of everything a vessel may not overlap (land, quays, jetties), as a shapely geometry."""
        polys = [shapely.Polygon(p) for p in self.land + self.quays]
        return shapely.union_all(polys) if polys else shapely.Polygon()

    def window(self, x0: int, y0: int, width: int, height: int, margin_m: float = 250.0) -> Layout:
        """The part of this layout a ``width`` x ``height`` window at ``(x0, y0)`` sees, in the
        window's own pixel frame (everything moved by ``-(x0, y0)``).

        Objects farther than ``margin_m`` from the window are dropped (no shadow or lean reaches
        that far; land and quays are kept whole when they touch the window); berths are kept only
        when their centre lies inside it. Colours, texture seed and glint are the layout's."""
        shift = np.array([x0, y0], dtype=np.float64)
        reach = margin_m / self.gsd_m
        lo, hi = shift - reach, shift + [width + reach, height + reach]

        def near(points, pad: float = 0.0) -> bool:
            p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            return bool((p.max(axis=0) >= lo - pad).all() and (p.min(axis=0) <= hi + pad).all())

        def moved(points) -> np.ndarray:
            return np.asarray(points, dtype=np.float64) - shift

        out = Layout(width, height, self.gsd_m, self.seed, self.water.copy(), glint=self.glint,
                     seaward=None if self.seaward is None else self.seaward.copy())
        out.land = [moved(p) for p in self.land if near(p)]
        out.quays = [moved(p) for p in self.quays if near(p)]
        out.roads = [(moved(p), w) for p, w in self.roads if near(p)]
        out.pipelines = [moved(p) for p in self.pipelines if near(p)]
        out.bunds = [moved(p) for p in self.bunds if near(p)]
        kept = [i for i, (cx, cy, r, _, _) in enumerate(self.tanks) if near([cx, cy], r)]
        out.tanks = [(cx - x0, cy - y0, r, h, roof) for cx, cy, r, h, roof in (self.tanks[i] for i in kept)]
        out.roofs = [self.roofs[i] for i in kept] if self.roofs else []
        out.buildings = [(moved(p), h, roof) for p, h, roof in self.buildings if near(p)]
        out.berths = [Berth(b.centre - shift, b.heading, b.max_length_m, b.seaward.copy()) for b in self.berths
                      if x0 <= b.centre[0] <= x0 + width and y0 <= b.centre[1] <= y0 + height]
        out.jetties = [(moved(t), moved(h)) for t, h in self.jetties if near(np.concatenate([t, h]))]
        out.quay_fronts = [moved(q) for q in self.quay_fronts if near(q)]
        out.coast = None if self.coast is None else moved(self.coast)
        return out


def glint_strength(view: View) -> float:
    """Sun glint opacity (0-0.5): highest when the sensor sits in the sun's mirror direction."""
    mirror_az = (view.sun_azimuth_deg + 180.0) % 360.0
    d_az = (view.view_azimuth_deg - mirror_az + 180.0) % 360.0 - 180.0
    d_zen = view.view_zenith_deg - (90.0 - view.sun_elevation_deg)
    if view.view_zenith_deg < 1.0:
        d_az = 0.0  # at nadir the azimuth means nothing
    return 0.5 * math.exp(-(d_az / 50.0) ** 2) * math.exp(-(d_zen / 18.0) ** 2)


def open_water(rng: np.random.Generator, width: int, height: int, view: View) -> Layout:
    """A layout of water only (an anchorage or open sea)."""
    return Layout(width, height, view.gsd_m, int(rng.integers(2**31)), _water_colour(rng),
                  glint=glint_strength(view) + rng.uniform(0, 0.08))


def _water_colour(rng: np.random.Generator) -> np.ndarray:
    return WATER_COLOURS[rng.integers(len(WATER_COLOURS))] * rng.uniform(0.85, 1.15, 4)


def terminal(rng: np.random.Generator, width: int, height: int, view: View, rotation: float = 0.0,
             shore_depth: float | None = None, farm_setback_m: float = 120.0) -> Layout:
    """A stretch of shore with a terminal; land on the image's top side before ``rotation``
    (radians, about the image centre). ``shore_depth``: share of the height that is land;
    ``farm_setback_m``: how far the tank farm's front row lies behind the coast's most landward
    point (the road runs in between)."""
    gsd = view.gsd_m
    layout = open_water(rng, width, height, view)
    centre = np.array([width / 2, height / 2])
    span = math.hypot(width, height)  # canonical frame: a square of this side about the centre
    top = centre[1] - span / 2
    x_lo, x_hi = centre[0] - span / 2, centre[0] + span / 2
    depth = (rng.uniform(0.2, 0.45) if shore_depth is None else shore_depth) * height
    shore_y = centre[1] - height / 2 + depth
    xs = np.linspace(x_lo, x_hi, 64)
    wiggle = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * k * (xs - x_lo) / span * rng.uniform(0.7, 1.3)
                                                       + rng.uniform(0, 2 * np.pi)) for k in range(1, 5))
    coast = np.stack([xs, shore_y + wiggle * rng.uniform(20, 80) / gsd], axis=1)
    land = np.concatenate([[[x_lo, top]], coast, [[x_hi, top]]])
    rot = _rotation(rotation, centre)
    layout.land.append(rot(land))
    layout.coast = rot(coast)
    layout.seaward = rot.direction(np.array([0.0, 1.0]))

    # A straight quay along part of the shore, pushed out to the coastline's lowest point there.
    quay_len = min(rng.uniform(400, 1200) / gsd, span * 0.6)
    q0 = rng.uniform(x_lo + span * 0.15, x_hi - span * 0.15 - quay_len)
    in_quay = (coast[:, 0] >= q0 - 50 / gsd) & (coast[:, 0] <= q0 + quay_len + 50 / gsd)
    quay_edge = (coast[in_quay, 1].max() if in_quay.any() else shore_y) + 10 / gsd
    layout.quays.append(rot(np.array([[q0, quay_edge], [q0 + quay_len, quay_edge],
                                      [q0 + quay_len, quay_edge - 80 / gsd], [q0, quay_edge - 80 / gsd]])))
    layout.quay_fronts.append(rot(np.array([[q0, quay_edge], [q0 + quay_len, quay_edge]])))
    for x in np.arange(q0 + 150 / gsd, q0 + quay_len - 150 / gsd, 300 / gsd):
        layout.berths.append(Berth(rot(np.array([[x, quay_edge]]))[0], rotation, 280.0,
                                   rot.direction(np.array([0.0, 1.0]))))

    # Jetties with T-heads, clear of the quay.
    jetty_xs = [x for x in np.linspace(x_lo + span * 0.1, x_hi - span * 0.1, 6)[1:-1]
                if not (q0 - 200 / gsd < x < q0 + quay_len + 200 / gsd)]
    for x in jetty_xs[: int(rng.integers(1, 4))]:
        x += rng.uniform(-60, 60) / gsd
        root = np.interp(x, coast[:, 0], coast[:, 1]) - 20 / gsd
        reach = rng.uniform(250, 600) / gsd
        half_w = rng.uniform(5, 9) / gsd
        head_half = rng.uniform(100, 190) / gsd
        head_w = rng.uniform(18, 30) / gsd
        y_head = root + reach
        trestle = np.array([[x - half_w, root], [x + half_w, root], [x + half_w, y_head], [x - half_w, y_head]])
        head = np.array([[x - head_half, y_head], [x + head_half, y_head], [x + head_half, y_head + head_w],
                         [x - head_half, y_head + head_w]])
        layout.quays += [rot(trestle), rot(head)]
        layout.jetties.append((rot(trestle), rot(head)))
        layout.pipelines.append(rot(np.array([[x - half_w * 0.4, root - 200 / gsd], [x - half_w * 0.4, y_head]])))
        layout.pipelines.append(rot(np.array([[x + half_w * 0.3, root - 200 / gsd], [x + half_w * 0.3, y_head]])))
        free = 2 * head_half * gsd * 1.6  # a tanker may overhang the head; mooring dolphins take the lines
        layout.berths.append(Berth(rot(np.array([[x, y_head + head_w]]))[0], rotation, free,
                                   rot.direction(np.array([0.0, 1.0]))))
        layout.berths.append(Berth(rot(np.array([[x, y_head]]))[0], rotation, free,
                                   rot.direction(np.array([0.0, -1.0]))))

    # Tank farm, buildings and roads on land, behind the shore.
    land_poly = shapely.Polygon(land)
    farm_w = min(rng.uniform(400, 1200) / gsd, span * 0.5)
    farm_h = min(rng.uniform(250, 600) / gsd, max(depth - 150 / gsd, 0))
    fx0 = rng.uniform(x_lo + span * 0.2, x_hi - span * 0.2 - farm_w)
    fy1 = min(coast[:, 1].min(), shore_y) - farm_setback_m / gsd
    radius_m = rng.uniform(12, 40)
    pitch = 2.7 * radius_m / gsd
    tank_height = rng.uniform(12, 22)
    bund_cells = max(int(rng.integers(2, 4)), 1)
    for gy, y in enumerate(np.arange(fy1 - pitch / 2, fy1 - farm_h, -pitch)):
        for gx, x in enumerate(np.arange(fx0 + pitch / 2, fx0 + farm_w, pitch)):
            if rng.random() < 0.12 or not land_poly.contains(shapely.Point(x, y)):
                continue
            r = radius_m / gsd * rng.uniform(0.85, 1.1)
            layout.tanks.append((*rot(np.array([[x, y]]))[0], r, tank_height * rng.uniform(0.8, 1.1),
                                 with_nir(TANK_ROOFS[rng.integers(len(TANK_ROOFS))])))
            if gx % bund_cells == 0 and gy % bund_cells == 0:
                b = pitch * bund_cells
                layout.bunds.append(rot(np.array([[x - pitch / 2, y + pitch / 2], [x - pitch / 2 + b, y + pitch / 2],
                                                  [x - pitch / 2 + b, y + pitch / 2 - b],
                                                  [x - pitch / 2, y + pitch / 2 - b]])))
    layout.roofs = sample_roofs(layout.seed, len(layout.tanks))
    for _ in range(int(rng.integers(10, 40))):
        x, y = rng.uniform(x_lo, x_hi), rng.uniform(top, shore_y)
        w, h = rng.uniform(10, 80) / gsd, rng.uniform(10, 50) / gsd
        rect = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
        if land_poly.contains(shapely.Polygon(rect).buffer(30 / gsd)):
            layout.buildings.append((rot(rect), rng.uniform(5, 25),
                                     with_nir(ROOF_COLOURS[rng.integers(len(ROOF_COLOURS))])))
    road_y = fy1 + min(60.0, farm_setback_m / 2) / gsd
    layout.roads.append((rot(np.array([[x_lo, road_y], [x_hi, road_y + rng.uniform(-100, 100) / gsd]])), 12.0))
    layout.roads.append((rot(np.array([[q0 + quay_len / 2, quay_edge - 40 / gsd], [q0 + quay_len / 2, top]])), 9.0))
    layout.pipelines.append(rot(np.array([[fx0, fy1], [x_hi, fy1 + 20 / gsd]])))
    return layout


class _rotation:
    """Rotate canonical-frame points by ``angle`` about ``centre``."""

    def __init__(self, angle: float, centre: np.ndarray):
        c, s = math.cos(angle), math.sin(angle)
        self.matrix = np.array([[c, -s], [s, c]])
        self.centre = centre

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.centre) @ self.matrix.T + self.centre

    def direction(self, vector: np.ndarray) -> np.ndarray:
        return self.matrix @ vector


def draw_background(canvas: Canvas, layout: Layout, view: View, rng: np.random.Generator) -> None:
    """Water, land and every land object of ``layout`` in the canvas window.

    ``rng`` feeds only pixel-scale noise (not coherent across windows, and need not be)."""
    h, w = canvas.height, canvas.width
    gsd = layout.gsd_m
    seed = layout.seed
    swell = fractal_noise(seed + 1, canvas.origin, h, w, 600 / gsd, octaves=3)
    tone = 0.82 + 0.36 * swell
    canvas.pixels[:] = layout.water[: canvas.channels] * tone[..., None]
    wave_cell = 4.0 / gsd
    if wave_cell >= 2.0:
        waves = value_noise(seed + 2, canvas.origin, h, w, wave_cell) - 0.5
    else:
        waves = rng.random((h, w), dtype=np.float32) - 0.5
    canvas.pixels *= (1 + 0.25 * waves)[..., None]
    if layout.glint > 0.01:
        # Facets of a few metres catch the sun; below two pixels they blur into a sheen.
        facet_cell = 3.0 / gsd
        sparkle = (value_noise(seed + 3, canvas.origin, h, w, facet_cell) if facet_cell >= 2.0
                   else np.full((h, w), 0.75, dtype=np.float32))
        region = fractal_noise(seed + 4, canvas.origin, h, w, 800 / gsd, octaves=1)
        glint = np.clip((sparkle - 0.6) * 3, 0, 1) * layout.glint * region
        canvas.blend_field((0.95, 0.95, 0.93, 0.3), glint)

    if layout.land:
        _fill_textured(canvas, layout.land, lambda origin, h, w: _ground(seed, origin, h, w, gsd), supersample=1)
    for polyline, width_m in layout.roads:
        canvas.line(polyline, ASPHALT, width_px=width_m / gsd)
    if layout.quays:
        _fill_textured(canvas, layout.quays, lambda origin, h, w: _concrete(seed, origin, h, w, gsd))
    for poly in layout.bunds:
        canvas.line(np.concatenate([poly, poly[:1]]), (0.55, 0.52, 0.45, 0.5), width_px=max(3 / gsd, 0.5))
    for line in layout.pipelines:
        canvas.line(line, PIPE, width_px=1.2 / gsd)
    _draw_raised(canvas, layout, view)


def _fill_textured(canvas: Canvas, polygons, texture, supersample: int = 4) -> None:
    """Paint the union of ``polygons`` with ``texture(origin, h, w) -> [h, w, 4]`` colours."""
    got = canvas.coverage(polygons, supersample=supersample)
    if got is None:
        return
    cover, (rows, cols) = got
    colours = texture(canvas.origin + [cols.start, rows.start], *cover.shape)[..., : canvas.channels]
    region = canvas.pixels[rows, cols]
    region += (colours - region) * cover[..., None]


def _ground(seed: int, origin, h: int, w: int, gsd: float) -> np.ndarray:
    """Soil with patches of vegetation (features about 300 m) and grit (about 40 m)."""
    mix = fractal_noise(seed + 5, origin, h, w, 300 / gsd, octaves=3)
    grit = fractal_noise(seed + 6, origin, h, w, 40 / gsd, octaves=2)
    veg = np.clip((mix - 0.55) * 5, 0, 1)[..., None]
    ground = np.asarray(SOIL, np.float32) * (1 - veg) + np.asarray(VEGETATION, np.float32) * veg
    return ground * (0.8 + 0.4 * grit)[..., None]


def _concrete(seed: int, origin, h: int, w: int, gsd: float) -> np.ndarray:
    """Concrete weathered in patches (about 15 m) with darker stains (about 60 m)."""
    patches = fractal_noise(seed + 8, origin, h, w, 15 / gsd, octaves=2)
    stains = fractal_noise(seed + 9, origin, h, w, 60 / gsd, octaves=1)
    shade = 0.86 + 0.16 * patches - 0.12 * np.clip((stains - 0.6) * 4, 0, 1)
    return np.asarray(CONCRETE, np.float32) * shade[..., None]


def _draw_raised(canvas: Canvas, layout: Layout, view: View) -> None:
    """Buildings and tanks: shadows first, then walls (off-nadir) and roofs."""
    margin = 200 / layout.gsd_m
    visible_buildings = [b for b in layout.buildings if canvas.overlaps(b[0], margin=margin)]
    roofs = layout.roofs or [None] * len(layout.tanks)
    visible_tanks = [(t, roof) for t, roof in zip(layout.tanks, roofs, strict=True)
                     if canvas.overlaps(np.array([t[:2]]), margin=t[2] + margin)]
    for poly, height_m, _ in visible_buildings:
        canvas.shade([sweep(poly, view.shadow_shift_px(height_m))], SHADOW_FACTOR)
    for (cx, cy, r, height_m, _), _ in visible_tanks:
        canvas.shade([sweep(circle_points((cx, cy), r), view.shadow_shift_px(height_m))], SHADOW_FACTOR)
    for poly, height_m, roof in visible_buildings:
        shift = view.relief_shift_px(height_m)
        canvas.fill([sweep(poly, shift)], roof * 0.7)
        canvas.fill([poly + shift], roof)
    for (cx, cy, r, height_m, colour), roof in visible_tanks:
        draw_tank(canvas, view, (cx, cy), r, height_m, colour, roof)
