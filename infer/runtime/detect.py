"""Run an exported model over a whole scene: tiles in, one merged list of vessels out.

Per scene (:func:`detect_scene`):

1. the header is read and checked against the model (bands, dtype) before any pixel is decoded;
2. one decimated read (longest side <= 2,048 px) gives the percentile stretch (once per scene,
   :class:`~tankerwatch.infer.runtime.scaling.Scaling`), the footprint of valid pixels and the quick-look;
3. the scene is cut into overlapping tiles (:mod:`tankerwatch.infer.runtime.tiling`): the overlap holds the
   longest vessel at the working GSD (with a coarse pass, step 5, the longest this pass reports),
   and a scene outside the model's ``gsd_range_m`` is resampled into it (and says so); one coarser
   than ``max_gsd_m`` (default 2 m) is enlarged to it when the model was trained at that GSD, so the
   output map's cells stay small enough to hold a peak for each of two hulls moored alongside.
   Tiles are read window by window, so memory does not grow with the scene, scaled to uint8, padded
   and sent to the model in batches (with ``tta``, each batch also mirrored three ways and each
   vessel's score the mean of its four: :mod:`~tankerwatch.infer.runtime.flips`);
4. boxes go back to full-resolution source pixels; each is kept only by the tile whose core holds
   its centre, then rotated NMS at IoU 0.5 merges what is left;
5. coarse pass, only for a model whose metadata has ``max_vessel_px`` (the longest vessel it was
   trained to box whole) when the longest vessel (:data:`~tankerwatch.infer.runtime.tiling.LONGEST_VESSEL_M`)
   at the working GSD is longer than that: steps 3-4 again over the scene resampled coarser, by
   the factor that brings that vessel down to ``max_vessel_px`` (never past the top of the model's
   GSD range; a note says when that caps it), each tile read at its model size (GDAL area
   averaging, from the file's overviews when it has them, so a cloud-optimised scene's coarse pass
   reads a fraction of its bytes). The coarse pass
   keeps its vessels longer than 0.8 x the fine pass's reach; fine boxes lying mostly inside one
   (a big ship's pieces, or its duplicate) go, and rotated NMS merges the rest
   (:func:`~tankerwatch.infer.runtime.tiling.merge_passes`). A note gives the coarse pass's GSD. A model
   without the key gets the single pass;
6. view geometry, for a model with the ``view`` input (``format_version`` 3): the scene's sun and
   view angles (:func:`~tankerwatch.infer.runtime.view_angles.resolve_angles`: the caller's, a
   sidecar, the STAC item's, the raster's tags) turned into the image frame, and fed with each
   pass's model-input GSD (the scene's times that pass's resample scale) as the view row of every
   model call; without them NaN angles, the graph's geometry-free mode, and a note;
7. load state: ``uncertain`` where ``p_loaded`` lies inside the model's ``load_uncertain_band`` or
   the GSD is coarser than its ``load_max_gsd_m`` (:func:`tankerwatch.infer.evaluation.metrics.load_call`);
   vessels rafted side by side get their raft's ``sts_pair`` id (:mod:`tankerwatch.infer.runtime.sts`);
8. ``<stem>.geojson`` + ``<stem>.csv`` (:mod:`tankerwatch.infer.runtime.detection_file`) and
   ``<stem>.quicklook.png``, each written atomically; a scene counts as done (and a rerun skips
   it) only when all three exist.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio import features
from tqdm import tqdm

from ..core.errors import ConfigError, RasterError, located
from ..core.tanker_sizes import freeboard_at
from ..evaluation.metrics import load_call
from .detection_file import Detection, build_collection, write_detection_files
from .flips import run_mirrored
from .onnx_model import OnnxDetector, Outputs
from .quicklook import detection_class, write_quicklook
from .raster import RasterInfo, inspect_raster, open_raster, read_decimated, read_window
from .scaling import STATS_MAX_SIDE, to_uint8
from .sources import Source, parse_source, resolve_source
from .sts import flag_sts_pairs
from .tiling import (
    DEFAULT_MAX_GSD_M,
    LONGEST_VESSEL_M,
    SPLIT_SHARE,
    Tile,
    TileGrid,
    assumed_gsd_m,
    coarse_factor,
    make_grid,
    merge_detections,
    merge_passes,
    resample_scale,
    tile_to_source,
    working_gsd_range,
)
from .view_angles import SceneAngles, header_member, image_frame, missing_note, resolve_angles

DEFAULT_TILE = 1024
# The operating point: a vessel confidence below this is mostly clutter for a map or a count.
DEFAULT_MIN_SCORE = 0.3
# The coarse pass reads source windows up to this side (or the fine pass's own, if larger): at its
# coarser scale a model tile of the fine pass's size would read a window `factor` times wider
# (at 0.3 m, 6,000 px: over 1 GB through the stretch of a 4-band 16-bit scene), so its tiles shrink
# instead. The fine pass itself reads windows this wide at about 0.33 m (twice the longest vessel).
COARSE_MAX_WINDOW_PX = 2048
# GDAL's block cache defaults to 5 % of RAM and fills as windows are read, so peak memory would grow
# with the scene; a tile row's worth of blocks (re-read by the overlapping next row) is what helps.
GDAL_CACHE_MB = 256
OUTPUT_SUFFIXES = (".quicklook.png", ".geojson", ".csv")  # in the order they are written


@dataclass
class SceneAnalysis:
    """One scene's detections in memory, with everything its output files need.

    ``detections`` carry boxes in full-resolution source pixels; ``header`` is the detection file's
    ``"tankerwatch"`` member less what :func:`~.detection_file.build_collection` fills in;
    ``preview`` is the decimated scene scaled to uint8 (invalid pixels 0), for the quick-look;
    ``footprint_px`` the valid pixels as a shapely geometry in source pixels. ``path`` is the
    scene's :class:`~tankerwatch.infer.runtime.sources.Source` (``.name``, ``.stem``, ``str()`` the
    input as given).
    """

    path: Source
    info: RasterInfo
    detections: list[Detection]
    header: dict
    gsd_m: float | None
    notes: list[str]
    preview: np.ndarray
    footprint_px: object

    @property
    def crs(self):
        return self.info.crs if self.info.georeferenced else None

    @property
    def transform(self):
        return self.info.transform if self.info.georeferenced else None

    def collection(self) -> dict:
        """The detection file's FeatureCollection dict (lon/lat when georeferenced)."""
        return build_collection(self.detections, self.header, self.crs, self.transform, self.footprint_px)

    def write(self, out_dir) -> list[Path]:
        """Write ``<stem>.quicklook.png``, ``<stem>.geojson`` and ``<stem>.csv`` into ``out_dir``
        (each atomically, in :data:`OUTPUT_SUFFIXES` order); returns their paths."""
        out_dir = Path(out_dir)
        quicklook_path, *_ = paths = output_paths(self.path, out_dir)
        write_quicklook(quicklook_path, self.preview, np.array([d.box_px for d in self.detections]).reshape(-1, 5),
                        [detection_class(d.vessel_type, d.load) for d in self.detections],
                        self.preview.shape[2] / self.info.width, title=self.path.name, crs=self.crs,
                        source_transform=self.transform, source_size=(self.info.width, self.info.height))
        write_detection_files(out_dir / self.path.stem, self.detections, self.header, self.crs, self.transform,
                              self.footprint_px)
        return paths


