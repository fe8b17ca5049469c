"""Turn the detector's head maps into oriented boxes, in the graph (exports to plain ONNX ops).

Peaks are cells whose centre-heatmap score equals the 3 x 3 max around them (CenterNet's NMS-free
selection), then top-k over all cells with k = min(top_k, cells) so tiny inputs work, then padded
to ``top_k`` rows. Rows below ``score_threshold`` and padding rows are all zero; ``count`` is the
number of non-zero rows, which come first (sorted by score).

Score: the heatmap's peak value, times ``sigmoid(quality) ** quality_exponent`` when the maps hold a
``quality`` channel (the predicted rotated IoU of the cell's box with its vessel, learnt in
``train/losses.py``) and the exponent is above 0. Peaks are still chosen on the heatmap alone;
the quality only reorders them, so a well-placed box outranks a vague one of the same heat (the
AP ranking is what it changes).

Regression at a cell ``(i, j)`` of stride ``s`` (see ``train/targets.py``, its inverse):
centre = ``((i + 0.5 + dx) s, (j + 0.5 + dy) s)``; length, width = ``exp(l) s, exp(w) s``;
angle = ``atan2(sin 2a, cos 2a) / 2``, folded into ``[-pi/2, pi/2)``; if width > length the axes
swap and the angle turns a quarter. Boxes are in input pixels, the project's convention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# exp() of more than this would exceed any image; clamping keeps an untrained net finite.
MAX_LOG_SIZE = 8.0


def decode_boxes(reg: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor, stride: int) -> torch.Tensor:
    """Boxes ``[..., 5]`` from gathered regression ``[..., 6]`` at cells ``(ix, iy)``."""
    cx = (ix + 0.5 + reg[..., 0]) * stride
    cy = (iy + 0.5 + reg[..., 1]) * stride
    size_a = torch.exp(reg[..., 2].clamp(-MAX_LOG_SIZE, MAX_LOG_SIZE)) * stride
    size_b = torch.exp(reg[..., 3].clamp(-MAX_LOG_SIZE, MAX_LOG_SIZE)) * stride
    angle = 0.5 * torch.atan2(reg[..., 4], reg[..., 5])
    swap = size_b > size_a
    length = torch.where(swap, size_b, size_a)
    width = torch.where(swap, size_a, size_b)
    angle = torch.where(swap, angle + math.pi / 2, angle)
    angle = torch.where(angle >= math.pi / 2, angle - math.pi, angle)
    return torch.stack([cx, cy, length, width, angle], dim=-1)


def decode_maps(maps: dict[str, torch.Tensor], image_h, image_w, stride: int, top_k: int, score_threshold: float,
                window_logits_fn=None, quality_exponent: float = 0.0):
    """Post-process raw head maps into the ONNX contract's outputs.

    ``maps``: ``heatmap`` logits ``[N,1,h,w]``, ``reg`` ``[N,6,h,w]``, ``type_logits`` ``[N,2,h,w]``,
    ``quality`` logits ``[N,1,h,w]`` when ``quality_exponent`` > 0, and, unless ``window_logits_fn``
    is given, ``load_logits`` ``[N,2,h,w]``, ``laden_fraction`` ``[N,3,h,w]`` (central, lo, hi in
    [0, 1]) and optionally ``freeboard_m`` ``[N,3,h,w]`` read at the peaks.
    ``window_logits_fn(boxes [N,k,5], keep [N,k] bool) -> (load [N,k,2], type [N,k,2], laden
    fraction [N,k,3], freeboard [N,k,3])`` computes them from the decoded boxes instead (the
    detector's hull-window heads): load logits, fraction and freeboard replace the maps', type
    logits are added to the type map's at the peak (two readings of the same question, one from a
    cell, one from the hull's window: their evidence multiplies). Rows where ``keep`` is False
    (below ``score_threshold``) are zeroed afterwards, so it may skip them.
    ``image_h``/``image_w``: the unpadded input size; peaks whose cell centre lies in the padding
    are dropped. Returns ``(boxes [N,K,5], scores [N,K], type_probs [N,K,2], load_probs [N,K,2],
    count int64 [N], laden_fraction [N,K,3])`` and, where there is a freeboard (from the window
    function, or a ``freeboard_m`` map), ``freeboard_m [N,K,3]`` after them.
    """
    heat = torch.sigmoid(maps["heatmap"])
    n, _, h, w = heat.shape
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat).to(heat.dtype)
    if quality_exponent > 0:
        peaks = peaks * torch.sigmoid(maps["quality"]) ** quality_exponent
    rows = torch.arange(h, device=heat.device, dtype=heat.dtype)
    cols = torch.arange(w, device=heat.device, dtype=heat.dtype)
    inside = (((rows + 0.5) * stride < image_h)[:, None] & ((cols + 0.5) * stride < image_w)[None, :])
    peaks = (peaks * inside.to(heat.dtype)).reshape(n, h * w)

    k = torch.sym_min(top_k, h * w)
    scores, index = torch.topk(peaks, k, dim=1)
    iy = torch.div(index, w, rounding_mode="floor").to(heat.dtype)
    ix = (index - torch.div(index, w, rounding_mode="floor") * w).to(heat.dtype)

    def gather(t: torch.Tensor) -> torch.Tensor:
        flat = t.reshape(n, t.shape[1], h * w)
        return torch.gather(flat, 2, index[:, None, :].expand(-1, t.shape[1], -1)).permute(0, 2, 1)

    boxes = decode_boxes(gather(maps["reg"]), ix, iy, stride)
    type_logits = gather(maps["type_logits"])
    keep = scores >= score_threshold
    freeboard = None
    if window_logits_fn is None:
        load_logits = gather(maps["load_logits"])
        fraction = gather(maps["laden_fraction"])
        if "freeboard_m" in maps:
            freeboard = gather(maps["freeboard_m"])
    else:
        load_logits, window_type_logits, fraction, freeboard = window_logits_fn(boxes, keep)
        type_logits = type_logits + window_type_logits
    type_probs = torch.softmax(type_logits, dim=-1)
    load_probs = torch.softmax(load_logits, dim=-1)

    keep_f = keep.to(scores.dtype)
    pad = top_k - k
    scores = F.pad(scores * keep_f, (0, pad))
    boxes = F.pad(boxes * keep_f[..., None], (0, 0, 0, pad))
    type_probs = F.pad(type_probs * keep_f[..., None], (0, 0, 0, pad))
    load_probs = F.pad(load_probs * keep_f[..., None], (0, 0, 0, pad))
    fraction = F.pad(fraction * keep_f[..., None], (0, 0, 0, pad))
    count = keep.sum(dim=1).to(torch.int64)
    if freeboard is None:
        return boxes, scores, type_probs, load_probs, count, fraction
    freeboard = F.pad(freeboard * keep_f[..., None], (0, 0, 0, pad))
    return boxes, scores, type_probs, load_probs, count, fraction, freeboard
