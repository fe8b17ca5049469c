"""Benchmark aid: where the load stage misreads a shadow, as pictures. All figures SYNTHETIC.

Reads every tanker with its shadow on the water in held-out ``synth tiles`` at GSD <= ``--max-gsd``
through a load stage (a ``bench/freeboard_stage.py --save`` file, or the stage inside a
``tankerwatch fit`` checkpoint) on its true box, and prints the shadow width's error (box widths)
split by whether the hull's profile runs past the tile's edge, and by how much of the profile's
outer rows the stage marks where the labels put no strip (marks far from any drawn strip: dark
water, a neighbour's hull or padding read as shadow) against how much of a drawn strip it leaves
unmarked, then the error in pixels split by how the tile was drawn (point-spread function,
sharpening, JPEG, noise, hull style, scene, berthed or not): one error under every sensor effect
says the reader, not the image, limits the widths. ``--sheet PNG`` draws the ``--worst`` largest
errors: the tile around the hull turned level, and beside it the profile's channels, the stage's
marks (x3) and where the labels put the shadow (grey band above the hull, red below it; green lines
are the box's long edges). Last, the side strip of every tanker seen off nadir (shadow on the water
or not): read / drawn by drawn width in pixels, on the shadow's side of the hull (sun and sensor
on opposite sides) and on the other, with the share of the drawn strip the stage marks.

    .venv/bin/python bench/stage_errors.py --eval TILES (--stage STAGE.pt | --checkpoint FIT.ckpt)
        [--max-gsd 1] [--sheet worst.png] [--worst 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description  # noqa: E402
from freeboard_stage import read_tiles, saved_stage  # noqa: E402

from tankerwatch.models.freeboard import cue_directions, cue_sides  # noqa: E402
from tankerwatch.models.hull_profile import PROFILE_ACROSS_SPAN, PROFILE_ROWS  # noqa: E402
from tankerwatch.train.losses import _row_cover  # noqa: E402

ROW_WIDTH = PROFILE_ACROSS_SPAN / PROFILE_ROWS  # box widths
# Rows this far from a drawn strip (either side) count as "far": a blurred edge's own rows are not
# misreadings.
NEAR_ROWS = 3


def readings(head, prepare, tiles, max_gsd: float) -> list[dict]:
    """One dict per tanker: true and read widths (shadow; a shadow off the water, on a quay or
    another hull, is labelled unreadable and has no width to compare), marks, box edges in rows,
    which side of the box its shadow and its visible side lie on, profile, and the share of its
    profile inside the tile."""
    rows = []
    with torch.no_grad():
        for index, tile in enumerate(tiles):
            if tile.gsd_m > max_gsd:
                continue
            x = prepare(tile.image)
            sides = cue_sides(tile.boxes, cue_directions(tile.view))
            out, marks, edges = head(x, tile.boxes, tile.geometry, with_marks=True, sides=sides)
            profiles = head.profiles(x, tile.boxes)
            height, width = tile.image.shape[-2:]
            grid = head.sampling_grid(tile.boxes, height, width)
            inside = F.grid_sample(torch.ones(1, 1, height, width), grid, align_corners=False)
            inside = inside.reshape(tile.boxes.shape[1], -1).mean(dim=-1)
            tankers = tankers_of(tile.record)
            for k in range(tile.boxes.shape[1]):
                rows.append({"tile": index, "k": k, "on_water": not tile.off_water[k],
                             "true": float(tile.widths[0, k, 0]), "read": float(out[0, k, 0]),
                             "side": float(tile.widths[0, k, 1]), "side_read": float(out[0, k, 1]),
                             "sides": sides[0, k].numpy(),
                             "marks": marks[0, k].numpy(), "edges": edges[0, k].numpy(),
                             "profile": profiles[k].numpy(), "inside": float(inside[k]),
                             "draft": float(tile.drafts[k]), "gsd": tile.gsd_m,
                             "beam_px": float(tile.boxes[0, k, 3]), "record": tile.record,
                             "berthed": bool(tankers[k].get("berthed", False)) if tankers else False})
    return rows


def tankers_of(record: dict) -> list[dict]:
    return [v for v in record.get("vessels", []) if v["kind"] == "tanker"]


def _jpeg(record: dict) -> str:
    quality = record.get("atmosphere", {}).get("jpeg_quality")
    return "none" if quality is None else ("quality < 70" if quality < 70 else "quality >= 70")


def _noise(record: dict) -> str:
    sigma = record.get("atmosphere", {}).get("noise_sigma", 0.0)
    return "< 0.7 %" if sigma < 0.007 else ("0.7-1.1 %" if sigma < 0.011 else ">= 1.1 %")


def _optics(record: dict) -> dict:
    return record.get("atmosphere", {}).get("optics", {})


# How each reading's tile was drawn (the manifest's scene and atmosphere): if the errors in pixels
# are the same under every sensor effect, the reader limits the widths, not the image.
CONDITIONS = {
    "point-spread function": lambda row: _optics(row["record"]).get("psf", "gaussian"),
    "sharpened": lambda row: str(_optics(row["record"]).get("sharpen", 0) > 0),
    "JPEG": lambda row: _jpeg(row["record"]),
    "noise (of full scale)": lambda row: _noise(row["record"]),
    "hull style": lambda row: row["record"].get("hull_style", "default"),
    "scene": lambda row: row["record"].get("scene", "?"),
    "berthed": lambda row: str(row["berthed"]),
}


def by_condition(rows: list[dict]) -> None:
    """Print the shadow width's error in pixels (mean absolute, mean signed) split by each of
    :data:`CONDITIONS`."""
    pixels = np.array([(r["read"] - r["true"]) * r["beam_px"] for r in rows])
    print(f"  shadow error in pixels: MAE {np.abs(pixels).mean():.2f} (median {np.median(np.abs(pixels)):.2f}); by how "
          "the tile was drawn (n, MAE, mean error):")
    for name, condition in CONDITIONS.items():
        labels = np.array([condition(r) for r in rows])
        print(f"    {name}: " + "; ".join(f"{label} {int((labels == label).sum())}, {np.abs(pixels[labels == label]).mean():.2f}, "
                                     f"{pixels[labels == label].mean():+.2f}" for label in sorted(set(labels))))


def far_and_short(row: dict) -> tuple[float, float]:
    """Box widths of shadow marked far from where the labels put it, and of the labelled strip left
    unmarked, on whichever side of the hull the marks fit better."""
    low, high = (torch.tensor(float(e)) for e in row["edges"])
    extent = row["true"] * (high - low)
    marks = torch.from_numpy(row["marks"][0])
    hypotheses = torch.stack([_row_cover(high, high + extent, PROFILE_ROWS), _row_cover(low - extent, low, PROFILE_ROWS)])
    strip = hypotheses[int(((marks[None] - hypotheses) ** 2).sum(-1).argmin())]
    near = F.max_pool1d(strip[None, None], 2 * NEAR_ROWS + 1, 1, NEAR_ROWS)[0, 0] > 0
    r = torch.arange(PROFILE_ROWS)
    hull = (r >= low) & (r < high)
    far = float(marks[~near & ~hull].sum()) * ROW_WIDTH
    short = float((strip - marks)[strip > 0.99].clamp(min=0).sum()) * ROW_WIDTH
    return far, short


def by_side_placement(rows: list[dict]) -> None:
    """The side strip read / drawn (sums over the band) by drawn width in pixels, beside the
    shadow and away from it, and the share of the drawn strip's rows the stage marks as side."""
    print("  side strip read / drawn by drawn width; share of the drawn strip marked")
    for away, name in ((False, "on the shadow's side"), (True, "away from the shadow")):
        placed = [r for r in rows if r["sides"][1] != 0 and (r["sides"][0] != r["sides"][1]) == away]
        cells = []
        for low, high in ((1.0, 1.5), (1.5, 2.5), (2.5, np.inf)):
            band = [r for r in placed if low <= r["side"] * r["beam_px"] < high]
            if band:
                ratio = sum(r["side_read"] for r in band) / sum(r["side"] for r in band)
                marked = np.mean([side_marked_share(r) for r in band])
                cells.append(f"{low:g}-{high:g} px n={len(band)} {ratio:.2f}, {marked:.2f}")
        print(f"    {name}: " + "; ".join(cells))


