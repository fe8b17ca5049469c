"""One large georeferenced terminal scene, streamed window by window to a cloud-optimised GeoTIFF.

The scene lies in UTM zone 53 N (EPSG:32653), north up, centred on the bay off Vostochny and
Nakhodka (about 42.75 N, 133.07 E) with the shore to the north; its pixel size is the GSD (UTM
metres are ground metres to within 0.02 % there). Everything is decided up front from the seed
(terminal layout, sun and sensor, atmosphere, the vessel list); each 1024-pixel window is then
drawn on its own with a margin for the blur and written, so a 20,000 x 20,000 px scene never sits
in memory. Window noise is seeded by the window's position, so the bytes do not depend on
anything but the seed and the settings.

Ground truth goes to ``OUT.truth.geojson`` (and ``.csv``) in the detection-file schema with
``vessel_id``, ``draft_fraction`` and ``truth: true`` per vessel (score 1, p_loaded 0 or 1), and
each tanker's ``freeboard_m`` and, as drawn, ``shadow_width_m`` and ``side_strip_m`` (metres) and
``shadow_surface`` (what the shadow lies on: :mod:`.shadow_ground`); its
header's ``synthetic`` member holds the view (degrees, azimuths clockwise from north), the
atmosphere and the cues drawn. The GeoTIFF carries the angles as GDAL metadata items
``SUN_ELEVATION``, ``SUN_AZIMUTH``, ``VIEW_ZENITH``, ``VIEW_AZIMUTH`` (:meth:`.physics.View.gdal_tags`).
``SceneSettings.cues`` switches load-state cues off on tankers as for tiles (:mod:`.tiles`).
``SceneSettings.sts_pairs`` ship-to-ship pairs are rafted in the anchorage (and as many vessels
double-banked at berths), with ``sts_pair`` in the truth (:mod:`.sts`).
The tank farm's roofs and fills go to ``OUT.tank-truth.geojson`` (:mod:`.floating_roofs`).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer

from ..core.atomic import atomic_path
from ..core.errors import ConfigError
from ..core.labels import LoadState
from ..runtime.detection_file import Detection, write_detection_files
from .background import Layout, terminal
from .canvas import Canvas
from .effects import Atmosphere, brightness_to_uint8, brightness_to_uint16, sample_atmosphere
from .floating_roofs import write_tank_truth
from .physics import ALL_CUES, MIN_TANKER_LENGTH_M, View, cue_names, sample_view
from .placement import Placer, at_berth, distractor_ship, random_water_point, tanker_ship
from .render import draw_world
from .shadow_ground import shadow_surfaces
from .sts import add_scene_rafts, label_rafts
from .tiles import UTM_CRS, grid_north_deg
from .vessels import Ship, ShipGeometry, to_label

SCENE_CENTRE_LONLAT = (133.07, 42.75)
WINDOW = 1024
PAD = 8  # blur margin around each window, cropped after drawing
COG_BLOCK = 512  # tile side of the written COG, and of its overviews
MAX_SCENE_SIDE = 40_000
MIN_SCENE_SIDE = 256
SCENE_GSD_RANGE = (0.3, 10.0)
ANCHORAGE_PER_KM2 = (0.6, 0.8)  # tankers, distractors per km2 of water
MAX_FREE_VESSELS = 200
SHORE_DEPTH = 0.3


@dataclass(frozen=True)
class SceneSettings:
    size: int
    gsd_m: float = 1.0
    bands: int = 3
    dtype: str = "uint8"
    cues: frozenset[str] = ALL_CUES
    sts_pairs: int = 1

    def check(self) -> None:
        if self.sts_pairs < 0:
            raise ConfigError(f"--sts must be 0 or more, got {self.sts_pairs}")
        if not MIN_SCENE_SIDE <= self.size <= MAX_SCENE_SIDE:
            raise ConfigError(f"--size must be between {MIN_SCENE_SIDE} and {MAX_SCENE_SIDE} pixels, got {self.size}")
        if not SCENE_GSD_RANGE[0] <= self.gsd_m <= SCENE_GSD_RANGE[1]:
            raise ConfigError(f"--gsd must be between {SCENE_GSD_RANGE[0]:g} and {SCENE_GSD_RANGE[1]:g} m "
                              f"for a scene, got {self.gsd_m:g}")


@dataclass
class SceneWorld:
    """Everything one scene shows, decided before any pixel is drawn."""

    view: View
    layout: Layout
    ships: list[Ship]
    atmosphere: Atmosphere
    transform: Affine


def scene_transform(size: int, gsd_m: float) -> Affine:
    """North-up EPSG:32653 transform of a ``size`` px scene centred on SCENE_CENTRE_LONLAT."""
    x, y = Transformer.from_crs("EPSG:4326", UTM_CRS, always_xy=True).transform(*SCENE_CENTRE_LONLAT)
    half = size * gsd_m / 2
    return Affine(gsd_m, 0.0, round(x - half, 3), 0.0, -gsd_m, round(y + half, 3))


def terminal_layout(seed: int, settings: SceneSettings, view: View) -> Layout:
    """The terminal of this seed (shore to the north); the same for every date of a series."""
    return terminal(np.random.default_rng([seed, 7]), settings.size, settings.size, view, rotation=0.0,
                    shore_depth=SHORE_DEPTH)


def fill_anchorage(rng: np.random.Generator, placer: Placer, settings: SceneSettings, id_prefix: str,
                   tankers: bool = True) -> None:
    """Tankers (unless ``tankers`` is False) and distractors at anchor or under way in the open
    water, and a few ship-to-ship pairs."""
    water_km2 = (settings.size * settings.gsd_m / 1000) ** 2 * (1 - SHORE_DEPTH)
    max_len = 0.8 * settings.size * settings.gsd_m
    n_tankers = min(int(rng.poisson(ANCHORAGE_PER_KM2[0] * water_km2)) + 1, MAX_FREE_VESSELS) if tankers else 0
    n_other = min(int(rng.poisson(ANCHORAGE_PER_KM2[1] * water_km2)) + 1, MAX_FREE_VESSELS)
    kinds = ["tanker"] * n_tankers + ["other"] * n_other
    for k, kind in enumerate(kinds):
        vid = f"{id_prefix}{k:04d}"
        for _ in range(20):
            centre, heading = random_water_point(rng, settings.size, settings.size), rng.uniform(0, 2 * math.pi)
            moving = rng.random() < 0.25
            ship = (tanker_ship(rng, vid, centre, heading, max_len, moving=moving) if kind == "tanker"
                    else distractor_ship(rng, vid, centre, heading, max_len, settings.gsd_m, moving=moving))
            if ship is not None and placer.try_add(ship):
                if kind == "tanker" and not moving and rng.random() < 0.15:
                    partner = tanker_ship(rng, vid + "b", centre, 0.0, max_len)
                    placer.try_raft(rng, ship, partner)
                break


def compose_scene(seed: int, settings: SceneSettings) -> SceneWorld:
    """The terminal with vessels at its berths (about two in three, tankers mostly) and in the
    anchorage, under one sun, sensor and atmosphere."""
    rng = np.random.default_rng([seed, 1])
    view = sample_view(rng, settings.gsd_m)
    layout = terminal_layout(seed, settings, view)
    placer = Placer(layout, view, settings.size, settings.size)
    max_len = 0.8 * settings.size * settings.gsd_m
    for b, berth in enumerate(layout.berths):
        if rng.random() < 0.3:
            continue
        cap = min(berth.max_length_m, max_len)
        vid = f"b{b:03d}"
        ship = (tanker_ship(rng, vid, berth.centre, 0.0, cap) if cap >= MIN_TANKER_LENGTH_M and rng.random() < 0.65
                else distractor_ship(rng, vid, berth.centre, 0.0, cap, settings.gsd_m))
        if ship is not None:
            placer.try_add(at_berth(ship, berth, view, flip=rng.random() < 0.5), berthed=True)
    fill_anchorage(rng, placer, settings, "a")
    if settings.sts_pairs:
        add_scene_rafts(np.random.default_rng([seed, 13]), placer, layout, settings.size, max_len, settings.sts_pairs)
    label_rafts(placer.rafts, layout, view)
    atmosphere = sample_atmosphere(rng, jpeg=False, cloudy_share=0.4)
    return SceneWorld(view, layout, placer.ships, atmosphere, scene_transform(settings.size, settings.gsd_m))


def _reach_px(ship: Ship, view: View) -> np.ndarray:
    """Bounds ``[x0, y0, x1, y1]`` of everything a ship draws: hull, bulb, shadow and wake."""
    corners = ShipGeometry(ship, view).drawn_points()
    shadow = np.linalg.norm(view.shadow_shift_px(ship.freeboard_m + ship.house_height_m))
    reach = shadow + (2.5 * ship.length_m / view.gsd_m if ship.moving else 0.0) + 4
    return np.concatenate([corners.min(axis=0) - reach, corners.max(axis=0) + reach])


def render_window(world: SceneWorld, seed: int, x0: int, y0: int, width: int, height: int, bands: int,
                  ship_bounds: np.ndarray, cues: frozenset[str] = ALL_CUES) -> np.ndarray:
    """Float pixels ``[height, width, bands]`` of the window at ``(x0, y0)``."""
    canvas = Canvas(height + 2 * PAD, width + 2 * PAD, bands, origin=(x0 - PAD, y0 - PAD))
    near = ((ship_bounds[:, 0] < x0 + width + PAD) & (ship_bounds[:, 2] > x0 - PAD)
            & (ship_bounds[:, 1] < y0 + height + PAD) & (ship_bounds[:, 3] > y0 - PAD))
    ships = [s for s, keep in zip(world.ships, near, strict=True) if keep]
    rng = np.random.default_rng([seed, 2, y0, x0])
    draw_world(canvas, world.view, world.layout, ships, world.atmosphere, rng, cues)
    return canvas.pixels[PAD:-PAD, PAD:-PAD]


_WORKER: dict = {}


def _start_worker(world: SceneWorld, seed: int, settings: SceneSettings, bounds: np.ndarray) -> None:
    _WORKER.update(world=world, seed=seed, settings=settings, bounds=bounds)


def _window_pixels(window: tuple[int, int, int, int]) -> np.ndarray:
    """One window, converted to the output type, as ``[C, h, w]`` (runs in a worker or in-process)."""
    x0, y0, w, h = window
    settings = _WORKER["settings"]
    pixels = render_window(_WORKER["world"], _WORKER["seed"], x0, y0, w, h, settings.bands, _WORKER["bounds"],
                           settings.cues)
    convert = brightness_to_uint16 if settings.dtype == "uint16" else brightness_to_uint8
    return np.moveaxis(convert(pixels), 2, 0)


def write_raster(path: Path, world: SceneWorld, seed: int, settings: SceneSettings, acquired: str | None,
                 threads: int = 1, progress=None) -> None:
    """Stream the scene to a cloud-optimised GeoTIFF (atomically), drawing windows in ``threads``
    worker processes; the bytes do not depend on ``threads``. ``progress`` wraps the iterator of
    finished windows (e.g. a tqdm bar given their count), or None.

    The windows go to a tiled GeoTIFF beside the target first (a COG cannot be written block by
    block: its overviews precede the full-resolution blocks), which GDAL's COG driver then copies:
    512 px deflate tiles, overviews 2x, 4x, ... (area average) down to one tile, the metadata items
    (``ACQUISITION_DATETIME``, the view angles) kept. Read remotely, a coarse read then costs the
    overview's bytes, not the whole file's.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.windows import Window

    path = Path(path)
    size = settings.size
    bounds = (np.stack([_reach_px(s, world.view) for s in world.ships]) if world.ships
              else np.zeros((0, 4)))
    windows = [(x0, y0, min(WINDOW, size - x0), min(WINDOW, size - y0))
               for y0 in range(0, size, WINDOW) for x0 in range(0, size, WINDOW)]
    profile = dict(driver="GTiff", width=size, height=size, count=settings.bands, dtype=settings.dtype,
                   crs=UTM_CRS, transform=world.transform, tiled=True, blockxsize=COG_BLOCK, blockysize=COG_BLOCK,
                   compress="deflate", zlevel=1, predictor=2, BIGTIFF="IF_SAFER",
                   photometric="RGB" if settings.bands == 3 else "MINISBLACK")
    worker_args = (world, seed, settings, bounds)
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as work:
        stream = Path(work) / "stream.tif"
        with rasterio.open(stream, "w", **profile) as dst, _window_renderer(threads, worker_args) as render:
            dst.update_tags(**world.view.gdal_tags(grid_north_deg(UTM_CRS, world.transform, size)))
            if acquired is not None:
                dst.update_tags(ACQUISITION_DATETIME=acquired)
            blocks = render(windows) if progress is None else progress(render(windows), len(windows))
            for (x0, y0, w, h), block in zip(windows, blocks, strict=True):
                dst.write(block, window=Window(x0, y0, w, h))
        rasterio.shutil.copy(stream, tmp, driver="COG", BLOCKSIZE=COG_BLOCK, COMPRESS="DEFLATE", LEVEL=1,
                             PREDICTOR="YES", OVERVIEW_RESAMPLING="AVERAGE", BIGTIFF="IF_SAFER",
                             NUM_THREADS=max(1, threads))


