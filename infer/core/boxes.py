"""Oriented boxes: the one convention the whole project uses, and rotated IoU.

Pixel frame (GDAL's): x is the column, y the row, origin at the top-left corner of the top-left
pixel, so pixel ``a[j, i]`` covers ``[i, i+1) x [j, j+1)`` and its centre is ``(i + 0.5, j + 0.5)``.

An oriented box is ``(cx, cy, length, width, angle)`` in pixels of that frame:

* ``length >= width``;
* ``angle`` is the direction of the long axis, measured from +x towards +y (clockwise on screen,
  since y points down), in ``[-pi/2, pi/2)`` radians; a square (``|L - W| <= 1e-6 L``) has its
  angle folded into ``[-pi/4, pi/4)``.
* A bow direction (heading), when known, is kept separately in ``[0, 2 pi)`` in the same frame and
  folds onto ``angle`` with :func:`heading_to_angle`.

Corners, with ``u = (cos a, sin a)`` and ``v = (-sin a, cos a)``, come in the order
``c + L u/2 - W v/2, c + L u/2 + W v/2, c - L u/2 + W v/2, c - L u/2 - W v/2``: clockwise on screen,
starting at the +u end; pass the heading (not the folded angle) as ``a`` to start at the bow.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

SQUARE_TOLERANCE = 1e-6
# Box intersections are computed on a grid of this many pixels: GEOS's floating overlay can collapse
# the intersection of two almost identical rectangles to a pair of points (area 0, so a perfect box
# would score IoU 0); snapped overlay is robust, and a billionth of a pixel moves no figure.
OVERLAY_GRID_PX = 1e-9


def normalize_boxes(boxes) -> np.ndarray:
    """Return ``boxes`` (``[..., 5]``) in the canonical form: L >= W and the angle in range.

    A box given with W > L is the same rectangle with the axes swapped and the angle turned by
    a quarter turn.
    """
    b = np.array(boxes, dtype=np.float64, copy=True)
    if b.shape[-1] != 5:
        raise ValueError(f"boxes must have 5 values in the last axis, got shape {b.shape}")
    swap = b[..., 3] > b[..., 2]
    length = np.where(swap, b[..., 3], b[..., 2])
    width = np.where(swap, b[..., 2], b[..., 3])
    angle = b[..., 4] + np.where(swap, np.pi / 2, 0.0)
    square = np.abs(length - width) <= SQUARE_TOLERANCE * np.maximum(length, 1e-12)
    period = np.where(square, np.pi / 2, np.pi)
    angle = np.mod(angle + period / 2, period) - period / 2
    b[..., 2], b[..., 3], b[..., 4] = length, width, angle
    return b


def heading_to_angle(heading: float) -> float:
    """Fold a bow direction in ``[0, 2 pi)`` (pixel frame) onto the box angle range."""
    return float(np.mod(heading + np.pi / 2, np.pi) - np.pi / 2)


def box_corners(boxes) -> np.ndarray:
    """Corners ``[..., 4, 2]`` of boxes ``[..., 5]`` in the documented order (see module doc)."""
    b = np.asarray(boxes, dtype=np.float64)
    c = b[..., None, 0:2]
    half_l = b[..., 2, None, None] / 2
    half_w = b[..., 3, None, None] / 2
    cos, sin = np.cos(b[..., 4]), np.sin(b[..., 4])
    u = np.stack([cos, sin], axis=-1)[..., None, :]
    v = np.stack([-sin, cos], axis=-1)[..., None, :]
    signs_u = np.array([1.0, 1.0, -1.0, -1.0])[:, None]
    signs_v = np.array([-1.0, 1.0, 1.0, -1.0])[:, None]
    return c + signs_u * half_l * u + signs_v * half_w * v


def box_from_corners(corners) -> np.ndarray:
    """Box ``[5]`` of a rectangle given by its four corners in ring order (either direction).

    Length, width and angle come from the edges themselves, never from an angle some library
    reports, so the result follows this module's convention whatever produced the corners.
    """
    p = np.asarray(corners, dtype=np.float64).reshape(4, 2)
    e1, e2 = p[1] - p[0], p[2] - p[1]
    n1, n2 = math.hypot(*e1), math.hypot(*e2)
    long_edge = e1 if n1 >= n2 else e2
    angle = math.atan2(long_edge[1], long_edge[0])
    centre = p.mean(axis=0)
    return normalize_boxes([centre[0], centre[1], max(n1, n2), min(n1, n2), angle])


def min_area_box(points) -> np.ndarray:
    """Minimum-area rectangle ``[5]`` around ``points`` (``[M, 2]``), as an oriented box.

    Collinear points give a box of width 0; a single point gives a box of size 0.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        raise ValueError("no points to fit a box to")
    hull = shapely.convex_hull(shapely.multipoints(pts))
    if hull.geom_type == "Point":
        return np.array([hull.x, hull.y, 0.0, 0.0, 0.0])
    if hull.geom_type == "LineString":
        (x0, y0), (x1, y1) = hull.coords[0], hull.coords[-1]
        return normalize_boxes([(x0 + x1) / 2, (y0 + y1) / 2, math.hypot(x1 - x0, y1 - y0), 0.0,
                                math.atan2(y1 - y0, x1 - x0)])
    rect = shapely.oriented_envelope(hull)
    return box_from_corners(np.asarray(rect.exterior.coords)[:4])


