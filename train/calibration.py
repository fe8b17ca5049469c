"""Temperature scaling of the load stage (Guo et al., 2017): one scalar ``T`` divides the load
logit the detector derives from the measured widths, fitted on validation tankers so that ``p_loaded`` means what it says.

``T`` is fitted after each validation epoch on the raw logits of every validation tanker with a
known load at GSD <= ``load_max_gsd_m`` (profiles sampled at the labelled boxes, as in training),
stored in the model (``HullProfileHead.log_temperature``) and so in the checkpoint and the exported
graph. The figures a validation epoch logs use the temperature fitted on the epoch before (the
first epoch's, T = 1); test figures and ``detect`` use the checkpoint's, fitted on validation, never
on the data they are measured on. Argmax calls, and so load accuracy, do not change with ``T``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Search range of log T: T from 0.05 to 20 covers any network that is not broken.
LOG_T_RANGE = (-3.0, 3.0)
SEARCH_STEPS = 60
# Fewer labelled tankers than this leave T at 1: a handful of windows would fit noise.
MIN_SAMPLES = 20


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """``T > 0`` minimising the mean cross-entropy of ``logits [M, 2] / T`` against ``labels [M]``
    (golden-section search over log T; the loss is convex in 1/T). Returns 1.0 when fewer than
    :data:`MIN_SAMPLES` labels are given."""
    if len(labels) < MIN_SAMPLES:
        return 1.0
    logits, labels = logits.detach().double(), labels.detach()

    def loss(log_t: float) -> float:
        return float(F.cross_entropy(logits / math.exp(log_t), labels))

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
    return math.exp((low + high) / 2)
