"""A detector whose outputs the tests control, exported through the real export path.

``BlobDetector`` finds bright blobs and reports each as an oriented box from the blob's own pixel
moments, so where a test paints a vessel is exactly where the model puts it. The colour of a blob
sets what the model says about it: band 1 above 128 marks blob pixels, band 2 / 255 is the
``p_loaded`` it reports (and its laden fraction, with the interval ``FRACTION_HALF_WIDTH`` either
side, clipped to [0, 1]), band 3 / 255 its probability of type ``other``. It produces the real
detector's raw head maps and decodes them with the real in-graph decoding
(:func:`tankerwatch.models.decode.decode_maps`), so the exported graph has the contract's outputs.

``ViewBlobDetector`` is the same with the ``view`` input of ``format_version`` 3
(``forward(image, view)``): its ``freeboard_m`` output is :func:`view_freeboard` of the image's view
row at every vessel, so a test reads back which row ``detect`` fed.

Blobs must be shorter than the moment window (``2 * radius + 1`` cells of ``stride`` px): a longer
one comes out in pieces, each window's share of it, as a real model splits a vessel longer than
its receptive field. ``REACH_META`` describes such a model honestly: ``max_vessel_px`` below the
default window (52 px), and a GSD range wide enough for a coarse second pass.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType
from tankerwatch.models.decode import decode_maps

# Fixed scaling: 8-bit rasters reach the model unchanged, so the colour code survives.
FIXTURE_META = {
    "scaling": {"bands": None, "method": "fixed", "percentiles": [1.0, 99.0], "value_range": [0.0, 255.0]},
    "gsd_range_m": [1.0, 4.0],
    "load_uncertain_band": [0.3, 0.7],
    "load_max_gsd_m": 3.0,
    "config_sha256": "0" * 64,
    "val_metrics": {"val/vessel_AP50": 1.0},
}
# The default BlobDetector (window 13 cells x 4 px = 52 px, centred on the cell holding the blob's
# centroid, so up to 2 px off) boxes a blob whole up to about 48 px: 44 leaves a margin.
REACH_META = {**FIXTURE_META, "gsd_range_m": [1.0, 16.0], "max_vessel_px": 44.0}
EPS = 1e-6
FRACTION_HALF_WIDTH = 0.1


class BlobDetector(nn.Module):
    def __init__(self, stride: int = 4, radius: int = 6, top_k: int = 32, min_pixels: float = 6.0):
        super().__init__()
        self.decode = True
        self.output_stride = stride
        self.input_multiple = stride
        self.top_k = top_k
        self.in_channels = 3
        self.radius = radius
        self.min_pixels = min_pixels
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)  # so the module has a dtype/device

    def forward(self, image: torch.Tensor):
        return decode_maps(self.head_maps(image), image.shape[-2], image.shape[-1], self.output_stride,
                           self.top_k, 0.05)

    def head_maps(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The raw head maps :func:`decode_maps` takes."""
        h, w = image.shape[-2], image.shape[-1]
        s = self.output_stride
        x = F.pad(image.to(torch.float32), (0, (-w) % s, 0, (-h) % s))
        bright = (x[:, 0:1] > 128).to(torch.float32)
        rows = (torch.arange(x.shape[2], dtype=torch.float32) + 0.5)[None, None, :, None]
        cols = (torch.arange(x.shape[3], dtype=torch.float32) + 0.5)[None, None, None, :]
        per_pixel = torch.cat([bright, bright * cols, bright * rows, bright * cols * cols, bright * rows * rows,
                               bright * cols * rows, bright * x[:, 1:2] / 255, bright * x[:, 2:3] / 255], dim=1)
        # Sums per cell, then over a (2r+1)^2-cell window around each cell.
        cell = F.avg_pool2d(per_pixel, s) * (s * s)
        k = 2 * self.radius + 1
        window = F.avg_pool2d(cell, k, stride=1, padding=self.radius, count_include_pad=True) * (k * k)
        mass = window[:, 0:1]
        safe = mass.clamp(min=EPS)
        mx, my = window[:, 1:2] / safe, window[:, 2:3] / safe
        vxx = window[:, 3:4] / safe - mx * mx + 1 / 12
        vyy = window[:, 4:5] / safe - my * my + 1 / 12
        vxy = window[:, 5:6] / safe - mx * my
        # Rectangle of side a has variance a^2 / 12 along it: sides from the covariance eigenvalues.
        half_trace, gap = (vxx + vyy) / 2, torch.sqrt(((vxx - vyy) / 2) ** 2 + vxy ** 2)
        length = torch.sqrt(12 * (half_trace + gap).clamp(min=EPS))
        width = torch.sqrt(12 * (half_trace - gap).clamp(min=EPS))
        two_a = torch.atan2(2 * vxy, vxx - vyy)
        p_loaded = (window[:, 6:7] / safe).clamp(EPS, 1 - EPS)
        p_other = (window[:, 7:8] / safe).clamp(EPS, 1 - EPS)
        ch, cw = cell.shape[2], cell.shape[3]
        ix = torch.arange(cw, dtype=torch.float32)[None, None, None, :]
        iy = torch.arange(ch, dtype=torch.float32)[None, None, :, None]
        # Score: high at the cell holding the blob's centroid, falling off fast around it, so the
        # in-graph 3 x 3 peak selection keeps one cell per blob; specks below min_pixels score 0, and
        # so do cells with no blob pixel (a window spanning two blobs has its centroid between them).
        dist2 = (mx - (ix + 0.5) * s) ** 2 + (my - (iy + 0.5) * s) ** 2
        real = (mass >= self.min_pixels) & (cell[:, 0:1] > 0)
        score = 0.95 * torch.exp(-dist2 / (0.5 * s * s)) * real.to(torch.float32)
        return {
            "heatmap": torch.logit(score.clamp(EPS, 1 - EPS)),
            "reg": torch.cat([mx / s - (ix + 0.5), my / s - (iy + 0.5), torch.log(length / s), torch.log(width / s),
                              torch.sin(two_a), torch.cos(two_a)], dim=1),
            "type_logits": torch.cat([torch.log(1 - p_other), torch.log(p_other)], dim=1),
            "load_logits": torch.cat([torch.log(1 - p_loaded), torch.log(p_loaded)], dim=1),
            "laden_fraction": torch.cat([p_loaded, (p_loaded - FRACTION_HALF_WIDTH).clamp(0, 1),
                                         (p_loaded + FRACTION_HALF_WIDTH).clamp(0, 1)], dim=1),
        }


