"""Target encoding, partial labels, loss masking and crops: the training logic a run cannot show."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tankerwatch.infer.core.labels import LabelledImage, LoadState, Vessel, VesselType  # noqa: E402
from tankerwatch.infer.runtime.scaling import Scaling  # noqa: E402
from tankerwatch.models.decode import decode_boxes, decode_maps  # noqa: E402
from tankerwatch.models.hull_profile import PROFILE_ROWS  # noqa: E402
from tankerwatch.train.augment import AugmentConfig  # noqa: E402
from tankerwatch.train.datasets import SceneSource, TrainCrops, WholeImages  # noqa: E402
from tankerwatch.train.losses import LossWeights, box_kld_loss, detection_loss, quality_loss  # noqa: E402
from tankerwatch.train.targets import (  # noqa: E402
    IGNORE,
    MAX_WINDOW_BOXES,
    VesselTargets,
    encode_targets,
    hull_window_targets,
    vessel_classes,
)


def _maps_from_targets(targets: dict) -> dict:
    """The maps a perfect network would output for ``targets``."""
    heat = torch.from_numpy(targets["heatmap"])[None]
    logits = torch.where(heat >= 1.0, torch.tensor(8.0), torch.logit(heat.clamp(1e-4, 0.9)))
    type_map = torch.from_numpy(targets["type"])[None]
    type_logits = torch.stack([(type_map == 0).float() * 6, (type_map == 1).float() * 6], dim=1)
    return {"heatmap": logits, "reg": torch.from_numpy(targets["reg"])[None], "type_logits": type_logits}


@pytest.mark.parametrize("stride", [2, 4])
def test_encoding_then_decoding_returns_the_boxes(stride):
    boxes = np.array([[40.3, 22.7, 30.0, 6.0, 0.7], [17.0, 50.2, 9.0, 4.0, -1.2], [70.1, 70.9, 4.0, 3.0, 0.1]])
    targets = encode_targets(VesselTargets(boxes, np.array([0, 1, 0]), np.array([1, IGNORE, 0])), 96, 96, stride)
    no_window_evidence = lambda b, keep: (*(torch.zeros(*b.shape[:2], 2),) * 2, *(torch.zeros(*b.shape[:2], 3),) * 2)  # noqa: E731
    out_boxes, scores, type_probs, _, count, *_ = decode_maps(_maps_from_targets(targets), 96, 96, stride, 10, 0.5,
                                                          window_logits_fn=no_window_evidence)
    assert int(count[0]) == 3
    got = out_boxes[0, :3].double().numpy()
    order = np.argsort(got[:, 0])
    np.testing.assert_allclose(got[order], boxes[np.argsort(boxes[:, 0])], atol=1e-4)
    assert targets["heatmap"].max() == 1.0 and targets["reg_weight"].sum() == pytest.approx(3)


def test_unknown_type_and_load_teach_nothing():
    vessels = [Vessel([10, 10, 20, 5, 0], VesselType.UNKNOWN), Vessel([40, 40, 20, 5, 0], VesselType.TANKER,
                                                                      LoadState.LOADED)]
    types, loads = vessel_classes(vessels, gsd_m=1.0, load_max_gsd_m=3.0)
    assert types.tolist() == [IGNORE, 0] and loads.tolist() == [IGNORE, 1]
    # Above load_max_gsd_m the load state is not in the pixels: masked even where labelled.
    assert vessel_classes(vessels, gsd_m=5.0, load_max_gsd_m=3.0)[1].tolist() == [IGNORE, IGNORE]


def _loss_inputs(types, loads, widths):
    boxes = np.array([[30.0, 30.0, 24.0, 6.0, 0.3]])
    targets = encode_targets(VesselTargets(boxes, np.array(types), np.array(loads)), 64, 64, 4)
    targets.update(hull_window_targets(boxes, np.array(types), np.array([widths], np.float32), 64))
    batch = {k: torch.from_numpy(v)[None] for k, v in targets.items()}
    maps = {"heatmap": torch.zeros(1, 1, 16, 16, requires_grad=True), "reg": torch.zeros(1, 6, 16, 16),
            "quality": torch.zeros(1, 1, 16, 16, requires_grad=True),
            "type_logits": torch.randn(1, 2, 16, 16, requires_grad=True),
            "window_type_logits": torch.randn(1, MAX_WINDOW_BOXES, 2, requires_grad=True),
            "cue_readings": torch.rand(1, MAX_WINDOW_BOXES, 4).add(0.1).requires_grad_(),
            "cue_marks": torch.rand(1, MAX_WINDOW_BOXES, 2, PROFILE_ROWS).clamp(0.05, 0.95).requires_grad_(),
            "cue_edges": torch.tensor([45.7, 82.3]).repeat(1, MAX_WINDOW_BOXES, 1)}
    return maps, batch


def test_masked_terms_have_no_gradient_and_labelled_terms_do():
    maps, batch = _loss_inputs([IGNORE], [IGNORE], [IGNORE, IGNORE])
    losses = detection_loss(maps, batch, LossWeights())
    losses["total"].backward()
    assert losses["type"] == 0 and losses["window_type"] == 0 and losses["cue_widths"] == 0
    assert losses["cue_marks"] == 0
    for name in ("type_logits", "window_type_logits", "cue_readings", "cue_marks"):
        assert torch.all(maps[name].grad == 0), name
    assert maps["heatmap"].grad.abs().sum() > 0

    maps, batch = _loss_inputs([0], [1], [0.6, 0.2])
    losses = detection_loss(maps, batch, LossWeights())
    losses["total"].backward()
    assert losses["cue_widths"] != 0 and losses["cue_marks"] > 0 and losses["window_type"] > 0
    # Only the one labelled box's outputs learn; the padding rows do not.
    for name in ("window_type_logits", "cue_readings", "cue_marks"):
        assert maps[name].grad[0, 0].abs().sum() > 0 and torch.all(maps[name].grad[0, 1:] == 0), name


def test_hull_windows_keep_measured_boxes_first_and_type_only_ones_after():
    # Box k at x = 10 k; odd ones are tankers with known cue widths, even ones other vessels of
    # known type, the last has neither label, and one lies outside the crop.
    count = MAX_WINDOW_BOXES + 4
    boxes = np.array([[10.0 * k + 5, 20.0, 8.0, 3.0, 0.0] for k in range(count)])
    boxes[3, 0] = -4.0
    types = np.array([0 if k % 2 else 1 for k in range(count)])
    widths = np.array([[k / 10, k / 20] if k % 2 else [IGNORE, IGNORE] for k in range(count)], np.float32)
    types[-1], widths[-1] = IGNORE, IGNORE
    out = hull_window_targets(boxes, types, widths, crop_size=400)
    measured_first = [k for k in range(count - 1) if k % 2 and k != 3]
    type_only = [k for k in range(count - 1) if not k % 2]
    expected = (measured_first + type_only)[:MAX_WINDOW_BOXES]
    np.testing.assert_allclose(out["window_boxes"][:, 0], boxes[expected, 0])
    np.testing.assert_allclose(out["window_cues"], widths[expected])
    assert out["window_type"].tolist() == types[expected].tolist()
    few = hull_window_targets(boxes[:2], types[:2], widths[:2], crop_size=400)
    assert few["window_type"].tolist() == [0, 1] + [IGNORE] * (MAX_WINDOW_BOXES - 2)
    np.testing.assert_allclose(few["window_cues"][:, 0], [0.1] + [IGNORE] * (MAX_WINDOW_BOXES - 1))


def test_crops_of_a_large_image_centre_on_vessels_and_keep_full_resolution(tmp_path):
    from PIL import Image

    size = 600
    array = np.full((size, size, 3), 20, np.uint8)
    box = [450.0, 120.0, 40.0, 8.0, 0.0]
    array[116:124, 430:470] = 220
    Image.fromarray(array).save(tmp_path / "big.png")
    image = LabelledImage(tmp_path / "big.png", size, size, 2.0, [Vessel(box, VesselType.TANKER, LoadState.EMPTY,
                                                                          shadow_width_m=8.0, side_strip_m=4.0)])
    source = SceneSource.open(image, Scaling(method="fixed", value_range=(0, 255)))
    crops = TrainCrops([source], crop_size=64, stride=4, samples_per_epoch=8, background_p=0.0,
                       scale_range=(1.0, 1.0), augment_config=AugmentConfig(enabled=False), seed=1)
    for k in range(4):
        item = crops[k]
        assert item["image"].shape == (3, 64, 64) and item["heatmap"].shape == (1, 16, 16)
        assert item["reg_weight"].sum() == pytest.approx(1)  # the vessel's centre is in every vessel-centred crop
        assert item["type"].max() == 0
        assert item["window_cues"][0].tolist() == pytest.approx([0.5, 0.25])  # box widths of 16 m
        assert item["window_type"].tolist()[0] == 0 and item["window_boxes"][0, 2] == pytest.approx(40.0)
        j, i = np.unravel_index(item["reg_weight"].numpy().argmax(), item["reg_weight"].shape)
        length = math.exp(item["reg"][2, j, i]) * 4
        assert length == pytest.approx(40.0, rel=1e-5)  # scale 1: the hull keeps its 40 px
        assert item["image"].max() == 220


def test_crops_teach_load_widths_only_where_the_load_is_visible(tmp_path):
    """A tanker's drawn shadow and side widths reach the load stage only from crops at or below
    ``load_max_gsd_m``: at 4 m (scale 1) they are unknown (-1), at 2 m they are given, in box widths."""
    from PIL import Image

    box = [50.0, 50.0, 40.0, 8.0, 0.0]
    Image.fromarray(np.full((100, 100, 3), 20, np.uint8)).save(tmp_path / "hull.png")
    scaling = Scaling(method="fixed", value_range=(0, 255))
    cues = {}
    for gsd in (2.0, 4.0):
        vessel = Vessel(box, VesselType.TANKER, LoadState.EMPTY, shadow_width_m=gsd * 4, side_strip_m=gsd * 2)
        source = SceneSource.open(LabelledImage(tmp_path / "hull.png", 100, 100, gsd, [vessel]), scaling)
        crops = TrainCrops([source], crop_size=64, stride=4, samples_per_epoch=2, background_p=0.0,
                           scale_range=(1.0, 1.0), augment_config=AugmentConfig(enabled=False), load_max_gsd_m=3.0)
        cues[gsd] = crops[0]["window_cues"][0].tolist()
    assert cues[2.0] == pytest.approx([0.5, 0.25]) and cues[4.0] == [-1.0, -1.0]


def _tanker_and_barge(folder: Path, gsd_m: float) -> SceneSource:
    """A 600 px image at ``gsd_m`` with a tanker (drawn widths 8 m and 4 m) and a barge."""
    from PIL import Image

    array = np.full((600, 600, 3), 20, np.uint8)
    array[116:124, 430:470] = 220
    array[396:404, 80:120] = 140
    Image.fromarray(array).save(folder / "port.png")
    vessels = [Vessel([450.0, 120.0, 40.0, 8.0, 0.0], VesselType.TANKER, LoadState.EMPTY, shadow_width_m=8.0,
                      side_strip_m=4.0),
               Vessel([100.0, 400.0, 40.0, 8.0, 0.0], VesselType.OTHER)]
    return SceneSource.open(LabelledImage(folder / "port.png", 600, 600, gsd_m, vessels),
                            Scaling(method="fixed", value_range=(0, 255)))


def test_load_crops_centre_on_measured_tankers_at_scale_one(tmp_path):
    """Each sample's load crops are cut around a tanker with known widths, at the image's own scale
    and unaugmented, with the widths in box widths; the detector's crop is the one it would be
    without them (its randomness is its own)."""
    source = _tanker_and_barge(tmp_path, 2.0)
    options = dict(crop_size=64, stride=4, samples_per_epoch=8, background_p=0.5, scale_range=(0.8, 1.25), seed=3)
    plain = TrainCrops([source], **options)
    with_load = TrainCrops([source], **options, load_crops=3)
    for key in range(8):
        item, reference = with_load[key], plain[key]
        assert all(torch.equal(item[k], reference[k]) for k in reference if k != "path")
        assert item["load_image"].shape == (3, 3, 64, 64)
        first = item["load_boxes"][:, 0]
        assert first.tolist() == [[32.0, 32.0, 40.0, 8.0, 0.0]] * 3  # centred, scale 1
        assert item["load_cues"][:, 0].tolist() == [[0.5, 0.25]] * 3  # 8 m and 4 m of a 16 m box width
        assert torch.all(item["load_cues"][:, 1:] == IGNORE)  # the barge is not in these crops
        assert item["load_image"][:, :, 28:36, 12:52].eq(220).all()  # the hull's pixels, untouched


def test_crops_carry_the_scene_geometry_of_the_hull_before_augmentation(tmp_path):
    """What the load stage's error scales read of the scene's angles is computed on the label box in
    the image's own frame (turns and flips of the crop change nothing: tests/test_freeboard.py), so
    every crop of a hull carries the same figures; an image without angles carries zeros."""
    from tankerwatch.models.freeboard import expected_cue_widths

    source = _tanker_and_barge(tmp_path, 0.5)
    angles = {"sun_elevation_deg": 30.0, "sun_azimuth_deg": 150.0, "view_zenith_deg": 20.0, "view_azimuth_deg": 80.0}
    source.image.angles = angles
    view = torch.tensor([[0.5, 30.0, 150.0, 20.0, 80.0]], dtype=torch.float64)
    hull = torch.from_numpy(np.asarray(source.image.vessels[0].box, np.float64)).reshape(1, 1, 5)
    expected = expected_cue_widths(hull, view)[0, 0].float()
    assert float(expected[:4].min()) > 0
    crops = TrainCrops([source], crop_size=64, stride=4, samples_per_epoch=8,
                       background_p=0.0, scale_range=(0.8, 1.25), seed=2, load_crops=2)
    seen = 0
    for key in range(8):
        item = crops[key]
        tankers = item["window_cues"][:, 0] >= 0
        seen += int(tankers.sum())
        torch.testing.assert_close(item["window_geometry"][tankers], expected.expand(int(tankers.sum()), 5))
        torch.testing.assert_close(item["load_geometry"][:, 0], expected.expand(2, 5))
    assert seen > 0
    # Above load_max_gsd_m as stored but enlarged below it by the crop: the widths teach, with the geometry.
    coarse = _tanker_and_barge(tmp_path, 3.5)
    coarse.image.angles = angles
    enlarged = TrainCrops([coarse], crop_size=64, stride=4, samples_per_epoch=8, background_p=0.0,
                          scale_range=(1.25, 1.25), augment_config=AugmentConfig(enabled=False), load_max_gsd_m=3.0)
    taught = [item for item in (enlarged[key] for key in range(8)) if item["window_cues"][0, 0] >= 0]
    assert taught and all(float(item["window_geometry"][0, 4]) == 1.0 for item in taught)
    source.image.angles = None
    without = TrainCrops([source], crop_size=64, stride=4, samples_per_epoch=2, background_p=0.0, load_crops=1)
    assert torch.equal(without[0]["window_geometry"], torch.zeros_like(without[0]["window_geometry"]))


def test_crops_say_which_side_of_each_hull_its_shadow_lies_on_after_turns_and_flips(tmp_path):
    """With the sun due north, the tanker's shadow strip (painted green) lies south of it; in every
    turned and mirrored crop, ``window_sides`` puts the shadow on the side of the box where the
    strip's pixels are, and the unturned load crops do too. Without angles: zeros."""
    from PIL import Image

    array = np.full((600, 600, 3), 20, np.uint8)
    array[116:124, 430:470] = 220
    array[124:129, 430:470] = (20, 200, 20)
    Image.fromarray(array).save(tmp_path / "port.png")
    hull = Vessel([450.0, 120.0, 40.0, 8.0, 0.0], VesselType.TANKER, LoadState.EMPTY, shadow_width_m=10.0,
                  side_strip_m=0.0)
    image = LabelledImage(tmp_path / "port.png", 600, 600, 2.0, [hull])
    image.angles = {"sun_elevation_deg": 30.0, "sun_azimuth_deg": 0.0, "view_zenith_deg": 10.0,
                    "view_azimuth_deg": 90.0}
    source = SceneSource.open(image, Scaling(method="fixed", value_range=(0, 255)))
    geometry_only = AugmentConfig(flip_p=0.5, rotate90_p=0.5, rotate_p=0.5, brightness_contrast_p=0, gamma_p=0,
                                  blur_p=0, noise_p=0, haze_p=0)
    crops = TrainCrops([source], crop_size=64, stride=4, samples_per_epoch=16, background_p=0.0,
                       scale_range=(1.0, 1.0), augment_config=geometry_only, seed=5, load_crops=1)

    def strip_side(picture: torch.Tensor, box: torch.Tensor) -> float:
        rows, cols = torch.nonzero(picture[1].int() - picture[0].int() > 90, as_tuple=True)
        offset = torch.stack([cols.float().mean() + 0.5 - box[0], rows.float().mean() + 0.5 - box[1]])
        return float(torch.sign(offset @ torch.stack([-torch.sin(box[4]), torch.cos(box[4])])))

    checked = 0
    for key in range(16):
        item = crops[key]
        if item["window_cues"][0, 0] < 0:
            continue
        assert float(item["window_sides"][0, 0]) == strip_side(item["image"], item["window_boxes"][0])
        assert float(item["load_sides"][0, 0, 0]) == strip_side(item["load_image"][0], item["load_boxes"][0, 0])
        assert torch.all(item["window_sides"][1:] == 0)
        checked += 1
    assert checked >= 8
    source.image.angles = None
    without = TrainCrops([source], crop_size=64, stride=4, samples_per_epoch=1, background_p=0.0, load_crops=1)
    assert not without[0]["window_sides"].any() and not without[0]["load_sides"].any()


