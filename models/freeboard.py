"""From measured cue widths to freeboard, laden fraction and load state: the geometry, in the graph.

The load stage's network measures (``models/hull_profile.py``) how wide the hull's shadow
on the water and its visible side strip are, in units of the hull box's width, each with an error
scale. What those widths mean in metres of freeboard depends on the scene (``docs/physics.md``)::

    shadow width = freeboard * cot(sun elevation) * |sin(sun azimuth - hull azimuth)|
    side strip   = freeboard * tan(view zenith)   * |sin(view azimuth - hull azimuth)|

and, when the sun and the sensor lie on the same side of the hull, the deck (displaced away from the
sensor by the side strip's width) covers that much of the shadow, so the visible shadow is the
difference, at least 0: still linear in the freeboard.

so this module, which has no weights, turns the widths into freeboard with the scene's angles:
each cue is one linear measurement ``width_m = gain * freeboard + error``, and the freeboard is
their inverse-variance weighted least-squares solution. A cue the geometry hides (the sun along the
hull, a nadir view) has gain 0 and adds nothing; with both hidden the freeboard's error is unbounded
(its interval spans every freeboard the hull's class could have) and the load state comes out 0.5,
which ``detect`` reports ``uncertain``. So does a reading no hull of the tanker's class could give
(:data:`MAX_FRACTION_EXCESS`).

Freeboard becomes a laden fraction through the tanker's size class at the box's length
(:mod:`tankerwatch.infer.core.tanker_sizes`: the class's ballast and laden freeboards at the
length's relative position in the class), and ``p_loaded = P(laden fraction >= 0.5)`` under the
Gaussian error of that fraction.

Frames and units: boxes ``[N, K, 5]`` are ``[cx, cy, length, width, angle]`` in input pixels, angle
of the long axis from +x towards +y; ``view [N, 5]`` is ``(gsd_m, sun_elevation_deg,
sun_azimuth_deg, view_zenith_deg, view_azimuth_deg)``, ground metres per input pixel and degrees,
azimuths clockwise from the image's up direction (-y), the view azimuth from the ground towards the
sensor. NaN angles mean unknown: the geometry-free mode then averages the reading over a grid of
typical angles (:data:`PRIOR_SUN_ELEVATIONS_DEG` ...), so a freeboard measured without its geometry
gets the spread that the unknown geometry allows.
"""

from __future__ import annotations

import math

import torch

from tankerwatch.infer.core.tanker_sizes import TANKER_CLASSES

# The error scale of a measured width never falls below this many box widths' hundredths: the
# labels themselves are rounded and the window is resampled, so a claimed precision finer than that
# would be overconfidence.
MIN_WIDTH_SCALE = 0.01
# A gain below this (metres of width per metre of freeboard) is treated as no measurement: at a
# sun elevation of 89.5 degrees or an azimuth within a degree of the hull the cue is under 1 %.
MIN_GAIN = 0.01
# The freeboard error (metres) that stands for "not measured": no cue visible under this geometry.
UNMEASURED_SIGMA_M = 1e6
# A freeboard that puts the hull more than this share of its ballast-laden swing beyond either end
# of its class's range is no hull's but a misread strip: a wake or a neighbour's edge read as
# shadow, or a pixel's error divided by a gain near 0. Such calls were right about half the time
# (docs/experiments.md, 2026-12-04 evening), so the reading counts as unmeasured: `uncertain`.
MAX_FRACTION_EXCESS = 0.5
# Normal quantile of the 10 % and 90 % interval bounds (the laden fraction's quantile levels).
Z80 = 1.2815516
LOADED_FROM_FRACTION = 0.5
# A 1-sigma floor on the laden fraction: the class table is a typical hull, and a real ship of
# the same length differs in depth and drafts by about this share of its ballast-laden swing.
CLASS_FRACTION_SIGMA = 0.05
# Angles the geometry-free mode averages over: sun elevations of a year of mid-latitude morning
# passes, sun and view azimuths relative to the hull uniform over the quarter circle (the gains
# depend on |sin| of the difference only), view zeniths of a typical tasking.
# Sun azimuths a quarter circle suffice (the gains depend on |sin| of the difference, and mirroring
# sun and sensor together changes nothing); the sensor's spans the half circle, both sides of the
# hull relative to the sun.
PRIOR_SUN_ELEVATIONS_DEG = (20.0, 30.0, 40.0, 50.0, 60.0)
PRIOR_SUN_AZIMUTHS_DEG = (11.25, 33.75, 56.25, 78.75)
PRIOR_VIEW_AZIMUTHS_DEG = (11.25, 33.75, 56.25, 78.75, 101.25, 123.75, 146.25, 168.75)
PRIOR_VIEW_ZENITHS_DEG = (2.0, 12.0, 24.0)


