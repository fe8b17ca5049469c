"""Synthetic training tiles: ``OUT/{train,val,test}/`` in a label format, ``manifest.json`` and a README.

Each tile is drawn from its own generator seeded by ``(seed, index)``, so tile *i* is the same
whatever ``--count`` or ``--threads``. Splits are contiguous index ranges (the last ``n_test``
tiles are test, the ``n_val`` before them val, ``n_val = n_test = max(2, round(count / 10))``).
Every tile holds at least one tanker and one distractor; the first tanker of even tiles is empty
and of odd tiles loaded, so each split (two or more consecutive tiles) has both load states.
Further tankers are empty or loaded at even odds.

GSD: by default 80 % of tiles are log-uniform in 0.5-3 m (where the load-state cue is in the
pixels, docs/physics.md) and 20 % in 3-10 m (PlanetScope to Sentinel-2, where it is not, so a model
learns to say "uncertain" there); ``--gsd A:B`` draws log-uniform in [A, B] instead. A tile must
fit a 60 m tanker in 80 % of its side, so the lowest GSD used is ``max(A, 75 m / size)``; B may
not exceed 15 m (a 60 m tanker would be under 4 pixels).

Backgrounds: open water, or a window onto a terminal (55 % of tiles at least 500 m across, half of
finer ones, where load state shows and analysts work). A terminal tile lays out a whole terminal
(:func:`.background.terminal`: quay, jetty trestles with T-head berths, tank farm, buildings)
at full scale, 2-3.5 km across and at least 1.6 tile sides, turned to a random direction, and aims
the tile at a jetty trestle, a berth, the quay or the shore-side edge of the tank farm, sliding
the window seaward until it holds water enough for the free vessels (else another aim, another
terminal, and finally open water). Only the window is drawn (:meth:`Layout.window`), so trestles,
quays and tanks keep their true size at every GSD. Berths inside the window get a vessel about
two times in three, no longer than fits the tile, and a window aimed at the quay gets a berth at
that point (a quay takes a vessel anywhere along it). The required tanker of a terminal tile lies
at a berth in view four times in five (``BERTHED_FIRST_TANKER_SHARE``, where one fits it), as
tankers at a terminal do, its shadow falling on the quay or the jetty head as often as on water;
otherwise it and the required distractor lie free in the water. Structures are background: only
vessels are labelled. The manifest records ``scene`` (``terminal`` or ``open water``) and
``background`` (the aim, the structures in view, the land share).

Views: most tiles draw sun and sensor geometry as scenes do (``physics.sample_view``); a
share (``GLINT_VIEW_SHARE``) turns the sensor towards the sun's mirror direction, where the water
glitters. Random geometry makes strong glint rare (3 % of tiles), yet an archive holds whole
scenes of it, and a detector that never saw it takes the sparkle for small hulls.

Tankers: the first of each tile as above, the rest at even odds; a third of all tankers
(``TILE_PART_LOADED_SHARE``) get a draft fraction anywhere in their state's range, the others near
ballast or near laden (:func:`.physics.sample_draft_fraction`), so part-loaded hulls are common.

Rafts: in ``RAFT_SHARE`` of tiles a vessel is moored alongside one of the tankers lying still,
fendered 2-5 m off (:func:`.placement.alongside`), on whichever side has room: a tanker no more than
1.3 times the host's length (a ship-to-ship transfer) or a smaller vessel (a bunker barge, a tug);
outboard of a berthed tanker it is double-banked, berthed too. A detector that seldom sees two
hulls that close boxes them as one or finds one of them (docs/sts.md).

Cues: ``TileSettings.cues`` names the load-state cues drawn on tankers (:data:`.physics.CUES`;
default all). Every random draw is made before drawing, so the same seed with another cue set gives
the same tiles and labels, differing only round the tankers' hulls (counterfactual renders).

Manifest: per tile the view (``gsd_m``; ``sun_elevation_deg``, ``sun_azimuth_deg``,
``view_zenith_deg``, ``view_azimuth_deg`` in degrees, azimuths clockwise from north, tiles being
north-up; ``view_azimuth_deg`` points from the ground to the sensor), and per vessel its physics:
``freeboard_m`` and, as drawn, ``shadow_width_m`` and ``side_strip_m`` (metres, 0 for a switched-off
cue), ``shadow_surface`` (what that shadow lies on beside the midbody: ``water``, ``structure`` or
``vessel``, :mod:`.shadow_ground`; tankers' labels carry it too), ``moving`` (under way) and
``berthed``, for tankers also ``draft_fraction`` and ``bulb_drawn``.

Looks: each tile is drawn in one hull style, chosen uniformly from ``TileSettings.hull_styles``
(default all of :data:`.hull_styles.HULL_STYLES`: ``default`` and ``facet``), under randomised
sensor optics of its own (:class:`.effects.Optics`: point-spread function, pan-sharpening fringes,
sharpening). Both come from random streams of their own, so a seed gives the same vessels, views,
labels and optics whatever styles are allowed: datasets drawn with ``--styles default`` and
``--styles facet`` differ only in how the vessels look. The manifest records ``hull_style`` and
``atmosphere.optics`` per tile. ``TileSettings.sensor`` ``ideal`` draws the same tiles through a
perfect sensor instead: no haze, clouds, blur, noise, sharpening or JPEG, each pixel the exact
share of what covers it (a benchmark aid: what a reader of the pixels loses to the sensor).

Images: 3-band 8-bit PNG by default (two in five passed through JPEG at quality 45-95 first,
for its artefacts); ``bands=4``
(adds NIR) or ``dtype=uint16`` (reflectance x 10,000) write a GeoTIFF placed near Vostochny in
EPSG:32653 with a pixel size of the tile's GSD, the angles in its GDAL metadata
(:meth:`.physics.View.gdal_tags`).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import shutil
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import shapely
from affine import Affine

from .. import __version__
from ..core.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from ..core.errors import ConfigError
from ..core.labels import ANGLE_KEYS, LabelledImage, LoadState
from ..formats.dataset import write_splits
from .background import Berth, Layout, open_water, terminal
from .canvas import Canvas
from .effects import (
    brightness_to_uint8,
    brightness_to_uint16,
    jpeg_roundtrip,
    sample_atmosphere,
    sample_optics,
)
from .hull_styles import HULL_STYLES
from .physics import (
    ALL_CUES,
    MIN_TANKER_LENGTH_M,
    NEAR_NADIR_DEG,
    VIEW_ZENITH_DEG,
    View,
    cue_names,
    sample_view,
)
from .placement import (
    EDGE_MARGIN_PX,
    Placer,
    at_berth,
    distractor_ship,
    tanker_ship,
)
from .render import draw_world
from .shadow_ground import shadow_surfaces
from .vessels import Ship, ShipGeometry, to_label

DEFAULT_GSD_BANDS = (((0.5, 3.0), 0.8), ((3.0, 10.0), 0.2))
MIN_COUNT = 6
MIN_SIZE = 64
MAX_SIZE = 8192
GLINT_VIEW_SHARE = 0.2
GLINT_AZIMUTH_SPREAD_DEG = 30.0  # sensor azimuth within this of the sun's mirror direction
GLINT_ZENITH_SPREAD_DEG = 10.0  # sensor zenith within this of the mirror's, clipped to the sensor's range
FILL_SHARE = 0.8  # the longest vessel may take this share of the tile's side
MAX_TILE_GSD_M = 15.0
TILE_ORIGIN_UTM = (393_000.0, 4_733_000.0)  # EPSG:32653, the bay off Vostochny
UTM_CRS = "EPSG:32653"
SPLITS = ("train", "val", "test")
# How tiles reach the picture: through randomised atmosphere and optics, or a perfect sensor.
SENSORS = ("random", "ideal")
TILE_PART_LOADED_SHARE = 1 / 3

# Backgrounds (module doc): the share of terminal tiles, by the ground the tile covers.
WIDE_TILE_M = 500.0
TERMINAL_SHARE = 0.55  # tiles at least WIDE_TILE_M across
FINE_TERMINAL_SHARE = 0.5  # finer tiles, where load state shows and analysts work
TERMINAL_EXTENT_M = (2000.0, 3500.0)  # side of the terminal laid out around a tile
TERMINAL_OVER_TILE = 1.6  # ... and at least this many tile sides
FARM_SETBACK_M = (40.0, 120.0)  # tank farm behind the shore (scenes: 120 m), so fine tiles reach it
TERMINAL_TRIES = 2  # terminals tried before a tile falls back to open water
FOCUS_TRIES = 12  # aims tried per terminal ...
WINDOWS_PER_TERMINAL = 3  # ... of which this many windows with water enough get vessels tried
# What a terminal tile's window is aimed at, how often, and where the window's centre lies from
# it: seaward (range) and along the shore (either way), in tile sides, before sliding seaward for
# water. A berth stays near the middle, so a vessel that fits the tile can lie there.
FOCUS_WEIGHTS = (("trestle", 0.2), ("berth", 0.3), ("quay", 0.3), ("tank farm", 0.2))
FOCUS_OFFSETS = {"trestle": ((-0.2, 0.2), 0.35), "berth": ((0.0, 0.3), 0.1), "quay": ((0.05, 0.35), 0.35),
                 "tank farm": ((0.2, 0.4), 0.35)}
FOCUS_INSET = 0.05  # the aimed-at point stays this share of the side inside the window
# Water a window must hold for the free tanker and distractor (land_share counts land, quays and
# jetties); less by the tank farm, which lies FARM_SETBACK_M and more behind the shore, so that
# fine tiles can show its front and some water.
MIN_WATER_SHARE = {"trestle": 0.35, "berth": 0.35, "quay": 0.3, "tank farm": 0.1}
QUAY_DEPTH_M = 80.0  # background.terminal's quay, behind its front
BERTH_VACANT = 0.35  # share of berths in view left empty (scenes: 0.3)
# A quay takes a vessel anywhere along its front: a window aimed at the quay gets a berth at the
# aimed point, besides the terminal's own berths (300 m apart, so rarely inside a fine tile).
QUAY_BERTH_LENGTH_M = 280.0
# Share of terminal tiles whose required tanker lies at a berth in view (where one fits it) rather
# than free in the water. At a terminal, tankers lie alongside; a stage trained on tankers in open
# water reads a shadow that falls on a quay (darker grey on light concrete, brighter than the
# water) as no shadow, and calls an empty hull there loaded (docs/experiments.md, 2026-12-04 night).
BERTHED_FIRST_TANKER_SHARE = 0.8
# Hulls rafted side by side (ship to ship, or double-banked at a berth): two beams 2-5 m apart are
# 2-3 cells of the detector's stride-4 map at 2 m, and a detector that rarely sees them boxes the
# pair as one hull or finds one (docs/sts.md). Share of tiles with one raft, where a tanker lies still.
RAFT_SHARE = 0.6
RAFT_TANKER_SHARE = 0.7  # partner a tanker (a transfer), else a smaller vessel (a bunker barge, a tug)
RAFT_MAX_LENGTH_RATIO = 1.3  # transfers pair tankers of similar capacity
RAFT_TRIES = 4
BERTH_SLIDE_M = 15.0  # a T-head's inner face: the trestle's half-width and clearance


@dataclass(frozen=True)
class TileSettings:
    size: int
    gsd_range: tuple[float, float] | None = None  # None: DEFAULT_GSD_BANDS
    bands: int = 3
    dtype: str = "uint8"
    cues: frozenset[str] = ALL_CUES
    hull_styles: tuple[str, ...] = tuple(HULL_STYLES)
    sensor: str = "random"  # or "ideal" (module doc)

    def __post_init__(self):
        if self.sensor not in SENSORS:
            raise ConfigError(f"--sensor must be one of {', '.join(SENSORS)}, got {self.sensor}")
        unknown = [s for s in self.hull_styles if s not in HULL_STYLES]
        if unknown or not self.hull_styles:
            raise ConfigError(f"--styles must name hull styles from {', '.join(HULL_STYLES)}, "
                              f"got {','.join(self.hull_styles) or 'none'}")

    @property
    def geotiff(self) -> bool:
        return self.bands == 4 or self.dtype == "uint16"

    @property
    def suffix(self) -> str:
        return ".tif" if self.geotiff else ".png"

    def gsd_bands(self) -> tuple:
        """((low, high), weight) pairs after raising lows so a 60 m tanker fits (module doc)."""
        floor = MIN_TANKER_LENGTH_M / (FILL_SHARE * self.size)
        if self.gsd_range is not None and self.gsd_range[1] > MAX_TILE_GSD_M:
            raise ConfigError(f"--gsd {self.gsd_range[1]:g} is too coarse: above {MAX_TILE_GSD_M:g} m a "
                              f"{MIN_TANKER_LENGTH_M:.0f} m tanker is under 4 pixels")
        bands = DEFAULT_GSD_BANDS if self.gsd_range is None else ((tuple(self.gsd_range), 1.0),)
        usable = tuple(((max(lo, floor), hi), w) for (lo, hi), w in bands if hi >= floor)
        if not usable:
            raise ConfigError(f"--gsd {bands[0][0][0]:g}:{bands[-1][0][1]:g} is too fine for --size {self.size}: "
                              f"a {MIN_TANKER_LENGTH_M:.0f} m tanker needs a GSD of at least {floor:.3g} m")
        return usable


def split_sizes(count: int) -> dict[str, int]:
    n_val = max(2, round(count / 10))
    return {"train": count - 2 * n_val, "val": n_val, "test": n_val}


def split_of(index: int, count: int) -> str:
    sizes = split_sizes(count)
    if index < sizes["train"]:
        return "train"
    return "val" if index < sizes["train"] + sizes["val"] else "test"


def sample_gsd(rng: np.random.Generator, settings: TileSettings) -> float:
    bands = settings.gsd_bands()
    weights = np.array([w for _, w in bands])
    (lo, hi), _ = bands[rng.choice(len(bands), p=weights / weights.sum())]
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


@dataclass
class TileWorld:
    """What one tile shows: view, layout (``open water`` or ``terminal``), vessels, atmosphere, and
    for a terminal tile what its window was aimed at (``background``)."""

    view: View
    layout: object
    ships: list[Ship]
    atmosphere: object
    scene_kind: str
    background: dict | None = None
    hull_style: str = "default"


def terminal_share(side_m: float) -> float:
    """Share of tiles of this ground extent drawn as a window onto a terminal (module doc)."""
    return TERMINAL_SHARE if side_m >= WIDE_TILE_M else FINE_TERMINAL_SHARE


def terminal_windows(rng: np.random.Generator, view: View, size: int):
    """A terminal laid out at full scale around the tile, then up to WINDOWS_PER_TERMINAL ``size`` px
    windows onto it, each aimed at a structure and with water enough for the free vessels, as
    ``(layout in tile pixels, background record)`` (module doc)."""
    gsd = view.gsd_m
    extent_m = max(rng.uniform(*TERMINAL_EXTENT_M), TERMINAL_OVER_TILE * size * gsd)
    extent = int(math.ceil(extent_m / gsd))
    full = terminal(rng, extent, extent, view, rotation=rng.uniform(0, 2 * math.pi),
                    farm_setback_m=rng.uniform(*FARM_SETBACK_M))
    obstacles = full.obstacles()
    seaward = full.seaward
    along = np.array([-seaward[1], seaward[0]])
    kinds = [k for k, _ in FOCUS_WEIGHTS]
    weights = np.array([w for _, w in FOCUS_WEIGHTS])
    yielded = 0
    for _ in range(FOCUS_TRIES):
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        focus = _focus_point(rng, full, kind)
        if focus is None:
            continue
        (lo, hi), sideways = FOCUS_OFFSETS[kind]
        centre = focus + seaward * rng.uniform(lo, hi) * size + along * rng.uniform(-sideways, sideways) * size
        # Slide seaward until the window has water enough, keeping the aimed-at point inside.
        for _ in range(10):
            x0, y0 = (int(round(min(max(c - size / 2, 0), extent - size))) for c in centre)
            inset = (focus - [x0, y0]) / size
            if not ((inset >= FOCUS_INSET).all() and (inset <= 1 - FOCUS_INSET).all()):
                break
            land_share = shapely.area(shapely.intersection(obstacles, shapely.box(x0, y0, x0 + size, y0 + size)))
            land_share /= size**2
            if land_share <= 1 - MIN_WATER_SHARE[kind]:
                layout = full.window(x0, y0, size, size)
                if kind == "quay":
                    layout.berths.append(Berth(focus - [x0, y0], math.atan2(along[1], along[0]),
                                               QUAY_BERTH_LENGTH_M, seaward.copy()))
                yield layout, {"focus": kind, "structures": _structures(layout, size),
                               "land_share": round(float(land_share), 3), "terminal_extent_m": round(extent_m, 1),
                               "window_px": [x0, y0]}
                yielded += 1
                break
            centre = centre + seaward * 0.08 * size
        if yielded == WINDOWS_PER_TERMINAL:
            return


def _focus_point(rng: np.random.Generator, layout: Layout, kind: str) -> np.ndarray | None:
    """A point on a structure of ``kind`` (None if the terminal has none)."""
    if kind == "trestle" and layout.jetties:
        trestle, _ = layout.jetties[int(rng.integers(len(layout.jetties)))]
        root, tip = (trestle[0] + trestle[1]) / 2, (trestle[2] + trestle[3]) / 2
        return root + (tip - root) * rng.uniform(0.05, 0.95)
    if kind == "berth" and layout.berths:
        return layout.berths[int(rng.integers(len(layout.berths)))].centre.copy()
    if kind == "quay" and layout.quay_fronts:
        a, b = layout.quay_fronts[int(rng.integers(len(layout.quay_fronts)))]
        return a + (b - a) * rng.uniform(0.0, 1.0)
    if kind == "tank farm" and layout.tanks:
        # The tenth of the tanks nearest the shore: the farm's front, its shadows and bund walls.
        centres = np.array([t[:2] for t in layout.tanks])
        to_shore = shapely.distance(shapely.LineString(layout.coast), shapely.points(centres))
        front = np.flatnonzero(to_shore <= np.quantile(to_shore, 0.1))
        return centres[front[int(rng.integers(len(front)))]].copy()
    return None


def _structures(layout: Layout, size: int) -> list[str]:
    """Which kinds of terminal structure a tile layout shows inside its ``size`` px square."""
    box = shapely.box(0, 0, size, size)
    found = []
    if any(box.intersects(shapely.Polygon(t)) for t, _ in layout.jetties):
        found.append("jetty")
    back = -layout.seaward * QUAY_DEPTH_M / layout.gsd_m if layout.seaward is not None else np.zeros(2)
    if any(box.intersects(shapely.Polygon([a, b, b + back, a + back])) for a, b in layout.quay_fronts):
        found.append("quay")
    if any(-r < cx < size + r and -r < cy < size + r for cx, cy, r, _, _ in layout.tanks):
        found.append("tanks")
    if any(box.intersects(shapely.Polygon(b[0])) for b in layout.buildings):
        found.append("buildings")
    if layout.berths:
        found.append("berth")
    return found


def compose_tile(seed: int, index: int, settings: TileSettings) -> TileWorld:
    """Everything a tile holds, before drawing (see module doc for the guarantees)."""
    rng = np.random.default_rng([seed, index])
    size = settings.size
    gsd = sample_gsd(rng, settings)
    view = sample_tile_view(rng, gsd)
    if rng.random() < terminal_share(size * gsd):
        for _ in range(TERMINAL_TRIES):
            for layout, background in terminal_windows(rng, view, size):
                world = _populate(rng, index, settings, view, layout, background)
                if world is not None:
                    return _choose_look(world, seed, index, settings)
    world = _populate(rng, index, settings, view, open_water(rng, size, size, view), None)
    if world is None:
        raise RuntimeError(f"tile {index}: could not place a required vessel (seed {seed})")
    return _choose_look(world, seed, index, settings)


def _choose_look(world: TileWorld, seed: int, index: int, settings: TileSettings) -> TileWorld:
    """The tile's hull style and sensor optics, each from a stream of its own (module doc)."""
    styles = settings.hull_styles
    world.hull_style = styles[int(np.random.default_rng([seed, index, 2]).integers(len(styles)))]
    world.atmosphere.optics = sample_optics(np.random.default_rng([seed, index, 3]))
    if settings.sensor == "ideal":
        world.atmosphere = replace(world.atmosphere, haze=0.0, cloud_cover=0.0, shadow_spots=[], blur_sigma_px=0.0,
                                   noise_sigma=0.0, jpeg_quality=None, optics=None)
    return world


