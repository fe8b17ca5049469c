"""Hull-aligned windows read by a small CNN: how an analyst tells a tanker from other hulls.

A small tanker and a barge differ in the deck's pipework, catwalk and house, all laid out along the
hull. A dense per-cell classifier has to learn them at every orientation from a single centre cell,
which a small CPU-trained network does not manage. A :class:`HullWindowHead` instead resamples,
for each box, a window aligned with the hull (``ALONG_SPAN`` x length along the long axis,
``ACROSS_SPAN`` x width across it) from the normalised input image with ``grid_sample`` (ONNX
GridSample: plain ops, dynamic sizes), standardises it (its own mean and spread taken away, so
what is left is the hull's layout, not the scene's brightness), and classifies it (tanker, other);
the detector adds its logits to the dense type map's. The load stage's own network
(:mod:`tankerwatch.models.hull_profile`) shares this module's box jitter.

Training draws: each head's box jitter and flips come from its attribute ``draws``, a
``torch.Generator`` that the training module reseeds every step, one per head (None: torch's global
generator). So one head's draws never shift the other's: a change to the type window head (its
size, its dropout) leaves the load stage's training, and its figures, as they were.

Frames: boxes are ``[cx, cy, length, width, angle]`` in input pixels of the unpadded image (the
project's convention, angle of the long axis from +x towards +y). Window row r, column c samples
the point ``centre + u * along_offset + v * across_offset`` with ``u = (cos a, sin a)``,
``v = (-sin a, cos a)``. Which end is the bow is unknown (angle folds heading), so training flips
windows along and across at random: the head learns the layout in either orientation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tankerwatch.infer.core.errors import ConfigError

ALONG_SPAN = 1.3  # x length: the hull and a margin past both ends
# x width: the hull and 0.75 beam each side, where its shadow and the quay or hull beside it show.
ACROSS_SPAN = 2.5
# Rows across the hull, columns along it, unless a model sets its own (``window_size``). One
# bilinear sample per window pixel: supersampling against aliasing on hulls of several hundred
# pixels costs too much of a CPU's time in GridSample.
WINDOW_HW = (32, 96)
# Training-time box noise, so the heads tolerate the detector's errors: the centre moves by this
# fraction of the hull's width (a fraction of the length would slide the hull across its own
# window and drown the cue), length and width by these fractions, the angle by this many radians.
# They match the trained detector's errors on matched tankers (standard deviations: centre 0.045 of
# the width across the hull, length 8 %, width 14 %, angle 0.024 rad). Width matters most to the
# load stage: its rows scale with it, so a stage trained on smaller width noise reads true boxes
# well and the detector's boxes badly (docs/experiments.md).
CENTRE_JITTER_OF_WIDTH = 0.1
LENGTH_JITTER = 0.08
WIDTH_JITTER = 0.14
ANGLE_JITTER = 0.03


# Floor of a window's standard deviation (normalised input units, about 1.3 grey levels of 0-255)
# so a featureless window of open water is not blown up into noise.
MIN_WINDOW_STD = 0.05


def _standardise(windows: torch.Tensor) -> torch.Tensor:
    """Each window ``[M, C, rows, cols]`` less its mean, over its standard deviation (all channels
    and pixels together, so colours keep their relations). What tells freeboard is geometry, the
    width of the dark shadow and of the lit hull side against the deck and the water around them,
    not how bright the scene is: haze, sun elevation and the sensor's scaling move every pixel of a
    window together. Taken away, the stage learns from the first epochs instead of idling at chance
    for ten or twenty (docs/experiments.md), and is blind to brightness alone."""
    mean = windows.mean(dim=(1, 2, 3), keepdim=True)
    centred = windows - mean
    std = torch.sqrt((centred * centred).mean(dim=(1, 2, 3), keepdim=True))
    return centred / std.clamp(min=MIN_WINDOW_STD)


def jitter_boxes(boxes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``boxes [..., 5]`` perturbed as the detector's errors would (the constants above), with noise
    from ``generator`` (None: torch's global one)."""
    noise = torch.randn(boxes.shape, generator=generator, dtype=boxes.dtype, device=boxes.device)
    centre = boxes[..., 0:2] + noise[..., 0:2] * boxes[..., 3:4] * CENTRE_JITTER_OF_WIDTH
    size = boxes[..., 2:4] * (1 + noise[..., 2:4] * boxes.new_tensor([LENGTH_JITTER, WIDTH_JITTER]))
    angle = boxes[..., 4:5] + noise[..., 4:5] * ANGLE_JITTER
    return torch.cat([centre, size, angle], dim=-1)


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class HullWindowHead(nn.Module):
    """``forward(x [N,C,Hp,Wp] normalised and padded, boxes [N,K,5]) -> [N,K,2]``: logits over
    ("tanker", "other"), divided outside training by the temperature ``exp(log_temperature)`` (a
    buffer, so it travels in checkpoints and the exported graph; 0, a T of 1, unless fitted).
    ``window_size``: (rows across the hull, columns along it), each a multiple of 8: the window's
    classifier is sized for it, so a model reads windows of the size it was trained on."""

    def __init__(self, in_channels: int, channels: tuple[int, ...] = (16, 32, 48, 64), box_jitter: bool = True,
                 window_size: tuple[int, int] = WINDOW_HW):
        super().__init__()
        shrink = 2 ** (len(channels) - 1)
        rows, cols = (int(v) for v in window_size)
        if rows < shrink or cols < shrink or rows % shrink or cols % shrink:
            raise ConfigError(f"window_size must be two multiples of {shrink} (rows across, columns along the "
                              f"hull), got {list(window_size)}")
        self.window_size = (rows, cols)
        layers, cin = [], in_channels
        for k, cout in enumerate(channels):
            layers.append(_conv(cin, cout))
            if k < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.outputs = 2
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2),
                                        nn.Linear(cin * (rows // shrink) * (cols // shrink),
                                                  self.outputs))
        self.box_jitter = box_jitter
        self.draws: torch.Generator | None = None  # training's jitter and flips (module docstring)
        self.register_buffer("log_temperature", torch.zeros(()))

    def sampling_grid(self, boxes: torch.Tensor, height, width) -> torch.Tensor:
        """``grid_sample`` grid ``[N, K * rows, cols, 2]`` for hull windows of ``boxes [N, K, 5]`` in
        an input of ``height x width`` pixels (align_corners=False: -1 and +1 are the outer edges)."""
        n, k = boxes.shape[0], boxes.shape[1]
        rows, cols = self.window_size
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
        rows, cols = self.window_size
        return sampled.reshape(n, c, k, rows, cols).permute(0, 2, 1, 3, 4).reshape(n * k, c, rows, cols)

    def forward(self, x: torch.Tensor, boxes: torch.Tensor, calibrated: bool = True,
                valid: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[N, K, 2]`` (see the class doc); outside training divided by the temperature
        unless ``calibrated`` is False. ``valid [N, K]`` (training): only those boxes are read, the others
        get outputs 0. Padding boxes would otherwise fill the batch-norm statistics with blank windows."""
        n, k = boxes.shape[0], boxes.shape[1]
        if self.training and self.box_jitter:
            boxes = jitter_boxes(boxes, self.draws)
        windows = self.windows(x, boxes)
        if valid is None:
            out = self.classify_windows(windows, calibrated).reshape(n, k, self.outputs)
        else:
            chosen = valid.reshape(-1)
            out = windows.new_zeros(n * k, self.outputs)
            if bool(chosen.any()):
                out[chosen] = self.classify_windows(windows[chosen], calibrated)
            out = out.reshape(n, k, self.outputs)
        return out

    def classify_windows(self, windows: torch.Tensor, calibrated: bool = True) -> torch.Tensor:
        """Logits ``[M, 2]`` of windows ``[M, C, rows, cols]`` from :meth:`windows`; outside
        training divided by the temperature unless ``calibrated`` is False."""
        out = self._classify(windows)
        if calibrated and not self.training:
            out = out * torch.exp(-self.log_temperature)
        return out

    def _classify(self, windows: torch.Tensor) -> torch.Tensor:
        if self.training:
            # The bow may be at either end and the house on either side of the window: learn both.
            flip_along, flip_across = torch.rand(2, windows.shape[0], 1, 1, 1, generator=self.draws,
                                                 device=windows.device) < 0.5
            windows = torch.where(flip_along, windows.flip(-1), windows)
            windows = torch.where(flip_across, windows.flip(-2), windows)
        return self.classifier(self.features(_standardise(windows)))

