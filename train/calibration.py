"""Calibration of the load stage, fitted on validation tankers so that its uncertainties and
``p_loaded`` mean what they say: a factor on each cue's error scales (below), then Platt scaling
of the load logit, ``p_loaded = sigmoid(z / T + b)`` for the logit ``z`` the detector derives
from the measured widths.

Why a bias as well as a temperature: the stage reads an empty hull's freeboard short (wide
shadows read narrow, the measurement pulled towards typical widths), so its raw calls lean to
``loaded`` at every GSD; a temperature can only make a leaning logit more or less sure of itself.
Fitted on a model's own validation split, the bias moves the point where the call changes side,
so unlike a temperature alone it changes argmax calls, and load accuracy with them
(docs/experiments.md, 2026-12-06 (evening)).

Why two temperatures: a call that rests on the side strip (the shadow off the water, on a quay, or
hidden by the sun's angle) is wrong far more often than its scales say. The side strip's errors
are one-sided (a strip whose outer edge barely differs from the water beside it is read short, and
an empty hull read short is called loaded), which a factor fitted to all strips, most of them under
a pixel and read well, does not describe. So ``1 / T`` is fitted at both ends of the side strip's
share ``w`` of the reading (:func:`tankerwatch.models.freeboard.side_share`) and runs linearly
between them; one bias (a bias that also followed ``w`` moved by 0.03). On synthetic tiles the
side strip's temperature comes out about twice the shadow's; the calls stay as they were, a few
go to ``uncertain``, and a fifth fewer are confident and wrong (docs/experiments.md, 2026-12-06
(before midnight)).

Why a term in GSD: the calls at fine GSD are right more often than their confidence says, those
at coarse GSD less (the demo's models at <= 1 m: mean confidence 0.70-0.71 at accuracy 0.72-0.76; a
temperature fitted per GSD band wanted about 0.65, 0.9 and 1.2 at <= 1, 1-2 and 2-3 m): the error
scales do not shrink with the pixel as fast as the errors do. So ``1 / T`` also runs with the log of
the input's GSD (one slope; the two temperatures above are those at 1 m). Fitted on held-out
tankers it brought the ECE at <= 1 m from 0.053 to 0.044 (four models' mean); a slope on the
shadow's ``1 / T`` alone, which leaves side-strip calls as they were, brought it to 0.051 only
(docs/experiments.md, 2026-12-07 (third)).

The calibration is fitted after each validation epoch (:func:`fit_stage_calibration`) on every
validation tanker with a known load or drawn widths at GSD <= ``load_max_gsd_m`` (profiles sampled
at the labelled boxes, as in training), stored in the model (``HullProfileHead.cue_scale_log``,
``log_temperature``, ``log_side_temperature``, ``gsd_temperature_slope`` and ``load_bias``) and so
in the checkpoint and the exported graph. The figures a validation epoch logs use the calibration
fitted on the epoch before (the first epoch's: the identity); test figures and ``detect`` use the
checkpoint's, fitted on validation, never on the data they are measured on.

Why the scale factors (:func:`fit_cue_scale_factor`): the freeboard is the two cues'
inverse-variance weighted mean, so a cue whose scales overstate its error gets too little weight
beside the other, and the laden fraction's interval comes out too wide. On the demo model's tiles
at <= 1 m the shadow's scales were about 1.7 times its mean absolute error, the side strip's about
right (docs/experiments.md, 2026-12-06 (night)). Each cue's scales are multiplied by one factor,
the Laplace maximum-likelihood one for the errors of the labelled widths (a factor, not a new
network: which readings the scales trust more stays the network's; a factor that also grew with
the GSD fitted no better), and the temperatures and bias are then fitted on logits read through
the factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from tankerwatch.models.freeboard import side_share
from tankerwatch.models.hull_profile import INVERSE_TEMPERATURE_RANGE, MIN_GSD_M

# Fewer labelled tankers than this leave the logit as it is: a handful of windows would fit noise.
MIN_SAMPLES = 20
# The bias's prior, N(0, BIAS_PRIOR_SD^2): a validation split of one load state only would
# otherwise drive it to infinity; at the demo's 200 validation tankers it shrinks the bias by 2 %.
BIAS_PRIOR_SD = 1.0
BIAS_RANGE = (-4.0, 4.0)
# The prior on the difference of the two inverse temperatures (shadow-carried and side-carried
# calls), N(0, SIDE_PRIOR_SD^2): with few calls resting on the side strip, its temperature stays
# near the shadow's instead of fitting a handful of tankers.
SIDE_PRIOR_SD = 1.0
# The GSD slope's prior, N(0, GSD_PRIOR_SD^2): tankers all at one GSD say nothing of it (their log
# GSD is a constant, so the slope and the temperatures trade off), and it stays 0.
GSD_PRIOR_SD = 1.0
# Change of 1 / T per unit of log GSD: the demo's models fit -0.1 to -0.3; more than 3 is a broken fit.
GSD_SLOPE_RANGE = (-3.0, 3.0)
NEWTON_STEPS = 50
# Cue scale factor range, as a log: the scales are wrong by a factor of 2 or so, never by 50.
LOG_FACTOR_RANGE = (-4.0, 4.0)
# Resamples behind temperature_spread, each a full refit.
SPREAD_DRAWS = 40


@dataclass(frozen=True)
class LoadCalibration:
    """``p_loaded = sigmoid(z / T + bias)`` for the raw load logit ``z``, where ``1 / T`` runs from
    ``1 / temperature`` (a call resting on the shadow) to ``1 / side_temperature`` (on the side
    strip) with the side strip's share of the reading
    (:func:`tankerwatch.models.freeboard.side_share`), plus ``gsd_slope`` times the natural log of
    the GSD in metres (the two temperatures are those at 1 m;
    :meth:`tankerwatch.models.hull_profile.HullProfileHead.calibrate`)."""

    temperature: float = 1.0
    bias: float = 0.0
    side_temperature: float = 1.0
    gsd_slope: float = 0.0


def fit_load_calibration(logits: torch.Tensor, labels: torch.Tensor, side_shares: torch.Tensor | None = None,
                         gsds_m: torch.Tensor | None = None) -> LoadCalibration:
    """The two temperatures, the GSD slope and the bias minimising the mean cross-entropy of
    ``logits [M, 2]`` (the load stage's ``[-z/2, z/2]``, or any pair whose difference is the logit
    of loaded) against ``labels [M]`` (1 = loaded), with the bias's and the slope's priors and the
    prior that the two temperatures agree; ``side_shares [M]``
    (:func:`~tankerwatch.models.freeboard.side_share` of each reading; None: 0, every call resting
    on the shadow) and ``gsds_m [M]`` (each reading's input GSD in metres; None: 1 m). The
    cross-entropy is convex in ``(1 / T_shadow, 1 / T_side, slope, bias)`` (a logistic regression
    on ``z (1 - w)``, ``z w``, ``z log(gsd)`` and 1), so Newton's method finds the one minimum;
    each inverse temperature is kept to :data:`INVERSE_TEMPERATURE_RANGE`. Fewer than
    :data:`MIN_SAMPLES` labels: the identity."""
    if len(labels) < MIN_SAMPLES:
        return LoadCalibration()
    margin = (logits[:, 1] - logits[:, 0]).detach().double()
    targets = labels.detach().double()
    share = torch.zeros_like(margin) if side_shares is None else side_shares.detach().double().clamp(0.0, 1.0)
    log_gsd = (torch.zeros_like(margin) if gsds_m is None
               else torch.log(gsds_m.detach().double().clamp(min=MIN_GSD_M)))
    features = torch.stack([margin * (1.0 - share), margin * share, margin * log_gsd, torch.ones_like(margin)], dim=1)
    count = len(targets)
    tie = 1.0 / (count * SIDE_PRIOR_SD ** 2)
    prior = torch.diag(torch.tensor([0.0, 0.0, 1.0 / (count * GSD_PRIOR_SD ** 2), 1.0 / (count * BIAS_PRIOR_SD ** 2)],
                                    dtype=torch.float64))
    prior[:2, :2] += torch.tensor([[tie, -tie], [-tie, tie]], dtype=torch.float64)
    low = torch.tensor([INVERSE_TEMPERATURE_RANGE[0]] * 2 + [GSD_SLOPE_RANGE[0], BIAS_RANGE[0]], dtype=torch.float64)
    high = torch.tensor([INVERSE_TEMPERATURE_RANGE[1]] * 2 + [GSD_SLOPE_RANGE[1], BIAS_RANGE[1]], dtype=torch.float64)

    def loss(theta: torch.Tensor) -> float:
        return float(F.binary_cross_entropy_with_logits(features @ theta, targets) + 0.5 * theta @ prior @ theta)

    theta = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    current = loss(theta)
    for _ in range(NEWTON_STEPS):
        p = torch.sigmoid(features @ theta)
        gradient = features.T @ (p - targets) / count + prior @ theta
        hessian = (features.T * (p * (1 - p))) @ features / count + prior
        step = torch.linalg.solve(hessian + 1e-12 * torch.eye(4, dtype=torch.float64), gradient)
        # Damped and kept in range: far from the minimum (a split nearly separable) a full step overshoots.
        for _ in range(30):
            trial = torch.minimum(torch.maximum(theta - step, low), high)
            trial_loss = loss(trial)
            if trial_loss <= current:
                break
            step = step / 2
        else:
            break
        converged = current - trial_loss < 1e-12
        theta, current = trial, trial_loss
        if converged:
            break
    inverse_shadow, inverse_side, slope, bias = theta.tolist()
    return LoadCalibration(1.0 / inverse_shadow, bias, 1.0 / inverse_side, slope)


def fit_cue_scale_factor(ratios: torch.Tensor) -> float | None:
    """The log of the factor that makes one cue's Laplace error scales fit its errors: ``ratios
    [M]`` are ``|read width - true width| / scale`` of labelled readings, and the factor that
    maximises their Laplace likelihood under the scaled scales is their mean. Fewer than
    :data:`MIN_SAMPLES` readings: None (nothing to fit on)."""
    if len(ratios) < MIN_SAMPLES:
        return None
    return min(max(math.log(max(float(ratios.detach().double().mean()), 1e-12)), LOG_FACTOR_RANGE[0]),
               LOG_FACTOR_RANGE[1])


@dataclass(frozen=True)
class LabelledReadings:
    """The load stage's readings of labelled tankers on their labelled boxes, one row per tanker:
    ``readings [M, 4]`` (``HullProfileHead``: shadow and side widths, their raw error scales, box
    widths), ``boxes [M, 5]`` (model input pixels), ``view [M, 5]`` (its image's view row),
    ``loads [M]`` (1 loaded, 0 empty, -1 unknown or not visible), ``drafts [M]`` (true draft
    fraction, -1 unknown) and ``cues [M, 2]`` (drawn widths in box widths, -1 unknown, the shadow
    :data:`~tankerwatch.train.targets.UNREADABLE` off the water)."""

    readings: torch.Tensor
    boxes: torch.Tensor
    view: torch.Tensor
    loads: torch.Tensor
    drafts: torch.Tensor
    cues: torch.Tensor

    @staticmethod
    def pool(parts: list[LabelledReadings]) -> LabelledReadings:
        return LabelledReadings(*(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(LabelledReadings)))

    def to(self, device) -> LabelledReadings:
        return LabelledReadings(*(getattr(self, f.name).to(device) for f in fields(self)))

    def subset(self, rows: torch.Tensor) -> LabelledReadings:
        """The tankers at ``rows`` (indices, repeats allowed)."""
        return LabelledReadings(*(getattr(self, f.name)[rows] for f in fields(self)))

    def side_share(self, detector) -> torch.Tensor:
        """``[M]``: the side strip's share of each reading through ``detector``'s scale factors as
        they stand (:func:`tankerwatch.models.freeboard.side_share`), what the logit's
        temperature follows."""
        scales = detector.load_head.calibrate_scales(self.readings[:, None, 2:])
        return side_share(scales, self.boxes[:, None], self.view)[:, 0]

    def read(self, detector, calibrated: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``(load logits [M, 2], laden fraction [M, 3])`` through ``detector``'s calibration as it
        stands (``calibrated``: the logit's too), each tanker under its own view."""
        logits, fraction, _ = detector.load_from_readings(self.readings[:, None], self.boxes[:, None], self.view,
                                                          calibrated)
        return logits[:, 0], fraction[:, 0]


@dataclass(frozen=True)
class StageCalibration:
    """Everything the load stage's calibration fits: per cue (shadow, side strip) the log factor
    on its error scales, then the logit's temperatures and bias; ``tankers`` with a known load and
    ``cue_readings`` (shadow, side) with a known width it was fitted on."""

    cue_scale_log: tuple[float, float] = (0.0, 0.0)
    load: LoadCalibration = LoadCalibration()
    tankers: int = 0
    cue_readings: tuple[int, int] = (0, 0)

    def apply(self, head) -> None:
        """Write it into a ``HullProfileHead``'s buffers."""
        head.cue_scale_log.copy_(torch.tensor(self.cue_scale_log, dtype=head.cue_scale_log.dtype))
        head.log_temperature.fill_(math.log(self.load.temperature))
        head.log_side_temperature.fill_(math.log(self.load.side_temperature))
        head.gsd_temperature_slope.fill_(self.load.gsd_slope)
        head.load_bias.fill_(self.load.bias)


def fit_stage_calibration(detector, labelled: LabelledReadings) -> StageCalibration:
    """Fit the load stage's calibration on ``labelled`` tankers and write it into ``detector``'s
    load head: each cue's scale factor on the readings whose width is known (a shadow off the water
    has none; a cue with too few keeps the factor it has: labels of real imagery give no widths),
    then the temperatures, GSD slope and bias on the load logits read through those factors."""
    errors = (labelled.readings[:, :2] - labelled.cues).abs() / labelled.readings[:, 2:]
    known = labelled.cues >= 0
    head = detector.load_head
    fits = [fit_cue_scale_factor(errors[known[:, c], c]) for c in range(2)]
    factors = tuple(float(head.cue_scale_log[c]) if fit is None else fit for c, fit in enumerate(fits))
    head.cue_scale_log.copy_(torch.tensor(factors, dtype=head.cue_scale_log.dtype))
    with_load = labelled.loads >= 0
    logits, _ = labelled.read(detector, calibrated=False)
    share = labelled.side_share(detector)
    load = fit_load_calibration(logits[with_load], labelled.loads[with_load], share[with_load],
                                labelled.view[with_load, 0])
    fitted = StageCalibration(factors, load, int(with_load.sum()), tuple(int(known[:, c].sum()) for c in range(2)))
    fitted.apply(head)
    return fitted


def calibration_spread(detector, labelled: LabelledReadings, fitted: StageCalibration, draws: int = SPREAD_DRAWS,
                       seed: int = 0) -> dict[str, tuple[float, float]]:
    """How settled ``fitted`` (:func:`fit_stage_calibration` on ``labelled``) is: the 5th and 95th
    percentiles of the shadow's and the side strip's temperatures and of the GSD slope
    (``"temperature"``, ``"side_temperature"``, ``"gsd_slope"``) over ``draws`` refits on
    resamples of the tankers drawn with replacement. On the demo's weights the 2,026 synthetic
    tankers of its calibration set spread the temperatures over 1.19-1.68 and 2.28-3.41
    (docs/experiments.md, 2026-12-06 before midnight). Each refit starts from, and ``detector`` is
    left with, ``fitted``."""
    generator = torch.Generator().manual_seed(seed)
    count = len(labelled.loads)
    names = ("temperature", "side_temperature", "gsd_slope")
    refits = []
    for _ in range(draws):
        rows = torch.randint(count, (count,), generator=generator)
        load = fit_stage_calibration(detector, labelled.subset(rows)).load
        refits.append([getattr(load, name) for name in names])
        fitted.apply(detector.load_head)
    levels = torch.tensor([0.05, 0.95], dtype=torch.float64)
    spread = torch.quantile(torch.tensor(refits, dtype=torch.float64), levels, dim=0)  # [2 levels, names]
    return {name: (float(spread[0, i]), float(spread[1, i])) for i, name in enumerate(names)}
