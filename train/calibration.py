"""Calibration of the load stage (Platt scaling: a temperature and a bias on the load logit):
``p_loaded = sigmoid(z / T + b)`` for the logit ``z`` the detector derives from the measured
widths, fitted on validation tankers so that ``p_loaded`` means what it says.

Why a bias as well as a temperature: the stage reads an empty hull's freeboard short (wide
shadows read narrow, the measurement pulled towards typical widths), so its raw calls lean to
``loaded`` at every GSD; a temperature can only make a leaning logit more or less sure of itself.
Fitted on a model's own validation split, the bias moves the point where the call changes side,
so unlike a temperature alone it changes argmax calls, and load accuracy with them
(docs/experiments.md, 2026-12-06 (evening)).

``(T, b)`` is fitted after each validation epoch on the raw logits of every validation tanker with
a known load at GSD <= ``load_max_gsd_m`` (profiles sampled at the labelled boxes, as in
training), stored in the model (``HullProfileHead.log_temperature`` and ``load_bias``) and so in
the checkpoint and the exported graph. The figures a validation epoch logs use the calibration
fitted on the epoch before (the first epoch's: T = 1, b = 0); test figures and ``detect`` use the
checkpoint's, fitted on validation, never on the data they are measured on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Search range of log T: T from 0.05 to 20 covers any network that is not broken.
LOG_T_RANGE = (-3.0, 3.0)
SEARCH_STEPS = 60
# Fewer labelled tankers than this leave the logit as it is: a handful of windows would fit noise.
MIN_SAMPLES = 20
# The bias's prior, N(0, BIAS_PRIOR_SD^2): a validation split of one load state only would
# otherwise drive it to infinity; at the demo's 200 validation tankers it shrinks the bias by 2 %.
BIAS_PRIOR_SD = 1.0
BIAS_RANGE = (-4.0, 4.0)
NEWTON_STEPS = 30


@dataclass(frozen=True)
class LoadCalibration:
    """``p_loaded = sigmoid(z / temperature + bias)`` for the raw load logit ``z``."""

    temperature: float = 1.0
    bias: float = 0.0


def _best_bias(scaled: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """``(bias, loss)``: the bias minimising the mean cross-entropy of ``sigmoid(scaled + bias)``
    plus its prior's share (convex in the bias: Newton's method)."""
    count = len(labels)
    precision = 1.0 / (count * BIAS_PRIOR_SD ** 2)
    bias = 0.0
    for _ in range(NEWTON_STEPS):
        p = torch.sigmoid(scaled + bias)
        gradient = float((p - labels).mean()) + precision * bias
        curvature = float((p * (1 - p)).mean()) + precision
        bias = min(max(bias - gradient / curvature, BIAS_RANGE[0]), BIAS_RANGE[1])
        if abs(gradient) < 1e-10:
            break
    loss = float(F.binary_cross_entropy_with_logits(scaled + bias, labels)) + 0.5 * precision * bias ** 2
    return bias, loss


def fit_load_calibration(logits: torch.Tensor, labels: torch.Tensor) -> LoadCalibration:
    """The temperature and bias minimising the mean cross-entropy of ``logits [M, 2]`` (the load
    stage's ``[-z/2, z/2]``, or any pair whose difference is the logit of loaded) against
    ``labels [M]`` (1 = loaded), with the bias's prior: a golden-section search over log T, the
    best bias found at each T (the loss minimised over the bias is unimodal in log T, as the loss
    is jointly convex in 1/T and the bias). Fewer than :data:`MIN_SAMPLES` labels: the identity."""
    if len(labels) < MIN_SAMPLES:
        return LoadCalibration()
    logits = logits.detach().double()
    margin = logits[:, 1] - logits[:, 0]
    targets = labels.detach().double()

    def loss(log_t: float) -> float:
        return _best_bias(margin / math.exp(log_t), targets)[1]

    ratio = (math.sqrt(5) - 1) / 2
    low, high = LOG_T_RANGE
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(SEARCH_STEPS):
        if loss_a < loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    temperature = math.exp((low + high) / 2)
    return LoadCalibration(temperature, _best_bias(margin / temperature, targets)[0])
