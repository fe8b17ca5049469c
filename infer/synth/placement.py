"""Putting vessels into a layout: free in the water, alongside berths, or side by side (ship to ship).

A vessel is accepted only if its footprint (its label box, the hull as seen, with a shown bulbous
bow and its foam, see :mod:`.vessels`) lies wholly inside the image with a margin and clear of
land, quays, jetties and every vessel already placed. Nothing is ever cut by the image edge, so no
label is clipped or dropped. A berthed ship lies still (no wake, no foam). A ship rafted alongside
another (``beside``) need keep clear of every vessel but that one, which it may not touch.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from ..core.boxes import box_corners
from ..core.labels import LoadState
from .background import Berth, Layout
from .physics import PART_LOADED_SHARE, View, sample_tanker
from .vessels import DISTRACTOR_SIZES, Ship, ShipGeometry, make_ship, sample_distractor_kind

EDGE_MARGIN_PX = 3.0  # blur spreads a hull's edge about this far
CLEARANCE_M = 4.0
FENDER_GAP_M = (2.0, 5.0)  # pneumatic fenders hold rafted hulls this far apart at the waterline
MIN_VESSEL_PX = 4.0  # shorter than this, a vessel is not worth a label


class Placer:
    """Accepts ships whose boxes fit the image and collide with nothing placed before."""

    def __init__(self, layout: Layout, view: View, width: int, height: int):
        self.layout, self.view = layout, view
        self.width, self.height = width, height
        self.obstacles = layout.obstacles()
        shapely.prepare(self.obstacles)
        self.taken: list = []
        self.ships: list[Ship] = []
        self.rafts: list[tuple[Ship, Ship]] = []  # vessels placed side by side, for the truth (synth.sts)

    def water_point(self, rng: np.random.Generator, tries: int = 20) -> np.ndarray:
        """A random point of the image off land, quays and jetties (the last draw if ``tries`` all
        hit them); one draw when there is only water."""
        for _ in range(tries):
            point = random_water_point(rng, self.width, self.height)
            if not shapely.intersects_xy(self.obstacles, point[0], point[1]):
                break
        return point

    def footprint(self, ship: Ship):
        geom = ShipGeometry(ship, self.view)
        hull = shapely.Polygon(box_corners(geom.box()))
        bow = geom.bow_outlines()
        if bow:
            hull = shapely.union(hull, shapely.MultiPoint(np.concatenate(bow)).convex_hull)
        return hull, geom

    def try_add(self, ship: Ship, berthed: bool = False, beside: Ship | None = None) -> bool:
        poly, geom = self.footprint(ship)
        x0, y0, x1, y1 = poly.bounds
        if x0 < EDGE_MARGIN_PX or y0 < EDGE_MARGIN_PX or x1 > self.width - EDGE_MARGIN_PX or y1 > self.height - EDGE_MARGIN_PX:
            return False
        clear = poly.buffer(CLEARANCE_M / self.view.gsd_m)
        # A berthed ship lies against its quay and, off-nadir, its deck may appear over it:
        # only its waterline must stay in the water.
        on_water = shapely.Polygon(geom.waterline) if berthed else clear
        others = [t for t, s in zip(self.taken, self.ships, strict=True) if s is not beside]
        if beside is not None and poly.intersects(self.footprint(beside)[0]):
            return False
        if self.obstacles.intersects(on_water) or any(clear.intersects(t) for t in others):
            return False
        self.taken.append(poly)
        self.ships.append(ship)
        return True

    def try_raft(self, rng: np.random.Generator, host: Ship, partner: Ship, berthed: bool = False) -> bool:
        """Moor ``partner`` alongside ``host``, fendered (:func:`alongside`), and record the raft;
        False if it does not fit there. Only a rafted vessel may lie that close to another."""
        if not self.try_add(alongside(rng, host, partner, self.view), berthed=berthed, beside=host):
            return False
        self.rafts.append((host, partner))
        return True


def tanker_ship(rng: np.random.Generator, vessel_id: str, centre, heading: float, max_length_m: float,
                load: LoadState | None = None, moving: bool = False,
                part_loaded_share: float = PART_LOADED_SHARE) -> Ship:
    spec = sample_tanker(rng, max_length_m, load, part_loaded_share=part_loaded_share)
    return make_ship(rng, vessel_id, "tanker", centre, heading, tanker=spec, moving=moving)


def distractor_ship(rng: np.random.Generator, vessel_id: str, centre, heading: float, max_length_m: float,
                    gsd_m: float, moving: bool = False) -> Ship | None:
    """A non-tanker no longer than ``max_length_m`` and at least MIN_VESSEL_PX long (None if none fits)."""
    min_length = MIN_VESSEL_PX * gsd_m
    kind = sample_distractor_kind(rng, max_length_m)
    if kind is None:
        return None
    lo, hi = DISTRACTOR_SIZES[kind][0]
    lo, hi = max(lo, min_length), min(hi, max_length_m)
    if lo > hi:
        return None
    return make_ship(rng, vessel_id, kind, centre, heading, length_m=rng.uniform(lo, hi), moving=moving)


def at_berth(ship: Ship, berth: Berth, view: View, flip: bool) -> Ship:
    """Move ``ship`` alongside ``berth`` (fenders: 2 m off the edge), bow either way; it lies still."""
    ship.berthed, ship.moving = True, False
    offset = (ship.beam_m / 2 + 2.0) / view.gsd_m
    ship.centre = berth.centre + berth.seaward * offset
    ship.heading = float((berth.heading + (math.pi if flip else 0.0)) % (2 * math.pi))
    return ship


def alongside(rng: np.random.Generator, first: Ship, partner: Ship, view: View,
              gap_m: tuple[float, float] = FENDER_GAP_M) -> Ship:
    """Put ``partner`` parallel to ``first``, hulls ``gap_m`` (a range, metres) apart at the
    waterline (fenders: a ship-to-ship transfer), either side, bows either way."""
    gap = (first.beam_m + partner.beam_m) / 2 + rng.uniform(*gap_m)
    side = 1.0 if rng.random() < 0.5 else -1.0
    normal = np.array([-math.sin(first.heading), math.cos(first.heading)])
    along = np.array([math.cos(first.heading), math.sin(first.heading)])
    partner.centre = first.centre + (side * gap * normal + rng.uniform(-0.15, 0.15) * first.length_m * along) / view.gsd_m
    partner.heading = float((first.heading + (math.pi if rng.random() < 0.5 else 0.0)) % (2 * math.pi))
    return partner


def random_water_point(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    return np.array([rng.uniform(0, width), rng.uniform(0, height)])
