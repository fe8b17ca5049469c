"""Scoring, one definition for training, benchmarks, export and reports.

- :mod:`.metrics`: rotated-IoU matching, AP (COCO 101-point), load accuracy, macro-F1, coverage, ECE,
  per GSD band.
- :mod:`.plots`: precision-recall curves and the load confusion matrix as PNG.
- :mod:`.colour_baseline`: the colour-only load classifier that must fail (a shortcut detector).
"""

from .colour_baseline import BASELINE_MAX_BALANCED_ACCURACY, evaluate_colour_baseline
from .metrics import GSD_BANDS, DetectionEvaluator, gsd_band, load_call, match_detections

__all__ = [
    "GSD_BANDS",
    "DetectionEvaluator",
    "gsd_band",
    "load_call",
    "match_detections",
    "BASELINE_MAX_BALANCED_ACCURACY",
    "evaluate_colour_baseline",
]
