"""Oil tanks' roofs in the synthetic terminal: floating roofs at a known fill, fixed cone roofs, and
the stock they hold (docs/tanks.md).

Geometry (the pixel frame of :mod:`.physics`; heights in metres above the ground):

* A tank is a cylinder of radius ``r`` (pixels) and shell height ``H`` standing on its foot circle.
  Seen off-nadir, a point ``z`` metres up appears ``relief_shift_px(z)`` from its foot, so the rim
  (the shell's top edge, a ring ``RIM_M`` wide) is the foot circle moved by ``relief_shift_px(H)``.
* A floating roof is a deck on the liquid: at fill ``f`` (liquid height over shell height, 0..1) it
  lies ``(1 - f) * H`` metres below the rim and appears at ``relief_shift_px(f * H)``. What shows
  through the rim's opening is the deck where the near wall does not hide it, and otherwise the
  inside of the far wall (drawn at ``INNER_WALL`` of the shell colour).
* The rim shades the deck: a deck point is lit when the ray towards the sun from it passes through
  the rim's opening, i.e. the lit deck is the deck disc intersected with the rim disc moved by
  ``shadow_shift_px((1 - f) * H)`` (away from the sun, in deck coordinates). The dark crescent lies
  on the sun's side; measured through the centre along the sun's azimuth it is ``(1 - f) * H /
  tan(sun_elevation)`` metres wide, as the shell's shadow on the ground is ``H / tan(elevation)``
  long beyond the foot: their ratio gives the fill without the sun's angle or the height.
* A fixed roof is a shallow cone: no crescent, its sun-facing half a little brighter than the rest.

Roofs are drawn for each layout from a generator of their own (:func:`sample_roofs`, seeded by the
layout's seed), so adding them left every other random draw of scenes, series and tiles as it was.
Volumes: ``pi r^2 H f`` cubic metres, in barrels by :func:`tankerwatch.infer.runtime.tank_file.capacity_barrels`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from ..runtime.tank_file import Tank, capacity_barrels, write_tank_file
from ..runtime.tank_geometry import RIM_M
from .canvas import Canvas, sweep
from .physics import View, compass_to_pixel

FLOATING_SHARE = 0.7
# Floating roofs rest on their legs near the bottom and are not filled to the brim.
FILL_RANGE = (0.15, 0.9)
DECK = 0.85  # deck brightness, share of the shell colour
INNER_WALL = 0.6  # the inside of the far wall seen through the opening, share of the shell colour
WALL = 0.75  # the outside of the shell seen off-nadir
CONE_SHADED = 0.9  # a fixed cone roof's half turned from the sun, share of the shell colour
DECK_SHADOW = 0.45  # the crescent, share of the lit deck (the scene's shadow factor)


@dataclass(frozen=True)
class Roof:
    """A tank's roof: floating at ``fill`` (0..1 of the shell height), or fixed (``fill`` None)."""

    floating: bool
    fill: float | None = None


def sample_roofs(layout_seed: int, count: int) -> list[Roof]:
    """Roofs for ``count`` tanks: a share ``FLOATING_SHARE`` floating at fills uniform in
    ``FILL_RANGE``, the rest fixed."""
    rng = np.random.default_rng([layout_seed, 23])
    roofs = []
    for _ in range(count):
        floating, fill = rng.random() < FLOATING_SHARE, rng.uniform(*FILL_RANGE)
        roofs.append(Roof(True, float(fill)) if floating else Roof(False))
    return roofs


def circle_points(centre, radius: float) -> np.ndarray:
    """``[n, 2]`` points on a circle, dense enough (about one per 2 px of arc) that the inscribed
    polygon is within 1/(2 * radius) px of the true circle."""
    n = int(min(max(24, math.pi * radius), 720))
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.asarray(centre, dtype=np.float64) + radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def _fill(canvas: Canvas, geometry, colour) -> None:
    """Paint the polygons of a shapely geometry (an intersection may be empty, or a collection)."""
    parts = getattr(geometry, "geoms", [geometry])
    rings = [np.asarray(p.exterior.coords)[:-1] for p in parts if p.geom_type == "Polygon" and p.area > 0]
    if rings:
        canvas.fill(rings, colour)


def _half_disc(centre, radius: float, direction: np.ndarray) -> np.ndarray:
    """The half of a disc on the side ``direction`` (a unit vector) points to, as a polygon."""
    points = circle_points(centre, radius)
    return points[(points - centre) @ direction >= 0]


