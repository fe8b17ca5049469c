"""The detector's training loss: focal loss on the centre heatmap, L1 on box regression around
peak cells (weighted by ``reg_weight``, one unit per vessel: ``train/targets.py``) plus a Gaussian
KL-divergence box term on the same cells, class-weighted cross-entropy on vessel type where
labelled, both on the type map and on the hull-window type head's logits, and the load stage's
Laplace likelihood of the shadow and hull-side widths it measures (:func:`cue_width_loss`) with the
per-row marks they are summed from (:func:`cue_mark_loss`), each width weighted by how rare such a
width is where the targets carry ``window_cue_weights`` (``train/rarity.py``).

Why the KL term: L1 on offsets in cells weighs a quarter-cell miss the same for a 4 px skiff and a
200 px tanker, yet it costs the skiff most of its IoU. Modelling each box as a Gaussian (mean = the
centre, covariance = R diag(L^2/4, W^2/4) R^T) and penalising KL(pred || truth) scales centre
errors by the true box's extent along and across the hull, and couples size and angle the way
rotated IoU does (Yang et al., "Learning high-precision bounding box for rotated object detection
via Kullback-Leibler divergence", NeurIPS 2021). It is squashed to ``1 - 1 / (1 + ln(1 + KL))``
so a wild early prediction cannot swamp the other terms.

Quality: the ``quality`` map learns, on the same cells, the rotated IoU that the cell's own
predicted box reaches with its vessel (binary cross-entropy against that IoU, computed exactly and
without gradient). The decoder multiplies it into the score, so among detections of equal heat the
well-placed boxes rank first: most misses of small hulls are found vessels boxed at IoU 0.1-0.5.

Load state: nothing learns it directly. The load stage measures the widths of shadow and hull side
where the labels give them (synthetic truth), and load state, laden fraction and freeboard follow by
geometry with the scene's angles (``models/freeboard.py``): a classifier trained on load labels
learns whatever separates the classes in its data (the generator's bulbous bow did, once), a
measurement of widths has only the widths to learn.

Twins: where a training image comes with renders of itself lacking one cue (``train/twins.py``),
the stage's readings of the two are pulled apart by that cue's drawn width (:func:`twin_loss`).

Partial labels: type and width targets of -1 (unknown) contribute nothing, so a ship-only dataset
teaches detection alone and can be mixed with fully labelled data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tankerwatch.infer.core.boxes import paired_rotated_iou
from tankerwatch.models.decode import MAX_LOG_SIZE, decode_boxes

from .targets import UNREADABLE

# The error (box widths) a shadow on a quay or another hull is taken to have: about the profile's
# reach either side of the hull (1.25 beams), so the scale learnt there weighs the shadow a
# hundredth of a water shadow read to 0.05 box widths, and the side strip decides.
UNREADABLE_ERROR = 0.5
# Each such shadow counts this many times in the mean: they are few (4 % of the tankers in
# `synth tiles`), and counted once the stage settled on a compromise scale for them (median 0.14
# box widths against 0.05 on the water) that still let the freeboard rest on them
# (docs/experiments.md, 2026-12-05 evening).
UNREADABLE_WEIGHT = 4.0

@dataclass
class LossWeights:
    heatmap: float = 1.0
    offset: float = 1.0
    size: float = 1.0
    angle: float = 1.0
    box_kld: float = 1.0
    quality: float = 1.0
    vessel_type: float = 1.0
    window_type: float = 1.0
    cue_widths: float = 1.0
    cue_marks: float = 1.0
    cue_twins: float = 1.0


def focal_heatmap_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet's penalty-reduced focal loss, summed and divided by the number of peaks (>= 1)."""
    prob = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1.0).to(prob.dtype)
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    pos_loss = -(log_p * (1 - prob) ** alpha * positive).sum()
    neg_loss = -(log_not_p * prob ** alpha * (1 - target) ** beta * (1 - positive)).sum()
    return (pos_loss + neg_loss) / positive.sum().clamp(min=1.0)