def sample_tile_view(rng: np.random.Generator, gsd_m: float) -> View:
    """A scene's random geometry, or (``GLINT_VIEW_SHARE`` of tiles) one looking near the sun's
    mirror direction: azimuth within ``GLINT_AZIMUTH_SPREAD_DEG`` of it, zenith within
    ``GLINT_ZENITH_SPREAD_DEG`` of the sun's zenith, clipped to the sensor's off-nadir range (so a
    low sun still gives little glint, as it would)."""
    view = sample_view(rng, gsd_m)
    if rng.random() >= GLINT_VIEW_SHARE:
        return view
    mirror_azimuth = (view.sun_azimuth_deg + 180.0) % 360.0
    azimuth = (mirror_azimuth + rng.uniform(-GLINT_AZIMUTH_SPREAD_DEG, GLINT_AZIMUTH_SPREAD_DEG)) % 360.0
    zenith = 90.0 - view.sun_elevation_deg + rng.uniform(-GLINT_ZENITH_SPREAD_DEG, GLINT_ZENITH_SPREAD_DEG)
    return replace(view, view_azimuth_deg=azimuth,
                   view_zenith_deg=float(np.clip(zenith, NEAR_NADIR_DEG, VIEW_ZENITH_DEG[1])))


def _populate(rng: np.random.Generator, index: int, settings: TileSettings, view: View, layout: Layout,
              background: dict | None) -> TileWorld | None:
    """Vessels and atmosphere for ``layout``; None if the required tanker and distractor find no room."""
    size = settings.size
    gsd = view.gsd_m
    placer = Placer(layout, view, size, size)
    max_len = FILL_SHARE * size * gsd
    ids = iter(f"t{index:06d}-{k:02d}" for k in range(1000))
    first_load = LoadState.EMPTY if index % 2 == 0 else LoadState.LOADED

    def place_free(make, attempts=60):
        for _ in range(attempts):
            ship = make(placer.water_point(rng), rng.uniform(0, 2 * math.pi))
            if ship is not None and placer.try_add(ship):
                return ship
        return None

    def free_tanker(load=None, cap=max_len):
        return lambda c, h: tanker_ship(rng, next(ids), c, h, cap, load, moving=rng.random() < 0.25,
                                        part_loaded_share=TILE_PART_LOADED_SHARE)

    def free_distractor(cap=max_len):
        return lambda c, h: distractor_ship(rng, next(ids), c, h, cap, gsd, moving=rng.random() < 0.3)

    berths = list(layout.berths)
    # Each required vessel, and a shorter one to try if it finds no room.
    required = [(free_tanker(first_load), free_tanker(first_load, MIN_TANKER_LENGTH_M * 1.2)),
                (free_distractor(), free_distractor(max(60.0, 6 * gsd)))]
    if background is not None and rng.random() < BERTHED_FIRST_TANKER_SHARE:
        moored = _moor_tanker(rng, placer, berths, view, size, max_len, next(ids), first_load)
        if moored is not None:
            del berths[moored]
            required = required[1:]
    for make, fallback in required:
        if place_free(make) is None and place_free(fallback, attempts=400) is None:
            return None
    for berth in berths:
        if rng.random() < BERTH_VACANT:
            continue
        cap = _berth_cap(berth, size, max_len, gsd)
        if cap >= MIN_TANKER_LENGTH_M and rng.random() < 0.6:
            ship = tanker_ship(rng, next(ids), berth.centre, 0.0, cap, part_loaded_share=TILE_PART_LOADED_SHARE)
        else:
            ship = distractor_ship(rng, next(ids), berth.centre, 0.0, cap, gsd)
        if ship is not None:
            _moor(placer, ship, berth, view, flip=rng.random() < 0.5)
    for _ in range(int(rng.integers(0, 3))):
        place_free(free_tanker(), attempts=20)
    for _ in range(int(rng.integers(0, 4))):
        place_free(free_distractor(), attempts=20)
    if rng.random() < RAFT_SHARE:
        hosts = [s for s in placer.ships if s.kind == "tanker" and not s.moving]
        if hosts:
            _raft_alongside(rng, placer, hosts[int(rng.integers(len(hosts)))], next(ids), max_len)
    atmosphere = sample_atmosphere(rng, jpeg=not settings.geotiff)
    tankers = [s for s in placer.ships if s.kind == "tanker"]
    if rng.random() < 0.15:  # a cloud shadow right over a hull
        target = tankers[int(rng.integers(len(tankers)))]
        atmosphere.shadow_spots.append((target.centre.copy(), 0.7 * target.length_m / gsd))
    kind = "open water" if background is None else "terminal"
    return TileWorld(view, layout, placer.ships, atmosphere, kind, background)


