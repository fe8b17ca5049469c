"""Weights that keep the load stage from reading every strip as the typical one.

Most tankers a training set holds cast narrow shadows (a high sun, or a laden hull); the wide ones,
an empty hull under a low sun, are a few percent of them. Trained on that mix, the stage reads wide
shadows short, towards the common width (-0.17 box widths at 0.5-0.7 wide), so a hull in ballast
reads lower than it rides and is called loaded or uncertain: the series report then misses the
empty-to-loaded changes it exists for (docs/experiments.md, 2026-12-04). Weighting each width's
loss by the inverse of how common such a width is (label distribution smoothing: Yang et al.,
"Delving into Deep Imbalanced Regression", ICML 2021) makes a rare width count as much as a common
one; the power 0.5 (inverse square root) and the cap keep a handful of extreme widths from
dominating a batch.

The density is counted as training goes, from the widths the loss sees (so it follows whatever data
is trained on, with no pass over it first), in bins of ``BIN_WIDTH`` box widths smoothed by a
Gaussian kernel, and travels in checkpoints (a resumed run keeps its counts).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Widths in box widths: the profile holds strips up to 1.25 box widths out (models/hull_profile.py);
# anything wider counts in the last bin.
TOP_WIDTH = 1.25
BIN_WIDTH = 0.025
# Kernel standard deviation in bins: neighbouring widths look alike, so their counts are shared.
SMOOTHING_BINS = 2.0


class WidthRarity(nn.Module):
    """``forward(widths [..., 2], known [..., 2]) -> weights [..., 2]``: per shadow and side-strip
    width (box widths), ``(density / density of the commonest width) ** -power``, at most ``cap``;
    1 where ``known`` is False. In training mode the known widths are counted first. ``power`` 0
    gives every width weight 1."""

    def __init__(self, power: float = 0.5, cap: float = 10.0):
        super().__init__()
        if power < 0:
            raise ValueError(f"power must be >= 0, got {power}")
        if cap < 1:
            raise ValueError(f"cap must be >= 1, got {cap}")
        self.power, self.cap = power, cap
        bins = round(TOP_WIDTH / BIN_WIDTH)
        self.register_buffer("counts", torch.zeros(2, bins, dtype=torch.float64))
        reach = int(3 * SMOOTHING_BINS)
        kernel = torch.exp(-0.5 * (torch.arange(-reach, reach + 1, dtype=torch.float64) / SMOOTHING_BINS) ** 2)
        self.register_buffer("kernel", (kernel / kernel.sum()).view(1, 1, -1), persistent=False)

    def _bins(self, widths: torch.Tensor) -> torch.Tensor:
        bins = self.counts.shape[1]
        return (widths / BIN_WIDTH).floor().long().clamp(0, bins - 1)

    def forward(self, widths: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        if self.power == 0:
            return torch.ones_like(widths)
        bins = self._bins(widths.detach().to(self.counts.device))
        known = known.to(self.counts.device)
        if self.training:
            for cue in range(2):
                seen = bins[..., cue][known[..., cue]]
                self.counts[cue] += torch.bincount(seen, minlength=self.counts.shape[1]).to(self.counts.dtype)
        # One pseudo-count per bin: widths never seen yet are rare, not infinitely so.
        smoothed = F.conv1d((self.counts + 1.0).unsqueeze(1), self.kernel, padding=self.kernel.shape[-1] // 2)[:, 0]
        relative = smoothed / smoothed.amax(dim=1, keepdim=True)
        table = relative.pow(-self.power).clamp(max=self.cap)  # [2, bins]
        weights = torch.stack([table[cue][bins[..., cue]] for cue in range(2)], dim=-1)
        weights = torch.where(known, weights, torch.ones_like(weights))
        return weights.to(widths.dtype).to(widths.device)