def detection_loss(maps: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], weights: LossWeights,
                   type_class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """All loss terms and their weighted ``total`` (a dict of scalars); ``cue_twins`` only where
    ``maps`` hold the readings of the load crops' twins (``twin_readings``, :func:`twin_loss`)."""
    heat = focal_heatmap_loss(maps["heatmap"], targets["heatmap"])
    weight = targets["reg_weight"].unsqueeze(1)
    vessels = weight.sum().clamp(min=1.0)
    diff = (maps["reg"] - targets["reg"]).abs() * weight
    offset = diff[:, 0:2].sum() / vessels
    size = diff[:, 2:4].sum() / vessels
    angle = diff[:, 4:6].sum() / vessels
    box_kld = box_kld_loss(maps["reg"], targets["reg"], targets["reg_weight"]) / vessels
    quality = quality_loss(maps["quality"], maps["reg"], targets["reg"], targets["reg_weight"]) / vessels
    vessel_type = _masked_ce(maps["type_logits"], targets["type"], type_class_weights)
    window_type = _masked_ce(maps["window_type_logits"], targets["window_type"], type_class_weights, channels_last=True)
    cue_weights = targets.get("window_cue_weights")
    cue_widths = cue_width_loss(maps["cue_readings"], targets["window_cues"], weights=cue_weights)
    cue_marks = cue_mark_loss(maps["cue_marks"], maps["cue_edges"], targets["window_cues"], weights=cue_weights)
    total = (weights.heatmap * heat + weights.offset * offset + weights.size * size + weights.angle * angle
             + weights.box_kld * box_kld + weights.quality * quality + weights.vessel_type * vessel_type
             + weights.window_type * window_type + weights.cue_widths * cue_widths + weights.cue_marks * cue_marks)
    terms = {"heatmap": heat, "offset": offset, "size": size, "angle": angle, "box_kld": box_kld, "quality": quality,
             "type": vessel_type, "window_type": window_type, "cue_widths": cue_widths, "cue_marks": cue_marks}
    if "twin_readings" in maps:
        # Only the load crops have twins: twin_base_readings are the stage's readings of them.
        terms["cue_twins"] = twin_loss(maps["twin_base_readings"], maps["twin_readings"], targets["twin_cues"],
                                       targets["twin_known"])
        total = total + weights.cue_twins * terms["cue_twins"]
    return {"total": total, **terms}