def _raft_alongside(rng: np.random.Generator, placer: Placer, host: Ship, vessel_id: str, max_len: float) -> None:
    """A tanker of about ``host``'s size (a transfer's partner) or a smaller vessel (a bunker barge,
    a tug) moored alongside ``host``, fendered, on whichever side has room; outboard of a berthed host
    it is berthed too (double-banked). Nothing if neither side fits."""
    cap = min(max_len, RAFT_MAX_LENGTH_RATIO * host.length_m)
    for _ in range(RAFT_TRIES):
        if rng.random() < RAFT_TANKER_SHARE:
            partner = tanker_ship(rng, vessel_id, host.centre, 0.0, cap, part_loaded_share=TILE_PART_LOADED_SHARE)
        else:
            partner = distractor_ship(rng, vessel_id, host.centre, 0.0, cap, placer.view.gsd_m)
        if partner is None:
            continue
        partner.berthed = host.berthed
        if placer.try_raft(rng, host, partner, berthed=host.berthed):
            return


def _moor_tanker(rng: np.random.Generator, placer: Placer, berths: list[Berth], view: View, size: int,
                 max_len: float, vessel_id: str, load: LoadState) -> int | None:
    """A tanker of state ``load`` alongside one of ``berths`` (tried in random order) where one
    fits the tile; the index of the berth it took, or None."""
    for k in map(int, rng.permutation(len(berths))):
        berth = berths[k]
        cap = _berth_cap(berth, size, max_len, view.gsd_m)
        if cap < MIN_TANKER_LENGTH_M:
            continue
        ship = tanker_ship(rng, vessel_id, berth.centre, 0.0, cap, load, part_loaded_share=TILE_PART_LOADED_SHARE)
        if ship is not None and _moor(placer, ship, berth, view, flip=rng.random() < 0.5):
            return k
    return None


