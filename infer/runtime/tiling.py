"""Cut a scene into overlapping tiles and merge the tiles' detections back into one list.

All positions here are in **source-raster pixels** (GDAL frame: x = column, y = row, origin at the
top-left corner of the top-left pixel). A tile is a square window of the source raster that is
resampled to ``model_size`` x ``model_size`` model-input pixels, so ``scale = source px per model
px`` (1 when the scene's GSD is inside the model's range; see :func:`resample_scale`).

Ownership rule (CONVENTIONS.md, "Tiling large scenes"): neighbouring tiles overlap by at least the
longest vessel; each tile *owns* a core region, and the cores partition the scene: the boundary
between two neighbours is the middle of their overlap. A vessel whose centre lies in a core is
therefore at least half an overlap away from that tile's cut edges, i.e. whole inside it, so each
vessel is kept by exactly one tile. Rotated NMS (IoU 0.5) then removes what duplicates remain.

Two passes (:func:`coarse_factor`, :func:`merge_passes`): a model boxes vessels whole only up to
its ``max_vessel_px``; when the longest vessel at the working GSD is longer, ``detect`` runs the
scene a second time, resampled coarser, and the coarse pass contributes the vessels longer than a
split length; fine boxes lying mostly inside a kept coarse box (the pieces a big ship falls into at
the fine scale, or the fine pass's duplicate of it) are dropped, then rotated NMS merges the rest.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import shapely

from ..core.boxes import boxes_to_polygons, intersection_over_area, rotated_nms
from ..core.components import component_labels
from ..core.errors import ConfigError

# Scenes coarser than this run enlarged to it when the model was trained there (working_gsd_range):
# the stride-4 map's cells are then 8 m, so two hulls moored alongside (beams 10-60 m) keep a peak
# each, where at 3 m (12 m cells) one 3 x 3 peak window held both (docs/experiments.md, 2026-12-04 night, second).
DEFAULT_MAX_GSD_M = 2.0
# The longest vessel the overlap must hold whole: a VLCC is about 330 m (CONVENTIONS.md).
LONGEST_VESSEL_M = 340.0
MERGE_IOU = 0.5
# Two-pass split, as a share of the fine pass's reach (max_vessel_px at the fine scale): max_vessel_px
# is the 99th percentile of the training lengths, so vessels near it were rare in training and their
# fine boxes are the first to come out short or in pieces, while the coarse pass sees the same
# vessel at 1/factor of that length, well inside its reach. Below 0.8 the fine pass has the
# resolution (a small vessel is a few pixels in the coarse pass), above it the coarse pass is safer.
SPLIT_SHARE = 0.8
# A fine box with at least this share of its own area inside a kept coarse box is a piece of that
# vessel. Pieces lie almost wholly inside (0.8-1.0 after the coarse box's error of a coarse pixel or
# so); a tug or a ship-to-ship partner moored alongside shares only the strip where the boxes'
# edges overlap, under half its area unless it is drawn onto the big hull.
CONTAINED_SHARE = 0.6


@dataclass(frozen=True)
class Tile:
    """One window of the source raster and the region of the scene it owns.

    ``col_off, row_off, width, height``: the source window (integers; ``width``/``height`` may be
    smaller than the grid's tile size at a scene smaller than one tile). ``core``: ``(x0, y0, x1,
    y1)`` in source pixels, half-open; the cores of a grid partition the scene.
    """

    col_off: int
    row_off: int
    width: int
    height: int
    core: tuple[float, float, float, float]

    def owns(self, centres: np.ndarray) -> np.ndarray:
        """Boolean mask of which centres ``[N, 2]`` (source pixels) lie in this tile's core."""
        x0, y0, x1, y1 = self.core
        c = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
        return (c[:, 0] >= x0) & (c[:, 0] < x1) & (c[:, 1] >= y0) & (c[:, 1] < y1)


@dataclass(frozen=True)
class TileGrid:
    """The tiles covering a ``width`` x ``height`` scene.

    ``tile_px`` and ``overlap_px`` are in source pixels; ``model_size`` is the nominal model-input
    tile size and ``scale`` = source pixels per model pixel = ``tile_px / model_size``. Every tile
    is resampled to that scale and zero-padded to ``model_height`` x ``model_width`` (equal to
    ``model_size`` unless the scene is smaller than one tile), so all tiles batch together.
    """

    width: int
    height: int
    tile_px: int
    overlap_px: int
    model_size: int
    model_width: int
    model_height: int
    tiles: tuple[Tile, ...]

    @property
    def scale(self) -> float:
        return self.tile_px / self.model_size

    def __len__(self) -> int:
        return len(self.tiles)

    def __iter__(self) -> Iterator[Tile]:
        return iter(self.tiles)


def min_overlap_px(gsd_m: float | None, longest_m: float = LONGEST_VESSEL_M) -> int:
    """Overlap (source pixels) that holds the longest vessel whole at this GSD.

    Without a known GSD there is no way to tell a vessel's size in pixels; the caller must then
    pass the overlap itself (``detect --gsd`` tells it the GSD).
    """
    if gsd_m is None or not gsd_m > 0:
        raise ConfigError("the scene's GSD is unknown, so the tile overlap cannot be sized; pass --gsd M")
    return int(math.ceil(longest_m / gsd_m))


