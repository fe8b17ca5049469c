"""Test-time flips (``detect --tta``): each batch of tiles is also run mirrored left-right,
top-bottom and both, and each vessel's score becomes the mean of its four scores.

A vessel the model finds in every mirror image keeps its score; one it finds once (a wave, a
jetty's corner seen one way) keeps a quarter of it. On real Sentinel-2 ports, where the model is
unsure of most ships, that ranks true vessels above clutter better than any one view does
(``docs/experiments.md``, 2026-12-07 (fifth)); it costs four model calls a tile.

Frames: boxes are ``[cx, cy, length, width, angle]`` in the model input's pixels (x right, y down,
origin at the top-left corner of the top-left pixel, angle in radians), so mirroring an image of
width ``W`` maps ``cx`` to ``W - cx``. View-row azimuths are the image frame's, degrees clockwise
from up (``-y``): a direction at azimuth ``a`` points along ``(sin a, -cos a)``, so a left-right
mirror turns it to ``-a`` and a top-bottom one to ``180 - a``; the load stage is told where the sun
and the sensor lie in the image it is given. Everything but the score (box, type, load, laden
fraction, freeboard) is the highest-scoring view's: each view's load reading is already a whole
one, and averaging boxes across views would blur their angles.
"""

from __future__ import annotations

import numpy as np

from ..core.boxes import normalize_boxes, rotated_iou, rotated_nms
from .onnx_model import VIEW_COLUMNS, Outputs

# (left-right, top-bottom): the image as it is first, so ties keep its rows.
FLIPS = ((False, False), (True, False), (False, True), (True, True))
FUSE_IOU = 0.5
AZIMUTH_COLUMNS = tuple(VIEW_COLUMNS.index(name) for name in ("sun_azimuth_deg", "view_azimuth_deg"))


def mirror_images(images: np.ndarray, left_right: bool, top_bottom: bool) -> np.ndarray:
    """``images [B, C, H, W]`` mirrored (contiguous, as onnxruntime wants it)."""
    return np.ascontiguousarray(images[:, :, ::-1 if top_bottom else 1, ::-1 if left_right else 1])


def mirror_view(view, left_right: bool, top_bottom: bool):
    """The view row(s) ``[5]`` or ``[B, 5]`` of the mirrored images: azimuths mirrored with
    them (NaN stays NaN); None stays None."""
    if view is None:
        return None
    rows = np.array(view, dtype=np.float32, copy=True)
    azimuths = rows[..., AZIMUTH_COLUMNS]
    if left_right:
        azimuths = -azimuths
    if top_bottom:
        azimuths = 180.0 - azimuths
    rows[..., AZIMUTH_COLUMNS] = np.mod(azimuths, 360.0)
    return rows


def unmirror_boxes(boxes: np.ndarray, width: int, height: int, left_right: bool, top_bottom: bool) -> np.ndarray:
    """Boxes found in a mirrored ``width`` x ``height`` image, in the original image's frame."""
    out = np.array(boxes, dtype=np.float64).reshape(-1, 5)
    if left_right:
        out[:, 0] = width - out[:, 0]
        out[:, 4] = -out[:, 4]
    if top_bottom:
        out[:, 1] = height - out[:, 1]
        out[:, 4] = -out[:, 4]
    return normalize_boxes(out)


def fuse_scores(boxes: list[np.ndarray], scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The fusion rule, for one image's views (``boxes[v] [N_v, 5]``, ``scores[v] [N_v]``, all in
    the image's own frame): rotated NMS at IoU :data:`FUSE_IOU` over all views' boxes picks one row
    per vessel, whose score becomes the mean over the views of each view's best score among its
    boxes overlapping that row by at least :data:`FUSE_IOU` (0 for a view without one).

    Returns the picked rows as indices into the views' rows concatenated in order, best fused score
    first (ties in that order), and their fused scores. Works on any detector's boxes, so a peer
    can be given the same flips (bench/peer_sen2ships.py)."""
    joined_boxes = np.concatenate([np.asarray(b, dtype=np.float64).reshape(-1, 5) for b in boxes])
    joined_scores = np.concatenate([np.asarray(s, dtype=np.float64).reshape(-1) for s in scores])
    if not len(joined_scores):
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    kept = rotated_nms(joined_boxes, joined_scores, FUSE_IOU)
    fused = np.zeros(len(kept), dtype=np.float64)
    for view_boxes, view_scores in zip(boxes, scores, strict=True):
        if len(view_scores):
            overlap = rotated_iou(joined_boxes[kept], np.asarray(view_boxes, dtype=np.float64).reshape(-1, 5)) >= FUSE_IOU
            fused += np.where(overlap, np.asarray(view_scores, dtype=np.float64)[None, :], 0.0).max(axis=1)
    fused /= len(boxes)
    order = np.argsort(-fused, kind="stable")
    return np.asarray(kept, dtype=np.int64)[order], fused[order]


def fuse_views(views: list[Outputs], max_rows: int) -> Outputs:
    """One image's rows from its mirror views (boxes already in its own frame), fused by
    :func:`fuse_scores`; at most ``max_rows`` rows, best first."""
    rows, fused = fuse_scores([v.boxes for v in views], [v.scores for v in views])
    joined = Outputs.concatenate(views)
    return joined.take(rows[:max_rows])._replace(scores=fused[:max_rows].astype(joined.scores.dtype))


def run_mirrored(detector, images: np.ndarray, view) -> list[Outputs]:
    """Each image's rows (``Outputs.image``) from ``detector.run`` on ``images`` and their three
    mirror images, fused (:func:`fuse_views`); as many rows as the model returns at most."""
    _, _, height, width = images.shape
    per_image: list[list[Outputs]] = [[] for _ in range(len(images))]
    max_rows = 0
    for left_right, top_bottom in FLIPS:
        outputs = detector.run(mirror_images(images, left_right, top_bottom), mirror_view(view, left_right, top_bottom))
        max_rows = max(max_rows, outputs.scores.shape[1])
        for i, rows in enumerate(per_image):
            found = outputs.image(i)
            rows.append(found._replace(boxes=unmirror_boxes(found.boxes, width, height, left_right, top_bottom)
                                       .astype(found.boxes.dtype)))
    return [fuse_views(rows, max_rows) for rows in per_image]