@dataclass
class SceneResult:
    """What one scene produced: its detections (source pixels) and the files written."""

    path: Source
    detections: list[Detection]
    outputs: list[Path]
    gsd_m: float | None
    notes: list[str] = field(default_factory=list)

    def summary(self, *, types_taught: bool = True, load_taught: bool = True) -> str:
        """One line: counts per class, of the classes the model was taught (``ModelInfo.types_taught``,
        ``load_taught``): vessels alone when it was not taught types, tankers without load states
        when it was not taught load."""
        head = f"{self.path.name}: {len(self.detections)} vessels"
        if not types_taught:
            return f"{head} (types not taught) -> {self.outputs[1]}"
        tankers = [d for d in self.detections if d.vessel_type == "tanker"]
        by_load = {state: sum(d.load == state for d in tankers) for state in ("empty", "loaded", "uncertain")}
        loads = (f"{by_load['empty']} empty, {by_load['loaded']} loaded, {by_load['uncertain']} uncertain"
                 if load_taught else "load not taught")
        other = len(self.detections) - len(tankers)
        return f"{head}: {len(tankers)} tankers ({loads}), {other} other -> {self.outputs[1]}"


def output_paths(path, out_dir: Path) -> list[Path]:
    """The three output files of a scene (a Path or a :class:`~tankerwatch.infer.runtime.sources.Source`:
    its ``stem``)."""
    return [out_dir / (path.stem + suffix) for suffix in OUTPUT_SUFFIXES]