def test_no_load_crops_without_a_tanker_whose_load_shows(tmp_path):
    source = _tanker_and_barge(tmp_path, 4.0)  # above load_max_gsd_m: its widths teach nothing
    crops = TrainCrops([source], crop_size=64, stride=4, samples_per_epoch=2, load_max_gsd_m=3.0, load_crops=2)
    assert "load_image" not in crops[0]


def test_load_crops_teach_the_load_stage_when_the_detector_crops_hold_no_widths(tmp_path):
    """The training step pools the load crops' profiles into the cue losses: with every width
    stripped from the detector's crops, the load stage still learns, and only through them."""
    from tankerwatch.train.datasets import collate_train
    from tankerwatch.train.lightning_module import TankerwatchModule

    source = _tanker_and_barge(tmp_path, 2.0)
    module = TankerwatchModule(backbone="tiny", fpn_channels=16, head_channels=16, top_k=20, window_repeats=2)
    module.log = lambda *args, **kwargs: None  # no trainer to log to
    stem = module.model.load_head.stem[0].weight
    gradients = {}
    for load_crops in (0, 2):
        crops = TrainCrops([source], crop_size=64, stride=4, samples_per_epoch=4, seed=1, load_crops=load_crops)
        batch = collate_train([crops[k] for k in range(4)])
        batch["window_cues"][:] = IGNORE
        module.zero_grad()
        module.training_step(batch, 0).backward()
        gradients[load_crops] = stem.grad.abs().sum().item() if stem.grad is not None else 0.0
    assert gradients[0] == 0.0 and gradients[2] > 0.0


