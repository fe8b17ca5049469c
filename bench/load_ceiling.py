"""Benchmark aid: how precisely the load stage must read its widths for the load call. All SYNTHETIC.

Every tanker of held-out ``synth tiles`` (true boxes) gets its drawn shadow and side-strip widths
plus Gaussian error of ``sigma`` pixels, with that error as its scale, and the geometry turns them
into ``p_loaded`` as the model does (``models/freeboard.load_outputs``, the scene's angles). The
printed load accuracy is what a reader that precise would score under these scenes' sun, view
and hulls, per GSD band, for hulls near ballast or laden (draft fraction <= 0.3 or >= 0.75) and
part-loaded ones apart. A shadow on a quay or another hull counts as unread (scale far beyond
the profile), as the stage learns to treat it. With ``--stage`` or ``--checkpoint`` the stage's
own readings are scored beside them, with its width errors in pixels, so the error it reads
with can be placed on the same scale. Last, how close the tankers lie to the call's boundary
(draft fraction 0.5): their freeboard's distance from it, in pixels of their wider cue's width,
which is the error that would flip the call, with the stage's accuracy at each distance.

    .venv/bin/python bench/load_ceiling.py --eval TILES [--stage STAGE.pt | --checkpoint FIT.ckpt]
        [--sigmas 0,0.25,0.5,1,1.5,2] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402
from freeboard_stage import BANDS, UNCERTAIN, read_tiles, saved_stage  # noqa: E402

from tankerwatch.models.freeboard import (  # noqa: E402
    class_freeboards,
    cue_directions,
    cue_gains,
    cue_sides,
    expected_cue_widths,
    load_outputs,
)

NEAR_BALLAST_MAX, NEAR_LADEN_MIN = 0.3, 0.75
# An unread shadow's scale (box widths): wider than the profile, so the side strip decides.
UNREAD_SCALE = 10.0
# The smallest scale a perfect reader claims (pixels): p_loaded stays finite.
MIN_SIGMA_PX = 0.05
MARGIN_BANDS_PX = (0.0, 0.5, 1.0, 2.0, 4.0, np.inf)


def noisy_p_loaded(tile, sigma_px: float, rng: np.random.Generator, floor_px: float = 0.0) -> np.ndarray:
    """``p_loaded [K]`` of ``tile``'s tankers read from their drawn widths plus Gaussian error of
    ``sigma_px`` pixels, strips narrower than ``floor_px`` read as its middle (module docstring)."""
    beam_px = tile.boxes[0, :, 3]
    truth = tile.widths[0].clamp(min=0.0)
    noise = torch.from_numpy(rng.normal(size=tuple(truth.shape))).float() * sigma_px / beam_px[:, None]
    widths = (truth + noise).clamp(min=0.0)
    # A Laplace scale b has standard deviation b * sqrt(2).
    scales = (max(sigma_px, MIN_SIGMA_PX) / np.sqrt(2.0) / beam_px)[:, None].expand_as(widths).clone()
    if floor_px > 0:
        unseen = truth * beam_px[:, None] < floor_px
        # An even spread over 0..F has standard deviation F / sqrt(12).
        unseen_scale = (max(floor_px / np.sqrt(12.0), sigma_px, MIN_SIGMA_PX) / np.sqrt(2.0) / beam_px)[:, None]
        widths = torch.where(unseen, (0.5 * floor_px / beam_px)[:, None].expand_as(widths), widths)
        scales = torch.where(unseen, unseen_scale.expand_as(scales), scales)
    unread = torch.from_numpy(tile.off_water)
    widths[unread, 0], scales[unread, 0] = 0.0, UNREAD_SCALE
    p_loaded, _, _ = load_outputs(widths[None], scales[None], tile.boxes, tile.view)
    return p_loaded[0].numpy()


def boundary_margin_px(tile) -> np.ndarray:
    """``[K]``: how far each tanker's freeboard lies from its class's freeboard at draft fraction
    0.5 (freeboard is linear in the draft), in pixels of the wider of its two cues (the side strip
    alone where the shadow is unreadable): a reading off by that much flips the call."""
    shadow_gain, side_gain = (g[0] for g in cue_gains(tile.boxes, tile.view))
    shadow_gain = torch.where(torch.from_numpy(tile.off_water), torch.zeros_like(shadow_gain), shadow_gain)
    ballast, laden = (f[0] for f in class_freeboards(tile.boxes[..., 2] * tile.gsd_m))
    distance_m = (torch.from_numpy(tile.freeboards).float() - (ballast + laden) / 2).abs()
    return (distance_m * torch.maximum(shadow_gain, side_gain) / tile.gsd_m).numpy()


def stage_readings(head, prepare, tile) -> tuple[np.ndarray, np.ndarray]:
    """``(p_loaded [K], width errors [K, 2] in pixels)`` of the stage on ``tile``'s true boxes."""
    with torch.no_grad():
        readings = head(prepare(tile.image), tile.boxes, expected_cue_widths(tile.boxes, tile.view),
                        sides=cue_sides(tile.boxes, cue_directions(tile.view)))
    p_loaded, _, _ = load_outputs(readings[..., :2], head.calibrate_scales(readings[..., 2:]), tile.boxes, tile.view)
    errors = (readings[0, :, :2] - tile.widths[0]) * tile.boxes[0, :, 3:4]
    return p_loaded[0].numpy(), errors.numpy()