# What a model without a recorded GSD range (none of its training images had a GSD) takes an
# image without a GSD to be: the scale the project's figures and defaults are stated at.
UNRANGED_GSD_M = 1.0


def assumed_gsd_m(gsd_range_m: tuple[float, float] | None) -> float:
    """The ground GSD (metres per pixel) an image without one is taken to have, by ``detect`` (to
    size tiles, and in the model's view input) and by ``fit``, ``calibrate`` and ``export``'s
    scoring (in the view input) alike: the geometric middle of the model's ``gsd_range_m``, or
    :data:`UNRANGED_GSD_M` for a model without one. One rule, so that a load calibration fitted on
    such images holds for such scenes."""
    if gsd_range_m is None:
        return UNRANGED_GSD_M
    low, high = gsd_range_m
    return math.sqrt(low * high)


def working_gsd_range(gsd_range_m: tuple[float, float], max_gsd_m: float | None) -> tuple[float, float]:
    """The GSD range ``detect`` runs a scene in: the model's, its top lowered to ``max_gsd_m`` when
    that lies inside it (a scene coarser than ``max_gsd_m`` is then enlarged to it, a GSD the model
    was trained at); the model's own when ``max_gsd_m`` is None or outside it (never enlarge a scene
    to a GSD the model has not seen)."""
    low, high = gsd_range_m
    if max_gsd_m is None or not low <= max_gsd_m < high:
        return low, high
    return low, max_gsd_m


def resample_scale(gsd_m: float | None, gsd_range_m: tuple[float, float]) -> float:
    """Source pixels per model pixel: 1 inside the model's GSD range, else the factor that brings
    the scene to the nearest end of the range (>1 shrinks a fine scene, <1 enlarges a coarse one)."""
    if gsd_m is None:
        return 1.0
    low, high = gsd_range_m
    if gsd_m < low:
        return low / gsd_m
    if gsd_m > high:
        return high / gsd_m
    return 1.0


def zoom_bands(image: np.ndarray, zoom: float) -> np.ndarray:
    """uint8 ``[C, H, W]`` resized by ``zoom`` output pixels per input pixel (``1 / resample_scale``):
    area averaging when shrinking (no aliasing), bilinear when enlarging. cv2 maps with the factor
    itself, so output pixel ``(x, y)`` samples input ``(x / zoom, y / zoom)`` and boxes found in the
    output map back by dividing by ``zoom`` exactly."""
    if zoom == 1.0:
        return image
    method = cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(image.transpose(1, 2, 0)), None, fx=zoom, fy=zoom, interpolation=method)
    return (resized[..., None] if resized.ndim == 2 else resized).transpose(2, 0, 1)


def coarse_factor(gsd_m: float, max_vessel_px: float, longest_m: float = LONGEST_VESSEL_M) -> float:
    """How much coarser than ``gsd_m`` (the working GSD, the model's input pixels) a second pass
    must run for a vessel of ``longest_m`` to be at most ``max_vessel_px`` long; 1 when it already
    is (no second pass needed)."""
    return max(1.0, longest_m / gsd_m / max_vessel_px)


def _round_up(value: float, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def _starts(extent: int, tile: int, stride: int) -> list[int]:
    """Tile origins along one axis: as few tiles as a step of at most ``stride`` allows, spread
    evenly from edge to edge (so every overlap is at least ``tile - stride``)."""
    if extent <= tile:
        return [0]
    steps = math.ceil((extent - tile) / stride)
    return [round(i * (extent - tile) / steps) for i in range(steps + 1)]


def _cores(starts: list[int], tile: int) -> list[tuple[float, float]]:
    """Half-open core interval of each tile: cut in the middle of each overlap; the outer cores
    reach to infinity, so centres a model puts just outside the scene still have one owner."""
    bounds = [-math.inf] + [(nxt + prev + tile) / 2 for prev, nxt in zip(starts[:-1], starts[1:], strict=True)] + [math.inf]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def make_grid(width: int, height: int, model_size: int, overlap_px: int, *, scale: float = 1.0,
              input_multiple: int = 1) -> TileGrid:
    """Tiles of ``model_size`` model pixels (``model_size * scale`` source pixels) over a scene.

    ``overlap_px`` (source pixels) must be at most half the source tile size (tile >= 2 x overlap),
    so the stride is at least the overlap. ``model_size`` must be a multiple of ``input_multiple``.
    A scene smaller than a tile along an axis gets a single tile there, padded up to the next
    multiple of ``input_multiple`` rather than to the full tile size.
    """
    if width <= 0 or height <= 0:
        raise ConfigError(f"scene size must be positive, got {width} x {height}")
    if model_size <= 0 or model_size % input_multiple:
        raise ConfigError(f"tile size {model_size} must be a positive multiple of the model's "
                          f"input multiple {input_multiple}")
    tile_px = max(1, int(round(model_size * scale)))
    if 2 * overlap_px > tile_px:
        needed = _round_up(2 * overlap_px / scale, input_multiple)
        raise ConfigError(f"tile {model_size} px is smaller than twice the overlap this GSD needs "
                          f"({overlap_px} source px x 2 at {scale:g} source px per model px); use --tile {needed} "
                          f"or larger")
    stride = tile_px - overlap_px
    xs, ys = _starts(width, tile_px, stride), _starts(height, tile_px, stride)
    x_cores, y_cores = _cores(xs, tile_px), _cores(ys, tile_px)
    tiles = tuple(
        Tile(x, y, min(tile_px, width - x), min(tile_px, height - y), (cx[0], cy[0], cx[1], cy[1]))
        for y, cy in zip(ys, y_cores, strict=True) for x, cx in zip(xs, x_cores, strict=True)
    )
    # A scene smaller than one tile along an axis: the model input there only needs to hold it.
    model_w = model_size if width >= tile_px else _round_up(width / scale, input_multiple)
    model_h = model_size if height >= tile_px else _round_up(height / scale, input_multiple)
    return TileGrid(width, height, tile_px, overlap_px, model_size, model_w, model_h, tiles)


def tile_to_source(boxes: np.ndarray, tile: Tile, scale: float) -> np.ndarray:
    """Boxes ``[K, 5]`` in a tile's model-input pixels -> source pixels (angle kept: the resampling
    is isotropic)."""
    out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 5)
    out[:, 0] = tile.col_off + out[:, 0] * scale
    out[:, 1] = tile.row_off + out[:, 1] * scale
    out[:, 2:4] *= scale
    return out


