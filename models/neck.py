"""A small feature pyramid that fuses the backbone's stride-32 context down to the output stride.

Only the finest level feeds the heads: tankers from 4 px to several hundred px are found as centre
peaks at that one stride, with size regressed from features whose top-down path carries the
stride-32 receptive field (about 500 px for a ResNet), so no per-level assignment is needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TopDownFPN(nn.Module):
    """FPN over strides ``output_stride .. 32``; returns the fused map at ``output_stride``."""

    def __init__(self, in_channels: dict[int, int], output_stride: int, channels: int):
        super().__init__()
        self.strides = [s for s in sorted(in_channels) if s >= output_stride]
        self.lateral = nn.ModuleDict({str(s): nn.Conv2d(in_channels[s], channels, 1) for s in self.strides})
        self.smooth = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)
        )

    def forward(self, features: dict[int, torch.Tensor]) -> torch.Tensor:
        top = None
        for stride in reversed(self.strides):
            lateral = self.lateral[str(stride)](features[stride])
            if top is not None:
                lateral = lateral + F.interpolate(top, size=lateral.shape[-2:], mode="nearest")
            top = lateral
        return self.smooth(top)
