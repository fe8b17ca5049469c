"""Hull-aligned windows, classified by small CNNs: how an analyst reads freeboard and hull type.

The cues that separate a tanker in ballast from a laden one sit along and beside the hull: the
width of the hull's shadow on the water (freeboard x cot(sun elevation)), the strip of hull side an
off-nadir view shows (freeboard x tan(view zenith)) with its red antifouling band, and the bulbous
bow breaking the surface ahead of the stem. A dense per-cell classifier has to learn them at every
orientation from a single centre cell, which a small CPU-trained network does not manage. A
:class:`HullWindowHead` instead resamples, for each box, a window aligned with the hull
(``ALONG_SPAN`` x length along the long axis, ``ACROSS_SPAN`` x width across it: the bow and, for
most sun elevations, the whole shadow are inside) from the normalised input image with
``grid_sample`` (ONNX GridSample: plain ops, dynamic sizes), standardises it (its own mean and
spread taken away, so what is left is the geometry of shadow, hull side and deck, not the scene's
brightness), and classifies it with a small CNN.

The detector keeps two such heads on the same windows, each with its own weights: load state
(empty, loaded) with the laden fraction and its interval, and vessel type (tanker, other). The second refines the dense type map, which reads
one centre cell: a small tanker and a barge differ in the deck's pipework, catwalk and house, all
laid out along the hull, which the canonical frame shows at one orientation.

Frames: boxes are ``[cx, cy, length, width, angle]`` in input pixels of the unpadded image (the
project's convention, angle of the long axis from +x towards +y). Window row r, column c samples
the point ``centre + u * along_offset + v * across_offset`` with ``u = (cos a, sin a)``,
``v = (-sin a, cos a)``. Which end is the bow is unknown (angle folds heading), so training flips
windows along and across at random: the heads learn cues in either orientation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ALONG_SPAN = 1.3  # x length: the hull plus the bulb and a margin
# x width: the hull plus 0.75 beam of shadow or side strip each side. A small tanker's shadow in
# ballast (docs/physics.md: freeboard 3-6 m, beam 10-18 m) is under 0.75 beam wide for a sun above
# about 35 degrees and up to 1.8 beams at the lowest (18): there the window fills with shadow,
# itself a sign of high freeboard. What tells a part-loaded hull from a laden one is a metre or two
# of shadow, so the rows must be fine: the narrower the span, the finer each of the 32 rows
# (docs/experiments.md compares spans).
ACROSS_SPAN = 2.5
# Rows across the hull, columns along it. One bilinear sample per window pixel: supersampling
# against aliasing on hulls of several hundred pixels costs too much of a CPU's time in GridSample.
WINDOW_HW = (32, 96)
# Training-time box noise, so the head tolerates the detector's errors: the centre moves by this
# fraction of the hull's width (a fraction of the length would slide the hull across its own
# window and drown the cue), length and width by these fractions, the angle by this many radians.
# They match the trained detector's errors on matched tankers (standard deviations: centre 0.045 of
# the width across the hull, length 8 %, width 14 %, angle 0.024 rad). Width matters most: the
# window's rows scale with it, so a stage trained on smaller width noise reads true boxes well and
# the detector's boxes badly (docs/experiments.md).
CENTRE_JITTER_OF_WIDTH = 0.1
LENGTH_JITTER = 0.08
WIDTH_JITTER = 0.14
ANGLE_JITTER = 0.03


# Quantile levels of the laden fraction's three outputs: the median (the estimate that minimises
# the absolute error, the figure the project is judged by) and an 80 % interval. Quantiles rather
# than a Gaussian's mean and variance: the fraction is bounded to [0, 1] and its errors are skewed
# near either end, where a symmetric interval would spill past the bounds or be too wide inside.
LADEN_FRACTION_QUANTILES = (0.5, 0.1, 0.9)
FRACTION_OUTPUTS = 3


def laden_fraction_quantiles(raw: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` laden fraction quantiles (central, lo, hi; :data:`LADEN_FRACTION_QUANTILES`) from
    the head's raw ``[..., 3]`` outputs ``(m, a, b)``: ``sigmoid(m)``, ``sigmoid(m - softplus(a))`` and
    ``sigmoid(m + softplus(b))``, so every value lies in [0, 1] (0 = ballast draft, 1 = laden draft)
    and lo <= central <= hi by construction."""
    m, a, b = raw[..., 0], raw[..., 1], raw[..., 2]
    central = torch.sigmoid(m)
    # min / max: a vectorised float32 sigmoid is monotone only to within a rounding step.
    lo = torch.minimum(torch.sigmoid(m - F.softplus(a)), central)
    hi = torch.maximum(torch.sigmoid(m + F.softplus(b)), central)
    return torch.stack([central, lo, hi], dim=-1)


