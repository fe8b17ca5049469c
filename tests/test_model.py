"""The detector meets the ONNX contract: output shapes and decoding (its ONNX export: tests/test_export.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tankerwatch.infer.core.errors import ConfigError  # noqa: E402
from tankerwatch.models import build_detector  # noqa: E402
from tankerwatch.models.decode import decode_maps  # noqa: E402

TINY = dict(backbone="tiny", fpn_channels=16, head_channels=16, top_k=12)


def _views(n: int) -> torch.Tensor:
    """View rows (models/detector.py): 1 m GSD, sun at 35 degrees, 15 degrees off nadir; every
    second image without angles (the geometry-free branch)."""
    rows = torch.tensor([[1.0, 35.0, 150.0, 15.0, 60.0]]).repeat(n, 1)
    rows[1::2, 1:] = math.nan
    return rows


def test_decode_and_raw_outputs_follow_the_contract():
    model = build_detector(**TINY).eval()
    image = torch.randint(0, 256, (2, 3, 50, 37), dtype=torch.uint8)
    maps = model(image)
    assert maps["heatmap"].shape == (2, 1, 16, 16) and maps["reg"].shape == (2, 6, 16, 16)
    model.decode = True
    boxes, scores, type_probs, load_probs, count, laden_fraction, freeboard = model(image, _views(2))
    assert boxes.shape == (2, 12, 5) and scores.shape == (2, 12) and count.dtype == torch.int64
    assert type_probs.shape == load_probs.shape == (2, 12, 2)
    assert laden_fraction.shape == freeboard.shape == (2, 12, 3)
    for b in range(2):
        n = int(count[b])
        assert torch.all(scores[b, :n] >= model.score_threshold) and torch.all(scores[b, n:] == 0)
        assert torch.all(torch.diff(scores[b, :n]) <= 0)
        assert torch.all(boxes[b, n:] == 0) and torch.all(laden_fraction[b, n:] == 0)
        assert torch.all(freeboard[b, n:] == 0)
        central, lo, hi = laden_fraction[b, :n].unbind(-1)
        assert torch.all((lo >= 0) & (lo <= central) & (central <= hi) & (hi <= 1))
        central, lo, hi = freeboard[b, :n].unbind(-1)
        assert torch.all((lo >= 0) & (lo <= central) & (central <= hi))
        assert torch.all(boxes[b, :n, 2] >= boxes[b, :n, 3])
        assert torch.all((boxes[b, :n, 4] >= -math.pi / 2) & (boxes[b, :n, 4] < math.pi / 2))


def test_decode_places_a_planted_peak_exactly():
    """A single hot cell with known regression decodes to the box it encodes."""
    stride, h, w = 4, 8, 10
    maps = {"heatmap": torch.full((1, 1, h, w), -9.0), "reg": torch.zeros(1, 6, h, w),
            "type_logits": torch.zeros(1, 2, h, w), "load_logits": torch.zeros(1, 2, h, w),
            "laden_fraction": torch.zeros(1, 3, h, w)}
    maps["heatmap"][0, 0, 3, 6] = 5.0
    angle = -0.3
    # Width regressed larger than length: the decoder must swap the axes and turn a quarter.
    maps["reg"][0, :, 3, 6] = torch.tensor([0.25, -0.25, math.log(2.0), math.log(5.0),
                                             math.sin(2 * angle), math.cos(2 * angle)])
    maps["type_logits"][0, 0, 3, 6] = 2.0
    boxes, scores, type_probs, _, count, _ = decode_maps(maps, h * stride, w * stride, stride, 5, 0.5)
    assert int(count[0]) == 1
    expected = [(6 + 0.5 + 0.25) * 4, (3 + 0.5 - 0.25) * 4, 20.0, 8.0, angle + math.pi / 2]
    np.testing.assert_allclose(boxes[0, 0].numpy(), expected, atol=1e-5)
    assert type_probs[0, 0, 0] > 0.8
    assert torch.all(boxes[0, 1:] == 0)


def test_quality_reorders_peaks_of_equal_heat():
    stride, h, w = 4, 8, 8
    maps = {"heatmap": torch.full((1, 1, h, w), -9.0), "reg": torch.zeros(1, 6, h, w),
            "type_logits": torch.zeros(1, 2, h, w), "load_logits": torch.zeros(1, 2, h, w),
            "laden_fraction": torch.zeros(1, 3, h, w), "quality": torch.zeros(1, 1, h, w)}
    maps["heatmap"][0, 0, 1, 1] = 2.0
    maps["heatmap"][0, 0, 6, 6] = 1.9
    maps["quality"][0, 0, 1, 1] = -3.0  # a vague box under the hotter peak
    maps["quality"][0, 0, 6, 6] = 3.0
    heat_only = decode_maps(maps, h * stride, w * stride, stride, 4, 0.01)
    rescored = decode_maps(maps, h * stride, w * stride, stride, 4, 0.01, quality_exponent=1.0)
    assert heat_only[0][0, 0, 0] < heat_only[0][0, 1, 0]  # the (1, 1) peak first
    assert rescored[0][0, 0, 0] > rescored[0][0, 1, 0]  # the well-placed (6, 6) box first
    expected = torch.sigmoid(torch.tensor(1.9)) * torch.sigmoid(torch.tensor(3.0))
    assert float(rescored[1][0, 0]) == pytest.approx(float(expected), rel=1e-6)


def test_peaks_in_padding_are_dropped():
    stride = 4
    maps = {"heatmap": torch.full((1, 1, 4, 4), -9.0), "reg": torch.zeros(1, 6, 4, 4),
            "type_logits": torch.zeros(1, 2, 4, 4), "load_logits": torch.zeros(1, 2, 4, 4),
            "laden_fraction": torch.zeros(1, 3, 4, 4)}
    maps["heatmap"][0, 0, 3, 3] = 5.0  # cell centre (14, 14): outside a 10 x 10 image
    *_, count, _ = decode_maps(maps, 10, 10, stride, 5, 0.1)
    assert int(count[0]) == 0


def test_the_input_is_scaled_per_band_and_zero_padded_to_the_network_multiple():
    """What the network and the load stage read: (pixel - mean) / std per band, then zeros (the
    bands' mean) bottom and right up to the input multiple."""
    model = build_detector(**TINY).eval()
    image = torch.randint(0, 256, (1, 3, 50, 37), dtype=torch.uint8)
    x = model._prepare(image)
    assert x.shape == (1, 3, 64, 64)
    expected = (image.float() - model.pixel_mean) / model.pixel_std
    assert torch.allclose(x[..., :50, :37], expected, atol=1e-5)
    assert torch.all(x[..., 50:, :] == 0) and torch.all(x[..., :, 37:] == 0)


def test_unknown_options_are_named():
    with pytest.raises(ConfigError, match="bogus"):
        build_detector(backbone="tiny", bogus=1)
    with pytest.raises(ConfigError, match="unknown backbone"):
        build_detector(backbone="vgg99")


def test_lean_options_keep_the_contract_with_fewer_weights():
    """The cheaper architecture (narrow fine stages, a smaller type window) decodes to the same
    outputs; its config rebuilds it."""
    torch.manual_seed(0)
    lean = build_detector(backbone="lean", fpn_channels=16, head_channels=16, top_k=12, window_size=(16, 48)).eval()
    small = build_detector(backbone="small", fpn_channels=16, head_channels=16, top_k=12).eval()
    assert sum(p.numel() for p in lean.parameters()) < sum(p.numel() for p in small.parameters())
    lean.decode = True
    out = lean(torch.randint(0, 255, (2, 3, 96, 128), dtype=torch.uint8), _views(2))
    assert [tuple(t.shape) for t in out] == [(2, 12, 5), (2, 12), (2, 12, 2), (2, 12, 2), (2,), (2, 12, 3), (2, 12, 3)]
    rebuilt = build_detector(**lean.config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in lean.state_dict().items()}


def test_a_config_from_before_the_options_builds_the_architecture_it_was_trained_with():
    """Checkpoints written before ``window_size`` existed do not carry it."""
    current = build_detector(**TINY)
    old_config = {k: v for k, v in current.config.items() if k != "window_size"}
    old = build_detector(**old_config)
    assert old.type_window_head.window_size == (32, 96)
    old.load_state_dict(current.state_dict())


def test_four_band_input():
    model = build_detector(backbone="tiny", in_channels=4, top_k=5)
    model.decode = True
    out = model.eval()(torch.zeros(1, 4, 64, 64, dtype=torch.uint8), _views(1))
    assert out[0].shape == (1, 5, 5)


def test_detect_skips_the_hull_windows_of_discarded_rows_without_changing_kept_ones():
    """``detect`` reads only the first max(count) rows of each image (rows are sorted by score);
    the kept rows' load probabilities equal what reading every row gives."""
    torch.manual_seed(0)
    model = build_detector(backbone="tiny", output_stride=4, fpn_channels=8, head_channels=8, top_k=20,
                           score_threshold=0.0)
    model.eval()
    image = torch.randint(0, 255, (2, 3, 64, 96), dtype=torch.uint8)
    with torch.no_grad():
        # An untrained heatmap sits near its prior: split its peaks at their median.
        model.score_threshold = float(model.detect(image, _views(2))[1].flatten().median())
    seen = []
    original = model.load_head.read_profiles
    model.load_head.read_profiles = lambda profiles, geometry, sides: (seen.append(profiles.shape[0])
                                       or original(profiles, geometry, sides))
    with torch.no_grad():
        boxes, scores, _, load_probs, count, *_ = model.detect(image, _views(2))
        every_row = torch.softmax(model.read_load(image, boxes, _views(2))[0], dim=-1)
    assert 0 < int(count.max()) < 20, "the check needs some rows kept and some discarded"
    assert seen[0] == 2 * int(count.max()) and seen[1] == 2 * 20
    for b in range(2):
        n = int(count[b])
        torch.testing.assert_close(load_probs[b, :n], every_row[b, :n], rtol=1e-5, atol=1e-6)
        assert torch.all(load_probs[b, n:] == 0)


def test_type_probabilities_add_the_hull_window_type_logits_to_the_type_map():
    """The exported ``type_probs`` is softmax(type map at the peak + window type head): a window
    head that says +3 for tanker moves every kept row's log-odds of tanker by exactly 3."""
    torch.manual_seed(1)
    model = build_detector(backbone="tiny", output_stride=4, fpn_channels=8, head_channels=8, top_k=10,
                           score_threshold=0.0).eval()
    image = torch.randint(0, 255, (1, 3, 64, 64), dtype=torch.uint8)
    last = model.type_window_head.classifier[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        _, _, map_only, _, count, *_ = model.detect(image, _views(1))
        last.bias.copy_(torch.tensor([3.0, 0.0]))
        _, _, combined, *_ = model.detect(image, _views(1))
    n = int(count[0])
    assert n > 0
    log_odds = lambda p: torch.log(p[..., 0]) - torch.log(p[..., 1])  # noqa: E731
    torch.testing.assert_close(log_odds(combined[0, :n]) - log_odds(map_only[0, :n]), torch.full((n,), 3.0),
                               rtol=1e-4, atol=1e-4)