def test_the_training_step_counts_each_known_width_once_for_its_weights(tmp_path):
    """The width weights (train/rarity.py) follow the widths the cue losses see: every known
    width of a step, from a detector crop or a load crop; a checkpoint from before the counts
    resumes with none."""
    from tankerwatch.train.datasets import collate_train
    from tankerwatch.train.lightning_module import TankerwatchModule

    source = _tanker_and_barge(tmp_path, 2.0)
    module = TankerwatchModule(backbone="tiny", fpn_channels=16, head_channels=16, top_k=20, window_repeats=1)
    module.log = lambda *args, **kwargs: None  # no trainer to log to
    crops = TrainCrops([source], crop_size=64, stride=4, samples_per_epoch=4, seed=1, load_crops=2)
    batch = collate_train([crops[k] for k in range(4)])
    known = int((batch["window_cues"] >= 0).sum() + (batch["load_cues"] >= 0).sum())
    assert known > 0
    module.training_step(batch, 0)
    assert float(module.cue_rarity.counts.sum()) == known
    assert module.cue_rarity.counts.dtype == torch.float64
    checkpoint = {"state_dict": {k: v for k, v in module.state_dict().items() if not k.startswith("cue_rarity")}}
    module.on_load_checkpoint(checkpoint)
    assert float(checkpoint["state_dict"]["cue_rarity.counts"].sum()) == 0.0


