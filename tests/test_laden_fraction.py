"""Laden fraction through the pipeline: the head and its loss, the ONNX metadata (format version 2;
version 1 still read), ``detect``'s properties, and ``report``'s barrels from it. The exported
output itself and its parity are checked in test_export.py."""

from __future__ import annotations

import csv
import math

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from detect_fixtures import FRACTION_HALF_WIDTH, paint_vessel  # noqa: E402
from report_helpers import write_scene as write_detection_scene  # noqa: E402
from test_detect import run_detect, sea  # noqa: E402
from test_detect import write_scene as write_raster  # noqa: E402

from tankerwatch.infer.cli import main  # noqa: E402
from tankerwatch.infer.core.errors import ModelError  # noqa: E402
from tankerwatch.infer.core.labels import LoadState, Vessel, VesselType  # noqa: E402
from tankerwatch.infer.core.tanker_sizes import (  # noqa: E402
    BARRELS_PER_TONNE,
    CARGO_FRACTION,
    TANKER_CLASSES,
    deadweight_at,
    freeboard_at,
)
from tankerwatch.infer.report.volume import estimate_volume_from_fraction, fraction_moved  # noqa: E402
from tankerwatch.infer.runtime.detection_file import Detection, read_detection_file  # noqa: E402
from tankerwatch.infer.runtime.onnx_model import OnnxDetector  # noqa: E402
from tankerwatch.infer.synth.physics import sample_tanker  # noqa: E402
from tankerwatch.models import build_detector  # noqa: E402
from tankerwatch.models.freeboard import cue_gains, side_share  # noqa: E402
from tankerwatch.models.hull_profile import INVERSE_TEMPERATURE_RANGE, PROFILE_ACROSS_SPAN  # noqa: E402
from tankerwatch.train.losses import UNREADABLE_ERROR, UNREADABLE_WEIGHT, cue_width_loss  # noqa: E402
from tankerwatch.train.targets import (  # noqa: E402
    MAX_WINDOW_BOXES,
    UNREADABLE,
    hull_window_targets,
    vessel_cue_widths,
)


def _tiny():
    return build_detector(backbone="tiny", fpn_channels=16, head_channels=16, top_k=8)


def _fit_constant_readings(truth: torch.Tensor, steps: int, after_backward=None) -> tuple[list, list]:
    """One (shadow, side) reading and its scales, the same for every window, fitted to ``truth``
    ``[1, M, 2]`` by Adam on the cue loss; ``after_backward(raw)`` sees each step's gradients."""
    raw = torch.zeros(4, requires_grad=True)
    optimiser = torch.optim.Adam([raw], lr=0.05)
    for _ in range(steps):
        optimiser.zero_grad()
        readings = torch.cat([raw[:2], torch.nn.functional.softplus(raw[2:]) + 1e-3]).expand(1, truth.shape[1], 4)
        cue_width_loss(readings, truth).backward()
        if after_backward is not None:
            after_backward(raw)
        optimiser.step()
    return raw[:2].tolist(), (torch.nn.functional.softplus(raw[2:]) + 1e-3).tolist()


def test_cue_loss_learns_the_median_width_and_its_spread():
    """Constant readings fitted to widths uniform on [0, 1] settle on the median and the mean
    absolute deviation from it (1/4): the scale is an honest error, not a free knob."""
    truth = torch.rand(1, 1000, 2, generator=torch.Generator().manual_seed(0))
    widths, scales = _fit_constant_readings(truth, 400)
    assert widths == pytest.approx(np.median(truth.numpy(), axis=1)[0].tolist(), abs=0.03)
    assert scales == pytest.approx([0.25, 0.25], abs=0.02)


def test_an_unreadable_shadow_teaches_a_large_scale_and_no_width():
    """A shadow on a quay: the likelihood at the fixed error, minimal where the scale equals it."""
    def no_width_gradient(raw):
        assert raw.grad[0] == 0.0

    widths, scales = _fit_constant_readings(torch.tensor([[[UNREADABLE, 0.2]]]), 600, no_width_gradient)
    assert scales[0] == pytest.approx(UNREADABLE_ERROR, rel=0.05)
    assert scales[1] < 0.05 and widths[1] == pytest.approx(0.2, abs=0.02)