def _berth_cap(berth: Berth, size: int, max_len: float, gsd_m: float) -> float:
    """Longest vessel (metres) that ``berth`` takes within the tile: its own limit, the tile's
    ``max_len`` and the room along it."""
    return min(berth.max_length_m, max_len, _berth_room_px(berth, size) * gsd_m)


def _berth_room_px(berth: Berth, size: int) -> float:
    """Length (pixels) of a vessel centred on ``berth`` that stays inside the tile along the berth."""
    direction = np.array([math.cos(berth.heading), math.sin(berth.heading)])
    reach = math.inf
    for c, d in zip(berth.centre, direction, strict=True):
        if abs(d) > 1e-9:
            reach = min(reach, ((size - EDGE_MARGIN_PX - c) if d > 0 else (c - EDGE_MARGIN_PX)) / abs(d),
                        ((c - EDGE_MARGIN_PX) if d > 0 else (size - EDGE_MARGIN_PX - c)) / abs(d))
    return max(0.0, 2 * reach * 0.95)


def _moor(placer: Placer, ship: Ship, berth: Berth, view: View, flip: bool) -> bool:
    """Put ``ship`` alongside ``berth``, centred, else (a T-head's inner face, where the trestle
    meets it) slid along the berth to one side of the trestle."""
    if placer.try_add(at_berth(ship, berth, view, flip=flip), berthed=True):
        return True
    direction = np.array([math.cos(berth.heading), math.sin(berth.heading)])
    slide = (ship.length_m / 2 + BERTH_SLIDE_M) / view.gsd_m
    for side in ((1.0, -1.0) if flip else (-1.0, 1.0)):
        moved = Berth(berth.centre + side * slide * direction, berth.heading, berth.max_length_m, berth.seaward)
        if placer.try_add(at_berth(ship, moved, view, flip=flip), berthed=True):
            return True
    return False


