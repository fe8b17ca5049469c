"""Benchmark: the load stage alone, measuring freeboard from shadow and hull side with the scene's angles.

The load stage (``models/hull_profile.py``, then ``models/freeboard.py``) shares no weights with
the detector, so it can be studied in minutes: this trains a fresh stage on the true tanker boxes
of ``synth tiles`` (jittered as ``tankerwatch fit`` jitters them), supervised on the drawn widths
of shadow and hull side with the loss terms and weights ``tankerwatch fit`` uses, told as ``fit``
tells it which side of each box the shadow and the sensor are on (turned with ``--augment``'s
transforms), and prints every ``--every`` epochs, on the tankers of
held-out tiles, per GSD band: the laden fraction's mean absolute error and the share of truths
inside its 80 % interval, the freeboard's error in metres, load accuracy (all tankers, part-loaded
ones with draft fraction 0.3-0.7, and those not called uncertain), coverage (share not uncertain,
``load_uncertain_band`` 0.3-0.7), the ECE of ``p_loaded`` beside the ECE a perfectly calibrated
model with the same probabilities would show on as many tankers (its mean and 95th percentile over
drawn outcomes: the sampling floor the ECE is read against), and the same tankers read
geometry-free (angles withheld). ``--eval`` may be given several times, e.g. counterfactual
renders of the same seed (``synth tiles --cues shadow``): a switched-off cue is then fed as the
geometry that hides it (no side strip: nadir view; no shadow: sun overhead), which is what such an
image shows.
``--augment`` passes each training tile through ``tankerwatch fit``'s augmentation first
(train/augment.py, its defaults; ``--augment-set rotate_p=0`` changes one setting), and
``--fit-crops`` cuts it first as ``fit``'s sampler does (a window of crop size / scale around a
tanker, zero outside the tile, resized back), to see what each does to the stage. ``--checkpoint``
starts from the stage inside a ``tankerwatch fit`` checkpoint (``--epochs 0``: scores it as it is),
so the stage that ``fit`` trained is scored by the same scorer; ``p_loaded`` goes through the
stage's calibration (error scale factors, temperatures, bias) as in ``detect`` (fitted by ``fit``
on its validation split or by ``tankerwatch calibrate``; a stage trained here has none).
``--train`` may be given several times (the folders are pooled). ``--twins`` gives the training
tiles rendered again without one cue (the same ``synth tiles`` command with ``--cues side,bow``: no
hull shadows, or ``--cues shadow,bow``: no hull sides; the same seed draws the same world and
sensor; once per cue; ``train/twins.py``): each step then also reads every tanker in each twin, under the same box jitter and
draws, and pulls the difference of the two readings of the missing cue to its drawn width
(:func:`tankerwatch.train.losses.twin_loss`, weighted by ``--twin-weight``; one ``--train`` folder, no ``--augment`` or
``--fit-crops``). A shadow that lies on a quay or
another hull (the manifest's ``shadow_surface``) is taught as unreadable, as ``fit``
teaches it (``--ignore-shadow-surface``: with its width on the water instead), is left out of the
width errors, and the last evaluation prints the tankers with such shadows apart: load accuracy,
coverage and the share called confidently and wrongly; the same for the tankers whose reading rests
mostly on the shadow and on the side strip (:func:`tankerwatch.models.freeboard.side_share` over
or under 0.5). All figures are SYNTHETIC.

    .venv/bin/python bench/freeboard_stage.py --train TILES --eval OTHER_TILES [--eval CUES_TILES]
        [--epochs 30] [--budget-min M] [--every 5] [--repeats 4] [--threads 2] [--device cpu] [--seed 0] [--save STAGE.pt]
        [--augment [--augment-set KEY=VALUE ...]] [--fit-crops] [--checkpoint FIT.ckpt] [--ignore-shadow-surface]
        [--twins TILES_WITHOUT_A_CUE ... [--twin-weight 1]]

``TILES``: a ``synth tiles`` folder (its manifest gives every vessel's box, drawn widths and draft
and every tile's angles), e.g. ``tankerwatch synth tiles /tmp/fb/train --count 1600 --size 256
--gsd 0.4:2.5 --format coco --seed 1`` and the same with ``--count 400 --seed 11`` for evaluation.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, gpu_description  # noqa: E402

from tankerwatch.infer.core.boxes import normalize_boxes  # noqa: E402
from tankerwatch.infer.evaluation.metrics import calibrated_ece, expected_calibration_error  # noqa: E402
from tankerwatch.infer.runtime.scaling import Scaling  # noqa: E402
from tankerwatch.models import build_detector  # noqa: E402
from tankerwatch.models.detector import P_FLOOR  # noqa: E402
from tankerwatch.models.freeboard import (  # noqa: E402
    cue_directions,
    cue_gains,
    cue_sides,
    expected_cue_widths,
    load_outputs,
    side_share,
)
from tankerwatch.models.hull_profile import HullProfileHead  # noqa: E402
from tankerwatch.train.augment import AugmentConfig, augment, build_augmentation  # noqa: E402
from tankerwatch.train.checkpoint import load_checkpoint  # noqa: E402
from tankerwatch.train.datasets import window_origin  # noqa: E402
from tankerwatch.train.export import model_input  # noqa: E402
from tankerwatch.train.lightning_module import warmup_cosine  # noqa: E402
from tankerwatch.train.losses import LossWeights, cue_mark_loss, cue_width_loss, twin_loss  # noqa: E402
from tankerwatch.train.rarity import WidthRarity  # noqa: E402
from tankerwatch.train.targets import UNREADABLE  # noqa: E402
from tankerwatch.train.twins import BOX_TOLERANCE_PX, TWIN_CUES, frozen_batch_statistics, same_draws  # noqa: E402

CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "synthetic.yaml").read_text())
SCALING = Scaling.from_dict(CONFIG["data"]["scaling"])
BANDS = ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0))
UNCERTAIN = (0.3, 0.7)
PART_LOADED = (0.3, 0.7)
# Bands of the geometry's total gain (metres of visible width per metre of freeboard): how much the
# scene's angles let the widths say, printed with the last evaluation.
GAIN_BANDS = (0.0, 0.3, 0.6, 1.0, 2.0, math.inf)
# Bands of the true shadow width (box widths): a stage that reads every shadow as the typical one
# shows as a positive error on narrow shadows and a negative one on wide shadows.
SHADOW_BANDS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, math.inf)
WEIGHTS = LossWeights()


@dataclass
class Tile:
    image: torch.Tensor  # uint8 [1, C, H, W]
    boxes: torch.Tensor  # [1, K, 5] tankers' true boxes
    widths: torch.Tensor  # [1, K, 2] drawn shadow and side widths in box widths
    view: torch.Tensor  # [1, 5]
    drafts: np.ndarray
    freeboards: np.ndarray
    gsd_m: float
    off_water: np.ndarray  # [K] bool: the shadow lies on a structure or another hull (unreadable)
    geometry: torch.Tensor  # [1, K, GEOMETRY_FEATURES] of the unaugmented boxes (expected_cue_widths)
    record: dict = field(default_factory=dict)  # the tile's manifest entry (scene, optics, atmosphere)
    directions: torch.Tensor | None = None  # [1, 2, 2] cue_directions turned by augmentation; None: the view's

    def sides(self) -> torch.Tensor:
        """``[1, K, 2]``: which side of each box its shadow and visible side lie on (cue_sides)."""
        return cue_sides(self.boxes, cue_directions(self.view) if self.directions is None else self.directions)


def read_tiles(folder: Path, surfaces: bool = True) -> list[Tile]:
    """The tankers of a ``synth tiles`` folder; a shadow off the water is labelled
    :data:`UNREADABLE` unless ``surfaces`` is False (then with its width on the water, as labels
    were before they said where a shadow lies)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    cues = set(manifest["parameters"]["cues"])
    tiles = []
    for tile in manifest["tiles"]:
        tankers = [v for v in tile["vessels"] if v["kind"] == "tanker"]
        if not tankers:
            continue
        view = tile["view"]
        gsd = view["gsd_m"]
        boxes = normalize_boxes(np.array([v["box_px"] for v in tankers], dtype=np.float64))
        metres_per_width = boxes[:, 3] * gsd
        widths = np.stack([[v["shadow_width_m"] for v in tankers], [v["side_strip_m"] for v in tankers]], 1)
        widths = widths / metres_per_width[:, None]
        off_water = np.array([v.get("shadow_surface", "water") != "water" for v in tankers])
        if surfaces:
            widths[off_water, 0] = UNREADABLE
        # A switched-off cue is the geometry that hides it (module docstring).
        elevation = view["sun_elevation_deg"] if "shadow" in cues else 90.0
        zenith = view["view_zenith_deg"] if "side" in cues else 0.0
        row = torch.tensor([[gsd, elevation, view["sun_azimuth_deg"], zenith, view["view_azimuth_deg"]]],
                           dtype=torch.float32)
        boxes = torch.tensor(boxes, dtype=torch.float32)[None]
        tiles.append(Tile(torch.from_numpy(model_input(folder / tile["file"], SCALING))[None], boxes,
                          torch.tensor(widths, dtype=torch.float32)[None], row,
                          np.array([v["draft_fraction"] for v in tankers]),
                          np.array([v["freeboard_m"] for v in tankers]), gsd, off_water,
                          expected_cue_widths(boxes, row), tile))
    return tiles


