"""Calibration of the load stage (cue scale factors, temperatures, GSD slope and bias): the fits
recover a known over-confidence and lean, and the heads apply their calibration only where they should."""

import math
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from tankerwatch.models import build_detector  # noqa: E402
from tankerwatch.models.hull_window import HullWindowHead  # noqa: E402
from tankerwatch.train.calibration import (  # noqa: E402
    MIN_SAMPLES,
    LabelledReadings,
    LoadCalibration,
    calibration_spread,
    fit_cue_scale_factor,
    fit_load_calibration,
    fit_stage_calibration,
)
from tankerwatch.train.targets import IGNORE, UNREADABLE  # noqa: E402


def calibrated_sample(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose softmax is the true probability of the labels drawn from it."""
    generator = torch.Generator().manual_seed(seed)
    margin = torch.randn(count, generator=generator, dtype=torch.float64) * 2.0
    labels = (torch.rand(count, generator=generator, dtype=torch.float64) < torch.sigmoid(margin)).long()
    logits = torch.stack([torch.zeros_like(margin), margin], dim=1)
    return logits, labels


@pytest.mark.parametrize("over_confidence", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("lean", [0.0, 0.6, -1.2])
def test_fit_recovers_the_scale_and_lean_of_the_logits(over_confidence, lean):
    logits, labels = calibrated_sample(20_000)
    # A stage that is over-confident by a factor and leans to "loaded" by ``lean`` in its logit.
    leaning = (logits + torch.tensor([-lean / 2, lean / 2], dtype=logits.dtype)) * over_confidence
    fitted = fit_load_calibration(leaning, labels)
    assert fitted.temperature == pytest.approx(over_confidence, rel=0.08)
    assert fitted.bias == pytest.approx(-lean, abs=0.08)


def test_fit_recovers_a_temperature_for_calls_resting_on_the_side_strip():
    """Calls resting on the side strip (share 1) over-confident by 3, those on the shadow (share 0)
    by 1.2, mixed readings in between: the fit finds both temperatures and one bias."""
    logits, labels = calibrated_sample(30_000, seed=3)
    share = torch.rand(30_000, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    share = torch.where(share < 0.4, torch.zeros_like(share), torch.where(share > 0.7, torch.ones_like(share), share))
    # The stage's logit z is such that z * ((1 - w) / 1.2 + w / 3.0) - 0.5 is the calibrated one.
    inverse = (1 - share) / 1.2 + share / 3.0
    leaning = (logits + torch.tensor([-0.25, 0.25], dtype=logits.dtype)) / inverse.unsqueeze(1)
    fitted = fit_load_calibration(leaning, labels, share)
    assert fitted.temperature == pytest.approx(1.2, rel=0.08)
    assert fitted.side_temperature == pytest.approx(3.0, rel=0.08)
    assert fitted.bias == pytest.approx(-0.5, abs=0.08)


def test_without_side_carried_calls_both_temperatures_agree():
    """No call rests on the side strip: nothing says its temperature differs, and the prior ties it
    to the shadow's (a handful of side-carried calls would otherwise set it)."""
    logits, labels = calibrated_sample(5_000, seed=5)
    fitted = fit_load_calibration(logits * 2.0, labels, torch.zeros(5_000, dtype=torch.float64))
    assert fitted.temperature == pytest.approx(2.0, rel=0.08)
    assert fitted.side_temperature == pytest.approx(fitted.temperature, rel=1e-3)


def test_fit_recovers_how_sureness_runs_with_gsd():
    """Calls under-confident at 0.3 m, over-confident at 3 m, 1 / T linear in log GSD: the fit
    finds the temperature at 1 m and the slope, and leaves the side strip's tied to it."""
    count = 30_000
    logits, labels = calibrated_sample(count, seed=8)
    gsd = torch.exp(torch.empty(count, dtype=torch.float64).uniform_(math.log(0.3), math.log(3.0),
                                                                    generator=torch.Generator().manual_seed(9)))
    inverse = 1.0 / 1.3 - 0.4 * torch.log(gsd)
    fitted = fit_load_calibration(logits / inverse.unsqueeze(1), labels, torch.zeros(count, dtype=torch.float64), gsd)
    assert fitted.temperature == pytest.approx(1.3, rel=0.06)
    assert fitted.gsd_slope == pytest.approx(-0.4, abs=0.05)
    assert fitted.side_temperature == pytest.approx(fitted.temperature, rel=1e-3)
    assert fitted.bias == pytest.approx(0.0, abs=0.05)


def test_tankers_at_one_gsd_leave_the_slope_at_zero():
    """At one GSD the slope and the temperatures trade off; its prior keeps it at 0 and the
    temperature carries the over-confidence, as a fit without GSDs finds it."""
    logits, labels = calibrated_sample(5_000, seed=10)
    gsd = torch.full((5_000,), 0.5, dtype=torch.float64)
    fitted = fit_load_calibration(logits * 2.0, labels, None, gsd)
    assert abs(fitted.gsd_slope) < 0.02
    assert 1.0 / fitted.temperature + fitted.gsd_slope * math.log(0.5) == pytest.approx(0.5, rel=0.08)


def test_a_calibrated_stage_is_left_as_it_is():
    logits, labels = calibrated_sample(20_000, seed=1)
    fitted = fit_load_calibration(logits, labels)
    assert fitted.temperature == pytest.approx(1.0, rel=0.05) and fitted.bias == pytest.approx(0.0, abs=0.05)


def test_too_few_tankers_leave_the_logits_alone():
    logits, labels = calibrated_sample(MIN_SAMPLES - 1)
    assert fit_load_calibration(logits * 5.0 + 2.0, labels) == LoadCalibration(1.0, 0.0, 1.0, 0.0)


def test_one_load_state_only_keeps_the_bias_finite():
    """A validation split of empties only: without the bias's prior the fit would push it to the
    end of its range, where every later call would be "empty"."""
    logits, _ = calibrated_sample(200, seed=2)
    fitted = fit_load_calibration(logits, torch.zeros(200, dtype=torch.long))
    assert -4.0 < fitted.bias < 0.0


def test_head_divides_by_temperature_in_eval_only():
    torch.manual_seed(0)
    head = HullWindowHead(3, box_jitter=False).eval()
    x = torch.randn(1, 3, 128, 128)
    boxes = torch.tensor([[[64.0, 64.0, 80.0, 14.0, 0.3], [40.0, 50.0, 60.0, 10.0, -1.0]]])
    raw = head(x, boxes)
    head.log_temperature.fill_(math.log(2.0))
    torch.testing.assert_close(head(x, boxes), raw / 2.0)
    torch.testing.assert_close(head(x, boxes, calibrated=False), raw)
    assert torch.equal(head(x, boxes).argmax(-1), raw.argmax(-1))
    assert "log_temperature" in head.state_dict()  # travels in checkpoints and the exported graph


def _laplace(count: int, scale: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    uniform = torch.rand(count, generator=generator, dtype=torch.float64) - 0.5
    return -scale * torch.sign(uniform) * torch.log1p(-2.0 * uniform.abs())


def test_cue_scale_factor_is_what_the_errors_say():
    """Scales that claim twice the error a cue makes come back with a factor of 0.5."""
    generator = torch.Generator().manual_seed(3)
    claimed = 0.01 + 0.09 * torch.rand(20_000, generator=generator, dtype=torch.float64)
    errors = _laplace(20_000, 0.5 * claimed, generator)
    assert math.exp(fit_cue_scale_factor(errors.abs() / claimed)) == pytest.approx(0.5, rel=0.03)
    assert fit_cue_scale_factor(errors[:MIN_SAMPLES - 1].abs() / claimed[:MIN_SAMPLES - 1]) is None


def _labelled_tankers(count: int, seed: int, shadow_error: float, with_widths: bool = True) -> LabelledReadings:
    """Tankers at 0.5-2 m whose read shadows err by ``shadow_error`` x the scale the stage claims
    (side strips exactly as claimed), every fifth shadow off the water, with random loads."""
    generator = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    truth = torch.stack([0.05 + 0.3 * rand(count), 0.01 + 0.08 * rand(count)], dim=1)
    claimed = torch.stack([torch.full((count,), 0.04), torch.full((count,), 0.01)], dim=1)
    errors = torch.stack([_laplace(count, shadow_error * claimed[:, 0].double(), generator),
                          _laplace(count, claimed[:, 1].double(), generator)], dim=1).float()
    cues = truth.clone()
    cues[::5, 0] = UNREADABLE
    if not with_widths:
        cues[:] = IGNORE
    boxes = torch.stack([100 + 50 * rand(count), 100 + 50 * rand(count), 80 + 60 * rand(count),
                         12 + 8 * rand(count), 3 * rand(count)], dim=1)
    view = torch.tensor([[1.0, 35.0, 150.0, 15.0, 60.0]]).repeat(count, 1)
    view[:, 0] = 0.5 + 1.5 * rand(count)
    return LabelledReadings(torch.cat([truth + errors, claimed], dim=1), boxes, view,
                            (rand(count) < 0.5).long(), torch.full((count,), -1.0), cues)


def test_stage_calibration_fits_each_cue_then_the_logit():
    model = build_detector(backbone="tiny", fpn_channels=16, head_channels=16, top_k=8).eval()
    with torch.no_grad():
        fitted = fit_stage_calibration(model, _labelled_tankers(2_000, seed=4, shadow_error=0.5))
    assert math.exp(fitted.cue_scale_log[0]) == pytest.approx(0.5, rel=0.06)
    assert math.exp(fitted.cue_scale_log[1]) == pytest.approx(1.0, rel=0.06)
    assert fitted.cue_readings == (1_600, 2_000) and fitted.tankers == 2_000  # off-water shadows left out
    head = model.load_head
    assert torch.allclose(head.cue_scale_log, torch.tensor(fitted.cue_scale_log, dtype=torch.float32))
    assert float(head.log_temperature.exp()) == pytest.approx(fitted.load.temperature)
    assert float(head.gsd_temperature_slope) == pytest.approx(fitted.load.gsd_slope, abs=1e-6)
    # Labels without drawn widths (real imagery) refit the logit and keep the factors as they are.
    with torch.no_grad():
        again = fit_stage_calibration(model, _labelled_tankers(200, seed=5, shadow_error=2.0, with_widths=False))
    assert again.cue_scale_log == pytest.approx(fitted.cue_scale_log) and again.cue_readings == (0, 0)


def test_calibration_spread_narrows_with_more_tankers_and_leaves_the_fit():
    """Refitted on resamples, the temperatures and the slope spread around the full set's fit, the
    temperature less on ten times the tankers; the detector keeps the full set's calibration."""
    model = build_detector(backbone="tiny", fpn_channels=16, head_channels=16, top_k=8).eval()
    spreads = []
    for count in (200, 2_000):
        labelled = _labelled_tankers(count, seed=6, shadow_error=1.0)
        with torch.no_grad():
            logits, _ = labelled.read(model, calibrated=False)
            loaded = torch.sigmoid((logits[:, 1] - logits[:, 0]) / 2.0)  # loads drawn as T = 2 would call them
            draws = torch.rand(count, generator=torch.Generator().manual_seed(7))
            labelled = replace(labelled, loads=(draws < loaded).long())
            fitted = fit_stage_calibration(model, labelled)
            spread = calibration_spread(model, labelled, fitted, draws=20)
        (low, high), (side_low, side_high) = spread["temperature"], spread["side_temperature"]
        assert low < fitted.load.temperature < high
        assert side_low < fitted.load.side_temperature < side_high
        assert spread["gsd_slope"][0] < fitted.load.gsd_slope < spread["gsd_slope"][1]
        assert float(model.load_head.log_temperature.exp()) == pytest.approx(fitted.load.temperature)
        spreads.append(high / low)
    assert spreads[1] < spreads[0]