def check_fits_model(info: RasterInfo, detector: OnnxDetector) -> None:
    """Refuse a raster whose bands or value type the model cannot take, naming both."""
    model = detector.info
    scaling = model.scaling
    if scaling.bands is None and info.count != model.in_channels:
        raise RasterError(located(info.path, f"{info.count} band(s) but the model takes {model.in_channels}"))
    if scaling.bands is not None and max(scaling.bands) > info.count:
        raise RasterError(located(info.path, f"the model reads bands {list(scaling.bands)} but the image has "
                                             f"{info.count}"))
    dtype = np.dtype(info.dtype)
    if dtype.kind not in "uif":
        raise RasterError(located(info.path, f"pixel type {dtype} is not numeric imagery the model can take"))
    if scaling.method == "fixed" and dtype.kind in "ui":
        low, high = scaling.value_range
        top = np.iinfo(dtype).max
        if top < high:
            raise RasterError(located(info.path, f"{dtype} pixels never reach the model's fixed value range "
                                                 f"{low:g}..{high:g}"))
        if high <= 255 < top:
            raise RasterError(located(info.path, f"{dtype} pixels would saturate the model's 8-bit fixed value "
                                                 f"range {low:g}..{high:g}"))


def scene_gsd(info: RasterInfo, gsd_override: float | None) -> float | None:
    """The scene's ground GSD: ``--gsd`` if given, else from its georeferencing, else None."""
    return gsd_override if gsd_override is not None else info.gsd_m


def tiling_gsd(gsd_m: float | None, gsd_range_m: tuple[float, float], notes: list[str]) -> float:
    """The GSD to size tiles and fill the model's view input with: the scene's, or (with a note)
    :func:`~.tiling.assumed_gsd_m`, as training read its images without one. An assumed GSD is
    never written as the scene's GSD."""
    if gsd_m is not None:
        return gsd_m
    assumed = assumed_gsd_m(gsd_range_m)
    notes.append(f"GSD unknown (no georeferencing); read as if {assumed:.2f} m, the middle of the model's range; "
                 f"pass --gsd M to set it")
    return assumed


def plan_tiles(info: RasterInfo, gsd_m: float, detector: OnnxDetector, tile: int | None,
               notes: list[str], longest_m: float = LONGEST_VESSEL_M,
               max_gsd_m: float | None = DEFAULT_MAX_GSD_M) -> TileGrid:
    """The tile grid: resampled into the model's GSD range, its top lowered to ``max_gsd_m``
    (:func:`~tankerwatch.infer.runtime.tiling.working_gsd_range`), overlap >= ``longest_m`` (the
    longest vessel this pass reports)."""
    model = detector.info
    working = working_gsd_range(model.gsd_range_m, max_gsd_m)
    scale = resample_scale(gsd_m, working)
    if working[1] < model.gsd_range_m[1] and gsd_m > working[1]:  # enlarged by --max-gsd, not the range
        notes.append(f"enlarged: scene GSD {gsd_m:.2f} m is above --max-gsd {working[1]:g} m; running at "
                     f"{gsd_m * scale:.2f} m, so hulls moored alongside are told apart")
    elif scale != 1.0:
        notes.append(f"resampling: scene GSD {gsd_m:.2f} m is outside the model's "
                     f"{model.gsd_range_m[0]:g}-{model.gsd_range_m[1]:g} m; running at {gsd_m * scale:.2f} m")
    overlap_src = int(math.ceil(longest_m / gsd_m))
    multiple = model.input_multiple
    if tile is None:
        needed = 2 * overlap_src / scale
        tile = max(DEFAULT_TILE, int(math.ceil(needed / multiple)) * multiple)
    elif tile % multiple:
        raise ConfigError(f"--tile {tile} must be a multiple of the model's input multiple {multiple}")
    return make_grid(info.width, info.height, tile, overlap_src, scale=scale, input_multiple=multiple)


