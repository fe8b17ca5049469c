"""The load stage's width weights (train/rarity.py) and the weighted cue losses they feed."""

import pytest

torch = pytest.importorskip("torch")

from tankerwatch.train.losses import cue_mark_loss, cue_width_loss  # noqa: E402
from tankerwatch.train.rarity import WidthRarity  # noqa: E402


def _training_widths(common: float, rare: float, n_common: int, n_rare: int) -> torch.Tensor:
    shadow = torch.tensor([common] * n_common + [rare] * n_rare)
    return torch.stack([shadow, torch.full_like(shadow, 0.03)], dim=-1)  # [M, 2]


def test_a_rare_width_weighs_more_than_a_common_one_and_unknown_widths_weigh_one():
    rarity = WidthRarity(power=0.5).train()
    widths = _training_widths(0.1, 0.6, 900, 25)
    rarity(widths, widths >= 0)
    probe = torch.tensor([[0.1, 0.03], [0.6, 0.03], [-1.0, -1.0]])
    weights = rarity.eval()(probe, probe >= 0)
    assert weights[0, 0] == pytest.approx(1.0, abs=0.05)
    # The smoothed density ratio is about 900 / 25: the rare width weighs about its square root.
    assert 3.0 < float(weights[1, 0]) < 7.0
    assert weights[2].tolist() == [1.0, 1.0]
    assert weights[0, 1] == weights[1, 1]


def test_only_training_counts_widths_and_the_cap_bounds_the_weight():
    rarity = WidthRarity(power=1.0, cap=4.0)
    widths = _training_widths(0.1, 0.9, 500, 1)
    rarity.eval()(widths, widths >= 0)
    assert float(rarity.counts.sum()) == 0.0
    rarity.train()(widths, widths >= 0)
    assert float(rarity.counts.sum()) == 2 * len(widths)
    probe = torch.tensor([[0.9, 0.03]])
    assert float(rarity.eval()(probe, probe >= 0)[0, 0]) == 4.0


def test_power_zero_weighs_every_width_alike():
    rarity = WidthRarity(power=0.0).train()
    widths = _training_widths(0.1, 0.6, 90, 2)
    assert torch.equal(rarity(widths, widths >= 0), torch.ones_like(widths))


def test_counts_travel_in_the_state_dict():
    rarity = WidthRarity().train()
    widths = _training_widths(0.2, 0.5, 10, 3)
    rarity(widths, widths >= 0)
    copy = WidthRarity()
    copy.load_state_dict(rarity.state_dict())
    assert torch.equal(copy.counts, rarity.counts)


@pytest.mark.parametrize("loss", ["widths", "marks"])
def test_a_zero_weight_takes_a_width_out_of_the_loss(loss):
    generator = torch.Generator().manual_seed(0)
    truth = torch.tensor([[[0.3, 0.05], [0.6, 0.02]]])
    readings = torch.rand(1, 2, 4, generator=generator) * 0.5 + 0.05
    marks = torch.rand(1, 2, 2, 128, generator=generator).clamp(0.01, 0.99)
    edges = torch.tensor([[[46.0, 82.0], [46.0, 82.0]]])

    def value(truth, weights=None):
        if loss == "widths":
            return float(cue_width_loss(readings, truth, weights=weights))
        return float(cue_mark_loss(marks, edges, truth, weights=weights))

    first_only = truth.clone()
    first_only[0, 1] = -1.0
    weights = torch.tensor([[[2.0, 2.0], [0.0, 0.0]]])
    assert value(truth, weights) == pytest.approx(value(first_only))
    assert value(truth, torch.ones(1, 2, 2)) == pytest.approx(value(truth))
    assert value(truth, torch.tensor([[[1.0, 1.0], [5.0, 5.0]]])) != pytest.approx(value(truth))
