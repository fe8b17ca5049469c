"""The load stage's measuring network: the widths of a hull's shadow and visible side, read from
its profile across the hull.

A tanker's freeboard shows as two strips parallel to its hull (docs/physics.md): the shadow on the
water beside it (freeboard x cot(sun elevation) x |sin(sun azimuth - hull azimuth)| wide) and, off
nadir, the strip of hull side the sensor sees (freeboard x tan(view zenith) x |sin(...)|). Along the
parallel midbody both are the same width everywhere, so what there is to measure is one profile
across the hull; averaging the image along the midbody into that profile turns a hundred noisy
pixels into one precise one. What separates a part-loaded hull from a laden one is a metre or two
of shadow, under a pixel at 1 m: the measurement has to be finer than the pixels, which a
classifier over a coarse window (32 rows over 2.5 beams, 2-5 pixels a row on a large hull at
0.4 m) was not.

:class:`HullProfileHead` samples, per box, a grid aligned with the hull: ``PROFILE_ROWS`` rows
across ``PROFILE_ACROSS_SPAN`` box widths, ``PROFILE_COLUMNS`` columns along the middle
``PROFILE_ALONG_SPAN`` of its length (clear of the bow's taper and of the house's own shadow aft).
Each column samples the rows at a different sub-row offset, so the mean over columns is the image
averaged over each row's whole height (a box filter: no aliasing on hulls wider than the rows, and
an edge inside a row shows as an intermediate value, which is where sub-row precision comes from).
The profile (per channel, mean and spread over columns), standardised like a hull window, goes
through a small 1-D CNN that marks, per row, how much of it is shadow and how much visible hull
side; the widths are those marks summed, in box widths, each with a Laplace error scale read
from the whole profile by a layer of its own, whose training does not reach back into the CNN (the
scales say how well the CNN measured; they must not change what it measures). Beside the profile
the scales read how wide each strip could be under the scene's angles
(:func:`tankerwatch.models.freeboard.expected_cue_widths`): a blank edge beside dark water means
a side strip under a pixel at nadir, but may hide one of a pixel and a half 20 degrees off nadir.
Widths in box widths do not depend on the GSD; :mod:`tankerwatch.models.freeboard` turns them into
metres with the scene's angles.

Frames: boxes are ``[cx, cy, length, width, angle]`` in input pixels of the unpadded image (angle
of the long axis from +x towards +y). Profile row ``r`` lies ``v = ((r + 0.5) / rows - 0.5) x
span x width`` across the hull along ``(-sin a, cos a)``. Which side of the hull its shadow and
its visible side lie on follows from the scene's angles
(:func:`tankerwatch.models.freeboard.cue_sides`): where they are known, the profile is turned so
the shadow lies in its high rows, two constant input rows say that it was turned and on which side
the sensor is, and the marks are kept to the half where each strip can lie (a shadow never falls
towards the sun). Told the sides as inputs only, the network did not use them; turned, it no
longer has to decide which dark strip beside the hull is the shadow, and it reads the widths
closer (docs/experiments.md, 2026-12-05 and 2026-12-06 (afternoon)). Where the angles are unknown
the profile is read as it lies; training reads a share of profiles so, turned at random. The
network is not given how wide a strip should be: told that per metre of freeboard, it learnt to
answer with the typical freeboard's width and stopped measuring (load accuracy at chance;
2026-12-03). That enters after it, in the geometry, and in the error scales, which cannot change a
width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .freeboard import GEOMETRY_FEATURES
from .hull_window import MIN_WINDOW_STD, jitter_boxes

# x width: the hull and 1.25 beams either side, so a small tanker's ballast shadow under a sun
# down to about 25 degrees is inside (docs/physics.md: freeboard 3-6 m, beam 10-18 m); lower
# suns fill that side, itself a sign of a tall hull.
PROFILE_ACROSS_SPAN = 3.5
# x length: the middle of the hull. Its ends taper (bow) or carry the house, whose shadow is
# taller than the hull's; both would blur the strips' edges.
PROFILE_ALONG_SPAN = 0.6
PROFILE_ROWS = 128
PROFILE_COLUMNS = 16
# Column j's rows sit this many rows' heights off the row centres: a permutation of evenly spread
# offsets (stride 5, coprime with 16), so neighbouring columns do not share one sub-row offset and
# a slight angle error of the box does not line up with them.
_SUB_ROW_STRIDE = 5

# Outputs: shadow width, side strip width, then their Laplace error scales, in box widths.
CUE_OUTPUTS = 4
# The smallest error scale the head may claim (box widths): a tenth of a row.
MIN_CUE_SCALE = 0.1 * PROFILE_ACROSS_SPAN / PROFILE_ROWS
# Initial marks' logit: sigmoid(-3) of each row, about 0.17 box widths in all, so the first steps
# start near the typical strip instead of at half the profile.
_MARK_PRIOR_BIAS = -3.0
# Share of training profiles read without the geometry (unturned, scales without it), so a scene
# without angles (detect's geometry-free mode) gets a reading learnt for that case.
GEOMETRY_DROP_P = 0.2
# Constant rows beside the profile: 1 where the profile is turned by the scene's angles (0: read
# as it lies), and the side the sensor sees in the turned profile (+1 high rows, -1 low, 0 unknown).
SIDE_CHANNELS = 2
# The calibrated logit's inverse temperature stays within these (T from 0.05 to 20: any network that
# is not broken), wherever its GSD term takes it.
INVERSE_TEMPERATURE_RANGE = (math.exp(-3.0), math.exp(3.0))
# GSDs below this (metres) are read as this in the calibration's log: no zero or negative GSD
# reaches the log.
MIN_GSD_M = 0.01


def _sub_row_offsets(columns: int) -> torch.Tensor:
    """Per column, its rows' offset from the row centres in rows (-0.5, 0.5): evenly spread over
    the columns so their mean is a box filter over each row's height."""
    order = (torch.arange(columns) * _SUB_ROW_STRIDE) % columns
    return (order.to(torch.float32) + 0.5) / columns - 0.5