@dataclass(frozen=True)
class CoarsePass:
    """The second pass's tile grid and the split length (source pixels): this pass reports vessels
    at least ``split_px`` long, and the fine pass's tiles need only hold vessels shorter than that."""

    grid: TileGrid
    split_px: float


def plan_coarse_pass(info: RasterInfo, gsd_m: float, fine: TileGrid, detector: OnnxDetector,
                     notes: list[str]) -> CoarsePass | None:
    """The coarse pass for vessels longer than the model's ``max_vessel_px`` at the fine pass's
    working GSD, or None when it reaches the longest vessel already (or the model does not say).

    ``gsd_m`` is the scene's GSD (the one the fine grid was planned with). Same overlap in source
    pixels as the fine pass (it holds the longest vessel whole at any scale); tiles of the fine
    pass's model size unless that would read windows wider than :data:`COARSE_MAX_WINDOW_PX` or the
    fine pass's own, whichever is larger, so one tile's memory stays within that of such a window
    whatever the coarsening factor.
    """
    model = detector.info
    if model.max_vessel_px is None:
        return None
    working = gsd_m * fine.scale
    factor = coarse_factor(working, model.max_vessel_px)
    if factor <= 1.0:
        return None
    reach_m = model.max_vessel_px * working
    high = model.gsd_range_m[1]
    capped = working * factor > high
    if capped:
        factor = high / working
        if factor <= 1.0:
            notes.append(f"the model boxes vessels up to {model.max_vessel_px:.0f} px ({reach_m:.0f} m at "
                         f"{working:.2f} m) and its GSD range ends there ({high:g} m), so no coarser pass: "
                         f"vessels longer than {reach_m:.0f} m may be missed or split")
            return None
    scale = fine.scale * factor
    multiple = model.input_multiple
    smallest = int(math.ceil(2 * fine.overlap_px / scale / multiple)) * multiple
    widest = max(fine.tile_px, COARSE_MAX_WINDOW_PX)
    tile = max(smallest, min(fine.model_size, int(widest / scale // multiple) * multiple))
    grid = make_grid(info.width, info.height, tile, fine.overlap_px, scale=scale, input_multiple=multiple)
    split_px = SPLIT_SHARE * model.max_vessel_px * fine.scale
    split_m = split_px * gsd_m
    note = (f"coarse pass at {working * factor:.2f} m: the model boxes vessels up to {model.max_vessel_px:.0f} px "
            f"({reach_m:.0f} m at {working:.2f} m), shorter than the longest ({LONGEST_VESSEL_M:g} m); vessels "
            f"over {split_m:.0f} m are taken from the coarse pass")
    if capped:
        note += (f" (capped at the top of the model's GSD range, {high:g} m: vessels over "
                 f"{model.max_vessel_px * high:.0f} m may still be split)")
    notes.append(note)
    return CoarsePass(grid, split_px)


def _read_tile(dataset, tile: Tile, grid: TileGrid, bands, lo, hi) -> np.ndarray:
    """uint8 ``[C, model_height, model_width]`` model input for one tile (invalid pixels 0).

    A tile shrunk on the way to the model (the coarse pass, a scene finer than the model's range) is
    read at its model size, area-averaged by GDAL, so a file's overviews serve it instead of every
    full-resolution block; one enlarged is read whole and resized bilinearly.
    """
    size = (max(1, round(tile.width / grid.scale)), max(1, round(tile.height / grid.scale)))
    shrink = grid.scale > 1
    array, valid = read_window(dataset, tile.col_off, tile.row_off, tile.width, tile.height, bands,
                               out_size=size if shrink else None)
    image = to_uint8(array, lo, hi)
    image[:, ~valid] = 0
    if grid.scale < 1:
        image = np.stack([cv2.resize(band, size, interpolation=cv2.INTER_LINEAR) for band in image])
    out = np.zeros((image.shape[0], grid.model_height, grid.model_width), dtype=np.uint8)
    h, w = min(image.shape[1], grid.model_height), min(image.shape[2], grid.model_width)
    out[:, :h, :w] = image[:, :h, :w]
    return out


def run_tiles(detector: OnnxDetector, path, grid: TileGrid, lo, hi, batch_size: int,
              progress: bool | None = None, desc: str | None = None, view=None, tta: bool = False) -> Outputs:
    """Run every tile of the raster ``path`` (a path or URL); return the merged detections (one
    image's rows, boxes in source pixels). ``view``: the pass's view row (float32 ``[5]``) for a
    model with the view input, else None. ``tta``: each batch also run mirrored, scores averaged
    (:mod:`~tankerwatch.infer.runtime.flips`)."""
    rows, owned = [], []
    bands = detector.info.scaling.bands
    tiles = list(grid)
    bar = tqdm(total=len(tiles), desc=desc or parse_source(path).name, unit="tile", file=sys.stderr, leave=False,
               disable=None if progress is None else not progress)
    with open_raster(path) as dataset, bar:
        for start in range(0, len(tiles), batch_size):
            batch = tiles[start:start + batch_size]
            images = np.stack([_read_tile(dataset, t, grid, bands, lo, hi) for t in batch])
            if tta:
                per_tile = run_mirrored(detector, images, view)
            else:
                outputs = detector.run(images, view)
                per_tile = [outputs.image(i) for i in range(len(batch))]
            for tile, found in zip(batch, per_tile, strict=True):
                found = found._replace(boxes=tile_to_source(found.boxes, tile, grid.scale))
                owned.append(tile.owns(found.boxes[:, :2]))
                rows.append(found)
            bar.update(len(batch))
    found = Outputs.concatenate(rows)
    keep = merge_detections(found.boxes, found.scores, np.concatenate(owned))
    return found.take(keep)


def combine_passes(fine: Outputs, coarse: Outputs, split_px: float, min_score: float) -> Outputs:
    """One list from the two passes (see :func:`~tankerwatch.infer.runtime.tiling.merge_passes`).

    Coarse detections under ``min_score`` go first: they would not be reported, so they must not
    remove the fine pass's boxes inside them either.
    """
    coarse = coarse.take(np.flatnonzero(coarse.scores >= min_score))
    keep = merge_passes(fine.boxes, fine.scores, coarse.boxes, coarse.scores, split_px)
    return Outputs.concatenate([fine, coarse]).take(keep)


def to_detections(found: Outputs, gsd_m: float | None, detector: OnnxDetector) -> list[Detection]:
    """Final per-vessel records: type by argmax, load state called with the model's own band.

    What the model was not taught is not read from its untrained head: a model not taught types
    gives every vessel type ``unknown`` (``type_score``, ``p_loaded`` None, load ``unknown``); one
    not taught load gives its tankers load ``unknown`` and ``p_loaded`` None.

    Laden fraction ``(central, lo, hi)`` and freeboard: for tankers whose load is read, at a GSD up
    to the model's ``load_max_gsd_m`` (or unknown), from models with the output (format_version 2)
    that training taught it (draft fractions in its labels); None otherwise. A version-3 model
    estimates the freeboard itself (output ``freeboard_m``: central, lo, hi in metres, from what it
    sees and the view row), and all three are kept. Before that the freeboard is derived: the size
    class's moulded depth less the draft the central fraction puts between its ballast and laden
    drafts, the class and its dimensions taken at the hull's length (``box length x gsd_m``; None
    without a GSD) as :func:`~tankerwatch.infer.core.tanker_sizes.freeboard_at` does; its interval
    would be the fraction's mapped through the class, not a measured one, so only the central value
    is kept.
    """
    model = detector.info
    detections = []
    none = [None] * len(found.scores)
    fractions = found.laden_fraction if found.laden_fraction is not None else none
    freeboards = found.freeboard_m if found.freeboard_m is not None else none
    fraction_visible = model.fraction_taught and (gsd_m is None or gsd_m <= model.load_max_gsd_m)
    for box, score, type_probs, load_probs, fraction, estimated in zip(
            found.boxes, found.scores, found.type_probs, found.load_probs, fractions, freeboards, strict=True):
        if not model.types_taught:
            detections.append(Detection(box_px=box, score=float(score), vessel_type="unknown", type_score=None,
                                        load="unknown", p_loaded=None))
            continue
        is_tanker = type_probs[0] >= type_probs[1]
        reads_load = is_tanker and model.load_taught
        p_loaded = float(load_probs[1])
        reads_fraction = reads_load and fraction_visible and fraction is not None
        laden = tuple(float(v) for v in fraction) if reads_fraction else None
        freeboard = freeboard_range = None
        if reads_fraction and estimated is not None:  # the model's own estimate (format_version 3)
            freeboard, freeboard_range = float(estimated[0]), (float(estimated[1]), float(estimated[2]))
        elif laden is not None and gsd_m:
            freeboard = freeboard_at(float(box[2]) * gsd_m, laden[0])
        detections.append(Detection(
            box_px=box, score=float(score), vessel_type="tanker" if is_tanker else "other",
            type_score=float(max(type_probs)),
            load=load_call(p_loaded, gsd_m, model.load_uncertain_band, model.load_max_gsd_m) if reads_load
            else "unknown",
            p_loaded=p_loaded if reads_load else None, laden_fraction=laden, freeboard_m=freeboard,
            freeboard_range_m=freeboard_range))
    return detections


def footprint(valid: np.ndarray, width: int, height: int):
    """Shapely geometry (source pixels) of the valid pixels, from a decimated mask."""
    if valid.all():
        return shapely.box(0, 0, width, height)
    to_source = Affine.scale(width / valid.shape[1], height / valid.shape[0])
    parts = [shapely.geometry.shape(geom) for geom, value in
             features.shapes(valid.astype(np.uint8), mask=valid, transform=to_source) if value]
    return shapely.union_all(parts) if parts else None


def detect_scene(detector: OnnxDetector, path, out_dir, *, tile: int | None = None, batch_size: int = 2,
                 gsd_m: float | None = None, min_score: float = 0.0, progress: bool | None = None,
                 angles: SceneAngles | None = None, max_gsd_m: float | None = DEFAULT_MAX_GSD_M,
                 tta: bool = False) -> SceneResult:
    """Detect vessels in one scene and write its three output files (see the module doc).

    Detections scoring below ``min_score`` (the operating point, recorded in the header) are left out.
    """
    analysis = analyse_scene(detector, path, tile=tile, batch_size=batch_size, gsd_m=gsd_m, min_score=min_score,
                             progress=progress, angles=angles, max_gsd_m=max_gsd_m, tta=tta)
    return write_result(analysis, out_dir)


def write_result(analysis: SceneAnalysis, out_dir) -> SceneResult:
    """Write an analysed scene's three files into ``out_dir`` and return what the scene produced."""
    return SceneResult(analysis.path, analysis.detections, analysis.write(out_dir), analysis.gsd_m, analysis.notes)


def analyse_scene(detector: OnnxDetector, path, *, tile: int | None = None, batch_size: int = 2,
                  gsd_m: float | None = None, min_score: float = 0.0,
                  progress: bool | None = None, angles: SceneAngles | None = None,
                  max_gsd_m: float | None = DEFAULT_MAX_GSD_M, tta: bool = False) -> SceneAnalysis:
    """Steps 1-7 of the module doc for one scene, nothing written: ``path`` is anything
    :func:`~tankerwatch.infer.runtime.sources.resolve_source` takes (a path, GDAL path, URL or STAC
    item, as a Path, text or Source). ``angles``: the caller's sun and view angles (flags, a sidecar
    given, the API's), ahead of the scene's own; used only by a model with the view input.
    ``max_gsd_m``: a scene coarser than this runs enlarged to it, when the model's GSD range holds
    it (step 3; None: at the model's range). ``tta``: test-time flips
    (:mod:`~tankerwatch.infer.runtime.flips`), four model calls a tile."""
    # The cap covers every read of the scene, the decimated one too: GDAL's default cache (5 % of
    # RAM) would keep a large scene's decoded blocks from that read (over a GB at 20,000 px).
    # rasterio passes an integer GDAL_CACHEMAX on as bytes (GDAL alone would read a small number
    # as MB), so the cap is given in bytes: a bare MB figure would be a cache of a few hundred bytes.
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20):
        return _analyse_scene(detector, resolve_source(path), tile, batch_size, gsd_m, min_score, progress, angles,
                              max_gsd_m, tta)


def scene_view(detector: OnnxDetector, source: Source, info: RasterInfo, given: SceneAngles | None,
               notes: list[str]) -> tuple[dict | None, object]:
    """The header's ``view`` member and the scene's :class:`~.view_angles.ImageAngles` for a model
    with the view input (notes say when they are missing or taken as north up); ``(None, None)``
    for an older model, which takes no angles."""
    if not detector.info.view_input:
        return None, None
    angles = resolve_angles(info.path, info.view_tags, given=given, stac_view=source.view, stac_where=str(source))
    crs = info.crs if info.georeferenced else None
    image = image_frame(angles, crs, info.transform, info.width, info.height)
    if not image.known:
        notes.append(missing_note(angles))
    elif crs is None:
        notes.append(f"no georeferencing: the azimuths ({angles.source}) are taken in the image frame, as if "
                     f"north were up")
    return header_member(angles, image), image


def _analyse_scene(detector: OnnxDetector, source: Source, tile: int | None, batch_size: int,
                   gsd_m: float | None, min_score: float, progress: bool | None,
                   angles: SceneAngles | None, max_gsd_m: float | None, tta: bool) -> SceneAnalysis:
    path = source.raster
    info = inspect_raster(path)
    check_fits_model(info, detector)
    notes: list[str] = []
    view, image_angles = scene_view(detector, source, info, angles, notes)
    model = detector.info
    gsd = scene_gsd(info, gsd_m)
    grid_gsd = tiling_gsd(gsd, model.gsd_range_m, notes)
    grid = plan_tiles(info, grid_gsd, detector, tile, notes, max_gsd_m=max_gsd_m)
    coarse = plan_coarse_pass(info, grid_gsd, grid, detector, notes)
    if coarse is not None:
        # The fine pass reports only vessels shorter than the split, so its overlap need hold only
        # those: at 1 m that is about 150 px instead of 340, a third fewer tiles, which more than
        # pays for the coarse pass. (Its notes are already in from the first plan.)
        grid = plan_tiles(info, grid_gsd, detector, tile, [], longest_m=coarse.split_px * grid_gsd,
                          max_gsd_m=max_gsd_m)
    scaling = model.scaling
    preview, valid = read_decimated(path, STATS_MAX_SIDE, bands=scaling.bands)
    lo, hi = scaling.limits(preview, valid)

    def view_row(pass_grid: TileGrid):  # each pass's model input has its own GSD
        return None if image_angles is None else image_angles.row(grid_gsd * pass_grid.scale)

    found = run_tiles(detector, path, grid, lo, hi, batch_size, progress, desc=source.name, view=view_row(grid), tta=tta)
    if coarse is not None:
        found = combine_passes(found, run_tiles(detector, path, coarse.grid, lo, hi, batch_size, progress,
                                                desc=f"{source.name} (coarse)", view=view_row(coarse.grid), tta=tta),
                               coarse.split_px, min_score)
    detections = flag_sts_pairs([d for d in to_detections(found, gsd, detector) if d.score >= min_score], gsd)
    header = {
        "source": source.header_name,
        # A STAC item's datetime is the catalogue's record of the scene: it wins over a file tag.
        "acquired": source.acquired or info.acquired,
        "acquired_from": source.acquired_from or ("ACQUISITION_DATETIME" if info.acquired else None),
        "gsd_m": None if gsd is None else round(gsd, 4),
        "model": model.summary(),
        "min_score": min_score,
        "scaling": {**scaling.to_dict(), "limits": [[round(float(a), 6), round(float(b), 6)]
                                                    for a, b in zip(lo, hi, strict=True)]},
        "tiling": {"tile_px": grid.tile_px, "overlap_px": grid.overlap_px, "model_gsd_m": round(grid_gsd * grid.scale, 4),
                   "test_time_flips": tta},
    }
    if source.stac is not None:
        header["stac"] = {**source.stac, **({"view": source.view} if source.view is not None else {})}
    if view is not None:
        header["view"] = view
    return SceneAnalysis(source, info, detections, header, gsd, notes,
                         to_uint8(preview, lo, hi) * valid[None].astype(np.uint8),
                         footprint(valid, info.width, info.height))
