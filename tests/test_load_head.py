"""The hull-window load head samples the window the docstring promises."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from tankerwatch.models.load_head import ALONG_SPAN, WINDOW_HW, HullLoadHead  # noqa: E402


def _coordinate_image(h: int, w: int) -> torch.Tensor:
    """Channel 0 holds each pixel centre's x, channel 1 its y (so bilinear sampling returns the
    sampled point itself)."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return torch.stack([xs, ys])[None].float()


@pytest.mark.parametrize("angle", [0.0, 0.6, -1.2])
def test_window_runs_along_the_hull(angle):
    head = HullLoadHead(in_channels=2).eval()
    box = torch.tensor([[[60.0, 50.0, 40.0, 8.0, angle]]])
    window = head.windows(_coordinate_image(100, 120), box)[0]  # [2, rows, cols]
    rows, cols = WINDOW_HW
    centre = window[:, rows // 2 - 1: rows // 2 + 1, cols // 2 - 1: cols // 2 + 1].mean(dim=(1, 2))
    assert centre.tolist() == pytest.approx([60.0, 50.0], abs=0.05)
    # From the first to the last column the samples walk along the long axis.
    step = window[:, rows // 2, -1] - window[:, rows // 2, 0]
    assert math.atan2(step[1], step[0]) == pytest.approx(angle, abs=1e-3)
    span = float(torch.linalg.norm(step)) * cols / (cols - 1)
    assert span == pytest.approx(40.0 * ALONG_SPAN, rel=0.02)


def test_logits_per_box_and_training_flips_do_not_change_shapes():
    head = HullLoadHead(in_channels=3)
    x = torch.randn(2, 3, 64, 96)
    boxes = torch.tensor([[20.0, 20.0, 30.0, 6.0, 0.2]]).repeat(2, 5, 1)
    assert head(x, boxes).shape == (2, 5, 2)
    head.eval()
    assert torch.equal(head(x, boxes), head(x, boxes))  # deterministic at inference
