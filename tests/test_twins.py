"""Twins (train/twins.py): images rendered again without one cue, matched, cut and read under the
same draws as the images, and the loss on the difference of the two readings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tankerwatch.infer.core.errors import ConfigError  # noqa: E402
from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType  # noqa: E402
from tankerwatch.infer.runtime.scaling import Scaling  # noqa: E402
from tankerwatch.models.hull_profile import PROFILE_ROWS  # noqa: E402
from tankerwatch.train.datasets import SceneSource, TrainCrops, collate_train  # noqa: E402
from tankerwatch.train.losses import twin_loss  # noqa: E402
from tankerwatch.train.twins import (  # noqa: E402
    check_twin_manifest,
    frozen_batch_statistics,
    match_twins,
    same_draws,
)

TANKER_BOX = [450.0, 120.0, 40.0, 8.0, 0.0]


def _port(folder: Path, name: str, hull_value: int, box=TANKER_BOX) -> LabelledImage:
    """A 600 px image at 2 m with one tanker (drawn widths 8 m and 4 m) painted ``hull_value``."""
    from PIL import Image

    array = np.full((600, 600, 3), 20, np.uint8)
    array[116:124, 430:470] = hull_value
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(folder / name)
    vessel = Vessel(list(box), VesselType.TANKER, LoadState.EMPTY, shadow_width_m=8.0, side_strip_m=4.0)
    return LabelledImage(folder / name, 600, 600, 2.0, [vessel])


def _source(image: LabelledImage, twins: dict[int, LabelledImage] | None = None) -> SceneSource:
    return SceneSource.open(image, Scaling(method="fixed", value_range=(0, 255))).with_twins(twins or {})


def test_twin_loss_teaches_the_difference_of_the_readings_where_the_twin_and_the_width_are_known():
    readings = torch.zeros(1, 3, 4, requires_grad=True)
    twins = {0: torch.zeros(1, 3, 4, requires_grad=True), 1: torch.zeros(1, 3, 4, requires_grad=True)}
    with torch.no_grad():
        readings[0, :, 0] = torch.tensor([0.30, 0.50, 0.90])
        twins[0][0, :, 0] = torch.tensor([0.10, 0.00, 0.00])
    truth = torch.tensor([[[0.25, 0.1], [-1.0, 0.1], [0.4, 0.1]]])  # the second hull's shadow is unknown
    known = {0: torch.tensor([[True, True, False]]), 1: torch.tensor([[False, False, False]])}  # no side twin
    loss = twin_loss(readings, twins, truth, known)
    assert loss.item() == pytest.approx(abs(0.30 - 0.10 - 0.25))  # the one hull with both known
    loss.backward()
    assert readings.grad[0, 0, 0] == -1.0 and twins[0].grad[0, 0, 0] == 1.0  # read 0.05 short
    assert readings.grad[0, 1:].abs().sum() == 0 and readings.grad[..., 1].abs().sum() == 0
    assert twin_loss(readings, twins, truth, {cue: torch.zeros_like(k) for cue, k in known.items()}).item() == 0.0


def test_twins_are_matched_by_file_name_size_and_boxes(tmp_path):
    images = [_port(tmp_path / "tiles", "a.png", 220)]
    twins = [_port(tmp_path / "noshadow", "b.png", 200), _port(tmp_path / "noshadow", "a.png", 200)]
    assert match_twins(images, twins, tmp_path / "noshadow", "data.train") == [twins[1]]
    with pytest.raises(ConfigError, match=r"no twin of .*a\.png"):
        match_twins(images, twins[:1], tmp_path / "noshadow", "data.train")
    moved = _port(tmp_path / "other", "a.png", 200, box=[300.0, 120.0, 40.0, 8.0, 0.0])
    with pytest.raises(ConfigError, match=r"other/a\.png is not the twin of .*tiles/a\.png"):
        match_twins(images, [moved], tmp_path / "other", "data.train")


def test_a_synth_twin_must_not_draw_the_cue_it_is_named_for(tmp_path):
    split = tmp_path / "noshadow" / "train"
    split.mkdir(parents=True)
    check_twin_manifest(split, 0, "data.train")  # no manifest: trusted
    (tmp_path / "noshadow" / "manifest.json").write_text(json.dumps({"parameters": {"cues": ["side", "bow"]}}))
    check_twin_manifest(split, 0, "data.train")
    with pytest.raises(ConfigError, match="draws the side"):
        check_twin_manifest(split, 1, "data.train")


def test_a_twin_of_another_size_is_refused(tmp_path):
    from PIL import Image

    image = _port(tmp_path / "tiles", "a.png", 220)
    twin = _port(tmp_path / "noshadow", "a.png", 200)
    Image.fromarray(np.zeros((500, 600, 3), np.uint8)).save(twin.image_path)
    with pytest.raises(ConfigError, match=r"noshadow/a\.png: 600 x 500 px"):
        _source(image, {0: twin})


def test_load_crops_carry_their_twins_cut_at_the_same_place(tmp_path):
    """Each load crop's twin is the same window of the twin image (painted apart here); a crop
    whose image has no twin of a cue carries itself there, marked unknown; without twins anywhere,
    no twin keys."""
    own = _source(_port(tmp_path / "tiles", "a.png", 220), {0: _port(tmp_path / "noshadow", "a.png", 90)})
    plain = _source(_port(tmp_path / "tiles", "b.png", 220))
    crops = TrainCrops([own, plain], crop_size=64, stride=4, samples_per_epoch=4, seed=3, load_crops=4)
    seen = set()
    for key in range(4):
        item = crops[key]
        assert item["load_twins"].shape == (4, 2, 3, 64, 64)
        for crop, twins, known in zip(item["load_image"], item["load_twins"], item["load_twin_known"], strict=True):
            assert crop[:, 28:36, 12:52].eq(220).all()
            assert torch.equal(twins[1], crop) and not known[1]  # no image has a twin without the side
            if known[0]:
                assert twins[0][:, 28:36, 12:52].eq(90).all() and torch.equal(twins[0][:, :20], crop[:, :20])
            else:
                assert torch.equal(twins[0], crop)
            seen.add(bool(known[0]))
    assert seen == {True, False}
    alone = TrainCrops([plain], crop_size=64, stride=4, samples_per_epoch=1, load_crops=2)
    assert "load_twins" not in alone[0]


def test_the_twins_are_read_under_the_crops_draws_and_stay_out_of_the_running_statistics(tmp_path):
    """A twin identical to its crop reads exactly as the crop (the same jitter, flips and dropped
    angles), and the step's batch-norm running statistics and draws are those of a step without
    twins."""
    from tankerwatch.train.lightning_module import TankerwatchModule

    image = _port(tmp_path / "tiles", "a.png", 220)
    twin = _port(tmp_path / "copy", "a.png", 220)
    steps = {}
    for name, source in (("twins", _source(image, {0: twin, 1: twin})), ("plain", _source(image))):
        torch.manual_seed(0)  # the same initial weights
        module = TankerwatchModule(backbone="tiny", fpn_channels=16, head_channels=16, top_k=20)
        module.model.train()
        head = module.model.load_head
        head.draws = torch.Generator().manual_seed(5)
        crops = TrainCrops([source], crop_size=64, stride=4, samples_per_epoch=2, seed=1, load_crops=3)
        batch = collate_train([crops[k] for k in range(2)])
        empty = {"cue_readings": torch.zeros(1, 0, 4), "cue_marks": torch.zeros(1, 0, 2, PROFILE_ROWS),
                 "cue_edges": torch.zeros(1, 0, 2)}
        maps, targets = module._with_load_crops(empty, {"window_cues": torch.zeros(1, 0, 2)}, batch)
        steps[name] = (maps, targets, {k: v.clone() for k, v in head.state_dict().items()},
                       torch.rand(3, generator=head.draws))
    maps, targets, statistics, draws = steps["twins"]
    for cue in (0, 1):
        torch.testing.assert_close(maps["twin_readings"][cue], maps["twin_base_readings"], rtol=0, atol=0)
    for cue in (0, 1):
        known = targets["twin_known"][cue]
        assert known.any() and known.shape == maps["twin_base_readings"].shape[:2]
    torch.testing.assert_close(maps["cue_readings"], steps["plain"][0]["cue_readings"], rtol=0, atol=0)
    for name, value in statistics.items():
        torch.testing.assert_close(value, steps["plain"][2][name], rtol=0, atol=0, msg=name)
    assert torch.equal(draws, steps["plain"][3])


def test_same_draws_and_frozen_statistics_put_back_what_they_found():
    generator = torch.Generator().manual_seed(1)
    with same_draws(generator):
        inside = torch.rand(4, generator=generator)
    assert torch.equal(torch.rand(4, generator=generator), inside)
    with same_draws(None):
        inside = torch.rand(4)
    assert torch.equal(torch.rand(4), inside)

    norm = torch.nn.BatchNorm1d(3).train()
    with frozen_batch_statistics(torch.nn.Sequential(norm)):
        out = norm(torch.randn(8, 3) + 5.0)
    assert torch.equal(norm.running_mean, torch.zeros(3)) and norm.num_batches_tracked == 0
    assert out.mean().abs() < 1e-5  # still normalised by the batch's own statistics