def render_tile(seed: int, index: int, settings: TileSettings) -> tuple[np.ndarray, TileWorld]:
    """The tile's pixels ``[H, W, C]`` (uint8 or uint16) and the world they show."""
    world = compose_tile(seed, index, settings)
    rng = np.random.default_rng([seed, index, 1])
    canvas = Canvas(settings.size, settings.size, settings.bands)
    draw_world(canvas, world.view, world.layout, world.ships, world.atmosphere, rng, settings.cues, world.hull_style)
    if settings.dtype == "uint16":
        return brightness_to_uint16(canvas.pixels), world
    image = brightness_to_uint8(canvas.pixels)
    if world.atmosphere.jpeg_quality is not None and settings.bands == 3:
        image = jpeg_roundtrip(image, world.atmosphere.jpeg_quality)
    return image, world


def write_image(path: Path, image: np.ndarray, settings: TileSettings, view: View) -> None:
    if not settings.geotiff:
        ok, data = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise RuntimeError(f"{path}: PNG encoding failed")
        atomic_write_bytes(path, data.tobytes())
        return
    import rasterio

    transform = Affine(view.gsd_m, 0.0, TILE_ORIGIN_UTM[0], 0.0, -view.gsd_m, TILE_ORIGIN_UTM[1])
    with atomic_path(path) as tmp, rasterio.open(
            tmp, "w", driver="GTiff", width=image.shape[1], height=image.shape[0], count=image.shape[2],
            dtype=image.dtype.name, crs=UTM_CRS, transform=transform, compress="deflate",
            photometric="RGB" if image.shape[2] == 3 else "MINISBLACK") as dst:
        dst.update_tags(**view.gdal_tags(grid_north_deg(UTM_CRS, transform, image.shape[0])))
        dst.write(np.moveaxis(image, 2, 0))


