"""The colour-only baseline: can load state be told from the colours inside a tanker's box alone?

It must not. The load-state cues are geometric (freeboard, shadow width, hull side seen
off-nadir); if a linear classifier on colour statistics of the pixels inside each true tanker box
separates empty from loaded, the synthetic data leaks the answer through colour and a detector
trained on it learns nothing that transfers. CONVENTIONS.md caps its balanced accuracy on
synthetic load state at 0.65.

Boxes follow :mod:`tankerwatch.infer.core.boxes` (``(cx, cy, length, width, angle)`` in pixels,
x = column, y = row, origin at the top-left corner of the top-left pixel); a pixel is inside a box
when its centre ``(i + 0.5, j + 0.5)`` is. Features are per band: mean, standard deviation and the
:data:`COLOUR_PERCENTILES` of the raw pixel values (no scaling: the classifier standardises).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..core.boxes import box_corners
from ..core.labels import LOAD_NAMES, LabelledImage, LoadState, VesselType
from ..runtime.raster import read_image

COLOUR_PERCENTILES = (10, 25, 50, 75, 90)
BASELINE_MAX_BALANCED_ACCURACY = 0.65  # CONVENTIONS.md: the baseline must stay at or below this


def pixels_in_box(image: np.ndarray, box) -> np.ndarray:
    """Values ``[C, n]`` of the pixels of ``image`` ``[C, H, W]`` whose centres lie in ``box``.

    A box too thin to hold any pixel centre gives the pixel under its centre (clamped to the
    image), so every vessel yields at least one sample.
    """
    _, height, width = image.shape
    cx, cy, length, box_width, angle = np.asarray(box, dtype=np.float64)
    corners = box_corners([cx, cy, length, box_width, angle])
    col0, row0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    col1 = min(int(np.ceil(corners[:, 0].max())), width)
    row1 = min(int(np.ceil(corners[:, 1].max())), height)
    cols, rows = np.meshgrid(np.arange(col0, max(col1, col0)), np.arange(row0, max(row1, row0)))
    dx, dy = cols + 0.5 - cx, rows + 0.5 - cy
    along = dx * np.cos(angle) + dy * np.sin(angle)
    across = -dx * np.sin(angle) + dy * np.cos(angle)
    inside = (np.abs(along) <= length / 2) & (np.abs(across) <= box_width / 2)
    if not inside.any():
        col = int(np.clip(np.floor(cx), 0, width - 1))
        row = int(np.clip(np.floor(cy), 0, height - 1))
        return image[:, row, col][:, None]
    return image[:, rows[inside], cols[inside]]


def colour_features(image: np.ndarray, box) -> np.ndarray:
    """Per band: mean, standard deviation, then the :data:`COLOUR_PERCENTILES` (``[C * 7]``)."""
    values = pixels_in_box(image, box).astype(np.float64)
    stats = [values.mean(axis=1), values.std(axis=1), *np.percentile(values, COLOUR_PERCENTILES, axis=1)]
    return np.stack(stats, axis=1).reshape(-1)


def tanker_samples(images: Iterable[LabelledImage]) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[N, F]`` and labels ``[N]`` (0 empty, 1 loaded, as :data:`LOAD_NAMES`) of every
    non-difficult tanker of known load, reading each image once."""
    features, labels = [], []
    for labelled in images:
        known = [v for v in labelled.vessels if v.vessel_type is VesselType.TANKER
                 and v.load is not LoadState.UNKNOWN and not v.difficult]
        if not known:
            continue
        pixels = read_image(labelled.image_path)
        for vessel in known:
            features.append(colour_features(pixels, vessel.box))
            labels.append(LOAD_NAMES.index(vessel.load.value))
    if not features:
        return np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
    return np.stack(features), np.asarray(labels, dtype=np.int64)


class LogisticRegression:
    """Binary logistic regression on standardised features, fitted by Newton's method.

    Classes are weighted to count equally (the score that matters is balanced accuracy) and the
    weights, not the intercept, carry an L2 penalty ``l2`` so separable data still converges.
    """

    def __init__(self, l2: float = 1.0, max_iter: int = 100, tol: float = 1e-8):
        self.l2, self.max_iter, self.tol = l2, max_iter, tol

    def fit(self, features: np.ndarray, labels: np.ndarray) -> LogisticRegression:
        labels = np.asarray(labels, dtype=np.float64)
        if len(np.unique(labels)) != 2:
            raise ValueError("the classifier needs samples of both classes")
        self.mean_ = features.mean(axis=0)
        # Constant features (e.g. a saturated band) carry nothing: keep them at zero, not NaN.
        self.scale_ = np.where(features.std(axis=0) > 0, features.std(axis=0), 1.0)
        design = self._design(features)
        counts = np.bincount(labels.astype(np.int64), minlength=2)
        sample_weight = (len(labels) / (2 * counts))[labels.astype(np.int64)]
        penalty = np.full(design.shape[1], self.l2)
        penalty[-1] = 0.0
        coef = np.zeros(design.shape[1])
        for _ in range(self.max_iter):
            p = _sigmoid(design @ coef)
            gradient = design.T @ (sample_weight * (p - labels)) + penalty * coef
            curvature = sample_weight * p * (1 - p)
            hessian = (design.T * curvature) @ design + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hessian, gradient)
            coef -= step
            if np.max(np.abs(step)) < self.tol:
                break
        self.coef_ = coef
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Probability of class 1 for each row."""
        return _sigmoid(self._design(features) @ self.coef_)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return (self.predict_proba(features) >= 0.5).astype(np.int64)

    def _design(self, features: np.ndarray) -> np.ndarray:
        standard = (np.asarray(features, dtype=np.float64) - self.mean_) / self.scale_
        return np.column_stack([standard, np.ones(len(standard))])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # never overflows, unlike 1 / (1 + exp(-z))


def balanced_accuracy(true: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``true``."""
    true, pred = np.asarray(true), np.asarray(pred)
    return float(np.mean([np.mean(pred[true == c] == c) for c in np.unique(true)]))


@dataclass(frozen=True)
class ColourBaselineResult:
    """Balanced accuracy of the colour-only classifier on held-out and on its own training tankers."""

    balanced_accuracy: float
    train_balanced_accuracy: float
    n_train: int
    n_eval: int

    @property
    def passes(self) -> bool:
        """True when colour alone does not give load state away."""
        return self.balanced_accuracy <= BASELINE_MAX_BALANCED_ACCURACY


def evaluate_colour_baseline(train: Iterable[LabelledImage], held_out: Iterable[LabelledImage],
                             l2: float = 1.0) -> ColourBaselineResult:
    """Fit the colour classifier on ``train``'s tankers and score it on ``held_out``'s."""
    train_x, train_y = tanker_samples(train)
    eval_x, eval_y = tanker_samples(held_out)
    if len(train_y) == 0 or len(eval_y) == 0:
        raise ValueError("the colour baseline needs tankers of known load in both splits")
    model = LogisticRegression(l2=l2).fit(train_x, train_y)
    return ColourBaselineResult(
        balanced_accuracy=balanced_accuracy(eval_y, model.predict(eval_x)),
        train_balanced_accuracy=balanced_accuracy(train_y, model.predict(train_x)),
        n_train=len(train_y), n_eval=len(eval_y),
    )