def read_twin(folder: Path, train: list[Tile]) -> tuple[int, dict[str, torch.Tensor]]:
    """``(cue, images by file)`` of ``folder``, the training tiles rendered without one cue (0 the
    hulls' shadows, 1 their sides); ValueError unless it lacks exactly one of the two and its tiles
    are the training tiles' twins."""
    manifest = json.loads((folder / "manifest.json").read_text())
    drawn = manifest["parameters"]["cues"]
    missing = [cue for cue, name in enumerate(TWIN_CUES) if name not in drawn]
    if len(missing) != 1:
        raise ValueError(f"{folder}: a twin draws all cues but one (--cues side,bow or --cues shadow,bow)")
    twins = {tile.record["file"]: tile for tile in read_tiles(folder)}
    for tile in train:
        twin = twins.get(tile.record["file"])
        same = (twin is not None and twin.boxes.shape == tile.boxes.shape
                and torch.allclose(twin.boxes, tile.boxes, atol=BOX_TOLERANCE_PX))
        if not same:
            raise ValueError(f"{folder}: {tile.record['file']} is not the twin of the training tile; "
                             "render the twins with the training tiles' seed, count and size")
    return missing[0], {name: twin.image for name, twin in twins.items()}


def saved_stage(stage: Path | None = None, checkpoint: Path | None = None):
    """``(load stage in eval mode, the image preparation it reads)`` from weights written by
    ``--save`` or from a ``tankerwatch fit`` checkpoint, for the benches that score a trained stage."""
    if checkpoint is not None:
        detector, _ = load_checkpoint(checkpoint)
        return detector.load_head.eval(), detector._prepare
    detector = build_detector(backbone="tiny", in_channels=CONFIG["model"]["in_channels"])
    head = HullProfileHead(detector.in_channels)
    weights = torch.load(stage, weights_only=True)
    # Files saved before the scale factors, the side strip's temperature or the GSD slope existed
    # lack those buffers; a stage trained here is never calibrated, so the identity it starts at is
    # what such a file means.
    for name in ("cue_scale_log", "log_side_temperature", "gsd_temperature_slope"):
        weights.setdefault(name, getattr(head, name).clone())
    head.load_state_dict(weights)
    return head.eval(), detector._prepare