def test_each_unreadable_shadow_weighs_as_several_water_widths():
    readings = torch.tensor([[[0.3, 0.1, 0.2, 0.05], [0.3, 0.1, 0.2, 0.05]]])
    truth = torch.tensor([[[0.2, 0.1], [UNREADABLE, 0.1]]])
    readable = [0.1 + 0.1 / 0.2 + math.log(0.2), math.log(0.05), math.log(0.05)]  # two sides exact
    unreadable = UNREADABLE_ERROR / 0.2 + math.log(0.2)
    expected = (sum(readable) + UNREADABLE_WEIGHT * unreadable) / (len(readable) + UNREADABLE_WEIGHT)
    assert cue_width_loss(readings, truth).item() == pytest.approx(expected, rel=1e-5)


def test_cue_loss_is_masked_to_known_widths():
    readings = torch.tensor([[[0.5, 0.5, 0.1, 0.1]] * 3], requires_grad=True)
    only_known = cue_width_loss(readings, torch.tensor([[[0.9, 0.5], [-1.0, -1.0], [-1.0, -1.0]]]))
    # Per width: L1 error + error / scale + log scale; the second width is exact.
    assert only_known.item() == pytest.approx(((0.4 + 0.4 / 0.1 + math.log(0.1)) + math.log(0.1)) / 2, rel=1e-5)
    none = cue_width_loss(readings, torch.full((1, 3, 2), -1.0))
    none.backward()  # no labels: zero, and the graph survives
    assert none.item() == 0.0 and readings.grad is not None
    padded = cue_width_loss(readings, torch.tensor([[[0.9, 0.5]] * 3]), valid=torch.tensor([[True, False, False]]))
    assert padded.item() == pytest.approx(only_known.item())


def test_cue_targets_are_in_box_widths_and_come_first():
    vessels = [Vessel([50, 50, 40, 8, 0], VesselType.TANKER, LoadState.EMPTY, shadow_width_m=4.0, side_strip_m=2.0),
               Vessel([90, 90, 30, 6, 0], VesselType.OTHER, shadow_width_m=2.0, side_strip_m=1.0),
               Vessel([20, 20, 40, 10, 0], VesselType.TANKER, LoadState.LOADED, shadow_width_m=1.0,
                      side_strip_m=0.0)]
    widths = vessel_cue_widths(vessels, 0.5)  # box widths of 4 m and 5 m
    np.testing.assert_allclose(widths, [[1.0, 0.5], [-1, -1], [0.2, 0.0]], rtol=1e-6)
    assert (vessel_cue_widths(vessels, None) == -1).all()
    boxes = np.stack([v.box for v in vessels])
    targets = hull_window_targets(boxes, np.array([0, 1, 0]), widths, 128)
    assert targets["window_cues"].shape == (MAX_WINDOW_BOXES, 2)
    # The measured vessels come first, then the type-only one; padding is -1.
    np.testing.assert_allclose(targets["window_cues"][:3], [[1.0, 0.5], [0.2, 0.0], [-1, -1]], rtol=1e-6)
    assert targets["window_type"][:3].tolist() == [0, 0, 1]
    assert (targets["window_cues"][3:] == -1).all()


def test_cue_readings_follow_the_box_under_jitter():
    """Training's box jitter cuts the profile round a perturbed box; the readings come back in units
    of the given box, so they are compared with its labels: a head whose marks are constant reads
    widths proportional to the jittered box's width over the given one."""
    model = _tiny().train()
    head = model.load_head
    torch.nn.init.zeros_(head.marks.weight)
    torch.nn.init.constant_(head.marks.bias, -2.0)
    boxes = torch.tensor([[[30.0, 30.0, 40.0, 8.0, 0.3]] * 64])
    image = torch.randint(0, 255, (1, 3, 64, 96), dtype=torch.uint8)
    readings = head(model._prepare(image), boxes)
    head.eval()
    still = head(model._prepare(image), boxes)
    constant = torch.sigmoid(torch.tensor(-2.0)) * PROFILE_ACROSS_SPAN  # every row a share of 0.12
    torch.testing.assert_close(still[..., 0], torch.full_like(still[..., 0], float(constant)))
    ratios = readings[0, :, 0] / constant
    assert 0.05 < float(ratios.std()) < 0.3 and float(ratios.mean()) == pytest.approx(1.0, abs=0.08)