@contextlib.contextmanager
def _window_renderer(threads: int, worker_args):
    """A function mapping windows to pixel blocks, in order: in-process or over a process pool."""
    if threads <= 1:
        _start_worker(*worker_args)
        try:
            yield lambda windows: map(_window_pixels, windows)
        finally:
            _WORKER.clear()
        return
    with multiprocessing.get_context("spawn").Pool(threads, initializer=_start_worker, initargs=worker_args) as pool:
        yield lambda windows: pool.imap(_window_pixels, windows)


def truth_detections(ships: list[Ship], view: View, cues: frozenset[str] = ALL_CUES,
                     layout: Layout | None = None) -> list[Detection]:
    """Ground truth in the detection-file schema (module doc); with the scene's ``layout``, each
    tanker's ``shadow_surface`` too."""
    surfaces = shadow_surfaces(ships, view, layout) if layout is not None else [None] * len(ships)
    detections = []
    for ship, surface in zip(ships, surfaces, strict=True):
        label = to_label(ship, view)
        tanker = ship.tanker is not None
        physics = {}
        if tanker:
            shadow_m, side_m = ShipGeometry(ship, view, cues).cue_widths_m()
            physics = {"freeboard_m": round(ship.freeboard_m, 3), "shadow_width_m": round(shadow_m, 3),
                       "side_strip_m": round(side_m, 3)}
            if surface is not None:
                physics["shadow_surface"] = surface
        detections.append(Detection(
            box_px=label.box, score=1.0, vessel_type="tanker" if tanker else "other", type_score=1.0,
            load=label.load.value if tanker else "unknown",
            p_loaded=(1.0 if label.load is LoadState.LOADED else 0.0) if tanker else None,
            heading=label.heading,
            extra={"vessel_id": ship.vessel_id, "kind": ship.kind,
                   "draft_fraction": label.draft_fraction, **physics, "sts_pair": ship.sts_pair, "truth": True}))
    return detections


