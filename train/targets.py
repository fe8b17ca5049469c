"""Encode labelled boxes as the detector's training targets (the inverse of ``models/decode.py``).

For an output map of stride ``s`` and a box ``(cx, cy, L, W, a)`` in input pixels (project box
convention): its peak cell is ``(floor(cx / s), floor(cy / s))``; the heatmap holds an oriented
Gaussian around that cell (sigmas along and across the hull grow with L and W), the maximum over
vessels. The regression target at a cell ``(i, j)`` is ``(cx / s - i - 0.5, cy / s - j - 0.5,
log(L / s), log(W / s), sin 2a, cos 2a)``; it is written on the peak cell and its 8 neighbours,
because the decoded heatmap peak lands one cell off for about a third of vessels (a centre near a
cell edge) and a regression trained only at the true peak cell is untrained there. Each of those
cells is weighted by the vessel's Gaussian value there, normalised so every vessel's weights sum to
1 (``reg_weight``); a cell two vessels share goes to the one whose Gaussian is higher there (the
smaller vessel on a tie). Type classes are written on the same 3 x 3 cells, -1 where unknown.

Load state is learnt from profiles across each hull (``models/hull_profile.py``), not from the
maps, and type from the maps and hull windows (``models/hull_window.py``): each training crop lists up to ``MAX_WINDOW_BOXES`` boxes with known cue widths or type
(:func:`hull_window_targets`). The load stage learns to measure the widths of each hull's shadow
and visible side where the labels give them (synthetic truth, :func:`vessel_cue_widths`; -1
elsewhere, and :data:`UNREADABLE` for a shadow that lies on a quay or another hull, which it
learns to say it cannot measure); load state, laden fraction and freeboard follow from those widths and the scene's
angles by geometry (``models/freeboard.py``), so load labels alone teach it nothing. Load labels
are -1 where the image's GSD is above ``load_max_gsd_m`` (the cue is not in the pixels there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from tankerwatch.infer.core.labels import ANGLE_KEYS, LoadState, VesselType
from tankerwatch.models.freeboard import GEOMETRY_FEATURES, cue_directions, cue_sides, expected_cue_widths

TYPE_INDEX = {VesselType.TANKER: 0, VesselType.OTHER: 1}
LOAD_INDEX = {LoadState.EMPTY: 0, LoadState.LOADED: 1}
IGNORE = -1
# A cue width target meaning "there, but not readable as freeboard": the shadow lies on a structure
# above the water or on another hull (infer/synth/shadow_ground.py). The load stage is taught a
# large error scale there, not a width (train/losses.py).
UNREADABLE = -2.0
# The smallest Gaussian sigma (cells): a 4 px ship at stride 2 still gets a peak of a few cells.
MIN_SIGMA = 0.5
SIGMA_PER_CELL = 0.15
# Gaussian values below this do not earn a regression target (a 3 x 3 corner of the smallest vessel).
MIN_REG_GAUSSIAN = 0.01
# Labelled boxes per training crop given to the hull-window heads (a 256 px crop holds a few
# vessels; a crowded berth more, of which the load-labelled ones are kept first).
MAX_WINDOW_BOXES = 12
# A box side below this many pixels would give log(0): the smallest label a mask can give is 1 px.
MIN_SIDE_PX = 1.0


def cue_labelled(widths):
    """Which rows of cue width targets ``[..., 2]`` (numpy or torch) teach the load stage: both
    widths given, or given as :data:`UNREADABLE`."""
    return ((widths >= 0) | (widths == UNREADABLE)).all(-1)


def vessel_cue_widths(vessels, gsd_m: float | None) -> np.ndarray:
    """``[M, 2]`` f32: the drawn widths of each tanker's shadow and visible hull side
    (``shadow_width_m``, ``side_strip_m``) in units of its label box's width, -1 for other vessels
    and where the labels do not give them or the image's GSD is unknown; the shadow's is
    :data:`UNREADABLE` where its ``shadow_surface`` is not the water. Box widths, not metres or
    pixels: the unit scales with the image, so crops, resizing and rotation leave the targets as
    they are. Tankers only: the stage reads tankers' load, and other hulls' windows (a barge's, a
    tug's) would cost steps without teaching it more about tankers' decks and sides."""
    out = np.full((len(vessels), 2), IGNORE, np.float32)
    if gsd_m is None:
        return out
    for i, vessel in enumerate(vessels):
        if (vessel.vessel_type is VesselType.TANKER and vessel.shadow_width_m is not None
                and vessel.side_strip_m is not None):
            out[i] = np.array([vessel.shadow_width_m, vessel.side_strip_m]) / (vessel.box[3] * gsd_m)
            if vessel.shadow_surface not in (None, "water"):
                out[i, 0] = UNREADABLE
    return out


def labelled_view_row(image, gsd_m: float) -> torch.Tensor:
    """``[1, 5]`` float64 view row (``models/detector.py``) of a labelled ``image`` at ``gsd_m``
    metres per pixel: the GSD, then its labelled angles, NaN where unknown."""
    angles = image.angles or {}
    return torch.tensor([[gsd_m, *(angles.get(key, math.nan) for key in ANGLE_KEYS)]], dtype=torch.float64)


def scene_cue_directions(image) -> np.ndarray:
    """``[2, 2]`` f64: where the labelled ``image``'s shadows fall and where its sensor lies, as
    unit vectors in its own pixel frame (:func:`tankerwatch.models.freeboard.cue_directions`),
    zeros where its angles are unknown. Crops keep them; training's turns and mirrors move them
    (``train/augment.py``)."""
    return cue_directions(labelled_view_row(image, 1.0))[0].numpy()


def vessel_cue_geometry(image, gsd_m: float | None) -> np.ndarray:
    """``[M, GEOMETRY_FEATURES]`` f32: what the load stage's error scales read of the scene's
    angles for each vessel of the labelled ``image``
    (:func:`tankerwatch.models.freeboard.expected_cue_widths` of its label boxes), zeros where the
    image's angles or GSD are unknown. Computed on the label boxes in the image's own frame: the
    figures depend only on angles between the hull, the sun and the sensor and on sizes in metres,
    so crops, rescaling, turns and flips leave them as they are."""
    boxes = image.boxes()
    if gsd_m is None or not len(boxes):
        return np.zeros((len(boxes), GEOMETRY_FEATURES), np.float32)
    view = labelled_view_row(image, gsd_m)
    geometry = expected_cue_widths(torch.from_numpy(np.asarray(boxes, np.float64))[None], view)
    return geometry[0].numpy().astype(np.float32)


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
    visible = load_visible(gsd_m, load_max_gsd_m)
    types = np.array([TYPE_INDEX.get(v.vessel_type, IGNORE) for v in vessels], dtype=np.int64)
    loads = np.array([LOAD_INDEX.get(v.load, IGNORE) if visible else IGNORE for v in vessels],
                     dtype=np.int64)
    return types, loads


def load_visible(gsd_m: float | None, load_max_gsd_m: float) -> bool:
    """Whether a crop at ``gsd_m`` (metres per pixel as the model sees it) teaches load: at most
    ``load_max_gsd_m``, or unknown (whoever labelled load could see it)."""
    return gsd_m is None or gsd_m <= load_max_gsd_m


def encode_targets(targets: VesselTargets, height: int, width: int, stride: int) -> dict[str, np.ndarray]:
    """Dense targets for an input of ``height x width`` px: ``heatmap [1,h,w]`` f32, ``reg [6,h,w]``
    f32, ``reg_weight [h,w]`` f32 (sums to the number of vessels) and ``type [h,w]`` int64 (-1 = no
    label), with ``h = ceil(height / stride)``, ``w = ceil(width / stride)``. Boxes whose centre is
    outside the input are left out."""
    h, w = math.ceil(height / stride), math.ceil(width / stride)
    heat = np.zeros((h, w), np.float32)
    reg = np.zeros((6, h, w), np.float32)
    owner_gaussian = np.zeros((h, w), np.float32)
    owner = np.full((h, w), -1, np.int64)
    type_map = np.full((h, w), IGNORE, np.int64)
    # Smaller vessels last, so where two vessels tie for a cell the one easier to lose wins it.
    order = np.argsort(-np.asarray(targets.boxes)[:, 2], kind="stable") if len(targets.boxes) else []
    for k in order:
        cx, cy, length, breadth, angle = (float(v) for v in targets.boxes[k])
        if not (0 <= cx < width and 0 <= cy < height):
            continue
        i, j = min(int(cx // stride), w - 1), min(int(cy // stride), h - 1)
        _splat_gaussian(heat, i, j, length / stride, breadth / stride, angle)
        rows, cols = slice(max(j - 1, 0), min(j + 2, h)), slice(max(i - 1, 0), min(i + 2, w))
        gaussian = _oriented_gaussian(rows, cols, i, j, length / stride, breadth / stride, angle)
        won = (gaussian >= owner_gaussian[rows, cols]) & (gaussian >= MIN_REG_GAUSSIAN)
        won[j - rows.start, i - cols.start] = True  # its own peak cell always
        owner_gaussian[rows, cols][won] = gaussian[won]
        owner[rows, cols][won] = k
        cell_x = np.arange(cols.start, cols.stop)[None, :] + 0.5
        cell_y = np.arange(rows.start, rows.stop)[:, None] + 0.5
        values = (cx / stride - cell_x, cy / stride - cell_y,
                  math.log(max(length, MIN_SIDE_PX) / stride), math.log(max(breadth, MIN_SIDE_PX) / stride),
                  math.sin(2 * angle), math.cos(2 * angle))
        for channel, value in enumerate(values):
            reg[channel, rows, cols][won] = np.broadcast_to(value, won.shape)[won]
        type_map[rows, cols][won] = targets.types[k]
    return {"heatmap": heat[None], "reg": reg, "reg_weight": _normalise_per_vessel(owner_gaussian, owner),
            "type": type_map}


def _normalise_per_vessel(weight: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """``weight`` divided by the sum of the weights of the same owner (0 where no owner)."""
    owned = owner >= 0
    totals = np.bincount(owner[owned], weights=weight[owned])
    out = np.zeros_like(weight)
    out[owned] = weight[owned] / totals[owner[owned]]
    return out


def hull_window_targets(boxes: np.ndarray, types: np.ndarray, cue_widths: np.ndarray | None,
                        crop_size: int, cue_geometry: np.ndarray | None = None,
                        directions: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Fixed-size targets for the hull-window heads: ``window_boxes [MAX_WINDOW_BOXES, 5]`` f32,
    ``window_type [MAX_WINDOW_BOXES]`` int64 (-1 = unknown or padding), ``window_cues
    [MAX_WINDOW_BOXES, 2]`` f32 (shadow and side-strip widths in box widths, -1 = unknown or padding,
    :data:`UNREADABLE`;
    ``cue_widths`` from :func:`vessel_cue_widths`, None = all unknown) and ``window_geometry
    [MAX_WINDOW_BOXES, GEOMETRY_FEATURES]`` f32 (the load stage's input from the scene's angles,
    ``cue_geometry`` from :func:`vessel_cue_geometry`; zeros = unknown or padding) and
    ``window_sides [MAX_WINDOW_BOXES, 2]`` f32 (which side of each box its shadow and its visible
    side lie on, :func:`tankerwatch.models.freeboard.cue_sides` of the boxes as given and
    ``directions [2, 2]``, the crop's :func:`scene_cue_directions` turned with it; zeros =
    unknown or padding), for boxes whose centre lies in the crop and whose type or widths are
    known. Boxes with widths come first: when a crop holds more than ``MAX_WINDOW_BOXES`` vessels,
    the load stage's examples are the ones kept."""
    window_boxes = np.zeros((MAX_WINDOW_BOXES, 5), np.float32)
    window_type = np.full(MAX_WINDOW_BOXES, IGNORE, np.int64)
    window_cues = np.full((MAX_WINDOW_BOXES, 2), IGNORE, np.float32)
    window_geometry = np.zeros((MAX_WINDOW_BOXES, GEOMETRY_FEATURES), np.float32)
    window_sides = np.zeros((MAX_WINDOW_BOXES, 2), np.float32)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    types = np.asarray(types, np.int64)
    if cue_widths is None:
        cue_widths = np.full((len(boxes), 2), IGNORE, np.float32)
    inside = (boxes[:, 0] >= 0) & (boxes[:, 0] < crop_size) & (boxes[:, 1] >= 0) & (boxes[:, 1] < crop_size)
    measured = cue_labelled(cue_widths)
    with_cues = np.flatnonzero(inside & measured)
    type_only = np.flatnonzero(inside & ~measured & (types >= 0))
    chosen = np.concatenate([with_cues, type_only])[:MAX_WINDOW_BOXES]
    window_boxes[: len(chosen)] = boxes[chosen]
    window_type[: len(chosen)] = types[chosen]
    window_cues[: len(chosen)] = cue_widths[chosen]
    if cue_geometry is not None:
        window_geometry[: len(chosen)] = cue_geometry[chosen]
    if directions is not None and len(chosen):
        sides = cue_sides(torch.from_numpy(boxes[chosen])[None], torch.from_numpy(np.asarray(directions))[None])
        window_sides[: len(chosen)] = sides[0].numpy()
    return {"window_boxes": window_boxes, "window_type": window_type, "window_cues": window_cues,
            "window_geometry": window_geometry, "window_sides": window_sides}


def _oriented_gaussian(rows: slice, cols: slice, i: int, j: int, length_cells: float, width_cells: float,
                       angle: float) -> np.ndarray:
    """The vessel's oriented Gaussian (1.0 at cell ``(i, j)``) over the cells ``rows x cols``."""
    sigma_l = max(MIN_SIGMA, SIGMA_PER_CELL * length_cells)
    sigma_w = max(MIN_SIGMA, SIGMA_PER_CELL * width_cells)
    yy, xx = np.mgrid[rows, cols]
    dx, dy = xx - i, yy - j
    along = dx * math.cos(angle) + dy * math.sin(angle)
    across = -dx * math.sin(angle) + dy * math.cos(angle)
    return np.exp(-0.5 * ((along / sigma_l) ** 2 + (across / sigma_w) ** 2)).astype(np.float32)


def _splat_gaussian(heat: np.ndarray, i: int, j: int, length_cells: float, width_cells: float, angle: float):
    """Max an oriented Gaussian peaking at 1.0 on cell ``(i, j)`` into ``heat``."""
    radius = int(math.ceil(3 * max(MIN_SIGMA, SIGMA_PER_CELL * length_cells)))
    h, w = heat.shape
    rows, cols = slice(max(j - radius, 0), min(j + radius + 1, h)), slice(max(i - radius, 0), min(i + radius + 1, w))
    np.maximum(heat[rows, cols], _oriented_gaussian(rows, cols, i, j, length_cells, width_cells, angle),
               out=heat[rows, cols])