def mask_to_box(mask) -> np.ndarray:
    """Oriented box ``[5]`` around a boolean mask ``[H, W]``: the minimum-area rectangle of the
    union of its pixel squares, so every mask pixel lies whole inside the box (a one-pixel mask
    gives a 1 x 1 box)."""
    m = np.asarray(mask, dtype=bool)
    rows, cols = np.nonzero(m)
    if len(rows) == 0:
        raise ValueError("empty mask")
    # Only the pixel squares' corners can be vertices of the hull; dedupe them to keep it cheap.
    corners = np.concatenate([
        np.stack([cols + dx, rows + dy], axis=1) for dx in (0, 1) for dy in (0, 1)
    ])
    corners = np.unique(corners, axis=0)
    return min_area_box(corners)


def boxes_to_polygons(boxes) -> np.ndarray:
    """Shapely polygons (object array ``[N]``) of boxes ``[N, 5]``."""
    corners = box_corners(np.asarray(boxes, dtype=np.float64).reshape(-1, 5))
    return shapely.polygons(corners)


def rotated_iou(boxes_a, boxes_b) -> np.ndarray:
    """IoU matrix ``[N, M]`` of oriented boxes ``[N, 5]`` and ``[M, 5]`` (exact polygon areas)."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 5)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 5)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    pa, pb = boxes_to_polygons(a), boxes_to_polygons(b)
    area_a = a[:, 2] * a[:, 3]
    area_b = b[:, 2] * b[:, 3]
    iou = np.zeros((len(a), len(b)))
    # Only pairs whose bounding circles meet can overlap: skip the polygon work for the rest.
    radius_a = np.hypot(a[:, 2], a[:, 3]) / 2
    radius_b = np.hypot(b[:, 2], b[:, 3]) / 2
    dist = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    ia, ib = np.nonzero(dist < radius_a[:, None] + radius_b[None, :])
    if len(ia):
        inter = shapely.area(shapely.intersection(pa[ia], pb[ib], grid_size=OVERLAY_GRID_PX))
        union = area_a[ia] + area_b[ib] - inter
        iou[ia, ib] = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return iou


def paired_rotated_iou(boxes_a, boxes_b) -> np.ndarray:
    """IoU ``[N]`` of each oriented box of ``boxes_a [N, 5]`` with the box of ``boxes_b [N, 5]`` in
    the same row (exact polygon areas; 0 where either box has no area)."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 5)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 5)
    if len(a) != len(b):
        raise ValueError(f"paired_rotated_iou needs as many boxes in each set, got {len(a)} and {len(b)}")
    if len(a) == 0:
        return np.zeros(0)
    inter = shapely.area(shapely.intersection(boxes_to_polygons(a), boxes_to_polygons(b), grid_size=OVERLAY_GRID_PX))
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def intersection_over_area(boxes_a, boxes_b) -> np.ndarray:
    """``[N, M]``: the share of each box of ``boxes_a`` (``[N, 5]``) that lies inside each box of
    ``boxes_b`` (``[M, 5]``), i.e. area(a & b) / area(a); 0 for a box of ``boxes_a`` without area.

    Unlike IoU it does not fall when ``b`` is much larger than ``a``: a fragment wholly inside a
    big box scores 1, however small it is.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 5)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 5)
    share = np.zeros((len(a), len(b)))
    if len(a) == 0 or len(b) == 0:
        return share
    area_a = a[:, 2] * a[:, 3]
    radius_a = np.hypot(a[:, 2], a[:, 3]) / 2
    radius_b = np.hypot(b[:, 2], b[:, 3]) / 2
    dist = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    ia, ib = np.nonzero((dist < radius_a[:, None] + radius_b[None, :]) & (area_a[:, None] > 0))
    if len(ia):
        inter = shapely.area(shapely.intersection(boxes_to_polygons(a)[ia], boxes_to_polygons(b)[ib],
                                                   grid_size=OVERLAY_GRID_PX))
        share[ia, ib] = np.minimum(inter / area_a[ia], 1.0)
    return share


def rotated_nms(boxes, scores, iou_threshold: float = 0.5) -> np.ndarray:
    """Indices of boxes kept by greedy rotated NMS, highest score first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    iou = rotated_iou(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for rank, idx in enumerate(order):
        if suppressed[rank]:
            continue
        keep.append(idx)
        suppressed |= iou[rank] > iou_threshold
    return np.asarray(keep, dtype=np.int64)