def test_load_calibration_moves_the_load_logits_only():
    model = _tiny().eval()
    image = torch.randint(0, 255, (2, 3, 64, 96), dtype=torch.uint8)
    boxes = torch.tensor([[[30.0, 30.0, 40.0, 8.0, 0.3], [60.0, 20.0, 30.0, 6.0, -1.0]]] * 2)
    view = torch.tensor([[0.5, 35.0, 150.0, 15.0, 60.0], [2.0, 35.0, 150.0, 15.0, 60.0]])
    with torch.no_grad():
        logits, fraction, freeboard = model.read_load(image, boxes, view)
        raw, _, _ = model.read_load(image, boxes, view, calibrated=False)
        model.load_head.log_temperature.fill_(math.log(3.0))
        model.load_head.log_side_temperature.fill_(math.log(5.0))
        model.load_head.gsd_temperature_slope.fill_(-0.2)
        model.load_head.load_bias.fill_(-0.4)
        calibrated, calibrated_fraction, calibrated_freeboard = model.read_load(image, boxes, view)
        still_raw, _, _ = model.read_load(image, boxes, view, calibrated=False)
        readings = model.read_image_cues(image, boxes, view)
        share = side_share(model.load_head.calibrate_scales(readings[..., 2:]), boxes, view)
    assert fraction.shape == freeboard.shape == (2, 2, 3) and fraction.min() >= 0 and fraction.max() <= 1
    assert torch.equal(fraction, calibrated_fraction) and torch.equal(freeboard, calibrated_freeboard)
    assert torch.equal(raw, logits) and torch.equal(still_raw, raw)  # T = 1, b = 0 until fitted
    # Logits are [-z/2, z/2]: the loaded-minus-empty margin becomes z / T + b, with 1 / T running
    # from the shadow's temperature to the side strip's by the side strip's share of the reading,
    # plus the slope times the log of each image's GSD (0.5 m: surer, 2 m: less sure).
    assert ((share > 0) & (share < 1)).all()
    margin = calibrated[..., 1] - calibrated[..., 0]
    inverse = (1 - share) / 3.0 + share / 5.0 - 0.2 * torch.log(view[:, 0:1])
    torch.testing.assert_close(margin, (raw[..., 1] - raw[..., 0]) * inverse - 0.4, atol=1e-4, rtol=0)


def test_gsd_slope_never_turns_a_call_over():
    """A GSD far beyond the fitted ones would take 1 / T below zero on the slope alone; it stays at
    the range's floor instead, so each logit keeps its sign (bias 0)."""
    head = _tiny().eval().load_head
    head.gsd_temperature_slope.fill_(-1.0)  # 1 / T = 1 - log(20): -2.0 unclamped
    logit = torch.tensor([[2.0, -3.0]])
    calibrated = head.calibrate(logit, torch.zeros_like(logit), torch.tensor([[20.0]]))
    torch.testing.assert_close(calibrated, logit * INVERSE_TEMPERATURE_RANGE[0])
    # At 1 m the slope adds nothing.
    torch.testing.assert_close(head.calibrate(logit, torch.zeros_like(logit), torch.tensor([[1.0]])), logit)


def test_cue_scale_factors_weigh_the_cues_and_size_the_interval():
    """The same readings: one factor on both cues keeps the freeboard and narrows its interval; a
    factor on the side strip alone moves the freeboard towards what the shadow says."""
    model = _tiny().eval()
    boxes = torch.tensor([[[100.0, 100.0, 120.0, 20.0, 0.0]]])
    view = torch.tensor([[1.0, 35.0, 150.0, 15.0, 60.0]])
    shadow_gain, side_gain = cue_gains(boxes, view)
    # Shadow says 5 m of freeboard, the side strip 2 m; widths in box widths (20 m), both +- 0.02.
    widths = torch.stack([5.0 * shadow_gain, 2.0 * side_gain], dim=-1) / 20.0
    readings = torch.cat([widths, torch.full_like(widths, 0.02)], dim=-1)
    with torch.no_grad():
        _, _, before = model.load_from_readings(readings, boxes, view)
        model.load_head.cue_scale_log.fill_(math.log(0.5))
        _, _, narrower = model.load_from_readings(readings, boxes, view)
        model.load_head.cue_scale_log.copy_(torch.tensor([0.0, math.log(4.0)]))
        _, _, shadow_trusted = model.load_from_readings(readings, boxes, view)
    assert 2.0 < float(before[0, 0, 0]) < 5.0
    torch.testing.assert_close(narrower[..., 0], before[..., 0])
    assert float(narrower[0, 0, 2] - narrower[0, 0, 1]) == pytest.approx(0.5 * float(before[0, 0, 2] - before[0, 0, 1]),
                                                                         rel=1e-4)
    assert float(before[0, 0, 0]) < float(shadow_trusted[0, 0, 0]) < 5.0


