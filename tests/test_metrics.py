"""Metrics: agreement with pycocotools, hand-worked cases, load-state figures, and the saved files."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType
from tankerwatch.infer.evaluation.metrics import (
    DetectionEvaluator,
    calibrated_ece,
    expected_calibration_error,
    gsd_band,
    load_call,
    macro_f1,
    match_detections,
)

TANKER, OTHER = [1.0, 0.0], [0.0, 1.0]
EMPTY, LOADED = [0.9, 0.1], [0.1, 0.9]


def image(*vessels, gsd=None, name="a.png"):
    return LabelledImage(image_path=name, width=512, height=512, gsd_m=gsd, vessels=list(vessels))


def tanker(box, load="empty", difficult=False):
    return Vessel(box=box, vessel_type=VesselType.TANKER, load=LoadState(load), difficult=difficult)


def add(ev, truth, dets, gsd_m=None):
    """dets: list of (box, score, type_probs, load_probs)."""
    boxes = [d[0] for d in dets]
    ev.add(truth, np.reshape(boxes, (-1, 5)), [d[1] for d in dets], np.reshape([d[2] for d in dets], (-1, 2)),
           np.reshape([d[3] for d in dets], (-1, 2)), gsd_m=gsd_m)


# ----- agreement with pycocotools -----

def _random_scene(rng, n_images):
    """Axis-aligned truth (x, y, w, h) and detections near or away from it, per image."""
    scenes = []
    for _ in range(n_images):
        n_truth = int(rng.integers(0, 7))
        truth = np.column_stack([rng.uniform(0, 400, (n_truth, 2)), rng.uniform(4, 80, (n_truth, 2))])
        dets = []
        for t in truth:
            for _ in range(int(rng.integers(0, 3))):  # 0-2 detections per truth, some duplicates
                jitter = rng.normal(0, 0.15, 4) * np.r_[t[2:], t[2:]]
                dets.append(np.r_[t[:2] + jitter[:2], np.maximum(t[2:] + jitter[2:], 1.0)])
        for _ in range(int(rng.integers(0, 4))):  # background false positives
            dets.append(np.r_[rng.uniform(0, 400, 2), rng.uniform(4, 80, 2)])
        dets = np.reshape(dets, (-1, 4))
        scores = rng.uniform(0, 1, len(dets))
        types = rng.integers(0, 2, n_truth)
        det_types = rng.dirichlet([1, 1], len(dets))
        scenes.append((truth, types, dets, scores, det_types))
    return scenes


def _xywh_to_box(xywh):
    x, y, w, h = xywh
    return [x + w / 2, y + h / 2, w, h, 0.0]


def _cocoeval(scenes, class_of_truth, class_and_score_of_det, n_classes):
    gt = {"images": [], "annotations": [], "categories": [{"id": c + 1} for c in range(n_classes)]}
    results = []
    for img_id, (truth, types, dets, scores, det_types) in enumerate(scenes, start=1):
        gt["images"].append({"id": img_id})
        for t, vessel_type in zip(truth, types, strict=True):
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": img_id, "bbox": t.tolist(),
                                      "area": float(t[2] * t[3]), "iscrowd": 0,
                                      "category_id": class_of_truth(vessel_type) + 1})
        for d, s, p in zip(dets, scores, det_types, strict=True):
            cat, score = class_and_score_of_det(s, p)
            results.append({"image_id": img_id, "bbox": d.tolist(), "score": float(score), "category_id": cat + 1})
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(results), "bbox")
        ev.params.maxDets = [10_000]
        ev.params.areaRng = [[0, 1e12]]
        ev.params.areaRngLbl = ["all"]
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][:, :, :, 0, 0]  # [T, R, K]
    return [(float(precision[0, :, k].mean()), float(precision[:, :, k].mean())) for k in range(n_classes)]


def _ours(scenes):
    ev = DetectionEvaluator()
    for truth, types, dets, scores, det_types in scenes:
        vessels = [Vessel(box=_xywh_to_box(t), vessel_type=[VesselType.TANKER, VesselType.OTHER][c])
                   for t, c in zip(truth, types, strict=True)]
        ev.add(image(*vessels), [_xywh_to_box(d) for d in dets] or np.zeros((0, 5)), scores, det_types,
               np.full((len(dets), 2), 0.5))
    return ev.compute()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ap_agrees_with_pycocotools(seed):
    scenes = _random_scene(np.random.default_rng(seed), 60)
    ours = _ours(scenes)
    [(ap50, ap50_95)] = _cocoeval(scenes, lambda c: 0, lambda s, p: (0, s), 1)
    assert ours["n_truth"] > 100
    assert 0.2 < ap50 < 0.98  # a case where interpolation and false positives matter
    assert ours["vessel_AP50"] == pytest.approx(ap50, abs=1e-6)
    assert ours["vessel_AP50_95"] == pytest.approx(ap50_95, abs=1e-6)
    # Per type: each detection joins its argmax class, ranked by score * type probability.
    per_class = _cocoeval(scenes, lambda c: int(c), lambda s, p: (int(np.argmax(p)), s * p.max()), 2)
    for name, (ap50, ap50_95) in zip(("tanker", "other"), per_class, strict=True):
        assert ours[f"AP50_{name}"] == pytest.approx(ap50, abs=1e-6)
        assert ours[f"AP50_95_{name}"] == pytest.approx(ap50_95, abs=1e-6)


# ----- hand-worked detection cases -----

BOX_A = [100, 100, 60, 12, 0.0]
BOX_B = [300, 300, 60, 12, 0.5]


def test_ap_hand_worked_interpolation():
    ev = DetectionEvaluator()
    add(ev, image(tanker(BOX_A), tanker(BOX_B)), [
        (BOX_A, 0.9, TANKER, EMPTY),
        ([400, 50, 60, 12, 0.0], 0.8, TANKER, EMPTY),  # false positive
        (BOX_B, 0.7, TANKER, EMPTY),
    ])
    m = ev.compute()
    # Recall 0.5 at precision 1, then recall 1 at precision 2/3: 51 points at 1, 50 at 2/3.
    assert m["vessel_AP50"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert m["vessel_AP50_95"] == pytest.approx(m["vessel_AP50"])  # exact boxes match at every IoU


def test_rotated_iou_decides_a_match():
    ev = DetectionEvaluator()
    truth = image(tanker(BOX_A))
    # Same centre and size but turned 45 degrees: the axis-aligned envelopes would overlap a lot.
    add(ev, truth, [([100, 100, 60, 12, math.pi / 4], 0.9, TANKER, EMPTY)])
    assert ev.compute()["vessel_AP50"] == 0.0
    ev.reset()
    add(ev, truth, [([100, 100, 60, 12, math.pi], 0.9, TANKER, EMPTY)])  # the same box, other end first
    assert ev.compute()["vessel_AP50"] == pytest.approx(1.0)


def test_difficult_truth_is_an_ignore_region():
    ev = DetectionEvaluator()
    add(ev, image(tanker(BOX_A), tanker(BOX_B, difficult=True)), [
        (BOX_B, 0.95, TANKER, EMPTY),  # on the difficult vessel: neither TP nor FP
        (BOX_B, 0.92, TANKER, EMPTY),  # a second one on it: still ignored
        (BOX_A, 0.9, TANKER, EMPTY),
    ])
    m = ev.compute()
    assert m["vessel_AP50"] == pytest.approx(1.0)
    assert m["n_truth"] == 1 and m["n_truth_difficult"] == 1
    assert m["load_count"] == 1  # the difficult tanker is not a load-state sample either


def test_duplicate_detection_is_a_false_positive():
    ev = DetectionEvaluator()
    add(ev, image(tanker(BOX_A)), [(BOX_A, 0.9, TANKER, EMPTY), (BOX_A, 0.95, TANKER, EMPTY)])
    add(ev, image(tanker(BOX_B)), [(BOX_B, 0.5, TANKER, EMPTY)])
    # Ranked 0.95 TP, 0.9 FP, 0.5 TP: recall 0.5 at precision 1, recall 1 at 2/3.
    assert ev.compute()["vessel_AP50"] == pytest.approx((51 + 50 * 2 / 3) / 101)


def test_unknown_type_counts_for_vessels_and_is_ignored_per_type():
    ship = Vessel(box=BOX_B)  # a "ship" label: type and load unknown
    other = Vessel(box=[200, 400, 40, 10, 0.2], vessel_type=VesselType.OTHER)
    ev = DetectionEvaluator()
    add(ev, image(tanker(BOX_A), ship, other), [
        (BOX_A, 0.9, TANKER, EMPTY),
        (BOX_B, 0.8, TANKER, EMPTY),  # tanker call on the unknown ship: ignored for AP50_tanker
        ([200, 400, 40, 10, 0.2], 0.7, TANKER, EMPTY),  # tanker call on a true other: FP for tankers
    ])
    m = ev.compute()
    assert m["vessel_AP50"] == pytest.approx(1.0)
    assert m["n_truth"] == 3 and m["n_truth_tanker"] == 1 and m["n_truth_other"] == 1
    assert m["AP50_tanker"] == pytest.approx(1.0)  # the one FP ranks below the only tanker
    assert m["AP50_other"] == 0.0  # the other vessel was never called other


def test_no_truth_gives_none_not_zero():
    ev = DetectionEvaluator()
    add(ev, image(), [(BOX_A, 0.9, TANKER, EMPTY)])
    m = ev.compute()
    assert m["vessel_AP50"] is None and m["AP50_tanker"] is None and m["load_accuracy"] is None
    assert m["n_detections"] == 1
    json.dumps(m)


def test_gsd_bands_and_low_iou_ap():
    ev = DetectionEvaluator()
    shifted = [100 + 60 * 0.55, 100, 60, 12, 0.0]  # IoU (60-33)/(60+33) = 0.29: below 0.5, above 0.25
    add(ev, image(tanker(BOX_A), gsd=0.5), [(BOX_A, 0.9, TANKER, EMPTY)])
    add(ev, image(tanker(BOX_A), gsd=5.0), [(shifted, 0.5, TANKER, EMPTY)])
    add(ev, image(tanker(BOX_A), gsd=20.0), [])
    add(ev, image(tanker(BOX_A)), [(BOX_A, 0.9, TANKER, EMPTY)])  # unknown GSD: pooled only
    m = ev.compute()
    assert m["vessel_AP50.gsd_0_1"] == pytest.approx(1.0)
    assert m["vessel_AP50.gsd_1_3"] is None
    assert m["vessel_AP50.gsd_3_10"] == 0.0 and m["vessel_AP25.gsd_3_10"] == pytest.approx(1.0)
    assert m["vessel_AP50.gsd_10_inf"] == 0.0
    assert m["n_images_gsd_unknown"] == 1 and m["n_truth"] == 4
    assert m["vessel_AP50"] == pytest.approx(51 / 101)  # two of four found, both ranked first


def test_gsd_band_edges():
    assert [gsd_band(g) for g in (0.3, 1.0, 1.01, 3.0, 10.0, 10.5, None, 0.0)] == [
        "gsd_0_1", "gsd_0_1", "gsd_1_3", "gsd_1_3", "gsd_3_10", "gsd_10_inf", None, None]


def test_matching_prefers_highest_iou_and_regular_truth():
    iou = np.array([[0.6, 0.9, 0.95],
                    [0.7, 0.55, 0.0]])
    ignored = np.array([False, False, True])
    matched, on_ignore = match_detections(iou, ignored, [0.5, 0.92])
    # At 0.5 the first detection takes truth 1 (regular beats the ignore region's higher IoU).
    assert matched[0].tolist() == [1, 0]
    # At 0.92 only the ignore region is left for it; the second detection finds nothing.
    assert matched[1].tolist() == [2, -1] and on_ignore[1].tolist() == [True, False]


# ----- load state -----

def test_load_state_figures_and_confusion():
    truth = image(tanker([50, 50, 60, 12, 0], "empty"), tanker([150, 50, 60, 12, 0], "empty"),
                  tanker([250, 50, 60, 12, 0], "loaded"), tanker([350, 50, 60, 12, 0], "loaded"),
                  tanker([450, 50, 60, 12, 0], "loaded"), gsd=0.5)
    ev = DetectionEvaluator(uncertain_band=(0.3, 0.7))
    add(ev, truth, [
        ([50, 50, 60, 12, 0], 0.9, TANKER, [0.8, 0.2]),  # empty, right, confident
        ([150, 50, 60, 12, 0], 0.9, TANKER, [0.4, 0.6]),  # empty called loaded, uncertain
        ([250, 50, 60, 12, 0], 0.9, TANKER, [0.05, 0.95]),  # loaded, right, confident
        ([350, 50, 60, 12, 0], 0.9, OTHER, [0.1, 0.9]),  # matched but called other: wrong
    ])  # the fifth tanker is missed
    m = ev.compute()
    assert m["load_count"] == 4 and m["load_missed"] == 1
    assert m["load_accuracy"] == pytest.approx(2 / 4)
    assert m["load_coverage"] == pytest.approx(3 / 4)
    assert m["load_accuracy_covered"] == pytest.approx(2 / 3)
    # empty: TP 1, FN 1, FP 0 -> F1 2/3; loaded: TP 1, FN 1 (the "other"), FP 1 -> F1 1/2.
    assert m["load_macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    # p_loaded 0.2, 0.6, 0.95, 0.9 against 0, 0, 1, 1: bins 2, 6, 9, 9.
    assert m["load_ece"] == pytest.approx((0.2 + 0.6 + 0.05 + 0.1) / 4)
    assert m["load_accuracy.gsd_0_1"] == m["load_accuracy"] == m["load_accuracy.gsd_le2"]
    assert m["load_count.gsd_1_3"] == 0 and m["load_accuracy.gsd_1_3"] is None
    assert ev.confusion_matrix().tolist() == [[1, 1, 0, 0], [0, 1, 1, 1]]
    assert m["load_confusion_loaded_missed"] == 1 and m["load_confusion_loaded_other"] == 1
    assert m["vessel_AP50"] == pytest.approx(81 / 101)  # load state never touches detection figures


def test_coarse_gsd_makes_every_load_call_uncertain():
    ev = DetectionEvaluator(load_max_gsd_m=3.0)
    add(ev, image(tanker(BOX_A, "loaded"), gsd=5.0), [(BOX_A, 0.9, TANKER, [0.01, 0.99])])
    m = ev.compute()
    assert m["load_accuracy"] == 1.0 and m["load_coverage"] == 0.0 and m["load_accuracy_covered"] is None
    assert m["load_count.gsd_le2"] == 0


def test_load_call_matches_the_evaluator():
    assert load_call(0.69, 0.5) == "uncertain"
    assert load_call(0.7, 0.5) == "loaded" and load_call(0.3, 0.5) == "empty"
    assert load_call(0.99, 3.5) == "uncertain" and load_call(0.99, None) == "loaded"


def test_ece_and_macro_f1_helpers():
    assert expected_calibration_error([0.1, 0.1, 0.9, 0.9], [0, 0, 1, 1]) == pytest.approx(0.1)
    assert expected_calibration_error([0.5] * 4, [0, 1, 0, 1]) == pytest.approx(0.0)
    assert expected_calibration_error([], []) is None
    assert expected_calibration_error([1.0], [1]) == pytest.approx(0.0)  # p = 1 lands in the top bin
    assert macro_f1(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), [0, 1]) == 1.0
    assert macro_f1(np.array([0, 0]), np.array([0, 0]), [0, 1]) == 1.0  # absent class left out


def test_length_error_in_metres():
    ev = DetectionEvaluator()
    add(ev, image(tanker([100, 100, 50, 10, 0]), gsd=2.0), [([100, 100, 52, 10, 0], 0.9, TANKER, EMPTY)])
    add(ev, image(tanker([100, 100, 50, 10, 0])), [([100, 100, 40, 10, 0], 0.9, TANKER, EMPTY)])  # no GSD
    m = ev.compute()
    assert m["length_count"] == 1
    assert m["length_mae_m"] == pytest.approx(4.0) and m["length_bias_m"] == pytest.approx(4.0)
    assert m["length_rel_mae"] == pytest.approx(0.04)


def test_mismatched_detection_arrays_are_refused():
    ev = DetectionEvaluator()
    with pytest.raises(ValueError, match="a.png: detections disagree"):
        ev.add(image(), np.zeros((2, 5)), np.zeros(3), np.zeros((2, 2)), np.zeros((2, 2)))


# ----- saved files -----

def test_save_writes_json_and_pictures(tmp_path):
    ev = DetectionEvaluator()
    add(ev, image(tanker(BOX_A, "loaded"), gsd=0.5), [(BOX_A, 0.9, TANKER, LOADED)])
    paths = ev.save(tmp_path / "run", labels={"data": "synthetic", "split": "val"})
    saved = json.loads(paths["metrics"].read_text())
    assert saved["data"] == "synthetic" and saved["vessel_AP50"] == pytest.approx(1.0)
    assert saved == json.loads(json.dumps({"data": "synthetic", "split": "val", **ev.compute()}))
    for name in ("pr_curve", "confusion"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["confusion.png", "metrics.json", "pr_curve.png"]
    first = paths["metrics"].read_bytes()
    ev.save(tmp_path / "run", labels={"data": "synthetic", "split": "val"})
    assert paths["metrics"].read_bytes() == first  # deterministic


# ----- pooling across processes -----

def test_split_evaluators_merge_to_the_figures_of_one():
    # Two DDP ranks as Lightning's DistributedSampler deals them: alternate images, the odd-sized
    # set padded by repeating the first image on the second rank. Scores are rounded so that ties
    # across images occur (their ranking follows the order images were added).
    import pickle

    rng = np.random.default_rng(7)
    items = []
    for truth, types, dets, scores, det_types in _random_scene(rng, 31):
        vessels = [Vessel(box=_xywh_to_box(t), vessel_type=[VesselType.TANKER, VesselType.OTHER][c],
                          load=LoadState(rng.choice(["empty", "loaded"])) if c == 0 else LoadState.UNKNOWN)
                   for t, c in zip(truth, types, strict=True)]
        p_loaded = rng.uniform(0, 1, len(dets))
        items.append((image(*vessels, gsd=float(rng.choice([0.5, 2.0, 5.0, 12.0]))),
                      [_xywh_to_box(d) for d in dets] or np.zeros((0, 5)), np.round(scores, 1), det_types,
                      np.column_stack([1 - p_loaded, p_loaded])))
    whole = DetectionEvaluator()
    for item in items:
        whole.add(*item)
    ranks = [DetectionEvaluator(), DetectionEvaluator()]
    padded = [*range(len(items)), 0]
    for rank, ev in enumerate(ranks):
        for key in padded[rank::2]:
            ev.add(*items[key], key=key)
    ranks[1].add(*items[0], key=0)  # a key already here is skipped
    assert [ev.compute()["n_images"] for ev in ranks] == [16, 16]
    # What all_gather_object does to each rank's state, then every rank merges all of them.
    gathered = [pickle.loads(pickle.dumps(ev.state())) for ev in ranks]
    for ev in ranks:
        ev.merge(gathered)
    expected = whole.compute()
    assert expected["n_images"] == 31 and expected["n_truth"] > 50 and expected["load_count"] > 10
    assert 0.0 < expected["vessel_AP50"] < 1.0 and expected["length_count"] > 0
    for ev in ranks:
        assert ev.compute() == expected
        assert ev.confusion_matrix().tolist() == whole.confusion_matrix().tolist()
        curves = ev.precision_curves()
        assert curves.keys() == whole.precision_curves().keys()
        for name, curve in whole.precision_curves().items():
            assert np.array_equal(curves[name], curve)
    # Merging is idempotent, and an evaluator that saw nothing pools the same way.
    ranks[0].merge(gathered)
    empty = DetectionEvaluator()
    empty.merge(gathered)
    assert ranks[0].compute() == empty.compute() == expected


def test_a_calibrated_models_ece_shrinks_with_the_samples_and_stays_under_a_miscalibrated_ones():
    rng = np.random.default_rng(3)
    p = rng.random(4000)
    few_mean, few_high = calibrated_ece(p[:200])
    many_mean, many_high = calibrated_ece(p)
    assert 0 < many_mean < few_mean and many_mean <= many_high and few_mean <= few_high
    # each draw is a calibrated model's outcomes, so its ECE is about the same size as the floor...
    outcome = (rng.random(len(p)) < p).astype(float)
    assert expected_calibration_error(p, outcome) < 2 * many_high
    # ...while outcomes of a model sure where it should not be lie far above it
    overconfident = np.clip(0.5 + 2 * (p - 0.5), 0, 1)
    assert expected_calibration_error(overconfident, outcome) > 5 * many_high
    assert calibrated_ece(p, seed=1) != calibrated_ece(p, seed=2) and calibrated_ece(p) == calibrated_ece(p)
    assert np.isnan(calibrated_ece(np.zeros(0))[0])