def _class_table() -> torch.Tensor:
    """``[classes, 8]``: length low, high; ballast freeboard at the low and high ends; laden
    freeboard at the low and high ends; is first; is last."""
    rows = []
    for i, cls in enumerate(TANKER_CLASSES):
        ballast = (cls.depth_m[0] - cls.ballast_draft_m[0], cls.depth_m[1] - cls.ballast_draft_m[1])
        laden = (cls.depth_m[0] - cls.laden_draft_m[0], cls.depth_m[1] - cls.laden_draft_m[1])
        rows.append([*cls.length_m, *ballast, *laden, float(i == 0), float(i == len(TANKER_CLASSES) - 1)])
    return torch.tensor(rows, dtype=torch.float32)


CLASS_TABLE = _class_table()


def class_freeboards(length_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ballast and laden freeboard (metres) of a tanker ``length_m`` long, as
    :func:`tankerwatch.infer.core.tanker_sizes.freeboard_at` gives them at fractions 0 and 1: the
    class holding the length (the table's ends extend outwards), each figure at the length's
    relative position in the class. Elementwise over any shape."""
    table = CLASS_TABLE.to(device=length_m.device, dtype=length_m.dtype)
    length = length_m.unsqueeze(-1)
    low, high = table[:, 0], table[:, 1]
    member = ((length >= low) | (table[:, 6] > 0)) & ((length < high) | (table[:, 7] > 0))
    # The first class whose range holds the length (ranges meet, so at most one, but the end
    # classes are open outwards): a running sum of memberships picks the first.
    first = member & (torch.cumsum(member.to(length.dtype), dim=-1) == 1)
    t = ((length - low) / (high - low)).clamp(0.0, 1.0)
    ballast = table[:, 2] + t * (table[:, 3] - table[:, 2])
    laden = table[:, 4] + t * (table[:, 5] - table[:, 4])
    weight = first.to(length.dtype)
    return (ballast * weight).sum(-1), (laden * weight).sum(-1)


def cue_gains(boxes: torch.Tensor, view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Metres of visible shadow and of side strip per metre of freeboard, ``[N, K]`` each, for hulls
    ``boxes [N, K, 5]`` under ``view [N, 5]`` (module docstring). NaN where the view's angles are NaN."""
    rad = math.pi / 180.0
    return _gains(boxes[..., 4], view[:, 1:2] * rad, view[:, 2:3] * rad, view[:, 3:4] * rad, view[:, 4:5] * rad)


def _gains(angle, sun_elevation, sun_azimuth, view_zenith, view_azimuth) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`cue_gains` from radians (broadcasting). In the image frame an azimuth ``az`` points
    along ``(sin az, -cos az)`` and the hull along ``(cos a, sin a)``, so the sine of the angle
    between them is ``|cos(a - az)|`` and its sign tells the side of the hull: sun and sensor are
    on the same side when the two cosines agree in sign."""
    sun_across, view_across = torch.cos(angle - sun_azimuth), torch.cos(angle - view_azimuth)
    side = view_across.abs() * torch.tan(view_zenith)
    covered = torch.where(sun_across * view_across > 0, side, torch.zeros_like(side))
    shadow = (sun_across.abs() / torch.tan(sun_elevation) - covered).clamp(min=0.0)
    return shadow, side


def cue_directions(view: torch.Tensor) -> torch.Tensor:
    """``[N, 2, 2]``: unit vectors in the image frame (x right, y down) along which each image's
    hull shadows fall (away from the sun) and towards its sensor (the side of a hull it sees), from
    ``view [N, 5]``; zeros where the angles are NaN. An azimuth ``az`` points along ``(sin az, -cos
    az)`` (:func:`_gains`). Vectors, not angles, so that training can turn and mirror them with
    its crops (``train/augment.py``)."""
    rad = math.pi / 180.0
    known = ~torch.isnan(view[:, 1:5]).any(dim=1, keepdim=True)  # [N, 1]
    safe_view = torch.where(known, view, _placeholder_geometry(view))
    sun, sensor = safe_view[:, 2] * rad, safe_view[:, 4] * rad
    directions = torch.stack([torch.stack([-torch.sin(sun), torch.cos(sun)], dim=-1),
                              torch.stack([torch.sin(sensor), -torch.cos(sensor)], dim=-1)], dim=1)
    return torch.where(known.unsqueeze(-1), directions, torch.zeros_like(directions))


def cue_sides(boxes: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """``[N, K, 2]``: on which side of hulls ``boxes [N, K, 5]`` their shadow and their visible side
    strip lie, given :func:`cue_directions` ``[N, 2, 2]``: +1 towards the box's normal ``(-sin a,
    cos a)`` (the load stage's high profile rows: ``models/hull_profile.py``), -1 away, 0 where
    the direction is unknown (zero)."""
    normal = torch.stack([-torch.sin(boxes[..., 4]), torch.cos(boxes[..., 4])], dim=-1)  # [N, K, 2]
    along = (normal.unsqueeze(-2) * directions.unsqueeze(1).to(normal.dtype)).sum(-1)  # [N, K, 2]
    known = (directions != 0).any(dim=-1).unsqueeze(1)  # [N, 1, 2]
    sign = torch.where(along >= 0, torch.ones_like(along), -torch.ones_like(along))
    return torch.where(known, sign, torch.zeros_like(sign))


# Per hull: the visible shadow's and the side strip's widths (box widths) at the class's laden and
# ballast freeboard, then 1 where the scene's angles are known (all five 0 where they are not).
GEOMETRY_FEATURES = 5


def expected_cue_widths(boxes: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """``[N, K, GEOMETRY_FEATURES]``: how wide each cue of hulls ``boxes [N, K, 5]`` would be
    under ``view [N, 5]`` (module docstring's frames) at the laden and at the ballast freeboard of
    the tanker class at the box's length, in units of the box's width: shadow laden, shadow
    ballast, side laden, side ballast, then 1. Zeros (the last too) for images whose angles are
    NaN. What the load stage's error scales read beside the profile (``models/hull_profile.py``):
    a strip that could be anything from 0 to a fifth of the beam under this geometry is misread
    by more, when it is hard to see, than one that cannot be wider than a pixel.

    The gains depend only on the hull's angle relative to the sun's and the sensor's azimuths,
    and the widths on the box's size in metres, so turning or mirroring the image with its
    azimuths, or rescaling it with its GSD, changes nothing: training computes these on the
    unaugmented label boxes."""
    known = ~torch.isnan(view[:, 1:5]).any(dim=1, keepdim=True)  # [N, 1]
    safe_view = torch.where(known, view, _placeholder_geometry(view))
    shadow_gain, side_gain = cue_gains(boxes, safe_view)
    gsd = safe_view[:, 0:1]
    ballast, laden = class_freeboards(boxes[..., 2] * gsd)
    box_width_m = (boxes[..., 3] * gsd).clamp(min=1e-6)
    features = torch.stack([shadow_gain * laden, shadow_gain * ballast, side_gain * laden, side_gain * ballast],
                           dim=-1) / box_width_m.unsqueeze(-1)
    flag = torch.ones_like(features[..., :1])
    return torch.where(known.unsqueeze(-1), torch.cat([features, flag], dim=-1), torch.zeros_like(flag))


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))


def freeboard_from_widths(widths: torch.Tensor, scales: torch.Tensor, boxes: torch.Tensor,
                          gains: tuple[torch.Tensor, torch.Tensor], gsd_m: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Freeboard (metres) and its 1-sigma error ``[N, K]`` each from measured widths ``[N, K, 2]``
    (shadow, side strip; box widths) with their Laplace error scales ``[N, K, 2]`` (box widths),
    under the cue ``gains`` and ``gsd_m [N, 1]``: weighted least squares, each measurement
    weighted by its inverse variance (a Laplace scale b has variance 2 b^2)."""
    metres_per_unit = (boxes[..., 3] * gsd_m).unsqueeze(-1)  # box width in metres
    width_m = widths * metres_per_unit
    sigma_m = scales.clamp(min=MIN_WIDTH_SCALE) * math.sqrt(2.0) * metres_per_unit
    gain, precision = _cue_precisions(gains, sigma_m)
    information = precision.sum(-1)
    weighted = (gain * width_m / (sigma_m * sigma_m)).sum(-1)
    safe = information.clamp(min=1e-12)
    freeboard = torch.where(information > 0, weighted / safe, torch.zeros_like(weighted))
    sigma = torch.where(information > 0, 1.0 / torch.sqrt(safe), torch.full_like(safe, UNMEASURED_SIGMA_M))
    return freeboard.clamp(min=0.0), sigma


def side_share(scales: torch.Tensor, boxes: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """``[N, K]`` in [0, 1]: the side strip's share of the information the freeboard rests on
    (:func:`freeboard_from_widths`' inverse variances) for error scales ``scales [N, K, 2]`` of
    hulls ``boxes [N, K, 5]`` under ``view [N, 5]``; 0 where neither cue is measured. Where the
    angles are unknown, the mean share over the geometry-free mode's grid of angles. What the load
    logit's calibration reads (``HullProfileHead.calibrate``): a call resting on the side strip is
    less sure than its scales say (docs/experiments.md, 2026-12-06 (before midnight))."""
    known = ~torch.isnan(view[:, 1:5]).any(dim=1, keepdim=True)  # [N, 1]
    own = _side_share(scales, cue_gains(boxes, torch.where(known, view, _placeholder_geometry(view))))
    prior = _side_share(scales.unsqueeze(-2), _prior_gains(scales.dtype, scales.device)).mean(-1)
    return torch.where(known, own, prior)


def _side_share(scales: torch.Tensor, gains: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """:func:`side_share` for gains that broadcast against ``scales[..., 0]`` (the common factors
    of :func:`freeboard_from_widths`' sigmas cancel in the share)."""
    _, precision = _cue_precisions(gains, scales.clamp(min=MIN_WIDTH_SCALE))
    information = precision.sum(-1)
    return torch.where(information > 0, precision[..., 1] / information.clamp(min=1e-12), torch.zeros_like(information))


def _cue_precisions(gains: tuple[torch.Tensor, torch.Tensor], sigma: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(gain, gain^2 / sigma^2)`` ``[..., 2]`` per cue: the shadow's and side strip's gains
    stacked (broadcast together), those under :data:`MIN_GAIN` taken as 0 (no measurement)."""
    gain = torch.stack(torch.broadcast_tensors(*gains), dim=-1)
    gain = torch.where(gain >= MIN_GAIN, gain, torch.zeros_like(gain))
    return gain, gain * gain / (sigma * sigma)


def read_load(freeboard: torch.Tensor, sigma: torch.Tensor, length_m: torch.Tensor, reject_implausible: bool
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Freeboard, its 1-sigma error, laden fraction (unclipped central estimate) and the fraction's
    1-sigma error, ``[...]`` each, of a tanker ``length_m`` long with ``freeboard`` +- ``sigma``
    metres. An unmeasured freeboard (:data:`UNMEASURED_SIGMA_M`) is put at the middle of the class's
    swing, so its central figures say "half laden" beside an interval spanning everything, not
    "laden". With ``reject_implausible`` so is a freeboard more than :data:`MAX_FRACTION_EXCESS` of
    the swing outside the class's range: under known angles only, since read geometry-free such a
    reading only says the true angles are other ones."""
    ballast, laden, swing = _class_swing(length_m)
    unmeasured = sigma >= UNMEASURED_SIGMA_M / 2
    if reject_implausible:
        lowest, highest = plausible_freeboards(length_m)
        unmeasured = unmeasured | (freeboard < lowest) | (freeboard > highest)
        sigma = torch.where(unmeasured, torch.full_like(sigma, UNMEASURED_SIGMA_M), sigma)
    freeboard = torch.where(unmeasured, (ballast + laden) / 2, freeboard)
    fraction = (ballast - freeboard) / swing
    fraction_sigma = torch.sqrt((sigma / swing) ** 2 + CLASS_FRACTION_SIGMA ** 2)
    return freeboard, sigma, fraction, fraction_sigma


def load_outputs(widths: torch.Tensor, scales: torch.Tensor, boxes: torch.Tensor, view: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(p_loaded [N, K], laden_fraction [N, K, 3], freeboard_m [N, K, 3])`` from the measured cue
    widths and scales ``[N, K, 2]`` of hulls ``boxes [N, K, 5]`` under ``view [N, 5]``; the last two
    as (central, lo, hi) with lo/hi the 10 % / 90 % points, fractions clipped to [0, 1], freeboards
    to the class's plausible range (:func:`plausible_freeboards`). Images whose angles are NaN are
    read geometry-free (module docstring)."""
    gsd = view[:, 0:1]
    length_m = boxes[..., 2] * gsd
    known = ~torch.isnan(view[:, 1:5]).any(dim=1, keepdim=True)  # [N, 1]
    # Per image: its own angles, or (for unknown angles) the prior grid; computed for both and
    # chosen with where, so one graph serves batches that mix the two.
    safe_view = torch.where(known, view, _placeholder_geometry(view))
    gains = cue_gains(boxes, safe_view)
    freeboard, sigma = freeboard_from_widths(widths, scales, boxes, gains, gsd)
    freeboard, sigma, fraction, fraction_sigma = read_load(freeboard, sigma, length_m, reject_implausible=True)
    p_loaded = _normal_cdf((fraction - LOADED_FROM_FRACTION) / fraction_sigma)

    prior_fb, prior_sigma, prior_fraction, prior_fraction_sigma, prior_p = _geometry_free(widths, scales, boxes, gsd)
    freeboard = torch.where(known, freeboard, prior_fb)
    sigma = torch.where(known, sigma, prior_sigma)
    fraction = torch.where(known, fraction, prior_fraction)
    fraction_sigma = torch.where(known, fraction_sigma, prior_fraction_sigma)
    p_loaded = torch.where(known, p_loaded, prior_p)

    laden_fraction = torch.stack([fraction, fraction - Z80 * fraction_sigma, fraction + Z80 * fraction_sigma],
                                 dim=-1).clamp(0.0, 1.0)
    freeboard_m = torch.stack([freeboard, freeboard - Z80 * sigma, freeboard + Z80 * sigma], dim=-1)
    lowest, highest = plausible_freeboards(length_m)
    freeboard_m = torch.minimum(torch.maximum(freeboard_m, lowest.unsqueeze(-1)), highest.unsqueeze(-1))
    return p_loaded, laden_fraction, freeboard_m


def plausible_freeboards(length_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The lowest and highest freeboard (metres, ``[...]`` each) a tanker ``length_m`` long is read
    at: :data:`MAX_FRACTION_EXCESS` of its class's ballast-laden swing beyond either end, at least 0.
    Readings beyond count as unmeasured (:func:`read_load`) and intervals are cut to it
    (:func:`load_outputs`), so an unmeasured freeboard spans exactly this range."""
    ballast, laden, swing = _class_swing(length_m)
    return (laden - MAX_FRACTION_EXCESS * swing).clamp(min=0.0), ballast + MAX_FRACTION_EXCESS * swing


def _class_swing(length_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ballast and laden freeboard of the class at ``length_m`` and the swing between them (metres),
    at least 0.1 m so a fraction never divides by nothing."""
    ballast, laden = class_freeboards(length_m)
    return ballast, laden, (ballast - laden).clamp(min=0.1)


def _placeholder_geometry(view: torch.Tensor) -> torch.Tensor:
    """A placeholder geometry (sun at 45 degrees, nadir view, gsd kept) for rows whose angles are
    unknown, so their discarded known-geometry branch holds no NaN (NaN * 0 would leak through)."""
    fill = torch.tensor([0.0, 45.0, 0.0, 0.0, 0.0], dtype=view.dtype, device=view.device)
    return torch.cat([view[:, 0:1], fill[1:].expand(view.shape[0], 4)], dim=1)


def _prior_grid(dtype, device) -> torch.Tensor:
    """``[G, 4]`` sun elevation, sun azimuth, view zenith, view azimuth (degrees, image frame, for a
    hull along +x) of the geometry-free mode."""
    rows = [(e, a, z, b) for e in PRIOR_SUN_ELEVATIONS_DEG for a in PRIOR_SUN_AZIMUTHS_DEG
            for z in PRIOR_VIEW_ZENITHS_DEG for b in PRIOR_VIEW_AZIMUTHS_DEG]
    return torch.tensor(rows, dtype=dtype, device=device)


def _prior_gains(dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Shadow and side-strip gains ``[G]`` each over the geometry-free mode's grid of angles."""
    grid = _prior_grid(dtype, device) * (math.pi / 180.0)  # [G, 4]
    return _gains(torch.zeros_like(grid[:, 0]), grid[:, 0], grid[:, 1], grid[:, 2], grid[:, 3])


def _geometry_free(widths: torch.Tensor, scales: torch.Tensor, boxes: torch.Tensor, gsd: torch.Tensor):
    """Freeboard, its sigma, laden fraction, its sigma and p_loaded ``[N, K]`` averaged over the
    prior grid of angles: the mixture's mean and standard deviation (its spread across the grid
    added to each reading's own error), and the mean of p_loaded."""
    shadow_gain, side_gain = _prior_gains(widths.dtype, widths.device)
    shape = boxes.shape[:-1]
    expanded = (*shape, shadow_gain.shape[0])
    gains = (shadow_gain.expand(expanded), side_gain.expand(expanded))
    freeboard, sigma = freeboard_from_widths(widths.unsqueeze(-2), scales.unsqueeze(-2),
                                             boxes.unsqueeze(-2), gains, gsd.unsqueeze(-1))
    length_m = (boxes[..., 2] * gsd).unsqueeze(-1)
    freeboard, sigma, fraction, fraction_sigma = read_load(freeboard, sigma, length_m, reject_implausible=False)
    p_loaded = _normal_cdf((fraction - LOADED_FROM_FRACTION) / fraction_sigma).mean(-1)
    fb_mean = freeboard.mean(-1)
    fb_sigma = torch.sqrt((sigma * sigma).mean(-1) + ((freeboard - fb_mean.unsqueeze(-1)) ** 2).mean(-1))
    fraction_mean = fraction.mean(-1)
    fraction_spread = torch.sqrt((fraction_sigma ** 2).mean(-1)
                                 + ((fraction - fraction_mean.unsqueeze(-1)) ** 2).mean(-1))
    return fb_mean, fb_sigma, fraction_mean, fraction_spread, p_loaded