def _hull_image(folder: Path, name: str, gsd_m: float, box) -> LabelledImage:
    from PIL import Image

    array = np.full((100, 100, 3), 20, np.uint8)
    cx, cy, length, width, _ = box
    array[int(cy - width / 2):int(cy + width / 2), int(cx - length / 2):int(cx + length / 2)] = 220
    Image.fromarray(array).save(folder / name)
    return LabelledImage(folder / name, 100, 100, gsd_m, [Vessel(list(box), VesselType.OTHER)])


def test_images_coarser_than_the_cap_are_enlarged_for_crops_and_evaluation(tmp_path):
    """A 8 m image under ``upsample_above_gsd_m`` 4 is seen at 4 m: twice the pixels in training
    crops and in evaluation, mapped exactly (the enlarged hull divided by the factor is the label);
    a 2 m image is left alone."""
    box = (50.0, 40.0, 20.0, 6.0, 0.0)
    scaling = Scaling(method="fixed", value_range=(0, 255))
    coarse = SceneSource.open(_hull_image(tmp_path, "coarse.png", 8.0, box), scaling, upsample_above_gsd_m=4.0)
    fine = SceneSource.open(_hull_image(tmp_path, "fine.png", 2.0, box), scaling, upsample_above_gsd_m=4.0)
    assert coarse.upsample == 2.0 and fine.upsample == 1.0

    crops = TrainCrops([coarse], crop_size=64, stride=4, samples_per_epoch=4, background_p=0.0,
                       scale_range=(1.0, 1.0), augment_config=AugmentConfig(enabled=False), seed=1)
    item = crops[0]
    j, i = np.unravel_index(item["reg_weight"].numpy().argmax(), item["reg_weight"].shape)
    assert math.exp(item["reg"][2, j, i]) * 4 == pytest.approx(40.0, rel=1e-5)  # 20 px at 8 m -> 40 at 4 m

    whole = WholeImages([coarse, fine])
    enlarged, same = whole[0], whole[1]
    assert enlarged["image"].shape == (3, 200, 200) and enlarged["upsample"] == 2.0
    assert same["image"].shape == (3, 100, 100) and same["upsample"] == 1.0
    rows, cols = np.nonzero(enlarged["image"][0].numpy() > 120)
    found = np.array([(cols.min() + cols.max() + 1) / 2, (rows.min() + rows.max() + 1) / 2,
                      cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()]) / enlarged["upsample"]
    np.testing.assert_allclose(found, box[:4], atol=0.5)