def draw_tank(canvas: Canvas, view: View, centre, radius: float, height_m: float, colour, roof: Roof | None) -> None:
    """Wall, rim and roof of one tank (its ground shadow is drawn beforehand, with the others')."""
    foot = circle_points(centre, radius)
    top = np.asarray(centre, dtype=np.float64) + view.relief_shift_px(height_m)
    canvas.fill([sweep(foot, view.relief_shift_px(height_m))], colour * WALL)
    canvas.fill([circle_points(top, radius)], colour)
    if roof is None or not roof.floating:
        canvas.fill([_half_disc(top, radius, -compass_to_pixel(view.sun_azimuth_deg))], colour * CONE_SHADED)
        return
    inner = radius - RIM_M / view.gsd_m
    if inner <= 0:
        return
    depth_m = (1.0 - roof.fill) * height_m
    deck_centre = np.asarray(centre, dtype=np.float64) + view.relief_shift_px(roof.fill * height_m)
    opening = shapely.Polygon(circle_points(top, inner))
    deck = shapely.Polygon(circle_points(deck_centre, inner)).intersection(opening)
    lit = deck.intersection(shapely.Polygon(circle_points(deck_centre + view.shadow_shift_px(depth_m), inner)))
    canvas.fill([circle_points(top, inner)], colour * INNER_WALL)
    _fill(canvas, deck, colour * DECK * DECK_SHADOW)
    _fill(canvas, lit, colour * DECK)


def tank_truth_path(scene_path: Path) -> Path:
    """``<stem>.tank-truth.geojson`` beside the scene (not ``*.truth.geojson``: those are vessels)."""
    return scene_path.with_name(scene_path.stem + ".tank-truth.geojson")


def truth_tanks(layout, roofs: list[Roof], gsd_m: float) -> list[Tank]:
    """The layout's tanks as drawn, in the tanks-file schema (exact fills, no interval)."""
    tanks = []
    for index, ((cx, cy, r, height_m, _), roof) in enumerate(zip(layout.tanks, roofs, strict=True)):
        fill = (roof.fill,) * 3 if roof.floating else None
        tanks.append(Tank(centre_px=(float(cx), float(cy)), radius_px=float(r), radius_m=float(r) * gsd_m,
                          roof="floating" if roof.floating else "fixed", fill=fill, height_m=float(height_m),
                          extra={"tank_id": index, "truth": True}))
    return tanks


def write_tank_truth(scene_path: Path, layout, roofs: list[Roof], view: View, size: int, crs, transform,
                     acquired: str | None) -> Path:
    """The tanks whose foot lies inside the ``size`` px scene, with their true fill and roof."""
    inside = [i for i, t in enumerate(layout.tanks) if 0 <= t[0] < size and 0 <= t[1] < size]
    kept = [truth_tanks(layout, roofs, view.gsd_m)[i] for i in inside]
    header = {"source": Path(scene_path).name, "acquired": acquired, "gsd_m": view.gsd_m,
              "angles": {"sun_elevation": round(view.sun_elevation_deg, 4), "sun_azimuth": round(view.sun_azimuth_deg, 4),
                         "view_zenith": round(view.view_zenith_deg, 4), "view_azimuth": round(view.view_azimuth_deg, 4)},
              "method": "truth"}
    return write_tank_file(tank_truth_path(Path(scene_path)), kept, header, crs, transform)


def terminal_flow_barrels(before: dict, after: dict) -> float:
    """Oil into the tank farm between two dates (negative: out): what tankers at its berths
    discharged minus what they loaded, from snapshots vessel id -> (ship, TankerSpec)."""
    flow = 0.0
    for vid, (_, spec) in before.items():
        if vid in after:
            later = after[vid][1]
            flow -= (later.draft_fraction - spec.draft_fraction) * spec.cargo_capacity_barrels()
    return flow


def move_stock(roofs: list[Roof], tanks: list, gsd_m: float, barrels: float) -> list[Roof]:
    """Roofs after ``barrels`` flowed into the farm (negative: drawn out): drawn from the fullest
    floating-roof tank first, down to the lowest fill, then the next; received into the emptiest
    first, up to the highest. The farm's stock changes by exactly ``barrels`` unless every tank is
    at its limit."""
    roofs = list(roofs)
    capacity = {i: capacity_barrels(t[2] * gsd_m, t[3]) for i, t in enumerate(tanks) if roofs[i].floating}
    left = barrels
    while abs(left) > 1e-6:
        if left < 0:
            movable = [i for i in capacity if roofs[i].fill > FILL_RANGE[0]]
            pick = max(movable, key=lambda i: roofs[i].fill, default=None)
        else:
            movable = [i for i in capacity if roofs[i].fill < FILL_RANGE[1]]
            pick = min(movable, key=lambda i: roofs[i].fill, default=None)
        if pick is None:
            break
        limit = FILL_RANGE[0] if left < 0 else FILL_RANGE[1]
        room = (limit - roofs[pick].fill) * capacity[pick]
        step = max(left, room) if left < 0 else min(left, room)
        roofs[pick] = Roof(True, float(roofs[pick].fill + step / capacity[pick]))
        left -= step
    return roofs
