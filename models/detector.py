"""The oriented vessel detector: backbone -> top-down FPN -> CenterNet-style heads at one stride.

Inputs: ``image [N, C, H, W]`` uint8 (or float 0..255), the scaled image of
``tankerwatch.infer.runtime.scaling``, any H, W (the graph pads to ``input_multiple`` = 32 itself,
bottom/right, so coordinates are unchanged); ``view [N, 5]`` float, per image ``(gsd_m,
sun_elevation_deg, sun_azimuth_deg, view_zenith_deg, view_azimuth_deg)``: ground metres per input
pixel, then degrees with azimuths clockwise from the image's up direction (-y), the view azimuth
from the ground towards the sensor; NaN angles = unknown (:mod:`tankerwatch.models.freeboard`).
With ``decode = False`` the forward returns the raw head maps (a dict, for the loss); with
``decode = True`` it returns the ONNX contract's tuple ``(boxes f32 [N,K,5] in input pixels (cx,
cy, length, width, angle in [-pi/2, pi/2)), scores f32 [N,K], type_probs f32 [N,K,2] over
("tanker", "other") (the dense type map at the peak and the hull-window type head, their logits
summed), load_probs f32 [N,K,2] over ("empty", "loaded") conditional on tanker, count int64 [N],
laden_fraction f32 [N,K,3]: central, lo, hi of the draft's place between the ballast (0) and laden
(1) drafts, conditional on tanker (the 10 % and 90 % points, ``LADEN_FRACTION_QUANTILES``),
freeboard_m f32 [N,K,3]: central, lo, hi metres of hull above the water, conditional on tanker)``,
rows sorted by score and padding rows zero. Load state, laden fraction and freeboard all follow
from the load stage's measured shadow and hull-side widths and the view's angles.

Vessel size range each configuration covers (length in pixels of the model's input):

* ``output_stride=2`` (``configs/sen2ships.yaml``): about 4 px up to about 250 px; for Sentinel-2
  (10 m) ships of 4-50 px, where two vessels moored side by side are 2-3 px apart.
* ``output_stride=4`` (``configs/synthetic.yaml``): about 8 px up to about 500 px with a ResNet (the
  stride-32 receptive field, about 500 px, sees the whole hull); larger ships (a VLCC at 0.3 m is
  1,100 px) are found by running the model at a coarser GSD: ``detect`` resamples scenes into the
  ``gsd_range_m`` the model was trained on, and runs a coarser second pass for vessels longer than
  the checkpoint's ``max_vessel_px`` (the 99th percentile of its training lengths).
* the ``tiny`` and ``small`` backbones (tests, CPU training on synthetic tiles): a receptive field
  of about 190 px, vessels up to about 200 px at stride 4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tankerwatch.infer.core.errors import ConfigError

from .backbones import build_backbone
from .decode import decode_maps
from .freeboard import cue_directions, cue_sides, expected_cue_widths, load_outputs, side_share
from .hull_profile import HullProfileHead
from .hull_window import WINDOW_HW, HullWindowHead
from .neck import TopDownFPN

INPUT_MULTIPLE = 32
# Channels of the regression map, in order: centre offset (dx, dy) in cells, log length and log
# width in cells, sin 2a and cos 2a of the box angle.
REG_CHANNELS = 6
# Initial heatmap bias: sigmoid(-2.19) = 0.1, so the focal loss starts stable (CenterNet).
HEATMAP_PRIOR_BIAS = -2.19
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# The quantile levels of the laden fraction's and the freeboard's (central, lo, hi) columns: the
# central estimate and an 80 % interval under the load stage's Gaussian error (models/freeboard.py).
LADEN_FRACTION_QUANTILES = (0.5, 0.1, 0.9)
# p_loaded is kept inside [P_FLOOR, 1 - P_FLOOR] before it becomes a logit, so a certain call is a
# large finite logit the temperature can still scale.
P_FLOOR = 1e-6


# Output channels of each head map. ``quality``: logit of the rotated IoU the cell's box reaches.
HEAD_OUTPUTS = {"heatmap": 1, "reg": REG_CHANNELS, "type_logits": 2, "quality": 1}


class OrientedDetector(nn.Module):
    """See the module docstring. Attributes the exporter and ``detect`` rely on:
    ``decode``, ``output_stride``, ``input_multiple``, ``top_k``, ``in_channels``, ``score_threshold``,
    ``view_input`` (True: the forward takes the ``view`` rows).

    ``quality_exponent``: the score is ``heat x quality ** quality_exponent`` (0: the heatmap alone;
    :mod:`tankerwatch.models.decode`). ``window_size``: the type window head's (rows, columns)
    (:class:`tankerwatch.models.hull_window.HullWindowHead`); checkpoints that predate the option
    were trained with the default."""

    def __init__(self, backbone: str = "resnet18", in_channels: int = 3, output_stride: int = 4,
                 fpn_channels: int = 64, head_channels: int = 64, top_k: int = 100,
                 score_threshold: float = 0.05, weights: str | None = None, quality_exponent: float = 0.5,
                 window_size: tuple[int, int] = WINDOW_HW):
        super().__init__()
        if output_stride not in (2, 4, 8):
            raise ConfigError(f"output_stride must be 2, 4 or 8, got {output_stride}")
        if in_channels < 1:
            raise ConfigError(f"in_channels must be >= 1, got {in_channels}")
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {top_k}")
        if not quality_exponent >= 0:
            raise ConfigError(f"quality_exponent must be >= 0, got {quality_exponent}")
        self.config = dict(backbone=backbone, in_channels=in_channels, output_stride=output_stride,
                           fpn_channels=fpn_channels, head_channels=head_channels, top_k=top_k,
                           score_threshold=score_threshold, weights=None, quality_exponent=quality_exponent,
                           window_size=[int(v) for v in window_size])
        self.decode = False
        self.view_input = True
        self.output_stride = output_stride
        self.input_multiple = INPUT_MULTIPLE
        self.top_k = top_k
        self.in_channels = in_channels
        self.score_threshold = score_threshold
        self.quality_exponent = quality_exponent
        mean = [IMAGENET_MEAN[i] if weights and i < 3 else 0.45 for i in range(in_channels)]
        std = [IMAGENET_STD[i] if weights and i < 3 else 0.225 for i in range(in_channels)]
        self.register_buffer("pixel_mean", torch.tensor(mean).view(1, -1, 1, 1) * 255.0, persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std).view(1, -1, 1, 1) * 255.0, persistent=False)
        self.backbone = build_backbone(backbone, in_channels, weights)
        self.neck = TopDownFPN(self.backbone.channels, output_stride, fpn_channels)
        # One 3x3 trunk shared by the heads, then a 1x1 conv each: at the output stride every 3x3
        # conv costs as much as the backbone's finest stage, and separate trunks tripled that.
        self.head_trunk = nn.Sequential(nn.Conv2d(fpn_channels, head_channels, 3, padding=1), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({name: nn.Conv2d(head_channels, channels, 1)
                                    for name, channels in HEAD_OUTPUTS.items()})
        nn.init.constant_(self.heads["heatmap"].bias, HEATMAP_PRIOR_BIAS)
        self.load_head = HullProfileHead(in_channels)
        self.type_window_head = HullWindowHead(in_channels, window_size=window_size)

    def _prepare(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2], image.shape[-1]
        # (image - mean) / std as one inference-mode batch norm: in the exported graph that is one
        # pass over the image instead of a subtraction and a division, each as slow as a
        # convolution layer on a 1,024 px scene (docs/experiments.md, 2026-12-06 (day)).
        x = F.batch_norm(image.to(self.pixel_mean.dtype), self.pixel_mean.flatten(), self.pixel_std.flatten() ** 2,
                         training=False, eps=0.0)
        # Pad bottom/right to the network's multiple inside the graph: callers may send any size.
        return F.pad(x, (0, (-w) % INPUT_MULTIPLE, 0, (-h) % INPUT_MULTIPLE))

    def _head_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        trunk = self.head_trunk(self.neck(self.backbone(x)))
        return {name: head(trunk) for name, head in self.heads.items()}

    def forward(self, image: torch.Tensor, view: torch.Tensor | None = None, window_boxes: torch.Tensor | None = None,
                window_geometry: torch.Tensor | None = None, load_valid: torch.Tensor | None = None,
                type_valid: torch.Tensor | None = None, window_sides: torch.Tensor | None = None):
        """``decode`` False: the raw head maps (dict), plus, for ``window_boxes [N, M, 5]`` when
        given (training), the load stage's ``cue_readings [N, M, 4]`` (shadow and side-strip widths
        and their error scales, in box widths), ``cue_marks [N, M, 2, rows]`` and ``cue_edges [N, M,
        2]`` (its per-row marks and the boxes' edges in its profiles:
        :class:`tankerwatch.models.hull_profile.HullProfileHead`) and the hull windows'
        ``window_type_logits [N, M, 2]``; ``window_geometry [N, M, GEOMETRY_FEATURES]`` is what the
        load stage's error scales read of the scene's angles
        (:func:`tankerwatch.models.freeboard.expected_cue_widths` of the boxes before augmentation),
        None: unknown; ``window_sides [N, M, 2]`` which side of each box its shadow and its visible
        side lie on (:func:`tankerwatch.models.freeboard.cue_sides`, turned with the crop), None or
        0: unknown; ``load_valid`` / ``type_valid [N, M]`` mark the boxes each head learns from,
        the others get outputs 0; ``view`` is not needed. ``decode`` True: :meth:`detect`."""
        if self.decode:
            return self.detect(image, view)
        x = self._prepare(image)
        maps = self._head_maps(x)
        if window_boxes is not None:
            maps["cue_readings"], maps["cue_marks"], maps["cue_edges"] = self.load_head(
                x, window_boxes, window_geometry, valid=load_valid, with_marks=True, sides=window_sides)
            maps["window_type_logits"] = self.type_window_head(x, window_boxes, valid=type_valid)
        return maps

    def read_load(self, image: torch.Tensor, boxes: torch.Tensor, view: torch.Tensor, calibrated: bool = True
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Load logits ``[N, K, 2]``, laden fraction and freeboard ``[N, K, 3]`` (central, lo, hi) of
        the hulls ``boxes [N, K, 5]`` (input pixels) under ``view [N, 5]``
        (:meth:`load_from_readings`)."""
        return self.load_from_readings(self.read_image_cues(image, boxes, view), boxes, view, calibrated)

    def read_image_cues(self, image: torch.Tensor, boxes: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        """:meth:`read_cues` of the hulls ``boxes [N, K, 5]`` in ``image`` (the model's input)."""
        return self.read_cues(self._prepare(image), boxes, view)

    def read_cues(self, x: torch.Tensor, boxes: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        """The load stage's readings ``[N, K, 4]`` (:class:`HullProfileHead`) of hulls ``boxes [N,
        K, 5]`` in the prepared input ``x``, under ``view [N, 5]``."""
        sides = cue_sides(boxes, cue_directions(view))
        return self.load_head(x, boxes, expected_cue_widths(boxes, view), sides=sides)

    def load_from_readings(self, readings: torch.Tensor, boxes: torch.Tensor, view: torch.Tensor,
                           calibrated: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Load logits ``[N, K, 2]``, laden fraction and freeboard ``[N, K, 3]`` from the stage's
        readings ``[N, K, 4]`` (:meth:`read_cues`) of ``boxes`` under ``view``. The readings' error
        scales always go through their fitted factors (``HullProfileHead.calibrate_scales``); the
        logit through the temperature and bias only when ``calibrated`` (without: what those two
        are fitted on)."""
        scales = self.load_head.calibrate_scales(readings[..., 2:])
        p_loaded, fraction, freeboard = load_outputs(readings[..., :2], scales, boxes, view)
        p_loaded = p_loaded.clamp(P_FLOOR, 1.0 - P_FLOOR)
        logit = torch.log(p_loaded) - torch.log1p(-p_loaded)
        if calibrated:
            logit = self.load_head.calibrate(logit, side_share(scales, boxes, view), view[:, 0:1])
        return torch.stack([-0.5 * logit, 0.5 * logit], dim=-1), fraction, freeboard

    def detect(self, image: torch.Tensor, view: torch.Tensor):
        """The decoded tuple of the ONNX contract (see the module docstring): peaks and boxes from
        the maps (:func:`tankerwatch.models.decode.decode_maps`), load state, laden fraction,
        freeboard from each box's profile across the hull
        (:class:`tankerwatch.models.hull_profile.HullProfileHead`) with the ``view``'s geometry, and a
        second type reading from its hull window (:class:`tankerwatch.models.hull_window.HullWindowHead`)."""
        h, w = image.shape[-2], image.shape[-1]
        x = self._prepare(image)
        maps = self._head_maps(x)
        return decode_maps(maps, h, w, self.output_stride, self.top_k, self.score_threshold,
                           window_logits_fn=lambda boxes, keep: self._kept_window_outputs(x, view, boxes, keep),
                           quality_exponent=self.quality_exponent)

    def _kept_window_outputs(self, x: torch.Tensor, view: torch.Tensor, boxes: torch.Tensor, keep: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Load and window-type logits ``[N, K, 2]``, laden fraction and freeboard ``[N, K, 3]`` of
        the first ``max(count)`` rows, the others 0.
        Rows are sorted by score, so the kept ones come first in every image, and the rest are zeroed
        after this: their windows and profiles, typically nine in ten of ``top_k``, were most of the
        two heads' time.
        In the exported graph the row count is a data-dependent dimension (plain Slice and Pad)."""
        top_k = boxes.shape[1]
        rows = keep.sum(dim=1).max().clamp(min=1).item()  # one row at least: no empty convolutions
        torch._check(rows >= 1)
        torch._check(rows <= top_k)
        kept = boxes[:, :rows]
        n, pad = boxes.shape[0], (0, 0, 0, top_k - rows)
        load, fraction, freeboard = self.load_from_readings(self.read_cues(x, kept, view), kept, view)
        windows = self.type_window_head.windows(x, kept)
        vessel_type = self.type_window_head.classify_windows(windows).reshape(n, rows, 2)
        return F.pad(load, pad), F.pad(vessel_type, pad), F.pad(fraction, pad), F.pad(freeboard, pad)


def build_detector(**config) -> OrientedDetector:
    """Build an :class:`OrientedDetector` from config keys (``backbone``, ``in_channels``,
    ``output_stride``, ``fpn_channels``, ``head_channels``, ``top_k``, ``score_threshold``,
    ``weights``, ``quality_exponent``, ``window_size``); unknown keys raise ConfigError naming them."""
    import inspect

    known = set(inspect.signature(OrientedDetector.__init__).parameters) - {"self"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"unknown model option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return OrientedDetector(**config)


__all__ = ["OrientedDetector", "build_detector", "INPUT_MULTIPLE", "REG_CHANNELS", "LADEN_FRACTION_QUANTILES"]