def truth_stem(path: Path) -> Path:
    return path.with_name(path.stem + ".truth")


def write_truth(path: Path, world: SceneWorld, settings: SceneSettings, acquired: str | None) -> Path:
    header = {"source": path.name, "acquired": acquired, "acquired_from": "ACQUISITION_DATETIME" if acquired else None,
              "gsd_m": settings.gsd_m, "model": None, "scaling": None,
              "synthetic": {"view": world.view.to_dict(), "atmosphere": world.atmosphere.to_dict(),
                            "cues": cue_names(settings.cues)}}
    footprint = shapely.box(0, 0, settings.size, settings.size)
    geojson, _ = write_detection_files(truth_stem(path), truth_detections(world.ships, world.view, settings.cues, world.layout),
                                       header,
                                       crs=_crs(), transform=world.transform, footprint_px=footprint)
    write_tank_truth(path, world.layout, world.layout.roofs, world.view, settings.size, _crs(), world.transform, acquired)
    return geojson


def _crs():
    from rasterio.crs import CRS

    return CRS.from_string(UTM_CRS)


def check_output(path: Path, overwrite: bool) -> None:
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise ConfigError(f"{path}: the scene is a GeoTIFF; give a .tif name")
    for target in (path, truth_stem(path).with_suffix(".truth.geojson")):
        if target.exists() and not overwrite:
            raise ConfigError(f"{target}: exists (pass --overwrite to replace it)")
    if path.parent.exists() and not path.parent.is_dir():
        raise ConfigError(f"{path.parent}: not a folder")


def write_scene(path, settings: SceneSettings, seed: int, acquired: str | None = None,
                overwrite: bool = False, threads: int = 1, progress=None) -> Path:
    """Write ``path`` (GeoTIFF) and its truth GeoJSON; returns the GeoJSON's path. ``progress``: see
    :func:`write_raster`."""
    path = Path(path)
    settings.check()
    check_output(path, overwrite)
    world = compose_scene(seed, settings)
    write_raster(path, world, seed, settings, acquired, threads, progress)
    return write_truth(path, world, settings, acquired)
