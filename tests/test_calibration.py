"""Calibration of the load stage (temperature and bias): the fit recovers a known over-confidence
and lean, and the heads apply their calibration only where they should."""

import math

import pytest

torch = pytest.importorskip("torch")

from tankerwatch.models.hull_window import HullWindowHead  # noqa: E402
from tankerwatch.train.calibration import MIN_SAMPLES, LoadCalibration, fit_load_calibration  # noqa: E402


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


def test_a_calibrated_stage_is_left_as_it_is():
    logits, labels = calibrated_sample(20_000, seed=1)
    fitted = fit_load_calibration(logits, labels)
    assert fitted.temperature == pytest.approx(1.0, rel=0.05) and fitted.bias == pytest.approx(0.0, abs=0.05)


def test_too_few_tankers_leave_the_logits_alone():
    logits, labels = calibrated_sample(MIN_SAMPLES - 1)
    assert fit_load_calibration(logits * 5.0 + 2.0, labels) == LoadCalibration(1.0, 0.0)


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