def augmented(tile: Tile, pipeline) -> Tile:
    """``tile`` through the training augmentation; the widths are in box widths, so they stay."""
    directions = (cue_directions(tile.view) if tile.directions is None else tile.directions)[0].numpy()
    image, boxes, directions = augment(pipeline, tile.image[0].permute(1, 2, 0).numpy(), tile.boxes[0].numpy(),
                                       directions)
    return Tile(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None],
                torch.tensor(normalize_boxes(boxes), dtype=torch.float32)[None], tile.widths, tile.view,
                tile.drafts, tile.freeboards, tile.gsd_m, tile.off_water, tile.geometry,
                directions=torch.tensor(directions, dtype=torch.float32)[None])


def cropped_like_fit(tile: Tile, rng: np.random.Generator) -> Tile:
    """``tile`` cut as train/datasets.py cuts a training crop of the tile's own size: a window of
    side ``size / scale`` (scale log-uniform in the config's ``scale_range``) centred near a random
    tanker, zero where it leaves the tile, resized back; the tankers whose centre it holds."""
    _, channels, height, width = tile.image.shape
    low, high = CONFIG["data"]["scale_range"]
    side = max(8, round(height / math.exp(rng.uniform(math.log(low), math.log(high)))))
    centre = tile.boxes[0, rng.integers(tile.boxes.shape[1]), :2].numpy() + rng.uniform(-0.35, 0.35, 2) * side
    col, row = window_origin(centre[0], width, side), window_origin(centre[1], height, side)
    window = np.zeros((side, side, channels), np.uint8)
    r0, c0, r1, c1 = max(row, 0), max(col, 0), min(row + side, height), min(col + side, width)
    window[r0 - row:r1 - row, c0 - col:c1 - col] = tile.image[0, :, r0:r1, c0:c1].permute(1, 2, 0).numpy()
    factor = height / side
    image = cv2.resize(window, (width, height), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    boxes = tile.boxes[0].clone()
    boxes[:, 0], boxes[:, 1] = (boxes[:, 0] - col) * factor, (boxes[:, 1] - row) * factor
    boxes[:, 2:4] *= factor
    kept = ((boxes[:, 0] >= 0) & (boxes[:, 0] < width) & (boxes[:, 1] >= 0) & (boxes[:, 1] < height)).numpy()
    image = torch.from_numpy(np.ascontiguousarray(image.reshape(height, width, channels))).permute(2, 0, 1)[None]
    return Tile(image, boxes[kept][None], tile.widths[:, kept], tile.view, tile.drafts[kept], tile.freeboards[kept],
                tile.gsd_m, tile.off_water[kept], tile.geometry[:, kept])


def batches(tiles: list[Tile], size: int, rng: np.random.Generator, pipeline=None, fit_crops: bool = False,
            twins: dict[int, dict[str, torch.Tensor]] | None = None):
    """Training batches ``(images, boxes, widths, geometry, valid, sides, twin images)``; ``twins``
    maps a cue (0 shadow, 1 side) to the images, by tile file, rendered without it (:func:`read_twin`)."""
    order = rng.permutation(len(tiles))
    for start in range(0, len(order), size):
        chosen = [tiles[i] for i in order[start:start + size]]
        if fit_crops:
            chosen = [cropped_like_fit(t, rng) for t in chosen]
        if pipeline is not None:
            chosen = [augmented(t, pipeline) for t in chosen]
        k = max(t.boxes.shape[1] for t in chosen)
        boxes = torch.zeros(len(chosen), k, 5)
        widths = torch.zeros(len(chosen), k, 2)
        geometry = torch.zeros(len(chosen), k, chosen[0].geometry.shape[-1])
        sides = torch.zeros(len(chosen), k, 2)
        valid = torch.zeros(len(chosen), k, dtype=torch.bool)
        for i, t in enumerate(chosen):
            n = t.boxes.shape[1]
            boxes[i, :n], widths[i, :n], geometry[i, :n], valid[i, :n] = t.boxes[0], t.widths[0], t.geometry[0], True
            sides[i, :n] = t.sides()[0]
        twin_images = {cue: torch.cat([images[t.record["file"]] for t in chosen])
                       for cue, images in (twins or {}).items()}
        yield torch.cat([t.image for t in chosen]), boxes, widths, geometry, valid, sides, twin_images


def as_detect_gives(head, p_loaded: torch.Tensor, scales: torch.Tensor, boxes: torch.Tensor,
                    view: torch.Tensor) -> torch.Tensor:
    """``p_loaded`` of ``boxes`` under ``view`` through the stage's calibration, as the detector
    applies it (``scales``: the readings' error scales through their factors)."""
    p_loaded = p_loaded.clamp(P_FLOOR, 1.0 - P_FLOOR)
    logit = torch.log(p_loaded) - torch.log1p(-p_loaded)
    return torch.sigmoid(head.calibrate(logit, side_share(scales, boxes, view), view[:, 0:1]))


def evaluate(head, prepare, tiles: list[Tile]) -> dict:
    head.eval()
    device = head.row_position.device
    rows = {"gsd": [], "draft": [], "fb": [], "p": [], "lf": [], "fbp": [], "p_free": [], "lf_free": [],
            "width_error": [], "shadow_error": [], "shadow_true": [], "gain": [], "off_water": [], "side_share": []}
    with torch.no_grad():
        for t in tiles:
            boxes, view = t.boxes.to(device), t.view.to(device)
            x = prepare(t.image.to(device))
            sides = cue_sides(boxes, cue_directions(view))
            readings = head(x, boxes, expected_cue_widths(boxes, view), sides=sides)
            widths, scales = readings[..., :2], head.calibrate_scales(readings[..., 2:])
            p, lf, fb = load_outputs(widths, scales, boxes, view)
            p = as_detect_gives(head, p, scales, boxes, view)
            free_view = view.clone()
            free_view[:, 1:] = float("nan")
            free = head(x, boxes, expected_cue_widths(boxes, free_view))
            free_scales = head.calibrate_scales(free[..., 2:])
            p_free, lf_free, _ = load_outputs(free[..., :2], free_scales, boxes, free_view)
            p_free = as_detect_gives(head, p_free, free_scales, boxes, free_view)
            n = t.boxes.shape[1]
            rows["gsd"] += [t.gsd_m] * n
            rows["draft"] += list(t.drafts)
            rows["fb"] += list(t.freeboards)
            rows["p"] += p[0].tolist()
            rows["lf"] += lf[0].tolist()
            rows["fbp"] += fb[0, :, 0].tolist()
            rows["p_free"] += p_free[0].tolist()
            rows["lf_free"] += lf_free[0, :, 0].tolist()
            rows["width_error"] += (widths[0] - t.widths[0].to(device)).abs().tolist()
            rows["shadow_error"] += (widths[0, :, 0] - t.widths[0, :, 0].to(device)).tolist()
            rows["shadow_true"] += t.widths[0, :, 0].tolist()
            rows["gain"] += torch.hypot(*cue_gains(boxes, view))[0].tolist()
            rows["off_water"] += list(t.off_water)
            rows["side_share"] += side_share(scales, boxes, view)[0].tolist()
    r = {k: np.array(v) for k, v in rows.items()}
    out = {}
    for low, high in BANDS:
        m = (r["gsd"] > low) & (r["gsd"] <= high)
        if not m.any():
            continue
        loaded = r["draft"][m] >= 0.5
        p, lf = r["p"][m], r["lf"][m]
        # Width errors only where a width is labelled: an unreadable shadow has none.
        on_water = ~r["off_water"][m]
        covered = (p < UNCERTAIN[0]) | (p > UNCERTAIN[1])
        part = (r["draft"][m] >= PART_LOADED[0]) & (r["draft"][m] <= PART_LOADED[1])
        right = (p >= 0.5) == loaded
        covered_free = (r["p_free"][m] < UNCERTAIN[0]) | (r["p_free"][m] > UNCERTAIN[1])
        out[f"{low:g}-{high:g} m"] = {
            "n": int(m.sum()),
            "laden_mae": float(np.abs(lf[:, 0] - r["draft"][m]).mean()),
            "in_80": float(((r["draft"][m] >= lf[:, 1]) & (r["draft"][m] <= lf[:, 2])).mean()),
            "fb_mae_m": float(np.abs(r["fbp"][m] - r["fb"][m]).mean()),
            "acc": float(right.mean()), "acc_part": float(right[part].mean()) if part.any() else float("nan"),
            "coverage": float(covered.mean()),
            "acc_covered": float(right[covered].mean()) if covered.any() else float("nan"),
            "ece": expected_calibration_error(p, loaded.astype(float)),
            "ece_calibrated": calibrated_ece(p),
            "free_acc": float(((r["p_free"][m] >= 0.5) == loaded).mean()),
            "free_coverage": float(covered_free.mean()),
            "free_laden_mae": float(np.abs(r["lf_free"][m] - r["draft"][m]).mean()),
            "width_mae": [float(r["width_error"][m][on_water, 0].mean()), float(r["width_error"][m][:, 1].mean())],
            "by_side_share": [(name, int(s.sum()), float(right[s].mean()), float(covered[s].mean()),
                               float(right[s & covered].mean()) if (s & covered).any() else float("nan"),
                               float((covered & ~right)[s].mean()))
                              for name, s in (("shadow", r["side_share"][m] <= 0.5),
                                              ("side strip", r["side_share"][m] > 0.5)) if s.any()],
            "off_water": [(name, int(s.sum()), float(right[s].mean()), float(covered[s].mean()),
                           float((covered & ~right)[s].mean()))
                          for name, s in (("on water", on_water), ("off water", ~on_water)) if s.any()],
            "by_gain": [(low, high, int(g.sum()), float(right[g].mean()),
                         float(np.abs(lf[g, 0] - r["draft"][m][g]).mean()), float(covered[g].mean()),
                         float(right[g & covered].mean()) if (g & covered).any() else float("nan"))
                        for low, high in zip(GAIN_BANDS[:-1], GAIN_BANDS[1:], strict=True)
                        for g in [(r["gain"][m] > low) & (r["gain"][m] <= high)] if g.any()],
            "by_shadow_width": [(low, high, int(w.sum()), float(r["shadow_error"][m][w].mean()))
                                for low, high in zip(SHADOW_BANDS[:-1], SHADOW_BANDS[1:], strict=True)
                                for w in [on_water & (r["shadow_true"][m] >= low) & (r["shadow_true"][m] < high)]
                                if w.any()],
        }
    return out


def report(head, prepare, evals: dict, last: bool) -> None:
    """Print :func:`evaluate`'s figures for each evaluation folder (per gain band too when ``last``)."""
    for folder, tiles in evals.items():
        for band, f in evaluate(head, prepare, tiles).items():
            print(f"  {Path(folder).name:>12} {band:>7} n={f['n']:4d} laden MAE {f['laden_mae']:.3f} "
                  f"in80 {f['in_80']:.2f} freeboard MAE {f['fb_mae_m']:.2f} m | load acc {f['acc']:.3f} "
                  f"part {f['acc_part']:.3f} coverage {f['coverage']:.2f} covered acc {f['acc_covered']:.3f} "
                  f"ECE {f['ece']:.3f} (a calibrated model's here {f['ece_calibrated'][0]:.3f}, 95 % under "
                  f"{f['ece_calibrated'][1]:.3f}) | geometry-free acc {f['free_acc']:.3f} coverage "
                  f"{f['free_coverage']:.2f} MAE {f['free_laden_mae']:.3f} | width MAE shadow "
                  f"{f['width_mae'][0]:.3f} side {f['width_mae'][1]:.3f} box widths", flush=True)
            if last:
                print(f"  {'':>12} {band:>7}   shadow reading's mean error by true width (box widths): "
                      + ", ".join(f"{low:g}-{high:g} {bias:+.3f} (n={n})" for low, high, n, bias in f["by_shadow_width"]),
                      flush=True)
                for surface, n, acc, coverage, wrong in f["off_water"]:
                    print(f"  {'':>12} {band:>7}   shadow {surface}: n={n:4d} load acc {acc:.3f} coverage {coverage:.2f} "
                          f"confident and wrong {wrong:.3f}", flush=True)
                for cue, n, acc, coverage, covered_acc, wrong in f["by_side_share"]:
                    print(f"  {'':>12} {band:>7}   the reading rests on the {cue}: n={n:4d} load acc {acc:.3f} "
                          f"coverage {coverage:.2f} covered acc {covered_acc:.3f} confident and wrong {wrong:.3f}",
                          flush=True)
                for low, high, n, acc, mae, coverage, covered_acc in f["by_gain"]:
                    print(f"  {'':>12} {band:>7}   gain {low:g}-{high:g}: n={n:4d} load acc {acc:.3f} "
                          f"coverage {coverage:.2f} covered acc {covered_acc:.3f} "
                          f"laden MAE {mae:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, action="append", required=True,
                        help="a synth tiles folder; several are pooled")
    parser.add_argument("--eval", type=Path, action="append", required=True)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--budget-min", type=float,
                        help="wall-clock minutes: after each epoch, re-size the epochs and the cosine schedule "
                             "to what fits (--epochs is then only the first plan)")
    parser.add_argument("--repeats", type=int, default=4, help="jittered windows per tanker per step")
    parser.add_argument("--batch", type=int, default=16, help="tiles per step")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--rarity-power", type=float, default=0.5,
                        help="model.cue_rarity_power: weigh each width by its frequency to this power (0: all alike)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="torch device the stage trains on, e.g. cuda (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="write the trained stage's weights here")
    parser.add_argument("--checkpoint", type=Path,
                        help="start from the load stage of this `tankerwatch fit` checkpoint (its EMA weights "
                             "where kept); with --epochs 0 only evaluate it")
    parser.add_argument("--augment", action="store_true", help="augment training tiles as `tankerwatch fit` does")
    parser.add_argument("--augment-set", action="append", default=[], metavar="KEY=VALUE",
                        help="an AugmentConfig setting for --augment, e.g. rotate_p=0 (repeatable)")
    parser.add_argument("--fit-crops", action="store_true", help="cut training tiles as `tankerwatch fit` crops them")
    parser.add_argument("--ignore-shadow-surface", action="store_true",
                        help="train on every shadow's width on the water, also where it lies on a quay or "
                             "another hull (labels before 2026-12-05), instead of teaching it as unreadable")
    parser.add_argument("--twins", type=Path, action="append", default=[],
                        help="the training tiles rendered without one cue (--cues side,bow or --cues shadow,bow): also "
                             "teach the difference of that cue's readings in the two (module docstring)")
    parser.add_argument("--twin-weight", type=float, default=1.0, help="weight of the twin loss")
    args = parser.parse_args()
    if args.twins and (len(args.train) != 1 or args.augment or args.fit_crops):
        parser.error("--twins takes one --train folder and neither --augment nor --fit-crops")
    settings = {key: float(value) for key, _, value in (item.partition("=") for item in args.augment_set)}
    pipeline = build_augmentation(AugmentConfig(**settings), seed=args.seed) if args.augment else None
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    on_gpu = f"; {gpu_description()}" if device.type == "cuda" else ""
    print(f"CPU: {cpu_description()}; torch threads {args.threads}{on_gpu}. SYNTHETIC figures.", flush=True)
    if pipeline is not None:
        print(f"training tiles augmented: {AugmentConfig(**settings)}", flush=True)
    started = time.perf_counter()
    train = [tile for folder in args.train for tile in read_tiles(folder, surfaces=not args.ignore_shadow_surface)]
    evals = {str(folder): read_tiles(folder) for folder in args.eval}
    twins = {}
    for folder in args.twins:
        try:
            cue, images = read_twin(folder, train)
        except ValueError as error:
            parser.error(str(error))
        if cue in twins:
            parser.error(f"{folder}: a second twin without the same cue")
        twins[cue] = images
    print(f"read {len(train)} training tiles, {', '.join(f'{len(v)} in {k}' for k, v in evals.items())} "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
    # Only for its input normalisation, which depends on the channels and the (absent) weights.
    detector = build_detector(backbone="tiny", in_channels=CONFIG["model"]["in_channels"])
    head = HullProfileHead(detector.in_channels)
    prepare = detector._prepare
    if args.checkpoint:
        fitted, _ = load_checkpoint(args.checkpoint)
        head.load_state_dict(fitted.load_head.state_dict())
        detector = fitted
        prepare = fitted._prepare
        print(f"load stage from {args.checkpoint}", flush=True)
    detector.to(device)
    head.to(device)
    rarity = WidthRarity(power=args.rarity_power).to(device)
    optimiser = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train) / args.batch)
    plan = {"epochs": args.epochs}
    # The warm-up stays sized to the first plan; the cosine follows a re-sized one (--budget-min).
    warmup = min(100, args.epochs * steps_per_epoch // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: warmup_cosine(s, warmup, plan["epochs"] * steps_per_epoch))
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    if args.epochs == 0:
        report(head, prepare, evals, last=True)
    epoch = 0
    while epoch < plan["epochs"]:
        head.train()
        total, count = 0.0, 0
        for images, boxes, widths, geometry, valid, sides, twin_images in batches(
                train, args.batch, rng, pipeline, args.fit_crops, twins):
            r = args.repeats
            images, boxes, widths, valid = images.to(device), boxes.to(device), widths.to(device), valid.to(device)
            boxes, widths, valid = boxes.repeat(1, r, 1), widths.repeat(1, r, 1), valid.repeat(1, r)
            geometry = geometry.to(device).repeat(1, r, 1)
            sides = sides.to(device).repeat(1, r, 1)
            twin_readings = {}
            for cue, twin in twin_images.items():
                # As fit reads its load crops' twins (train/lightning_module.py): under the draws
                # the tile is read under next, so the two readings differ by the missing cue alone.
                with same_draws(None), frozen_batch_statistics(head):
                    twin_readings[cue] = head(prepare(twin.to(device)), boxes, geometry, valid=valid,
                                              sides=sides)
            readings, marks, edges = head(prepare(images), boxes, geometry, valid=valid, with_marks=True, sides=sides)
            weights = rarity(widths, (widths >= 0) & valid.unsqueeze(-1))
            loss = (WEIGHTS.cue_widths * cue_width_loss(readings, widths, valid, weights)
                    + WEIGHTS.cue_marks * cue_mark_loss(marks, edges, widths, valid, weights))
            if twin_readings:
                known = dict.fromkeys(twin_readings, valid)
                loss = loss + args.twin_weight * twin_loss(readings, twin_readings, widths, known)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total, count = total + float(loss.detach()), count + 1
        line = f"epoch {epoch:3d}  loss {total / max(1, count):.3f}  {time.perf_counter() - started:.0f} s"
        print(line, flush=True)
        epoch += 1
        if args.budget_min:
            # As Ultralytics' time= mode: the whole epochs that fit at the mean pace so far, the
            # cosine stretched or shrunk to end there (evaluations count in the pace).
            per_epoch = (time.perf_counter() - started) / epoch
            fitting = max(epoch, math.floor(args.budget_min * 60 / per_epoch))
            if fitting != plan["epochs"]:
                print(f"time budget: {per_epoch:.1f} s per epoch -> {fitting} epochs", flush=True)
                plan["epochs"] = fitting
        if epoch % args.every == 0 or epoch == plan["epochs"]:
            report(head, prepare, evals, last=epoch == plan["epochs"])
    if args.save:
        torch.save(head.cpu().state_dict(), args.save)


if __name__ == "__main__":
    main()