def grid_north_deg(crs, transform, size: int) -> float:
    """Bearing (degrees from true north, clockwise, in (-180, 180]) of a north-up raster's up
    direction at its centre: the grid convergence, which the angles' tags add to the drawn (grid)
    azimuths (:meth:`.physics.View.gdal_tags`)."""
    from ..runtime.view_angles import image_azimuth_deg

    north_in_image = image_azimuth_deg(0.0, crs, transform, size, size)
    return -((north_in_image + 180.0) % 360.0 - 180.0)


def _vessel_record(ship: Ship, view: View, cues: frozenset[str], shadow_surface: str) -> dict:
    drawn = ShipGeometry(ship, view, cues)
    shadow_m, side_m = drawn.cue_widths_m()
    record = {"vessel_id": ship.vessel_id, "kind": ship.kind, "length_m": round(ship.length_m, 2),
              "beam_m": round(ship.beam_m, 2), "freeboard_m": round(ship.freeboard_m, 3),
              "shadow_width_m": round(shadow_m, 3), "side_strip_m": round(side_m, 3),
              "shadow_surface": shadow_surface,
              "moving": ship.moving, "berthed": ship.berthed,
              "box_px": [round(float(x), 3) for x in ShipGeometry(ship, view).box()]}
    if ship.tanker is not None:
        record.update(size_class=ship.tanker.size_class, load=ship.load.value,
                      draft_fraction=round(ship.tanker.draft_fraction, 4), bulb_drawn=drawn.bulb() is not None)
    return record