def _overlap_groups(boxes: np.ndarray) -> list[np.ndarray]:
    """Indices of boxes grouped so that boxes whose outlines touch share a group (connected
    components of the "intersects" graph, found with an R-tree)."""
    polygons = boxes_to_polygons(boxes)
    pairs = shapely.STRtree(polygons).query(polygons, predicate="intersects")
    roots = component_labels(len(boxes), zip(*pairs, strict=True))
    order = np.argsort(roots, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(roots[order])) + 1)


def merge_detections(boxes: np.ndarray, scores: np.ndarray, owner_ok: np.ndarray,
                     iou_threshold: float = MERGE_IOU) -> np.ndarray:
    """Indices (into the concatenated per-tile detections) that survive the merge.

    ``owner_ok`` says, per detection, whether its tile owns its centre (:meth:`Tile.owns`); the
    rest are dropped before rotated NMS across tiles. NMS runs per group of touching boxes, which
    gives the same result as one NMS over the scene without its N x N IoU matrix (a large scene
    holds tens of thousands of boxes). Returned highest score first.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    scores = np.asarray(scores, dtype=np.float64)
    candidates = np.flatnonzero(np.asarray(owner_ok, dtype=bool))
    if len(candidates) == 0:
        return candidates.astype(np.int64)
    kept = []
    for group in _overlap_groups(boxes[candidates]):
        members = candidates[group]
        kept.extend(members[rotated_nms(boxes[members], scores[members], iou_threshold)])
    kept = np.asarray(kept, dtype=np.int64)
    return kept[np.argsort(-scores[kept], kind="stable")]


def merge_passes(fine_boxes: np.ndarray, fine_scores: np.ndarray, coarse_boxes: np.ndarray,
                 coarse_scores: np.ndarray, split_px: float, contained_share: float = CONTAINED_SHARE,
                 iou_threshold: float = MERGE_IOU) -> np.ndarray:
    """Indices into ``concatenate([fine, coarse])`` of the vessels a two-pass run reports.

    Boxes are in source pixels, each pass already merged across its tiles. The coarse pass keeps its
    vessels at least ``split_px`` long (shorter ones are a few coarse pixels, boxed better by the
    fine pass); a fine box with ``contained_share`` or more of its area inside a kept coarse box is
    dropped (the fine pass's pieces of a vessel too long for it, or its duplicate of one); rotated
    NMS at ``iou_threshold`` merges what remains. A fine box over ``split_px`` that no coarse box
    covers stays: a long vessel the coarse pass missed is better reported from the fine pass than
    not at all. Returned highest score first.
    """
    fine_boxes = np.asarray(fine_boxes, dtype=np.float64).reshape(-1, 5)
    coarse_boxes = np.asarray(coarse_boxes, dtype=np.float64).reshape(-1, 5)
    fine = np.arange(len(fine_boxes))
    coarse = np.flatnonzero(coarse_boxes[:, 2] >= split_px)
    if len(fine) and len(coarse):
        inside = intersection_over_area(fine_boxes[fine], coarse_boxes[coarse]).max(axis=1) >= contained_share
        fine = fine[~inside]
    boxes = np.concatenate([fine_boxes, coarse_boxes])
    scores = np.concatenate([np.asarray(fine_scores, dtype=np.float64).reshape(-1),
                             np.asarray(coarse_scores, dtype=np.float64).reshape(-1)])
    candidates = np.zeros(len(boxes), dtype=bool)
    candidates[fine] = True
    candidates[len(fine_boxes) + coarse] = True
    return merge_detections(boxes, scores, candidates, iou_threshold)