def _blob_scene(tmp_path, p_loaded=0.8):
    image = sea(256, 320)
    paint_vessel(image, [100.3, 120.6, 60.0, 10.0, 0.3], p_loaded=p_loaded)
    paint_vessel(image, [230.2, 60.7, 40.0, 8.0, 0.0], p_loaded=0.0, p_other=1.0)
    return write_raster(tmp_path / "port.tif", image, gsd=2.0)


def _as_version_1(source, target):
    """The file a version-1 exporter wrote: no laden_fraction output, no quantile metadata."""
    proto = onnx.load(str(source))
    kept = [o for o in proto.graph.output if o.name != "laden_fraction"]
    del proto.graph.output[:]
    proto.graph.output.extend(kept)
    props = {p.key: p.value for p in proto.metadata_props if p.key != "tankerwatch.laden_fraction_quantiles"}
    props["tankerwatch.format_version"] = "1"
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(target))
    return target


def test_detect_writes_laden_fraction_and_freeboard_and_reads_version_1(blob_model, tmp_path, capsys):
    model = blob_model
    scene = _blob_scene(tmp_path)
    assert run_detect(model, scene, "-o", tmp_path / "v2") == 0
    tanker, other = sorted(read_detection_file(tmp_path / "v2" / "port.geojson").properties,
                           key=lambda p: p["type"] != "tanker")
    painted = round(0.8 * 255) / 255  # the colour code's p_loaded, which the fixture also reports as fraction
    assert tanker["laden_fraction"] == pytest.approx(painted, abs=2e-3)
    assert tanker["laden_fraction_lo"] == pytest.approx(painted - FRACTION_HALF_WIDTH, abs=2e-3)
    assert tanker["laden_fraction_hi"] == pytest.approx(painted + FRACTION_HALF_WIDTH, abs=2e-3)
    assert tanker["freeboard_m"] == pytest.approx(freeboard_at(tanker["box_px"][2] * 2.0, tanker["laden_fraction"]),
                                                  abs=0.02)
    assert all(other[k] is None for k in ("laden_fraction", "laden_fraction_lo", "laden_fraction_hi", "freeboard_m"))
    with open(tmp_path / "v2" / "port.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"laden_fraction", "laden_fraction_lo", "laden_fraction_hi", "freeboard_m"} <= set(rows[0])

    old = _as_version_1(model, tmp_path / "old.onnx")
    assert OnnxDetector(old, device="cpu").info.format_version == 1
    capsys.readouterr()
    assert run_detect(old, scene, "-o", tmp_path / "v1") == 0
    assert capsys.readouterr().err.count("without a laden-fraction output") == 1
    for properties in read_detection_file(tmp_path / "v1" / "port.geojson").properties:
        assert properties["laden_fraction"] is None and properties["freeboard_m"] is None
        assert properties["load"] in ("loaded", "unknown")  # the rest of the contract still read


def test_a_model_not_taught_draft_fractions_writes_none(blob_model, tmp_path, capsys):
    proto = onnx.load(str(blob_model))
    props = {p.key: p.value for p in proto.metadata_props}
    props["tankerwatch.taught"] = '{"laden_fraction": false, "load": true, "type": true}'
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(tmp_path / "untaught.onnx"))
    capsys.readouterr()
    assert run_detect(tmp_path / "untaught.onnx", _blob_scene(tmp_path), "-o", tmp_path / "out") == 0
    assert "trained without draft fractions" in capsys.readouterr().err
    tanker = next(p for p in read_detection_file(tmp_path / "out" / "port.geojson").properties if p["type"] == "tanker")
    assert tanker["load"] == "loaded" and tanker["laden_fraction"] is None and tanker["freeboard_m"] is None


def test_version_2_without_its_quantile_levels_is_refused(blob_model, tmp_path):
    proto = onnx.load(str(blob_model))
    props = {p.key: p.value for p in proto.metadata_props if p.key != "tankerwatch.laden_fraction_quantiles"}
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    with pytest.raises(ModelError, match="laden_fraction_quantiles"):
        OnnxDetector(tmp_path / "bad.onnx", device="cpu")


def test_freeboard_spans_the_class_from_ballast_to_laden():
    cls = TANKER_CLASSES[1]
    shortest = cls.length_m[0]
    assert freeboard_at(shortest, 0.0) == pytest.approx(cls.depth_m[0] - cls.ballast_draft_m[0])
    assert freeboard_at(shortest, 1.0) == pytest.approx(cls.depth_m[0] - cls.laden_draft_m[0])
    middle = sum(cls.length_m) / 2
    assert freeboard_at(middle, 0.5) == pytest.approx(
        sum(cls.depth_m) / 2 - (sum(cls.ballast_draft_m) / 2 + sum(cls.laden_draft_m) / 2) / 2)