def test_crops_depend_only_on_seed_epoch_and_index(tmp_path):
    from train_fixtures import make_images

    images = make_images(tmp_path, 3, size=96, seed=4)

    def crops():
        sources = [SceneSource.open(i, Scaling(method="fixed", value_range=(0, 255))) for i in images]
        return TrainCrops(sources, crop_size=64, stride=4, samples_per_epoch=5, seed=7)

    first, second = crops(), crops()
    for key in (7, 1, 12):  # any order: a resumed run or a worker asks for keys out of sequence
        a, b = first[key], second[key]
        assert all(torch.equal(a[k], b[k]) for k in a if k != "path") and a["path"] == b["path"]
    assert not torch.equal(first[1]["image"], first[6]["image"])  # epoch 1 index 1 differs from epoch 0


@pytest.mark.parametrize("centre", [(30.3, 29.1), (1.0, 94.9), (94.9, 2.2)])  # inside, and at corners
def test_every_regression_cell_decodes_its_vessel(centre):
    """The decoder may peak a cell off the true one: each cell carrying a target decodes the box."""
    box = np.array([[*centre, 22.0, 5.0, 0.4]])
    targets = encode_targets(VesselTargets(box, np.array([0]), np.array([0])), 96, 96, 4)
    weight = targets["reg_weight"]
    cells = np.argwhere(weight > 0)
    assert 4 <= len(cells) <= 9 and weight.sum() == pytest.approx(1.0)
    peak = np.unravel_index(targets["heatmap"][0].argmax(), weight.shape)
    assert weight[peak] == weight.max()
    reg = torch.from_numpy(targets["reg"])
    for j, i in cells:
        got = decode_boxes(reg[:, j, i][None], torch.tensor([float(i)]), torch.tensor([float(j)]), 4)[0]
        np.testing.assert_allclose(got.double().numpy(), box[0], atol=1e-4)


