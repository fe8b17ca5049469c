"""What a hull's shadow falls on: the water, or a quay, jetty or shore standing above it, or another hull.

The shadow on the water is the freeboard times cot(sun elevation) times |sin(sun azimuth - hull
azimuth)| wide (docs/physics.md). Beside a quay or a jetty head it may fall on the structure's deck
instead, which stands :data:`QUAY_DECK_HEIGHT_M` above the water: only the hull above that height
casts it there, so it is shorter by the deck's height times the same factor, and it is a strip of
darker concrete, not of darker water. Its width tells the freeboard only to one who knows how high
that deck stands, which a picture does not say. Where the shadow reaches a neighbouring hull, part
lies on that hull's deck and part is hidden under it. Either way the part left on the water ends at
the structure's or the hull's side, as wide as the gap whatever the freeboard. None of it can be
read as freeboard, so a label names the surface (:func:`shadow_surfaces`: one of
:data:`~tankerwatch.infer.core.labels.SHADOW_SURFACES`) and training teaches the load stage to say
that it cannot measure such a shadow (``train/losses.py``), rather than read the concrete as a
narrow shadow and the hull as laden.

:func:`shadow_grounds` splits a canvas into the surfaces a shadow is drawn on, each with its height,
for the hull styles' ``draw_shadow``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from .background import Layout
from .canvas import Canvas, sweep
from .physics import View
from .vessels import Ship, ShipGeometry

# Height of a quay's, a jetty head's and the shore's top above the water (metres): an assumed
# typical tanker berth (docs/physics.md), one figure for every structure of a terminal.
QUAY_DECK_HEIGHT_M = 3.0
# A shadow is labelled as lying on a structure or a hull when at least this share of its visible
# strip beside the midbody does. Any real share is enough: the part left on the water ends at the
# quay's or the neighbour's side, so its width is the gap's, not the freeboard's (at the share of
# one half such shadows taught widths the picture does not show: docs/experiments.md,
# 2026-12-05 (late night)). Not zero, so a hull at an angle to a quay whose strip grazes a corner
# keeps its reading.
OFF_WATER_SHARE = 0.1
# The middle of the hull the load stage reads (``models/hull_profile.py``: PROFILE_ALONG_SPAN), as
# a share of its length.
MIDBODY_SHARE = 0.6


@dataclass(frozen=True)
class ShadowGround:
    """A surface shadows fall on: ``height_m`` above the water, covering the share ``where``
    ``[H, W]`` (0..1) of each canvas pixel, or every pixel when None."""

    height_m: float
    where: np.ndarray | None = None


def shadow_grounds(canvas: Canvas, layout: Layout) -> tuple[ShadowGround, ...]:
    """The water and, where the canvas shows any, the structures' tops (land, quays, jetties), which
    together cover every pixel once."""
    raised = np.zeros((canvas.height, canvas.width), np.float32)
    for polygon in layout.land + layout.quays:
        # One polygon at a time: structures overlap (a quay on the shore), and a single fill of
        # overlapping polygons leaves their overlap out.
        got = canvas.coverage([polygon])
        if got is not None:
            cover, (rows, cols) = got
            np.maximum(raised[rows, cols], cover, out=raised[rows, cols])
    if not raised.any():
        return (ShadowGround(0.0),)
    return ShadowGround(0.0, 1.0 - raised), ShadowGround(QUAY_DECK_HEIGHT_M, raised)


def _hull_as_seen(geometry: ShipGeometry) -> shapely.Geometry:
    return shapely.convex_hull(shapely.MultiPoint(geometry.body_points()))


def shadow_surfaces(ships: list[Ship], view: View, layout: Layout) -> list[str]:
    """Per ship, the surface its shadow lies on beside the midbody: ``structure`` or ``vessel`` where
    at least :data:`OFF_WATER_SHARE` of the visible strip (the shadow at water level less the hull
    as seen) lies on land, a quay or jetty, or another hull as seen, else ``water`` (also for a hull
    that throws no shadow there). Pixel frame of ``layout``."""
    geometries = [ShipGeometry(ship, view) for ship in ships]
    hulls = [_hull_as_seen(g) for g in geometries]
    # Every hull, its own included: the visible strip already leaves its own hull out.
    vessels = shapely.union_all(hulls)
    structures = layout.obstacles()
    surfaces = []
    for index, (ship, g) in enumerate(zip(ships, geometries, strict=True)):
        if g.shadow_height_m <= 0:
            surfaces.append("water")
            continue
        strip = shapely.Polygon(sweep(g.waterline, view.shadow_shift_px(g.shadow_height_m))).difference(hulls[index])
        half_length, reach = MIDBODY_SHARE * ship.length_m / 2, 10 * ship.beam_m
        band = shapely.Polygon(g.to_px([[half_length, -reach], [half_length, reach],
                                        [-half_length, reach], [-half_length, -reach]]))
        visible = strip.intersection(band)
        if visible.area <= 1e-9:
            surfaces.append("water")
            continue
        shares = {"structure": visible.intersection(structures).area / visible.area,
                  "vessel": visible.intersection(vessels).area / visible.area}
        surface = max(shares, key=shares.get)
        surfaces.append(surface if shares[surface] >= OFF_WATER_SHARE else "water")
    return surfaces