# What view_freeboard gives for a row without angles (NaN): central = 10 x gsd, lo/hi this far off.
NO_ANGLES_HALF_WIDTH = 0.5


def view_freeboard(view: torch.Tensor) -> torch.Tensor:
    """``[N, 3]`` freeboard (central, lo, hi) that encodes a view row ``[N, 5]``: central =
    10 x gsd_m + sun elevation / 100; lo = central - 1 - sun azimuth / 100; hi = central + 1 + view
    azimuth / 100 (image-frame azimuths); with NaN angles central = 10 x gsd_m and lo, hi
    :data:`NO_ANGLES_HALF_WIDTH` either side."""
    known = view[:, 1] == view[:, 1]  # False for NaN, as the graph's geometry-free switch
    central = 10 * view[:, 0] + torch.where(known, view[:, 1], torch.zeros_like(view[:, 1])) / 100
    half = torch.full_like(central, NO_ANGLES_HALF_WIDTH)
    below = torch.where(known, 1 + view[:, 2] / 100, half)
    above = torch.where(known, 1 + view[:, 4] / 100, half)
    return torch.stack([central, central - below, central + above], dim=1)


def expected_freeboard(row) -> tuple[float, float, float]:
    """:func:`view_freeboard` of one view row, in numpy terms, for comparing with a detection file."""
    return tuple(float(v) for v in view_freeboard(torch.tensor([row], dtype=torch.float32))[0])


class ViewBlobDetector(BlobDetector):
    """A BlobDetector taking the view input; its freeboard is :func:`view_freeboard` of the row."""

    view_input = True

    def forward(self, image: torch.Tensor, view: torch.Tensor):
        maps = self.head_maps(image)
        cells = maps["heatmap"].shape[-2:]
        maps["freeboard_m"] = view_freeboard(view.to(torch.float32))[:, :, None, None].expand(-1, -1, *cells)
        return decode_maps(maps, image.shape[-2], image.shape[-1], self.output_stride, self.top_k, 0.05)


def paint_vessel(image: np.ndarray, box, p_loaded: float = 0.9, p_other: float = 0.0) -> None:
    """Paint an oriented box ``[cx, cy, L, W, angle]`` (pixels) into ``image`` uint8 ``[3, H, W]``
    in the colour code the BlobDetector reads."""
    cx, cy, length, width, angle = box
    _, h, w = image.shape
    x0, x1 = int(max(cx - length, 0)), int(min(cx + length + 1, w))
    y0, y1 = int(max(cy - length, 0)), int(min(cy + length + 1, h))
    yy, xx = np.mgrid[y0:y1, x0:x1] + 0.5
    along = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
    across = -(xx - cx) * math.sin(angle) + (yy - cy) * math.cos(angle)
    inside = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
    for band, value in enumerate((230, round(p_loaded * 255), round(p_other * 255))):
        region = image[band, y0:y1, x0:x1]
        region[inside] = value


def labelled_blobs(folder, count=3, size=(96, 128)):
    """PNG images with painted vessels (the BlobDetector's colour code) and their labels."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(count):
        array = np.full((3, *size), 20, np.uint8)
        vessels = []
        for cx, cy, loaded in ((30.3, 30.6, True), (90.2, 66.7, False)):
            box = [cx + rng.uniform(-3, 3), cy, 26.0, 7.0, rng.uniform(-1.5, 1.5)]
            paint_vessel(array, box, p_loaded=0.9 if loaded else 0.1)
            vessels.append(Vessel(box, VesselType.TANKER, LoadState.LOADED if loaded else LoadState.EMPTY))
        path = folder / f"tile{i}.png"
        Image.fromarray(array.transpose(1, 2, 0)).save(path)
        images.append(LabelledImage(path, size[1], size[0], 2.0, vessels))
    return images
