"""Detection, vessel-type and load-state metrics: the one definition used by training, benchmarks
and evaluation (CONVENTIONS.md, "Metrics").

Boxes follow :mod:`tankerwatch.infer.core.boxes`: ``(cx, cy, length, width, angle)`` in pixels of the
image's own frame, angle of the long axis in ``[-pi/2, pi/2)`` radians. GSD is ground metres per
pixel; an image's GSD decides its band: ``(0, 1]``, ``(1, 3]``, ``(3, 10]``, ``> 10`` m.

Detection (class-agnostic, the headline)
    ``vessel_AP50``: AP at rotated-box IoU >= 0.5 over every vessel, all GSD bands pooled, COCO
    101-point interpolated precision, matching exactly as pycocotools' ``COCOeval`` does (detections
    greedy by score, each taking the unmatched truth of highest IoU). ``vessel_AP50_95`` averages AP
    over IoU 0.50:0.05:0.95. Truth marked ``difficult`` is an ignore region: a detection matched to
    it is neither a true nor a false positive, and one region may absorb several detections (as a
    COCO crowd region does, but with ordinary IoU). Per band the same figures carry the suffix
    ``.gsd_0_1``, ``.gsd_1_3``, ``.gsd_3_10``, ``.gsd_10_inf``; ``(3, 10]`` adds ``vessel_AP25``.
Type
    ``AP50_tanker``, ``AP50_other`` (and ``AP50_95_*``): each detection joins the class of its
    argmax type probability, ranked by ``score * type_prob``; truth of that class is positive, truth
    of the other class is absent, truth of unknown type (e.g. "ship") is an ignore region. Reported
    beside the headline, never averaged into it.
Load state (never folded into detection figures)
    Over true, non-difficult tankers with known load, matched class-agnostically at IoU >= 0.5 (the
    AP50 matching). A match whose argmax type is ``other`` counts wrong; otherwise the call is the
    argmax of ``load_probs`` (``[p_empty, p_loaded]``, conditional on tanker). ``load_accuracy``
    and ``load_macro_f1`` (mean F1 of empty and loaded) are over every match; a call is
    ``uncertain`` when ``p_loaded`` lies strictly inside ``uncertain_band`` or the image's GSD
    exceeds ``load_max_gsd_m`` (:func:`load_call`), ``load_coverage`` is the share of matches that
    are not uncertain and ``load_accuracy_covered`` the accuracy among those. ``load_ece`` is the
    expected calibration error of ``p_loaded`` against the truth, 10 equal-width bins. Per band the
    same suffixes, plus ``.gsd_le2`` for GSD <= 2 m; ``load_count``/``load_missed`` say how many
    tankers each figure rests on.
Confusion and length
    ``load_confusion_<true>_<pred>`` for true empty/loaded against predicted empty/loaded/other/
    missed (argmax calls). ``length_mae_m``, ``length_bias_m`` (predicted minus true) and
    ``length_rel_mae`` over every truth matched at IoU >= 0.5 in an image of known GSD.

A figure with nothing to rest on (no truth in a band, no matched tanker) is ``None`` (JSON null).

Several processes (DDP ranks) each evaluating a share of the images pool them with
:meth:`DetectionEvaluator.state` and :meth:`DetectionEvaluator.merge`, then compute every figure
once over all images: AP averaged over ranks is not AP.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write_text
from ..core.boxes import rotated_iou
from ..core.labels import LOAD_NAMES, TYPE_NAMES, LabelledImage, LoadState, VesselType

# Spelled as pycocotools spells them, so thresholds compare bit-for-bit equal.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1)
LOW_IOU_THRESHOLD = 0.25
# (key suffix, lower bound exclusive, upper bound inclusive) in ground metres per pixel.
GSD_BANDS = (("gsd_0_1", 0.0, 1.0), ("gsd_1_3", 1.0, 3.0), ("gsd_3_10", 3.0, 10.0),
             ("gsd_10_inf", 10.0, math.inf))
LOW_IOU_BAND = "gsd_3_10"
LOAD_CUT_NAME, LOAD_CUT_GSD_M = "gsd_le2", 2.0
ECE_BINS = 10
CONFUSION_TRUE = LOAD_NAMES  # rows
CONFUSION_PRED = (*LOAD_NAMES, "other", "missed")  # columns

# Matching thresholds of the class-agnostic pass: IoU 0.25 first, then COCO's ten.
_AGNOSTIC_THRESHOLDS = np.concatenate([[LOW_IOU_THRESHOLD], IOU_THRESHOLDS])
_AT25, _AT50 = 0, 1
_COCO_SLICE = slice(1, None)


def gsd_band(gsd_m: float | None) -> str | None:
    """Band suffix (e.g. ``"gsd_1_3"``) of a GSD in ground metres, None when unknown."""
    if gsd_m is None or not math.isfinite(gsd_m) or gsd_m <= 0:
        return None
    return next(name for name, low, high in GSD_BANDS if low < gsd_m <= high)


def load_call(p_loaded: float, gsd_m: float | None, uncertain_band=(0.3, 0.7),
              load_max_gsd_m: float = 3.0) -> str:
    """``"empty"``, ``"loaded"`` or ``"uncertain"`` for a tanker's ``p_loaded``.

    Uncertain when ``p_loaded`` lies strictly inside ``uncertain_band`` or the GSD (ground metres)
    is coarser than ``load_max_gsd_m``, where the cue is not in the pixels; an unknown GSD does not
    by itself make a call uncertain.
    """
    low, high = uncertain_band
    if (gsd_m is not None and gsd_m > load_max_gsd_m) or low < p_loaded < high:
        return "uncertain"
    return "loaded" if p_loaded >= 0.5 else "empty"


def match_detections(iou: np.ndarray, truth_ignored: np.ndarray, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """COCO matching of detections to truth at every threshold at once.

    ``iou`` is ``[K, G]`` with detections already sorted by descending score; ``truth_ignored``
    ``[G]`` marks ignore regions. Each detection in turn takes, among the truths it overlaps by at
    least the threshold and that no earlier detection took, the one of highest IoU, preferring a
    regular truth to an ignore region (which may be taken again and again). Returns
    ``matched_truth`` ``[T, K]`` (truth index or -1) and ``ignored`` ``[T, K]`` (matched to an
    ignore region).
    """
    thresholds = np.minimum(np.asarray(thresholds, dtype=np.float64), 1 - 1e-10)
    n_det, n_truth = iou.shape
    matched = np.full((len(thresholds), n_det), -1, dtype=np.int64)
    ignored = np.zeros((len(thresholds), n_det), dtype=bool)
    if n_det == 0 or n_truth == 0:
        return matched, ignored
    truth_ignored = np.asarray(truth_ignored, dtype=bool)
    free = np.ones((len(thresholds), n_truth), dtype=bool)
    rows = np.arange(len(thresholds))
    # A detection overlapping nothing at the lowest threshold is unmatched everywhere: skip it.
    for d in np.nonzero(iou.max(axis=1) >= thresholds.min())[0]:
        eligible = free & (iou[d][None, :] >= thresholds[:, None])
        for pool in (~truth_ignored, truth_ignored):
            candidates = eligible & pool[None, :] & (matched[:, d] < 0)[:, None]
            if not candidates.any():
                continue
            value = np.where(candidates, iou[d][None, :], -1.0)
            # pycocotools keeps the later truth on a tie (it replaces on >=).
            best = n_truth - 1 - np.argmax(value[:, ::-1], axis=1)
            hit = candidates.any(axis=1)
            matched[hit, d] = best[hit]
            ignored[hit, d] = truth_ignored[best[hit]]
            free[rows[hit], best[hit]] = truth_ignored[best[hit]]
    return matched, ignored


def interpolated_precision(scores: np.ndarray, true_pos: np.ndarray, ignored: np.ndarray,
                           n_positive: int) -> np.ndarray | None:
    """COCO's 101-point interpolated precision ``[T, 101]`` at recall 0, 0.01, ..., 1.

    ``scores`` ``[D]`` of every detection pooled over images (in the order the images were
    added), ``true_pos``/``ignored`` ``[T, D]`` from :func:`match_detections`; ``n_positive`` is
    the number of truths that are not ignore regions. None when there is nothing to find.
    AP is the mean over the 101 points.
    """
    if n_positive == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    tp = true_pos[:, order] & ~ignored[:, order]
    fp = ~true_pos[:, order] & ~ignored[:, order]
    tp_sum = np.cumsum(tp, axis=1, dtype=np.float64)
    fp_sum = np.cumsum(fp, axis=1, dtype=np.float64)
    out = np.zeros((len(tp_sum), len(RECALL_THRESHOLDS)))
    for t in range(len(tp_sum)):
        recall = tp_sum[t] / n_positive
        precision = tp_sum[t] / (tp_sum[t] + fp_sum[t] + np.spacing(1))
        # Precision envelope: the best precision at this recall or any higher one.
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        idx = np.searchsorted(recall, RECALL_THRESHOLDS, side="left")
        reached = idx < len(precision)
        out[t, reached] = precision[idx[reached]]
    return out


def expected_calibration_error(p: np.ndarray, outcome: np.ndarray, bins: int = ECE_BINS) -> float | None:
    """ECE of probabilities ``p`` against 0/1 ``outcome``: equal-width bins on [0, 1], each bin's
    |mean outcome - mean p| weighted by its share of the samples."""
    p = np.asarray(p, dtype=np.float64)
    if len(p) == 0:
        return None
    which = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, weights=outcome, minlength=bins)
                 - np.bincount(which, weights=p, minlength=bins))
    return float(gap.sum() / counts.sum())


def calibrated_ece(p: np.ndarray, bins: int = ECE_BINS, draws: int = 200, seed: int = 0) -> tuple[float, float]:
    """What :func:`expected_calibration_error` gives a perfectly calibrated model with these
    probabilities on this many samples: outcomes drawn ``draws`` times as Bernoulli(``p``) (seeded),
    the mean and the 95th percentile of their ECE. A few hundred samples leave a calibrated model an
    ECE of a few hundredths, so an ECE under the 95th percentile is not told from calibration."""
    p = np.asarray(p, dtype=np.float64)
    if len(p) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = [expected_calibration_error(p, (rng.random(len(p)) < p).astype(np.float64), bins) for _ in range(draws)]
    return float(np.mean(values)), float(np.percentile(values, 95))


def macro_f1(true: np.ndarray, pred: np.ndarray, labels: Iterable[int]) -> float | None:
    """Mean F1 over ``labels`` (a label with neither truth nor prediction is left out)."""
    scores = []
    for label in labels:
        tp = np.sum((true == label) & (pred == label))
        wrong = np.sum((true == label) != (pred == label))
        if tp + wrong:
            scores.append(2 * tp / (2 * tp + wrong))
    return float(np.mean(scores)) if scores else None


@dataclass
class _Ranked:
    """Detections of one image (or a pool of images) for one AP: scores ``[D]``, true positives
    and ignore flags ``[T, D]``, and how many truths are there to find."""

    scores: np.ndarray
    true_pos: np.ndarray
    ignored: np.ndarray
    n_positive: int

    @staticmethod
    def pool(parts: list[_Ranked], n_thresholds: int) -> _Ranked:
        if not parts:
            return _Ranked(np.zeros(0), np.zeros((n_thresholds, 0), bool), np.zeros((n_thresholds, 0), bool), 0)
        return _Ranked(np.concatenate([p.scores for p in parts]),
                       np.concatenate([p.true_pos for p in parts], axis=1),
                       np.concatenate([p.ignored for p in parts], axis=1),
                       sum(p.n_positive for p in parts))


@dataclass
class _ImageResult:
    band: str | None
    gsd_m: float | None
    agnostic: _Ranked
    per_type: dict[str, _Ranked]
    # One row per true non-difficult tanker of known load.
    load_true: np.ndarray  # 0 empty, 1 loaded
    load_matched: np.ndarray  # bool
    load_pred: np.ndarray  # 0 empty, 1 loaded, 2 other; meaningless where unmatched
    p_loaded: np.ndarray
    # One row per regular truth matched at IoU 0.5: true and predicted length in pixels.
    length_true_px: np.ndarray
    length_pred_px: np.ndarray
    n_difficult: int
    n_detections: int

    def to_plain(self) -> dict:
        """Builtins and numpy arrays only (what :meth:`DetectionEvaluator.state` hands out)."""
        return dataclasses.asdict(self)

    @staticmethod
    def from_plain(plain: dict) -> _ImageResult:
        return _ImageResult(**{**plain, "agnostic": _Ranked(**plain["agnostic"]),
                               "per_type": {name: _Ranked(**r) for name, r in plain["per_type"].items()}})


def _other_type(type_name: str) -> str:
    return TYPE_NAMES[1 - TYPE_NAMES.index(type_name)]


def _ranked(iou: np.ndarray, scores: np.ndarray, truth_ignored: np.ndarray, thresholds) -> tuple[_Ranked, np.ndarray]:
    order = np.argsort(-scores, kind="mergesort")
    matched, ignored = match_detections(iou[order], truth_ignored, thresholds)
    ranked = _Ranked(scores[order], matched >= 0, ignored, int(np.count_nonzero(~truth_ignored)))
    return ranked, matched[:, np.argsort(order, kind="mergesort")]


class DetectionEvaluator:
    """Accumulate one image at a time with :meth:`add`, then :meth:`compute` or :meth:`save`.

    Cheap enough to feed every validation batch: the rotated IoU is computed once per image and
    each image is reduced to a few small arrays. ``uncertain_band`` and ``load_max_gsd_m`` should
    be the model's own (its checkpoint or ONNX metadata), so coverage here is coverage in ``detect``.
    """

    def __init__(self, iou_thresholds=IOU_THRESHOLDS, uncertain_band=(0.3, 0.7), load_max_gsd_m: float = 3.0):
        thresholds = np.asarray(iou_thresholds, dtype=np.float64)
        if not np.allclose(thresholds, IOU_THRESHOLDS):
            raise ValueError("vessel_AP50_95 is defined over IoU 0.50:0.05:0.95; "
                             f"got {thresholds.tolist()}")
        low, high = uncertain_band
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"uncertain_band must satisfy 0 <= low <= high <= 1, got {uncertain_band}")
        self.uncertain_band = (float(low), float(high))
        self.load_max_gsd_m = float(load_max_gsd_m)
        self.reset()

    def reset(self) -> None:
        self._images: list[_ImageResult] = []
        self._keys: list[Hashable | None] = []  # parallel to _images
        self._seen: set[Hashable] = set()

    def add(self, truth: LabelledImage, boxes, scores, type_probs, load_probs, gsd_m: float | None = None,
            key: Hashable | None = None) -> None:
        """Add one image: its truth and the model's detections on it.

        ``boxes`` ``[K, 5]`` (pixels of the truth's frame), ``scores`` ``[K]``, ``type_probs``
        ``[K, 2]`` over ``("tanker", "other")``, ``load_probs`` ``[K, 2]`` over ``("empty",
        "loaded")``; numpy arrays or anything ``np.asarray`` takes (CPU tensors). Pass only the
        valid rows (the model's first ``count``). ``gsd_m`` overrides ``truth.gsd_m``.

        ``key`` names the image (e.g. its dataset index; hashable, and orderable against the other
        keys for :meth:`merge`): an image whose key is already here is skipped, so one that a
        padded distributed sampler repeats counts once. Images without a key are all counted.
        """
        if key is not None and key in self._seen:
            return
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        type_probs = np.asarray(type_probs, dtype=np.float64).reshape(-1, len(TYPE_NAMES))
        load_probs = np.asarray(load_probs, dtype=np.float64).reshape(-1, len(LOAD_NAMES))
        if not len(boxes) == len(scores) == len(type_probs) == len(load_probs):
            raise ValueError(f"{truth.image_path}: detections disagree in number: {len(boxes)} boxes, "
                             f"{len(scores)} scores, {len(type_probs)} type rows, {len(load_probs)} load rows")
        gsd = truth.gsd_m if gsd_m is None else float(gsd_m)
        vessels = truth.vessels
        truth_boxes = truth.boxes()
        difficult = np.array([v.difficult for v in vessels], dtype=bool)
        types = np.array([v.vessel_type.value for v in vessels], dtype=object)
        iou = rotated_iou(boxes, truth_boxes)

        agnostic, matched = _ranked(iou, scores, difficult, _AGNOSTIC_THRESHOLDS)
        per_type = {}
        det_type = np.argmax(type_probs, axis=1) if len(type_probs) else np.zeros(0, dtype=np.int64)
        for index, name in enumerate(TYPE_NAMES):
            dets = det_type == index
            present = (types != _other_type(name)) | difficult
            ignore = (difficult | (types == VesselType.UNKNOWN.value))[present]
            per_type[name], _ = _ranked(iou[np.ix_(dets, present)], scores[dets] * type_probs[dets, index],
                                        ignore, IOU_THRESHOLDS)

        det_of_truth = np.full(len(vessels), -1, dtype=np.int64)
        at50 = matched[_AT50]
        det_of_truth[at50[at50 >= 0]] = np.nonzero(at50 >= 0)[0]
        det_of_truth[difficult] = -1

        load_rows = [g for g, v in enumerate(vessels) if not v.difficult and v.vessel_type is VesselType.TANKER
                     and v.load is not LoadState.UNKNOWN]
        load_det = det_of_truth[load_rows]
        hit = load_det >= 0
        pred = np.full(len(load_rows), -1, dtype=np.int64)
        p_loaded = np.full(len(load_rows), np.nan)
        if hit.any():
            d = load_det[hit]
            is_other = det_type[d] == TYPE_NAMES.index("other")
            pred[hit] = np.where(is_other, 2, np.argmax(load_probs[d], axis=1))
            p_loaded[hit] = load_probs[d, LOAD_NAMES.index("loaded")]
        matched_truth = np.nonzero(det_of_truth >= 0)[0]

        self._append(key, _ImageResult(
            band=gsd_band(gsd), gsd_m=gsd, agnostic=agnostic, per_type=per_type,
            load_true=np.array([LOAD_NAMES.index(vessels[g].load.value) for g in load_rows], dtype=np.int64),
            load_matched=hit, load_pred=pred, p_loaded=p_loaded,
            length_true_px=truth_boxes[matched_truth, 2] if len(matched_truth) else np.zeros(0),
            length_pred_px=boxes[det_of_truth[matched_truth], 2] if len(matched_truth) else np.zeros(0),
            n_difficult=int(difficult.sum()), n_detections=len(boxes),
        ))

    def _append(self, key: Hashable | None, result: _ImageResult) -> None:
        self._images.append(result)
        self._keys.append(key)
        if key is not None:
            self._seen.add(key)

    # ----- pooling across processes -----

    def state(self) -> list[tuple[Hashable | None, dict]]:
        """Every image added so far as ``(key, record)`` in the order added, for :meth:`merge`.

        Records are plain data (builtins and numpy arrays) that pickle, e.g. through
        ``torch.distributed.all_gather_object``. They do not depend on ``uncertain_band`` or
        ``load_max_gsd_m``: the evaluator that merges them applies its own.
        """
        return [(key, im.to_plain()) for key, im in zip(self._keys, self._images, strict=True)]

    def merge(self, states: Iterable[list[tuple[Hashable | None, dict]]]) -> None:
        """Add the images of other evaluators' :meth:`state` (e.g. one per process, gathered),
        skipping keys already here, so an image two processes both evaluated counts once.

        When every image has a key, the images are then put in key order. Pooled figures depend
        on the order images were added (ties in score rank by it; float sums follow it), so this
        makes them independent of which process saw which image, and equal to those of a single
        evaluator fed the images once each in key order (a sequential loader's).
        """
        for state in states:
            for key, plain in state:
                if key is None or key not in self._seen:
                    self._append(key, _ImageResult.from_plain(plain))
        if all(key is not None for key in self._keys):
            order = sorted(range(len(self._keys)), key=self._keys.__getitem__)
            self._images = [self._images[i] for i in order]
            self._keys = [self._keys[i] for i in order]

    # ----- figures -----

    def _subsets(self) -> list[tuple[str, list[_ImageResult]]]:
        """("" for all images, then one per GSD band) with the images each figure pools."""
        return [("", self._images)] + [(name, [im for im in self._images if im.band == name])
                                       for name, _, _ in GSD_BANDS]

    def precision_curves(self) -> dict[str, np.ndarray]:
        """Interpolated precision ``[101]`` at IoU 0.5 (recall :data:`RECALL_THRESHOLDS`) for the
        headline and each type, for the PR plot; curves with no truth are left out."""
        curves = {}
        pooled = _Ranked.pool([im.agnostic for im in self._images], len(_AGNOSTIC_THRESHOLDS))
        precision = interpolated_precision(pooled.scores, pooled.true_pos, pooled.ignored, pooled.n_positive)
        if precision is not None:
            curves["vessel"] = precision[_AT50]
        for name in TYPE_NAMES:
            pooled = _Ranked.pool([im.per_type[name] for im in self._images], len(IOU_THRESHOLDS))
            precision = interpolated_precision(pooled.scores, pooled.true_pos, pooled.ignored, pooled.n_positive)
            if precision is not None:
                curves[name] = precision[0]
        return curves

    def compute(self) -> dict:
        """Every figure as a flat dict of JSON-able scalars (None where undefined); see module doc."""
        out: dict[str, float | int | None] = {
            "n_images": len(self._images),
            "n_images_gsd_unknown": sum(im.band is None for im in self._images),
            "n_detections": sum(im.n_detections for im in self._images),
            "n_truth_difficult": sum(im.n_difficult for im in self._images),
        }
        for band, images in self._subsets():
            suffix = f".{band}" if band else ""
            pooled = _Ranked.pool([im.agnostic for im in images], len(_AGNOSTIC_THRESHOLDS))
            precision = interpolated_precision(pooled.scores, pooled.true_pos, pooled.ignored, pooled.n_positive)
            ap = None if precision is None else precision.mean(axis=1)
            out[f"vessel_AP50{suffix}"] = None if ap is None else float(ap[_AT50])
            out[f"vessel_AP50_95{suffix}"] = None if ap is None else float(ap[_COCO_SLICE].mean())
            if band == LOW_IOU_BAND:
                out[f"vessel_AP25{suffix}"] = None if ap is None else float(ap[_AT25])
            if band:
                out[f"n_images{suffix}"] = len(images)
            out[f"n_truth{suffix}"] = pooled.n_positive
        for name in TYPE_NAMES:
            pooled = _Ranked.pool([im.per_type[name] for im in self._images], len(IOU_THRESHOLDS))
            precision = interpolated_precision(pooled.scores, pooled.true_pos, pooled.ignored, pooled.n_positive)
            out[f"AP50_{name}"] = None if precision is None else float(precision[0].mean())
            out[f"AP50_95_{name}"] = None if precision is None else float(precision.mean())
            out[f"n_truth_{name}"] = pooled.n_positive

        load_subsets = self._subsets() + [(LOAD_CUT_NAME, [im for im in self._images
                                                           if im.gsd_m is not None and im.gsd_m <= LOAD_CUT_GSD_M])]
        for band, images in load_subsets:
            out.update(self._load_figures(images, f".{band}" if band else ""))
        out.update(self._confusion(self._images))
        out.update(self._length_figures(self._images))
        return out

    def _load_figures(self, images: list[_ImageResult], suffix: str) -> dict:
        true = np.concatenate([im.load_true for im in images]) if images else np.zeros(0, np.int64)
        hit = np.concatenate([im.load_matched for im in images]) if images else np.zeros(0, bool)
        pred = np.concatenate([im.load_pred for im in images]) if images else np.zeros(0, np.int64)
        p = np.concatenate([im.p_loaded for im in images]) if images else np.zeros(0)
        gsd = np.concatenate([np.full(len(im.load_true), np.nan if im.gsd_m is None else im.gsd_m)
                              for im in images]) if images else np.zeros(0)
        true, pred, p, gsd = true[hit], pred[hit], p[hit], gsd[hit]
        correct = pred == true
        low, high = self.uncertain_band
        # A match called "other" is a confident (wrong) answer, not an uncertain one.
        uncertain = (pred != 2) & ((gsd > self.load_max_gsd_m) | ((p > low) & (p < high)))
        covered = ~uncertain
        n = len(true)
        return {
            f"load_accuracy{suffix}": float(correct.mean()) if n else None,
            f"load_macro_f1{suffix}": macro_f1(true, pred, range(len(LOAD_NAMES))) if n else None,
            f"load_coverage{suffix}": float(covered.mean()) if n else None,
            f"load_accuracy_covered{suffix}": float(correct[covered].mean()) if covered.any() else None,
            f"load_ece{suffix}": expected_calibration_error(p, true == LOAD_NAMES.index("loaded")),
            f"load_count{suffix}": n,
            f"load_missed{suffix}": int(np.count_nonzero(~hit)),
        }

    @staticmethod
    def _confusion(images: list[_ImageResult]) -> dict:
        out = {}
        for t, true_name in enumerate(CONFUSION_TRUE):
            for c, pred_name in enumerate(CONFUSION_PRED):
                count = 0
                for im in images:
                    rows = im.load_true == t
                    if pred_name == "missed":
                        count += int(np.count_nonzero(rows & ~im.load_matched))
                    else:
                        count += int(np.count_nonzero(rows & im.load_matched & (im.load_pred == c)))
                out[f"load_confusion_{true_name}_{pred_name}"] = count
        return out

    @staticmethod
    def _length_figures(images: list[_ImageResult]) -> dict:
        known = [im for im in images if im.gsd_m is not None]
        true_m = np.concatenate([im.length_true_px * im.gsd_m for im in known]) if known else np.zeros(0)
        pred_m = np.concatenate([im.length_pred_px * im.gsd_m for im in known]) if known else np.zeros(0)
        err = pred_m - true_m
        n = len(err)
        return {
            "length_mae_m": float(np.abs(err).mean()) if n else None,
            "length_bias_m": float(err.mean()) if n else None,
            "length_rel_mae": float(np.mean(np.abs(err) / np.maximum(true_m, 1e-9))) if n else None,
            "length_count": n,
        }

    def confusion_matrix(self) -> np.ndarray:
        """Counts ``[2, 4]``: rows :data:`CONFUSION_TRUE`, columns :data:`CONFUSION_PRED`."""
        flat = self._confusion(self._images)
        return np.array([[flat[f"load_confusion_{t}_{p}"] for p in CONFUSION_PRED] for t in CONFUSION_TRUE])

    def save(self, out_dir, labels: dict | None = None) -> dict[str, Path]:
        """Write ``metrics.json`` (the :meth:`compute` dict plus ``labels``, e.g. ``{"data":
        "synthetic", "split": "val"}``), ``pr_curve.png`` and ``confusion.png``, each atomically.
        Returns the paths by name."""
        from .plots import plot_confusion, plot_precision_recall

        out_dir = Path(out_dir)
        figures = {**(labels or {}), **self.compute()}
        title = ", ".join(f"{key} {value}" for key, value in (labels or {}).items())
        paths = {"metrics": out_dir / "metrics.json", "pr_curve": out_dir / "pr_curve.png",
                 "confusion": out_dir / "confusion.png"}
        atomic_write_text(paths["metrics"], json.dumps(figures, indent=2, sort_keys=True) + "\n")
        plot_precision_recall(paths["pr_curve"], RECALL_THRESHOLDS, self.precision_curves(), figures, title)
        plot_confusion(paths["confusion"], self.confusion_matrix(), CONFUSION_TRUE, CONFUSION_PRED, title)
        return paths