def test_share_moved_combines_the_intervals_in_quadrature():
    low, central, high = fraction_moved((0.1, 0.0, 0.2), (0.9, 0.8, 1.0))
    assert central == pytest.approx(0.8)
    assert low == pytest.approx(0.8 - math.hypot(0.1, 0.1)) and high == pytest.approx(0.8 + math.hypot(0.1, 0.1))
    assert fraction_moved((0.2, 0.0, 0.5), (0.3, 0.1, 0.6))[0] == 0.0  # never less than nothing
    assert fraction_moved((0.9, 0.8, 1.0), (0.1, 0.0, 0.2)) == pytest.approx((low, central, high))


def test_volume_from_fraction_matches_the_generators_capacity():
    """With exact fractions and length, the central barrels are the synthetic truth's: the change
    in draft fraction times the capacity the generator gives the same hull."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        spec = sample_tanker(rng, 300.0)
        before, after = 0.1, 0.85
        estimate = estimate_volume_from_fraction(spec.length_m, (before,) * 3, (after,) * 3, error_m=0.0)
        assert estimate.central == pytest.approx((after - before) * spec.cargo_capacity_barrels(), rel=1e-9)
        assert estimate.low < estimate.central < estimate.high  # the cargo factors still spread it
        assert estimate.size_class == spec.size_class and estimate.from_laden_fraction


def test_volume_range_grows_with_the_intervals_and_the_length_error():
    narrow = estimate_volume_from_fraction(100.0, (0.1, 0.05, 0.15), (0.9, 0.85, 0.95), error_m=5.0)
    wide = estimate_volume_from_fraction(100.0, (0.1, 0.0, 0.3), (0.9, 0.7, 1.0), error_m=5.0)
    longer = estimate_volume_from_fraction(100.0, (0.1, 0.05, 0.15), (0.9, 0.85, 0.95), error_m=20.0)
    assert wide.central == narrow.central == longer.central
    assert wide.low < narrow.low and wide.high > narrow.high
    assert longer.low < narrow.low and longer.high > narrow.high
    bpt = BARRELS_PER_TONNE["refined"]
    assert narrow.high == pytest.approx(min(0.8 + math.hypot(0.05, 0.05), 1.0) * deadweight_at(105.0)
                                        * CARGO_FRACTION[2] * bpt[2])


def _tanker(load, fraction, length_m=100.0):
    p_loaded = 0.95 if load == "loaded" else 0.05
    return Detection(box_px=[500.0, 500.0, length_m, length_m / 6, 0.0], score=0.9, vessel_type="tanker",
                     type_score=0.9, load=load, p_loaded=p_loaded, laden_fraction=fraction)


def test_report_takes_barrels_from_the_change_in_laden_fraction(tmp_path):
    before, after = (0.15, 0.05, 0.25), (0.95, 0.85, 1.0)
    paths = [write_detection_scene(tmp_path, f"d{i}", f"2024-05-0{i + 1}T02:00:00Z", [_tanker(load, fraction)])
             for i, (load, fraction) in enumerate((("empty", before), ("loaded", after)))]
    legacy = [write_detection_scene(tmp_path / "legacy", f"d{i}", f"2024-05-0{i + 1}T02:00:00Z",
                                    [_tanker(load, None)]) for i, load in enumerate(("empty", "loaded"))]
    for name, inputs in (("fraction", paths), ("legacy", legacy)):
        assert main(["report", *map(str, inputs), "-o", str(tmp_path / name)]) == 0
    with open(tmp_path / "fraction" / "events.csv", newline="") as f:
        loading = next(e for e in csv.DictReader(f) if e["event"] == "loading")
    expected = estimate_volume_from_fraction(float(loading["length_m"]), before, after,
                                             error_m=max(5.0, 0.05 * float(loading["length_m"])))
    assert float(loading["cargo_barrels"]) == pytest.approx(expected.central, rel=0.02)
    assert float(loading["barrels_low"]) == pytest.approx(expected.low, rel=0.02)
    with open(tmp_path / "legacy" / "events.csv", newline="") as f:
        old = next(e for e in csv.DictReader(f) if e["event"] == "loading")
    # Without fractions the range is the load-state method's: far wider than the measured one.
    assert float(old["barrels_high"]) / float(old["barrels_low"]) > \
        2 * float(loading["barrels_high"]) / float(loading["barrels_low"])