def _tile_job(job) -> tuple[LabelledImage, dict]:
    seed, index, count, settings, out = job
    image, world = render_tile(seed, index, settings)
    split = split_of(index, count)
    path = Path(out) / split / "images" / f"synth_{index:06d}{settings.suffix}"
    write_image(path, image, settings, world.view)
    # Tiles are north-up, so the geographic azimuths are the image frame's.
    angles = {k: v for k, v in world.view.to_dict().items() if k in ANGLE_KEYS}
    surfaces = shadow_surfaces(world.ships, world.view, world.layout)
    labelled = LabelledImage(path, settings.size, settings.size, round(world.view.gsd_m, 6),
                             [to_label(s, world.view, settings.cues, surface if s.tanker is not None else None)
                              for s, surface in zip(world.ships, surfaces, strict=True)], angles)
    record = {"file": f"{split}/images/{path.name}", "split": split, "scene": world.scene_kind,
              "hull_style": world.hull_style,
              "background": {"kind": world.scene_kind, **(world.background or {})},
              "view": world.view.to_dict(), "atmosphere": world.atmosphere.to_dict(),
              "vessels": [_vessel_record(s, world.view, settings.cues, surface)
                          for s, surface in zip(world.ships, surfaces, strict=True)]}
    return labelled, record