# Floor of a window's standard deviation (normalised input units, about 1.3 grey levels of 0-255)
# so a featureless window of open water is not blown up into noise.
MIN_WINDOW_STD = 0.05


def _standardise(windows: torch.Tensor) -> torch.Tensor:
    """Each window ``[M, C, rows, cols]`` less its mean, over its standard deviation (all channels
    and pixels together, so colours keep their relations). What tells freeboard is geometry, the
    width of the dark shadow and of the lit hull side against the deck and the water around them,
    not how bright the scene is: haze, sun elevation and the sensor's scaling move every pixel of a
    window together. Taken away, the stage learns from the first epochs instead of idling at chance
    for ten or twenty (``bench/load_stage.py``), and is blind to brightness alone."""
    mean = windows.mean(dim=(1, 2, 3), keepdim=True)
    centred = windows - mean
    std = torch.sqrt((centred * centred).mean(dim=(1, 2, 3), keepdim=True))
    return centred / std.clamp(min=MIN_WINDOW_STD)


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class HullWindowHead(nn.Module):
    """``forward(x [N,C,Hp,Wp] normalised and padded, boxes [N,K,5]) -> [N,K,outputs]``: logits over
    two classes (the detector's load head: "empty", "loaded"; its type head: "tanker", "other"),
    then, with ``fraction``, the 3 raw laden-fraction outputs (:func:`laden_fraction_quantiles`
    turns them into quantiles). With ``box_jitter`` the boxes are perturbed in training (the
    constants above). Outside training the logits (not the fraction) are divided by the temperature
    ``exp(log_temperature)`` (a buffer, so it travels in checkpoints and the exported graph)."""

    def __init__(self, in_channels: int, channels: tuple[int, ...] = (16, 32, 48, 64), box_jitter: bool = True,
                 fraction: bool = False):
        super().__init__()
        layers, cin = [], in_channels
        for k, cout in enumerate(channels):
            layers.append(_conv(cin, cout))
            if k < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            cin = cout
        self.features = nn.Sequential(*layers)
        shrink = 2 ** (len(channels) - 1)
        # One linear layer for the class logits and the fraction: both read the same freeboard cue.
        self.outputs = 2 + (FRACTION_OUTPUTS if fraction else 0)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2),
                                        nn.Linear(cin * (WINDOW_HW[0] // shrink) * (WINDOW_HW[1] // shrink),
                                                  self.outputs))
        self.box_jitter = box_jitter
        # Temperature scaling (train/calibration.py), fitted on validation tankers for the load
        # head; 0 = T of 1, which the type head keeps.
        self.register_buffer("log_temperature", torch.zeros(()))

    def sampling_grid(self, boxes: torch.Tensor, height, width) -> torch.Tensor:
        """``grid_sample`` grid ``[N, K * rows, cols, 2]`` for hull windows of ``boxes [N, K, 5]`` in
        an input of ``height x width`` pixels (align_corners=False: -1 and +1 are the outer edges)."""
        n, k = boxes.shape[0], boxes.shape[1]
        rows, cols = WINDOW_HW
        dtype, device = boxes.dtype, boxes.device
        along = ((torch.arange(cols, dtype=dtype, device=device) + 0.5) / cols - 0.5)
        across = ((torch.arange(rows, dtype=dtype, device=device) + 0.5) / rows - 0.5)
        cx, cy, length, wide, angle = (boxes[..., i, None, None] for i in range(5))
        cos, sin = torch.cos(angle), torch.sin(angle)
        du = along[None, None, None, :] * length * ALONG_SPAN  # [N, K, 1, cols]
        dv = across[None, None, :, None] * wide * ACROSS_SPAN  # [N, K, rows, 1]
        px = cx + du * cos - dv * sin
        py = cy + du * sin + dv * cos
        gx = px * (2.0 / width) - 1.0
        gy = py * (2.0 / height) - 1.0
        return torch.stack([gx, gy], dim=-1).reshape(n, k * rows, cols, 2)

    def windows(self, x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Hull windows ``[N * K, C, rows, cols]``."""
        n, c = x.shape[0], x.shape[1]
        k = boxes.shape[1]
        grid = self.sampling_grid(boxes.to(x.dtype), x.shape[-2], x.shape[-1])
        sampled = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        rows, cols = WINDOW_HW
        return sampled.reshape(n, c, k, rows, cols).permute(0, 2, 1, 3, 4).reshape(n * k, c, rows, cols)

    def _jitter(self, boxes: torch.Tensor) -> torch.Tensor:
        noise = torch.randn_like(boxes)
        centre = boxes[..., 0:2] + noise[..., 0:2] * boxes[..., 3:4] * CENTRE_JITTER_OF_WIDTH
        size = boxes[..., 2:4] * (1 + noise[..., 2:4] * boxes.new_tensor([LENGTH_JITTER, WIDTH_JITTER]))
        angle = boxes[..., 4:5] + noise[..., 4:5] * ANGLE_JITTER
        return torch.cat([centre, size, angle], dim=-1)

    def forward(self, x: torch.Tensor, boxes: torch.Tensor, calibrated: bool = True,
                valid: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs ``[N, K, outputs]`` (see the class doc); outside training the logits are divided
        by the fitted temperature unless ``calibrated`` is False (the raw logits the temperature is
        fitted on). ``valid [N, K]`` (training): only those boxes are classified, the others get
        outputs 0. Padding boxes would otherwise fill the batch-norm statistics with blank windows."""
        n, k = boxes.shape[0], boxes.shape[1]
        if self.training and self.box_jitter:
            boxes = self._jitter(boxes)
        windows = self.windows(x, boxes)
        if valid is None:
            return self.classify_windows(windows, calibrated).reshape(n, k, self.outputs)
        chosen = valid.reshape(-1)
        out = windows.new_zeros(n * k, self.outputs)
        if bool(chosen.any()):
            out[chosen] = self.classify_windows(windows[chosen], calibrated)
        return out.reshape(n, k, self.outputs)

    def classify_windows(self, windows: torch.Tensor, calibrated: bool = True) -> torch.Tensor:
        """Outputs ``[M, outputs]`` of windows ``[M, C, rows, cols]`` from :meth:`windows` (which
        depend on the boxes and this module's constants, not on weights: heads of one detector can
        share them); outside training the logits are divided by the temperature unless
        ``calibrated`` is False."""
        out = self._classify(windows)
        if calibrated and not self.training:
            out = torch.cat([out[:, :2] * torch.exp(-self.log_temperature), out[:, 2:]], dim=1)
        return out

    def _classify(self, windows: torch.Tensor) -> torch.Tensor:
        if self.training:
            # The bow may be at either end and the sun on either side: learn both.
            flip_along = torch.rand(windows.shape[0], 1, 1, 1, device=windows.device) < 0.5
            windows = torch.where(flip_along, windows.flip(-1), windows)
            flip_across = torch.rand(windows.shape[0], 1, 1, 1, device=windows.device) < 0.5
            windows = torch.where(flip_across, windows.flip(-2), windows)
        return self.classifier(self.features(_standardise(windows)))
