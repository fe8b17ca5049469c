"""Encode labelled boxes as the detector's training targets (the inverse of ``models/decode.py``).

For an output map of stride ``s`` and a box ``(cx, cy, L, W, a)`` in input pixels (project box
convention): its peak cell is ``(floor(cx / s), floor(cy / s))``; the heatmap holds an oriented
Gaussian around that cell (sigmas along and across the hull grow with L and W), the maximum over
vessels; the regression at the peak cell is ``(cx / s - i - 0.5, cy / s - j - 0.5, log(L / s),
log(W / s), sin 2a, cos 2a)``. Type classes are written on the peak cell and its 8 neighbours
(the decoder may peak one cell off), -1 where unknown.

Load state is learnt from hull windows (``models/load_head.py``), not from the maps: each training
crop lists up to ``MAX_LOAD_BOXES`` boxes with a known load (:func:`hull_load_targets`). Load is -1
where the image's GSD is above ``load_max_gsd_m`` (the cue is not in the pixels there, so nothing is
learnt from it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tankerwatch.infer.labels import LoadState, VesselType

TYPE_INDEX = {VesselType.TANKER: 0, VesselType.OTHER: 1}
LOAD_INDEX = {LoadState.EMPTY: 0, LoadState.LOADED: 1}
IGNORE = -1
# The smallest Gaussian sigma (cells): a 4 px ship at stride 2 still gets a peak of a few cells.
MIN_SIGMA = 0.5
SIGMA_PER_CELL = 0.15
# Load-labelled boxes per training crop given to the hull-window head (crops hold a few vessels).
MAX_LOAD_BOXES = 8
# A box side below this many pixels would give log(0): the smallest label a mask can give is 1 px.
MIN_SIDE_PX = 1.0


@dataclass
class VesselTargets:
    """Boxes ``[M, 5]`` (input pixels), type ``[M]`` and load ``[M]`` class indices (-1 unknown)."""

    boxes: np.ndarray
    types: np.ndarray
    loads: np.ndarray


def vessel_classes(vessels, gsd_m: float | None, load_max_gsd_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Type and load indices for ``vessels`` (labels.Vessel), with load masked above ``load_max_gsd_m``.

    An image of unknown GSD keeps its load labels: whoever labelled load could see it.
    """
    load_visible = gsd_m is None or gsd_m <= load_max_gsd_m
    types = np.array([TYPE_INDEX.get(v.vessel_type, IGNORE) for v in vessels], dtype=np.int64)
    loads = np.array([LOAD_INDEX.get(v.load, IGNORE) if load_visible else IGNORE for v in vessels],
                     dtype=np.int64)
    return types, loads


def encode_targets(targets: VesselTargets, height: int, width: int, stride: int) -> dict[str, np.ndarray]:
    """Dense targets for an input of ``height x width`` px: ``heatmap [1,h,w]`` f32, ``reg [6,h,w]``
    f32, ``reg_mask [h,w]`` f32 and ``type [h,w]`` int64 (-1 = no label), with
    ``h = ceil(height / stride)``, ``w = ceil(width / stride)``. Boxes whose centre is outside the
    input are left out."""
    h, w = math.ceil(height / stride), math.ceil(width / stride)
    heat = np.zeros((h, w), np.float32)
    reg = np.zeros((6, h, w), np.float32)
    reg_mask = np.zeros((h, w), np.float32)
    type_map = np.full((h, w), IGNORE, np.int64)
    # Smaller vessels last, so where two peaks share a cell the one easier to lose wins it.
    order = np.argsort(-np.asarray(targets.boxes)[:, 2], kind="stable") if len(targets.boxes) else []
    for k in order:
        cx, cy, length, breadth, angle = (float(v) for v in targets.boxes[k])
        if not (0 <= cx < width and 0 <= cy < height):
            continue
        i, j = min(int(cx // stride), w - 1), min(int(cy // stride), h - 1)
        _splat_gaussian(heat, i, j, length / stride, breadth / stride, angle)
        reg[:, j, i] = (cx / stride - i - 0.5, cy / stride - j - 0.5,
                        math.log(max(length, MIN_SIDE_PX) / stride), math.log(max(breadth, MIN_SIDE_PX) / stride),
                        math.sin(2 * angle), math.cos(2 * angle))
        reg_mask[j, i] = 1.0
        rows, cols = slice(max(j - 1, 0), j + 2), slice(max(i - 1, 0), i + 2)
        type_map[rows, cols] = targets.types[k]
    return {"heatmap": heat[None], "reg": reg, "reg_mask": reg_mask, "type": type_map}


def hull_load_targets(boxes: np.ndarray, loads: np.ndarray, crop_size: int) -> dict[str, np.ndarray]:
    """Fixed-size load targets for the hull-window head: ``load_boxes [MAX_LOAD_BOXES, 5]`` f32 and
    ``load [MAX_LOAD_BOXES]`` int64 (-1 = padding), for boxes with a known load whose centre lies in
    the crop (the first ``MAX_LOAD_BOXES`` of them)."""
    load_boxes = np.zeros((MAX_LOAD_BOXES, 5), np.float32)
    load = np.full(MAX_LOAD_BOXES, IGNORE, np.int64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    inside = (boxes[:, 0] >= 0) & (boxes[:, 0] < crop_size) & (boxes[:, 1] >= 0) & (boxes[:, 1] < crop_size)
    chosen = np.flatnonzero(inside & (np.asarray(loads) >= 0))[:MAX_LOAD_BOXES]
    load_boxes[: len(chosen)] = boxes[chosen]
    load[: len(chosen)] = np.asarray(loads)[chosen]
    return {"load_boxes": load_boxes, "load": load}


def _splat_gaussian(heat: np.ndarray, i: int, j: int, length_cells: float, width_cells: float, angle: float):
    """Max an oriented Gaussian peaking at 1.0 on cell ``(i, j)`` into ``heat``."""
    sigma_l = max(MIN_SIGMA, SIGMA_PER_CELL * length_cells)
    sigma_w = max(MIN_SIGMA, SIGMA_PER_CELL * width_cells)
    radius = int(math.ceil(3 * sigma_l))
    h, w = heat.shape
    y0, y1, x0, x1 = max(j - radius, 0), min(j + radius + 1, h), max(i - radius, 0), min(i + radius + 1, w)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dx, dy = xx - i, yy - j
    along = dx * math.cos(angle) + dy * math.sin(angle)
    across = -dx * math.sin(angle) + dy * math.cos(angle)
    g = np.exp(-0.5 * ((along / sigma_l) ** 2 + (across / sigma_w) ** 2)).astype(np.float32)
    np.maximum(heat[y0:y1, x0:x1], g, out=heat[y0:y1, x0:x1])
