"""The hull-window type head samples the window the docstring promises."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from tankerwatch.infer.core.errors import ConfigError  # noqa: E402
from tankerwatch.models.hull_window import ALONG_SPAN, WINDOW_HW, HullWindowHead  # noqa: E402


def _coordinate_image(h: int, w: int) -> torch.Tensor:
    """Channel 0 holds each pixel centre's x, channel 1 its y (so bilinear sampling returns the
    sampled point itself)."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return torch.stack([xs, ys])[None].float()


@pytest.mark.parametrize("window_size", [WINDOW_HW, (16, 48)])
@pytest.mark.parametrize("angle", [0.0, 0.6, -1.2])
def test_window_runs_along_the_hull(angle, window_size):
    head = HullWindowHead(in_channels=2, window_size=window_size).eval()
    box = torch.tensor([[[60.0, 50.0, 40.0, 8.0, angle]]])
    window = head.windows(_coordinate_image(100, 120), box)[0]  # [2, rows, cols]
    rows, cols = window_size
    assert window.shape == (2, rows, cols)
    centre = window[:, rows // 2 - 1: rows // 2 + 1, cols // 2 - 1: cols // 2 + 1].mean(dim=(1, 2))
    assert centre.tolist() == pytest.approx([60.0, 50.0], abs=0.05)
    # From the first to the last column the samples walk along the long axis.
    step = window[:, rows // 2, -1] - window[:, rows // 2, 0]
    assert math.atan2(step[1], step[0]) == pytest.approx(angle, abs=1e-3)
    span = float(torch.linalg.norm(step)) * cols / (cols - 1)
    assert span == pytest.approx(40.0 * ALONG_SPAN, rel=0.02)


@pytest.mark.parametrize("window_size", [(12, 48), (16, 4), (0, 48)])
def test_a_window_the_classifier_cannot_pool_is_refused(window_size):
    with pytest.raises(ConfigError, match=r"window_size must be two multiples of 8"):
        HullWindowHead(in_channels=3, window_size=window_size)


def test_logits_per_box_and_training_flips_do_not_change_shapes():
    head = HullWindowHead(in_channels=3)
    x = torch.randn(2, 3, 64, 96)
    boxes = torch.tensor([[20.0, 20.0, 30.0, 6.0, 0.2]]).repeat(2, 5, 1)
    assert head(x, boxes).shape == (2, 5, 2)
    head.eval()
    assert torch.equal(head(x, boxes), head(x, boxes))  # deterministic at inference


def test_brightness_and_contrast_of_the_scene_do_not_change_the_call():
    """The stage reads geometry: a hazier, darker or differently scaled scene (every pixel moved by
    the same gain and offset) gives the same logits for hulls inside the image."""
    torch.manual_seed(0)
    head = HullWindowHead(in_channels=3).eval()
    x = torch.randn(1, 3, 96, 128)
    boxes = torch.tensor([[[50.0, 48.0, 40.0, 8.0, 0.4], [80.0, 40.0, 30.0, 6.0, -0.3]]])
    torch.testing.assert_close(head(x * 0.4 - 1.5, boxes), head(x, boxes), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(head(x.flip(-1), boxes), head(x, boxes), atol=1e-3)


def read_among_padding(head, **options):
    """A training-mode ``head``'s outputs for two real boxes alone, then among six padding boxes
    (zero boxes, masked out by ``valid``), from the same random draws; also the input and the
    padded boxes."""
    x = torch.randn(1, 3, 64, 96)
    real = torch.tensor([[[30.0, 30.0, 40.0, 8.0, 0.3], [60.0, 40.0, 30.0, 6.0, -0.5]]])
    padded = torch.cat([real, torch.zeros(1, 6, 5)], dim=1)
    valid = torch.tensor([[True, True] + [False] * 6])
    torch.manual_seed(0)
    alone = head(x, real, valid=valid[:, :2])
    torch.manual_seed(0)
    return alone, head(x, padded, valid=valid, **options), x, padded


def test_padding_boxes_do_not_touch_the_real_windows_in_training():
    """Batch-norm statistics come from the labelled windows alone: a crop's padding rows (zero
    boxes) would otherwise fill them with blank windows."""
    head = HullWindowHead(in_channels=3, box_jitter=False).train()
    alone, among_padding, x, padded = read_among_padding(head)
    torch.testing.assert_close(among_padding[:, :2], alone)
    assert torch.equal(among_padding[:, 2:], torch.zeros(1, 6, 2))
    # Without the mask the padding windows join the statistics and change the real logits.
    torch.manual_seed(0)
    unmasked = head(x, padded)
    assert not torch.allclose(unmasked[:, :2], alone)
