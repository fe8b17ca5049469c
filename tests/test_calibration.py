"""Temperature scaling of the load stage: the fit recovers a known over-confidence, and the head
applies the temperature only where it should."""

import math

import pytest

torch = pytest.importorskip("torch")

from tankerwatch.models.hull_window import HullWindowHead  # noqa: E402
from tankerwatch.train.calibration import MIN_SAMPLES, fit_temperature  # noqa: E402


def calibrated_sample(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose softmax is the true probability of the labels drawn from it."""
    generator = torch.Generator().manual_seed(seed)
    margin = torch.randn(count, generator=generator, dtype=torch.float64) * 2.0
    labels = (torch.rand(count, generator=generator, dtype=torch.float64) < torch.sigmoid(margin)).long()
    logits = torch.stack([torch.zeros_like(margin), margin], dim=1)
    return logits, labels


@pytest.mark.parametrize("over_confidence", [0.5, 1.0, 3.0])
def test_fit_recovers_the_scale_of_the_logits(over_confidence):
    logits, labels = calibrated_sample(20_000)
    fitted = fit_temperature(logits * over_confidence, labels)
    assert fitted == pytest.approx(over_confidence, rel=0.08)


def test_too_few_tankers_leave_the_temperature_at_one():
    logits, labels = calibrated_sample(MIN_SAMPLES - 1)
    assert fit_temperature(logits * 5.0, labels) == 1.0


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