def summary(p_loaded: np.ndarray, loaded: np.ndarray, near: np.ndarray) -> str:
    right = (p_loaded >= 0.5) == loaded
    covered = (p_loaded < UNCERTAIN[0]) | (p_loaded > UNCERTAIN[1])
    covered_acc = f"{right[covered].mean():.3f}" if covered.any() else "  -  "
    return (f"load acc {right.mean():.3f} coverage {covered.mean():.2f} covered acc {covered_acc} | "
            f"near-state {right[near].mean():.3f} part-loaded {right[~near].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval", type=Path, required=True, help="a synth tiles folder")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stage", type=Path, help="weights written by bench/freeboard_stage.py --save")
    source.add_argument("--checkpoint", type=Path, help="a tankerwatch fit checkpoint")
    parser.add_argument("--sigmas", default="0,0.25,0.5,1,1.5,2", help="reading errors to try, pixels (1 sigma)")
    parser.add_argument("--floor-px", type=float, default=0.0,
                        help="strips narrower than this many pixels are not seen (module docstring)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"CPU: {cpu_description()}. SYNTHETIC figures.", flush=True)
    if args.floor_px > 0:
        print(f"readers that do not see strips narrower than {args.floor_px:g} px", flush=True)
    sigmas = [float(s) for s in args.sigmas.split(",")]
    head = prepare = None
    if args.checkpoint or args.stage:
        head, prepare = saved_stage(args.stage, args.checkpoint)

    # One stream per sigma, so a sigma's figures do not depend on which others are asked for.
    draws = {sigma: np.random.default_rng([args.seed, round(sigma * 1000)]) for sigma in sigmas}
    columns = {"gsd": [], "draft": [], "off_water": [], "margin": [], "stage_p": [], "stage_err": []}
    read_p = {sigma: [] for sigma in sigmas}
    for tile in read_tiles(args.eval):
        columns["gsd"] += [tile.gsd_m] * len(tile.drafts)
        columns["draft"] += list(tile.drafts)
        columns["off_water"] += list(tile.off_water)
        columns["margin"] += list(boundary_margin_px(tile))
        for sigma in sigmas:
            read_p[sigma] += list(noisy_p_loaded(tile, sigma, draws[sigma], args.floor_px))
        if head is not None:
            p_loaded, errors = stage_readings(head, prepare, tile)
            columns["stage_p"] += list(p_loaded)
            columns["stage_err"] += list(errors)
    table = {name: np.array(values) for name, values in columns.items()}
    for low, high in BANDS:
        band = (table["gsd"] > low) & (table["gsd"] <= high)
        if band.any():
            print(f"GSD {low:g}-{high:g} m: {int(band.sum())} tankers", end="")
            report_band({name: values[band] for name, values in table.items() if len(values)},
                        {sigma: np.array(p)[band] for sigma, p in read_p.items()})


def report_band(rows: dict, read_p: dict) -> None:
    """Print one GSD band's figures (module docstring); ``rows`` holds the band's tankers'
    columns, ``stage_p`` and ``stage_err`` only when a stage was given."""
    loaded = rows["draft"] >= 0.5
    near = (rows["draft"] <= NEAR_BALLAST_MAX) | (rows["draft"] >= NEAR_LADEN_MIN)
    on_water = ~rows["off_water"]
    print(f" ({int(near.sum())} near ballast or laden, {int(on_water.sum())} with the shadow on the water)")
    for sigma, p_loaded in read_p.items():
        print(f"  widths +- {sigma:4g} px: {summary(p_loaded, loaded, near)}")
    staged = "stage_p" in rows
    if staged:
        errors = np.abs(rows["stage_err"])
        print(f"  the stage:          {summary(rows['stage_p'], loaded, near)}")
        print(f"    its width error (px): shadow on the water MAE {errors[on_water, 0].mean():.2f} "
              f"median {np.median(errors[on_water, 0]):.2f}; side strip MAE {errors[:, 1].mean():.2f} "
              f"median {np.median(errors[:, 1]):.2f} (a Gaussian of sigma s has MAE 0.80 s, median 0.67 s)")
    print("  distance from the call's boundary in the wider cue (px): share of tankers"
          + ("; the stage's load accuracy" if staged else ""))
    for closest, farthest in zip(MARGIN_BANDS_PX[:-1], MARGIN_BANDS_PX[1:], strict=True):
        chosen = (rows["margin"] >= closest) & (rows["margin"] < farthest)
        if chosen.any():
            line = f"    {closest:g}-{farthest:g} px: {chosen.mean():.2f}"
            if staged:
                line += f"; {((rows['stage_p'][chosen] >= 0.5) == loaded[chosen]).mean():.3f}"
            print(line)


if __name__ == "__main__":
    main()