def write_tiles(out, count: int, settings: TileSettings, seed: int, fmt: str = "dota", threads: int = 1,
                overwrite: bool = False, progress=None) -> dict:
    """Generate and write the dataset; returns the manifest (also written to ``OUT/manifest.json``)."""
    out = Path(out)
    if count < MIN_COUNT:
        raise ConfigError(f"--count must be at least {MIN_COUNT} (train, val and test each need both load states)")
    if not MIN_SIZE <= settings.size <= MAX_SIZE:
        raise ConfigError(f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {settings.size}")
    settings.gsd_bands()
    _prepare_output(out, overwrite)
    jobs = [(seed, i, count, settings, str(out)) for i in range(count)]
    if threads > 1:
        with multiprocessing.get_context("spawn").Pool(threads) as pool:
            results = list(_progress(pool.imap(_tile_job, jobs, chunksize=4), progress))
    else:
        results = list(_progress(map(_tile_job, jobs), progress))
    splits = {name: [lab for lab, rec in results if rec["split"] == name] for name in SPLITS}
    write_splits(splits, out, fmt)
    manifest = _manifest(results, count, settings, seed, fmt)
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    atomic_write_text(out / "README.md", _readme(manifest))
    return manifest


def _progress(iterable, progress):
    return iterable if progress is None else progress(iterable)


def _prepare_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"{out}: folder is not empty (pass --overwrite to replace a generated dataset)")
        if not (out / "manifest.json").exists():
            raise ConfigError(f"{out}: not a synthetic dataset (no manifest.json); refusing to overwrite it")
        for name in SPLITS:
            shutil.rmtree(out / name, ignore_errors=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write here ({exc.strerror})") from None


def _manifest(results, count: int, settings: TileSettings, seed: int, fmt: str) -> dict:
    per_split = {}
    for name in SPLITS:
        records = [rec for _, rec in results if rec["split"] == name]
        counts = Counter()
        for rec in records:
            for v in rec["vessels"]:
                counts[f"tanker_{v['load']}" if v["kind"] == "tanker" else v["kind"]] += 1
        per_split[name] = {"tiles": len(records), "vessels": dict(sorted(counts.items()))}
    return {
        "generator": "tankerwatch synth tiles", "project_version": __version__,
        "parameters": {"count": count, "size": settings.size, "seed": seed, "format": fmt,
                       "bands": settings.bands, "dtype": settings.dtype, "cues": cue_names(settings.cues),
                       "hull_styles": list(settings.hull_styles), "sensor": settings.sensor,
                       "gsd_bands_m": [[lo, hi, w] for (lo, hi), w in settings.gsd_bands()]},
        "splits": per_split,
        "backgrounds": dict(sorted(Counter(rec["scene"] for _, rec in results).items())),
        "tiles": [rec for _, rec in results],
    }


def _readme(manifest: dict) -> str:
    p = manifest["parameters"]
    lines = [
        "# Synthetic tanker tiles", "",
        f"Generated by `tankerwatch synth tiles` (tankerwatch {manifest['project_version']}): "
        f"{p['count']} tiles of {p['size']} x {p['size']} px, seed {p['seed']}, labels in `{p['format']}`, "
        f"{p['bands']} bands, {p['dtype']}.", "",
        "GSD (m/px) drawn log-uniform per tile from: "
        + ", ".join(f"{lo:g}-{hi:g} m ({w:.0%})" for lo, hi, w in p["gsd_bands_m"]) + ".", "",
        "Classes: `tanker_empty`, `tanker_loaded` (draft fraction < 0.5 is empty) and `other` "
        "(container ships, bulk carriers, tugs, small craft, barges). Boxes are the visible hull outline "
        "(deck plus visible hull side, never the shadow), aligned with the bow; no vessel is cut by the "
        "tile edge. `manifest.json` lists each tile's view (GSD; sun elevation and azimuth, view zenith "
        "and azimuth in degrees, azimuths clockwise from north, north up), atmosphere and vessels (size "
        "class, draft fraction, freeboard, shadow and hull-side widths as drawn, in metres).", "",
        "Load-state cues drawn on tankers: " + (", ".join(p["cues"]) or "none")
        + " (of shadow, side, bow; the others switched off for a counterfactual render).", "",
        "Hull styles: " + ", ".join(p["hull_styles"]) + " (one per tile, chosen uniformly; `hull_style` "
        "in the manifest), each tile under "
        + ("randomised sensor optics (`atmosphere.optics`)." if p.get("sensor", "random") == "random" else
           "a perfect sensor: no haze, clouds, blur, noise, sharpening or JPEG."), "",
        "Backgrounds: " + ", ".join(f"{n} {k}" for k, n in manifest["backgrounds"].items())
        + " (a terminal tile is a window onto a terminal laid out at full scale, aimed at a jetty "
        "trestle, a berth, the quay or the tank farm's seaward edge; `background` in the manifest "
        "says which and what the window shows).", "",
        "| split | tiles | vessels |", "|---|---|---|",
    ]
    for name, info in manifest["splits"].items():
        lines.append(f"| {name} | {info['tiles']} | "
                     + ", ".join(f"{k} {v}" for k, v in info["vessels"].items()) + " |")
    return "\n".join(lines) + "\n"