def _block(channels: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm1d(channels), nn.ReLU(inplace=True))


class HullProfileHead(nn.Module):
    """``forward(x [N,C,Hp,Wp] normalised and padded, boxes [N,K,5]) -> [N,K,4]``: per box the
    widths of its shadow and visible side strip (>= 0) and their Laplace error scales (>
    ``MIN_CUE_SCALE``), in units of the width of the box given. Under training's box jitter the
    profile is cut around the jittered box and the readings rescaled to the given box, so they are
    compared with its labels. The load stage's calibration lives here (buffers: they travel in
    checkpoints and the exported graph): ``cue_scale_log``, per cue the log of the factor its
    error scales are multiplied by before they weigh the two cues against each other, and
    ``log_temperature``, ``log_side_temperature``, ``gsd_temperature_slope`` and ``load_bias``,
    which the detector applies to the load logit it derives from the widths (:meth:`calibrate`;
    :mod:`tankerwatch.models.freeboard`, :mod:`tankerwatch.train.calibration`)."""

    def __init__(self, in_channels: int, channels: int = 32, dilations: tuple[int, ...] = (1, 2, 4, 8, 16),
                 box_jitter: bool = True):
        super().__init__()
        # Per image channel the mean and the spread over columns, and the row's place across the
        # hull in box widths (where the deck's edges should be).
        self.stem = nn.Sequential(nn.Conv1d(2 * in_channels + 1 + SIDE_CHANNELS, channels, 5, padding=2,
                                            bias=False),
                                  nn.BatchNorm1d(channels), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList(_block(channels, d) for d in dilations)
        self.context = nn.Linear(channels, channels)
        self.marks = nn.Conv1d(channels, 2, 1)
        nn.init.constant_(self.marks.bias, _MARK_PRIOR_BIAS)
        self.scales = nn.Sequential(nn.Linear(2 * channels + GEOMETRY_FEATURES, channels), nn.ReLU(inplace=True),
                                    nn.Linear(channels, 2))
        self.box_jitter = box_jitter
        # Training's jitter and flips (tankerwatch.models.hull_window's docstring: one generator
        # per head, reseeded every step).
        self.draws: torch.Generator | None = None
        rows = PROFILE_ROWS
        across = ((torch.arange(rows, dtype=torch.float32) + 0.5) / rows - 0.5) * PROFILE_ACROSS_SPAN
        self.register_buffer("row_position", across.view(1, 1, rows), persistent=False)
        self.register_buffer("cue_scale_log", torch.zeros(2))
        self.register_buffer("log_temperature", torch.zeros(()))
        self.register_buffer("log_side_temperature", torch.zeros(()))
        self.register_buffer("gsd_temperature_slope", torch.zeros(()))
        self.register_buffer("load_bias", torch.zeros(()))

    def calibrate_scales(self, scales: torch.Tensor) -> torch.Tensor:
        """Error scales ``[..., 2]`` (shadow, side strip) times each cue's fitted factor."""
        return scales * torch.exp(self.cue_scale_log)

    def calibrate(self, logit: torch.Tensor, side_share: torch.Tensor, gsd_m: torch.Tensor) -> torch.Tensor:
        """The load logit (loaded against empty) through the fitted calibration, ``logit / T + b``,
        where ``1 / T`` runs linearly from the shadow's temperature to the side strip's with the
        side strip's share of the reading (:func:`tankerwatch.models.freeboard.side_share`, same
        shape as ``logit``: the side strip's scales claim more than its readings hold), plus
        ``gsd_temperature_slope`` times the natural log of the input's GSD in metres (``gsd_m``,
        broadcast against ``logit``; the two temperatures are those at 1 m): the error scales do
        not shrink with the pixel as fast as the errors do. ``1 / T`` is kept to
        :data:`INVERSE_TEMPERATURE_RANGE`, so no GSD far outside the fitted ones turns a call over."""
        inverse = ((1.0 - side_share) * torch.exp(-self.log_temperature)
                   + side_share * torch.exp(-self.log_side_temperature)
                   + self.gsd_temperature_slope * torch.log(gsd_m.clamp(min=MIN_GSD_M)))
        return logit * inverse.clamp(*INVERSE_TEMPERATURE_RANGE) + self.load_bias

    def sampling_grid(self, boxes: torch.Tensor, height, width) -> torch.Tensor:
        """``grid_sample`` grid ``[N, K * rows, columns, 2]`` for the profiles of ``boxes [N, K, 5]``
        in an input of ``height x width`` pixels (align_corners=False)."""
        n, k = boxes.shape[0], boxes.shape[1]
        rows, cols = PROFILE_ROWS, PROFILE_COLUMNS
        dtype, device = boxes.dtype, boxes.device
        along = ((torch.arange(cols, dtype=dtype, device=device) + 0.5) / cols - 0.5) * PROFILE_ALONG_SPAN
        across_rows = (torch.arange(rows, dtype=dtype, device=device) + 0.5) / rows - 0.5
        across = (across_rows[:, None] + _sub_row_offsets(cols).to(device, dtype)[None, :] / rows) * PROFILE_ACROSS_SPAN
        cx, cy, length, wide, angle = (boxes[..., i, None, None] for i in range(5))
        cos, sin = torch.cos(angle), torch.sin(angle)
        du = along[None, None, None, :] * length  # [N, K, 1, cols]
        dv = across[None, None] * wide  # [N, K, rows, cols]
        px = cx + du * cos - dv * sin
        py = cy + du * sin + dv * cos
        return torch.stack([px * (2.0 / width) - 1.0, py * (2.0 / height) - 1.0], dim=-1).reshape(n, k * rows, cols, 2)

    def profiles(self, x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Profiles ``[N * K, 2C, rows]``: per image channel the mean over columns, then the spread
        (standard deviation) over columns, standardised per profile (the means less their mean,
        both over the means' spread), so what is left is geometry, not the scene's brightness."""
        n, c, k = x.shape[0], x.shape[1], boxes.shape[1]
        grid = self.sampling_grid(boxes.to(x.dtype), x.shape[-2], x.shape[-1])
        sampled = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        sampled = sampled.reshape(n, c, k, PROFILE_ROWS, PROFILE_COLUMNS).permute(0, 2, 1, 3, 4)
        sampled = sampled.reshape(n * k, c, PROFILE_ROWS, PROFILE_COLUMNS)
        mean = sampled.mean(dim=-1)
        spread = torch.sqrt(((sampled - mean.unsqueeze(-1)) ** 2).mean(dim=-1) + 1e-8)
        centre = mean.mean(dim=(1, 2), keepdim=True)
        scale = torch.sqrt(((mean - centre) ** 2).mean(dim=(1, 2), keepdim=True)).clamp(min=MIN_WINDOW_STD)
        return torch.cat([(mean - centre) / scale, spread / scale], dim=1)

    def forward(self, x: torch.Tensor, boxes: torch.Tensor, geometry: torch.Tensor | None = None,
                valid: torch.Tensor | None = None, with_marks: bool = False,
                sides: torch.Tensor | None = None):
        """Readings ``[N, K, 4]`` (see the class doc). ``geometry [N, K, GEOMETRY_FEATURES]``: the
        cues' expected widths (:func:`tankerwatch.models.freeboard.expected_cue_widths`) of the
        given boxes; None: unknown angles. ``sides [N, K, 2]``: which side of each given box its
        shadow and its visible side lie on (:func:`tankerwatch.models.freeboard.cue_sides`: +1
        the profile's high rows, -1 its low rows, 0 unknown); None: unknown. ``valid [N, K]``
        (training): only those boxes are read, the others get 0, so padding boxes stay out of the
        batch-norm statistics.

        ``with_marks`` (training): also the per-row marks ``[N, K, 2, rows]`` (share of each
        profile row that is shadow, visible side) and where the given box's long edges lie in the
        profile actually sampled, ``[N, K, 2]`` in rows (low edge, high edge; under box jitter
        they move), which is what the marks are supervised against (``train/losses.cue_mark_loss``)."""
        n, k = boxes.shape[0], boxes.shape[1]
        given = boxes
        if self.training and self.box_jitter:
            boxes = jitter_boxes(boxes, self.draws)
        profiles = self.profiles(x, boxes)
        if geometry is None:
            geometry = profiles.new_zeros(n * k, GEOMETRY_FEATURES)
        else:
            geometry = geometry.to(profiles.dtype).reshape(n * k, GEOMETRY_FEATURES)
        sides = profiles.new_zeros(n * k, 2) if sides is None else sides.to(profiles.dtype).reshape(n * k, 2)
        if valid is None:
            out, marks = self.read_profiles(profiles, geometry, sides)
        else:
            chosen = valid.reshape(-1)
            out = profiles.new_zeros(n * k, CUE_OUTPUTS)
            marks = profiles.new_zeros(n * k, 2, PROFILE_ROWS)
            if bool(chosen.any()):
                out[chosen], marks[chosen] = self.read_profiles(profiles[chosen], geometry[chosen], sides[chosen])
        out = out.reshape(n, k, CUE_OUTPUTS)
        if boxes is not given:
            # The readings are lengths in the jittered box's widths; per the given box they scale
            # with the jittered width over the given one.
            out = out * (boxes[..., 3] / given[..., 3].clamp(min=1e-6)).unsqueeze(-1)
        if not with_marks:
            return out
        return out, marks.reshape(n, k, 2, PROFILE_ROWS), box_edges_in_rows(given, boxes)

    def read_profiles(self, profiles: torch.Tensor, geometry: torch.Tensor, sides: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Readings ``[M, 4]`` and marks ``[M, 2, rows]`` (in the profile's own row order) of
        profiles ``[M, 2C, rows]`` from :meth:`profiles`, with their ``geometry [M,
        GEOMETRY_FEATURES]`` and ``sides [M, 2]`` (:meth:`forward`)."""
        flip = (sides[:, 0] < 0).view(-1, 1, 1)
        if self.training:
            # A profile read unturned (angles unknown) may have the sun on either side: learn both.
            coin = torch.rand(profiles.shape[0], 1, 1, generator=self.draws, device=profiles.device) < 0.5
            dropped = torch.rand(profiles.shape[0], 1, generator=self.draws, device=profiles.device) < GEOMETRY_DROP_P
            geometry = torch.where(dropped, torch.zeros_like(geometry), geometry)
            sides = torch.where(dropped, torch.zeros_like(sides), sides)
            flip = torch.where((sides[:, 0] != 0).view(-1, 1, 1), (sides[:, 0] < 0).view(-1, 1, 1), coin)
        profiles = torch.where(flip, profiles.flip(-1), profiles)
        oriented = (sides[:, 0] != 0).to(profiles.dtype)
        sensor = sides[:, 1] * torch.where(flip.view(-1), -1.0, 1.0).to(profiles.dtype)
        extra = torch.stack([oriented, sensor], dim=1).unsqueeze(-1).expand(-1, SIDE_CHANNELS, PROFILE_ROWS)
        position = self.row_position.to(profiles.dtype).expand(profiles.shape[0], 1, PROFILE_ROWS)
        h = self.stem(torch.cat([profiles, position, extra], dim=1))
        for block in self.blocks:
            h = h + block(h)
        h = F.relu(h + self.context(h.mean(dim=-1)).unsqueeze(-1))
        marks = torch.sigmoid(self.marks(h)) * _allowed_halves(position, oriented, sensor)  # [M, 2, rows]
        widths = marks.sum(dim=-1) * (PROFILE_ACROSS_SPAN / PROFILE_ROWS)
        # The scales read the measuring features but do not shape them: the likelihood's gradient
        # grows as 1 / scale, and through shared features it outweighed the marks' and pulled
        # every strip towards the typical one (docs/experiments.md, 2026-12-05 (night)).
        pooled = torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1).detach()
        scales = F.softplus(self.scales(torch.cat([pooled, geometry], dim=1))) + MIN_CUE_SCALE
        marks = torch.where(flip, marks.flip(-1), marks)
        return torch.cat([widths, scales], dim=1), marks


def _allowed_halves(position: torch.Tensor, oriented: torch.Tensor, sensor: torch.Tensor) -> torch.Tensor:
    """``[M, 2, rows]`` 1 where a turned profile may hold shadow (its high half: the turn put the
    side away from the sun there) and visible side (the sensor's half), 1 everywhere where the side
    is unknown; ``position [M, 1, rows]`` the rows' place across the hull, ``oriented`` and
    ``sensor [M]`` as in :meth:`HullProfileHead.read_profiles`. A shadow cannot fall towards the
    sun: a mark there is dark water or a neighbour read as shadow."""
    high = (position > 0).to(position.dtype)
    shadow = torch.where(oriented.view(-1, 1, 1) > 0, high, torch.ones_like(high))
    towards_sensor = torch.where(sensor.view(-1, 1, 1) > 0, high, 1 - high)
    side = torch.where(sensor.view(-1, 1, 1) != 0, towards_sensor, torch.ones_like(high))
    return torch.cat([shadow, side], dim=1)


def box_edges_in_rows(given: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
    """Where the long edges of the ``given`` boxes ``[..., 5]`` lie across the profiles sampled
    on the ``sampled`` boxes (the same, or jittered), ``[..., 2]`` in rows (0 = the profile's outer
    edge at ``-span / 2``), low edge first. The small angle between the two boxes is neglected."""
    normal_x, normal_y = -torch.sin(sampled[..., 4]), torch.cos(sampled[..., 4])
    offset = (given[..., 0] - sampled[..., 0]) * normal_x + (given[..., 1] - sampled[..., 1]) * normal_y
    half = 0.5 * given[..., 3]
    edges = torch.stack([offset - half, offset + half], dim=-1) / sampled[..., 3:4].clamp(min=1e-6)
    return (edges / PROFILE_ACROSS_SPAN + 0.5) * PROFILE_ROWS