def cue_width_loss(readings: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor | None = None,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """The load stage's cue readings against the drawn widths, averaged over the known widths: the
    L1 error of each width plus the Laplace negative log-likelihood of its scale given that error.
    ``readings [N, M, 4]``: shadow and side strip widths then their Laplace scales, in box widths
    (``models/hull_profile.py``); ``truth [N, M, 2]``: the drawn widths in the same units,
    negative where unknown; ``valid [N, M]`` masks padding windows; ``weights [N, M, 2]``, if
    given, weigh each width in the mean (``train/rarity.py``).

    The scale is learnt per window, so a window where a cue cannot be measured (shadow beyond the
    window, a hull a few pixels wide) says so, and the freeboard weighs each cue by how well it was
    read. The width itself learns from the plain L1 (the likelihood's error term sees it detached):
    through the likelihood alone its gradient is divided by the scale, and a scale still large
    early in training stalls it. The scale's own gradient stops at the head's scale layer, which
    reads the measuring features detached (``models/hull_profile.py``).

    A width labelled :data:`~tankerwatch.train.targets.UNREADABLE` (a shadow on a quay or another
    hull) teaches only the scale, by the same likelihood with the error taken as
    :data:`UNREADABLE_ERROR`: its minimum is a scale of that size, which leaves the cue next to no
    weight in the freeboard. It counts :data:`UNREADABLE_WEIGHT` times in the mean."""
    known = truth >= 0
    unreadable = truth == UNREADABLE
    if valid is not None:
        known = known & valid.unsqueeze(-1)
        unreadable = unreadable & valid.unsqueeze(-1)
    if not bool(known.any() or unreadable.any()):
        return readings.sum() * 0.0
    widths, scales = readings[..., :2][known], readings[..., 2:4][known]
    error = (widths - truth[known]).abs()
    values = error + error.detach() / scales + torch.log(scales)
    chosen = torch.ones_like(values) if weights is None else weights[known].to(values.dtype)
    unread_scales = readings[..., 2:4][unreadable]
    unread_values = UNREADABLE_ERROR / unread_scales + torch.log(unread_scales)
    return (((values * chosen).sum() + UNREADABLE_WEIGHT * unread_values.sum())
            / (chosen.sum() + UNREADABLE_WEIGHT * unread_values.numel()))


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor | None, known: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (the entries of ``known``), each weighted by ``weights[known]`` if given."""
    if weights is None:
        return values.mean()
    chosen = weights[known].to(values.dtype)
    return (values * chosen).sum() / chosen.sum()


def _row_cover(start: torch.Tensor, end: torch.Tensor, rows: int) -> torch.Tensor:
    """Share of each profile row ``[r, r + 1)`` inside ``[start, end]`` (rows; ``[...]`` each),
    ``[..., rows]``."""
    r = torch.arange(rows, dtype=start.dtype, device=start.device)
    return (torch.minimum(end.unsqueeze(-1), r + 1) - torch.maximum(start.unsqueeze(-1), r)).clamp(0.0, 1.0)


def cue_mark_loss(marks: torch.Tensor, edges: torch.Tensor, truth: torch.Tensor,
                  valid: torch.Tensor | None = None, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row supervision of the load stage's marks (``models/hull_profile.py``): binary cross
    entropy of each row's share of shadow and of visible hull side against where the drawn widths
    put them, averaged over rows and the known widths. ``marks [N, M, 2, rows]`` in (0, 1);
    ``edges [N, M, 2]`` the labelled box's long edges in rows; ``truth [N, M, 2]`` the drawn widths
    in box widths, negative where unknown; ``valid [N, M]`` masks padding; ``weights [N, M, 2]``,
    if given, weigh each strip in the mean (``train/rarity.py``).

    The visible shadow starts at the box's edge on the side away from the sun and runs outward
    (the box is the hull as seen: deck and visible side, so where the deck leans over the shadow
    the box edge moves with it); the visible side runs inward from the edge facing the sensor.
    Each strip is scored against both sides and the better one counts: where the angles are known
    the head keeps each strip's marks to the half the angles give it (``models/hull_profile.py``),
    so only that side can match; a profile read without them (a share of training's, and a scene
    without angles) has to find the side in the image. Without this per-row loss the marks learn
    only from their sum, slowly and with a bias on wide strips."""
    known = truth >= 0
    if valid is not None:
        known = known & valid.unsqueeze(-1)
    if not bool(known.any()):
        return marks.sum() * 0.0
    rows = marks.shape[-1]
    low, high = edges[..., 0:1], edges[..., 1:2]  # [N, M, 1]
    extent = (truth.clamp(min=0.0) * (high - low))  # [N, M, 2] strip widths in rows
    shadow, side = extent[..., 0], extent[..., 1]
    low, high = low[..., 0], high[..., 0]
    hypotheses = torch.stack([
        torch.stack([_row_cover(high, high + shadow, rows), _row_cover(low - shadow, low, rows)], dim=-2),
        torch.stack([_row_cover(high - side, high, rows), _row_cover(low, low + side, rows)], dim=-2),
    ], dim=-3)  # [N, M, 2 cues, 2 sides, rows]
    predicted = marks.unsqueeze(-2).expand_as(hypotheses).clamp(1e-6, 1 - 1e-6)
    bce = F.binary_cross_entropy(predicted, hypotheses, reduction="none").mean(dim=-1)  # [N, M, 2, 2]
    return _weighted_mean(bce.amin(dim=-1)[known], weights, known)


def box_kld_loss(pred_reg: torch.Tensor, target_reg: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Sum over cells of ``weight x (1 - 1 / (1 + ln(1 + KL(pred || truth))))``, boxes taken
    relative to each cell (regression channels of ``train/targets.py``, cell units). ``pred_reg``,
    ``target_reg``: ``[N, 6, h, w]``; ``weight``: ``[N, h, w]``."""
    cells = weight > 0
    if not bool(cells.any()):
        return pred_reg.sum() * 0.0
    pred = pred_reg.permute(0, 2, 3, 1)[cells]
    truth = target_reg.permute(0, 2, 3, 1)[cells]
    pred_xx, pred_yy, pred_xy, pred_log_det = _box_covariance(pred)
    true_xx, true_yy, true_xy, true_log_det = _box_covariance(truth)
    true_det = torch.exp(true_log_det)
    dx, dy = pred[:, 0] - truth[:, 0], pred[:, 1] - truth[:, 1]
    # Sigma_truth^-1 = [[yy, -xy], [-xy, xx]] / det
    mahalanobis = (true_yy * dx * dx - 2 * true_xy * dx * dy + true_xx * dy * dy) / true_det
    trace = (true_yy * pred_xx - 2 * true_xy * pred_xy + true_xx * pred_yy) / true_det
    kld = 0.5 * (mahalanobis + trace + true_log_det - pred_log_det - 2.0)
    squashed = 1.0 - 1.0 / (1.0 + torch.log1p(kld.clamp(min=0.0)))
    return (squashed * weight[cells]).sum()


def quality_loss(quality_logits: torch.Tensor, pred_reg: torch.Tensor, target_reg: torch.Tensor,
                 weight: torch.Tensor) -> torch.Tensor:
    """Sum over cells of ``weight x BCE(quality, IoU(predicted box, true box))``; the IoU is exact
    (polygons), of the boxes relative to each cell, and carries no gradient. ``quality_logits``:
    ``[N, 1, h, w]``; ``pred_reg``, ``target_reg``: ``[N, 6, h, w]``; ``weight``: ``[N, h, w]``."""
    cells = weight > 0
    if not bool(cells.any()):
        return quality_logits.sum() * 0.0
    origin = torch.zeros((), dtype=pred_reg.dtype, device=pred_reg.device)
    with torch.no_grad():
        pred = decode_boxes(pred_reg.permute(0, 2, 3, 1)[cells], origin, origin, 1)
        truth = decode_boxes(target_reg.permute(0, 2, 3, 1)[cells], origin, origin, 1)
        iou = paired_rotated_iou(pred.double().cpu().numpy(), truth.double().cpu().numpy())
    target = torch.as_tensor(iou, dtype=quality_logits.dtype, device=quality_logits.device)
    logits = quality_logits[:, 0][cells]
    return (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight[cells]).sum()


def _box_covariance(reg: torch.Tensor):
    """Covariance ``(xx, yy, xy, log det)`` of the Gaussian of each regression row ``[M, 6]``:
    half-axes ``exp(l) / 2`` and ``exp(w) / 2`` at angle ``a`` given as ``(sin 2a, cos 2a)``, written
    with the double angle so no atan2 (and its singular gradient) is needed."""
    log_a = reg[:, 2].clamp(-MAX_LOG_SIZE, MAX_LOG_SIZE)
    log_b = reg[:, 3].clamp(-MAX_LOG_SIZE, MAX_LOG_SIZE)
    var_a, var_b = torch.exp(2 * log_a) / 4, torch.exp(2 * log_b) / 4
    norm = torch.sqrt(reg[:, 4] ** 2 + reg[:, 5] ** 2).clamp(min=1e-6)
    sin2, cos2 = reg[:, 4] / norm, reg[:, 5] / norm
    mean, half_diff = (var_a + var_b) / 2, (var_a - var_b) / 2
    log_det = 2 * (log_a + log_b) - 2 * math.log(4.0)
    return mean + half_diff * cos2, mean - half_diff * cos2, half_diff * sin2, log_det


def _masked_ce(logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor | None,
               channels_last: bool = False) -> torch.Tensor:
    """Cross-entropy over labelled positions (target >= 0). ``logits``: ``[N, 2, h, w]`` maps, or
    ``[N, M, 2]`` per-box logits with ``channels_last``."""
    labelled = target >= 0
    if not bool(labelled.any()):
        return logits.sum() * 0.0  # keeps the graph (and DDP's parameter bookkeeping) intact
    picked = (logits if channels_last else logits.permute(0, 2, 3, 1))[labelled]
    return F.cross_entropy(picked, target[labelled], weight=class_weights)


def twin_loss(readings: torch.Tensor, twin_readings: dict[int, torch.Tensor], truth: torch.Tensor,
              known: dict[int, torch.Tensor]) -> torch.Tensor:
    """Per cue read in a twin (0 shadow, 1 side strip), the mean L1 error of (the reading of that cue
    in an image less its reading in the image's twin drawn without it) against the cue's drawn
    width, summed over those cues. ``readings [N, M, 4]`` (:func:`cue_width_loss`);
    ``twin_readings``: by cue, ``[N, M, 4]`` read in that cue's twin under the same draws;
    ``truth [N, M, 2]`` in box widths, negative where unknown or unreadable; ``known``: by cue,
    ``[N, M]``, where that twin exists and the box is read.

    Only the difference is taught: what the stage reads where a cue is not drawn is left to
    :func:`cue_width_loss`, which never sees a twin."""
    total = readings.sum() * 0.0
    for cue, twin in twin_readings.items():
        chosen = known[cue] & (truth[..., cue] >= 0)
        if bool(chosen.any()):
            difference = readings[..., cue] - twin[..., cue]
            total = total + (difference - truth[..., cue]).abs()[chosen].mean()
    return total