def side_marked_share(row: dict) -> float:
    """Mean side-strip mark over the rows the labels put the visible side in (inward from the
    box's long edge on the sensor's side)."""
    low, high = (torch.tensor(float(e)) for e in row["edges"])
    extent = row["side"] * (high - low)
    strip = _row_cover(high - extent, high, PROFILE_ROWS) if row["sides"][1] > 0 else \
        _row_cover(low, low + extent, PROFILE_ROWS)
    return float((torch.from_numpy(row["marks"][1]) * strip).sum() / strip.sum().clamp(min=1e-6))


def draw_sheet(rows: list[dict], tiles, path: Path, worst: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = sorted(rows, key=lambda r: -abs(r["read"] - r["true"]))[:worst]
    fig, axes = plt.subplots(len(chosen), 2, figsize=(12, 2.6 * len(chosen)), squeeze=False)
    for (picture, plot), row in zip(axes, chosen, strict=True):
        tile = tiles[row["tile"]]
        cx, cy, length, beam, angle = tile.boxes[0, row["k"]].tolist()
        image = np.ascontiguousarray(tile.image[0, :3].permute(1, 2, 0).numpy())
        level = cv2.warpAffine(image, cv2.getRotationMatrix2D((cx, cy), np.degrees(angle), 1.0),
                               (image.shape[1], image.shape[0]))
        half_across, half_along = int(1.75 * beam) + 2, int(0.3 * length) + 20
        picture.imshow(level[max(0, int(cy) - half_across):int(cy) + half_across,
                             max(0, int(cx) - half_along):int(cx) + half_along])
        picture.set_title(f"tile {row['tile']} GSD {row['gsd']:.2f} m, beam {beam:.0f} px, shadow true "
                          f"{row['true']:.3f} read {row['read']:.3f}, side {row['side']:.3f}, draft "
                          f"{row['draft']:.2f}, in tile {row['inside']:.2f}", fontsize=7)
        profile, marks, (low, high) = row["profile"], row["marks"], row["edges"]
        for channel in profile[:(profile.shape[0] // 2)]:
            plot.plot(channel, lw=0.8)
        plot.plot(marks[0] * 3, "k", lw=2, label="shadow marks x3")
        plot.plot(marks[1] * 3, "m", lw=1.5, label="side marks x3")
        strip = row["true"] * (high - low)
        plot.axvspan(high, high + strip, color="k", alpha=0.1)
        plot.axvspan(low - strip, low, color="r", alpha=0.1)
        for edge in (low, high):
            plot.axvline(edge, color="g")
        plot.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval", type=Path, required=True, help="a synth tiles folder")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stage", type=Path, help="weights written by bench/freeboard_stage.py --save")
    source.add_argument("--checkpoint", type=Path, help="a tankerwatch fit checkpoint")
    parser.add_argument("--max-gsd", type=float, default=1.0)
    parser.add_argument("--sheet", type=Path, help="write the worst readings as a PNG here")
    parser.add_argument("--worst", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"CPU: {cpu_description()}. SYNTHETIC figures.", flush=True)
    head, prepare = saved_stage(args.stage, args.checkpoint)
    tiles = read_tiles(args.eval)
    every = readings(head, prepare, tiles, args.max_gsd)
    rows = [r for r in every if r["on_water"]]
    error = np.array([r["read"] - r["true"] for r in rows])
    off_tile = np.array([r["inside"] < 0.999 for r in rows])
    print(f"{len(rows)} tankers at GSD <= {args.max_gsd:g} m: shadow width MAE {np.abs(error).mean():.3f} box "
          f"widths (median {np.median(np.abs(error)):.3f})")
    for name, chosen in (("profile inside the tile", ~off_tile), ("profile past the tile's edge", off_tile)):
        if chosen.any():
            print(f"  {name}: n={int(chosen.sum())} ({chosen.mean():.0%}) MAE {np.abs(error[chosen]).mean():.3f}")
    split = np.array([far_and_short(r) for r in rows])
    truth = np.array([r["true"] for r in rows])
    print("  by true width (box widths): mean error; marks far from the drawn strip; strip left unmarked")
    for low, high in ((0, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.5), (0.5, np.inf)):
        band = (truth >= low) & (truth < high)
        if band.any():
            print(f"    {low:g}-{high:g}: n={int(band.sum()):4d} error {error[band].mean():+.3f} far "
                  f"{split[band, 0].mean():.3f} unmarked {split[band, 1].mean():.3f}")
    by_condition(rows)
    by_side_placement(every)
    if args.sheet:
        draw_sheet(rows, tiles, args.sheet, args.worst)
        print(f"worst {args.worst} readings: {args.sheet}")


if __name__ == "__main__":
    main()