def test_vessels_side_by_side_keep_their_own_peak_cells():
    """Two hulls moored one cell apart share neighbour cells; each peak cell still decodes its own."""
    boxes = np.array([[40.0, 40.0, 60.0, 12.0, 0.0], [41.0, 45.0, 16.0, 4.0, 0.0]])
    targets = encode_targets(VesselTargets(boxes, np.array([0, 1]), np.array([0, IGNORE])), 96, 96, 4)
    assert targets["reg_weight"].sum() == pytest.approx(2.0)
    reg = torch.from_numpy(targets["reg"])
    for box in boxes:
        i, j = int(box[0] // 4), int(box[1] // 4)
        got = decode_boxes(reg[:, j, i][None], torch.tensor([float(i)]), torch.tensor([float(j)]), 4)[0]
        np.testing.assert_allclose(got.double().numpy(), box, atol=1e-4)
        assert targets["type"][j, i] == (0 if box[2] == 60.0 else 1)


def _one_cell_reg(dx, dy, length, width, angle):
    return torch.tensor([dx, dy, math.log(length), math.log(width), math.sin(2 * angle), math.cos(2 * angle)],
                        dtype=torch.float64).view(1, 6, 1, 1)


def test_box_kld_is_zero_for_the_same_box_written_any_way():
    """The same rectangle as (L, W, a), (L, W, a + pi) or (W, L, a + pi/2) costs nothing."""
    truth, weight = _one_cell_reg(0.2, -0.1, 3.0, 0.4, 0.3), torch.ones(1, 1, 1, dtype=torch.float64)
    for same in (truth, _one_cell_reg(0.2, -0.1, 3.0, 0.4, 0.3 + math.pi),
                 _one_cell_reg(0.2, -0.1, 0.4, 3.0, 0.3 + math.pi / 2)):
        assert float(box_kld_loss(same, truth, weight)) == pytest.approx(0.0, abs=1e-9)


def test_box_kld_weighs_a_miss_across_a_thin_hull_more_than_along_it():
    """What L1 on offsets cannot see: a tenth of a cell across a 0.4-cell-wide hull ruins its IoU,
    the same miss along its 3-cell length hardly matters."""
    angle, weight = 0.3, torch.ones(1, 1, 1, dtype=torch.float64)
    truth = _one_cell_reg(0.0, 0.0, 3.0, 0.4, angle)
    along = _one_cell_reg(0.1 * math.cos(angle), 0.1 * math.sin(angle), 3.0, 0.4, angle)
    across = _one_cell_reg(-0.1 * math.sin(angle), 0.1 * math.cos(angle), 3.0, 0.4, angle)
    loss_along, loss_across = float(box_kld_loss(along, truth, weight)), float(box_kld_loss(across, truth, weight))
    assert 0 < loss_along and loss_across > 10 * loss_along
    assert loss_across < 1.0  # squashed: bounded whatever the miss
    wild = _one_cell_reg(5.0, 5.0, 300.0, 0.01, 1.0).requires_grad_()
    loss = box_kld_loss(wild, truth, weight)
    loss.backward()
    assert float(loss) < 1.0 and torch.isfinite(wild.grad).all()


def test_quality_learns_the_iou_the_cell_box_reaches():
    """A box shifted half its length along the hull overlaps its truth by L/2 x W of a 1.5 L x W
    union: the quality loss is smallest where the predicted quality is that IoU, 1/3."""
    angle, weight = 0.4, torch.ones(1, 1, 1, dtype=torch.float64)
    truth = _one_cell_reg(0.0, 0.0, 2.0, 0.5, angle)
    shifted = _one_cell_reg(1.0 * math.cos(angle), 1.0 * math.sin(angle), 2.0, 0.5, angle)
    for pred, iou in ((shifted, 1 / 3), (truth, 1.0)):
        probs = torch.linspace(0.02, 0.98, 49, dtype=torch.float64)
        losses = [float(quality_loss(torch.logit(p).view(1, 1, 1, 1), pred, truth, weight)) for p in probs]
        assert float(probs[int(np.argmin(losses))]) == pytest.approx(min(iou, 0.98), abs=0.011)
    logits = torch.zeros(1, 1, 1, 1, dtype=torch.float64, requires_grad=True)
    quality_loss(logits, shifted.requires_grad_(), truth, weight).backward()
    assert shifted.grad is None  # the IoU target is a constant: no gradient into the boxes
