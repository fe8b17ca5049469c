"""`tankerwatch synth tiles` through the real CLI: determinism, labels, splits, options, bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely

from tankerwatch.infer.cli import main
from tankerwatch.infer.formats import read_dataset
from tankerwatch.infer.geometry import box_corners
from tankerwatch.infer.labels import LoadState, VesselType
from tankerwatch.infer.raster import inspect_raster
from tankerwatch.infer.synth_canvas import Canvas
from tankerwatch.infer.synth_render import draw_world
from tankerwatch.infer.synth_tiles import TileSettings, compose_tile
from tankerwatch.infer.synth_vessels import to_label

SIZE = 256


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiles(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiles"
    assert main(["synth", "tiles", str(out), "--count", "8", "--size", str(SIZE), "--seed", "3"]) == 0
    return out


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tiles, tmp_path):
    again = tmp_path / "again"
    assert main(["synth", "tiles", str(again), "--count", "8", "--size", str(SIZE), "--seed", "3", "--threads", "2"]) == 0
    assert _files(again) == _files(tiles)
    other = tmp_path / "other"
    assert main(["synth", "tiles", str(other), "--count", "8", "--size", str(SIZE), "--seed", "4"]) == 0
    assert _files(other).keys() == _files(tiles).keys()
    assert _files(other)["train/images/synth_000000.png"] != _files(tiles)["train/images/synth_000000.png"]


def test_every_split_has_both_load_states_and_distractors_with_boxes_inside(tiles):
    for split, n_tiles in (("train", 4), ("val", 2), ("test", 2)):
        dataset = read_dataset(tiles / split, outside="reject")
        assert not dataset.problems
        assert len(dataset.images) == n_tiles
        classes = set()
        for image in dataset.images:
            assert (image.width, image.height) == (SIZE, SIZE)
            assert image.gsd_m is not None and 0.29 <= image.gsd_m <= 10
            for vessel in image.vessels:
                corners = box_corners(vessel.box)
                assert (corners >= 0).all() and (corners <= SIZE).all()
                classes.add((vessel.vessel_type, vessel.load))
        assert (VesselType.TANKER, LoadState.EMPTY) in classes
        assert (VesselType.TANKER, LoadState.LOADED) in classes
        assert (VesselType.OTHER, LoadState.UNKNOWN) in classes


def test_manifest_records_parameters_and_the_physics_of_every_vessel(tiles):
    manifest = json.loads((tiles / "manifest.json").read_text())
    assert manifest["parameters"]["count"] == 8 and manifest["parameters"]["seed"] == 3
    assert [t["split"] for t in manifest["tiles"]] == ["train"] * 4 + ["val"] * 2 + ["test"] * 2
    tankers = [v for t in manifest["tiles"] for v in t["vessels"] if v["kind"] == "tanker"]
    for v in tankers:
        assert (v["draft_fraction"] < 0.5) == (v["load"] == "empty")
        assert v["length_m"] >= 60
    labels = read_dataset(tiles / "train").images[0]
    record = manifest["tiles"][0]
    assert len(labels.vessels) == len(record["vessels"])
    assert "| val | 2 |" in (tiles / "README.md").read_text()


@pytest.mark.parametrize("index", range(4))
def test_every_label_box_lies_over_its_vessel(index):
    """Drawing a tile with and without its vessels: each box covers pixels its vessel changed."""
    settings = TileSettings(SIZE)
    world = compose_tile(11, index, settings)
    drawn = {}
    for name, ships in (("with", world.ships), ("without", [])):
        canvas = Canvas(SIZE, SIZE, 3)
        draw_world(canvas, world.view, world.layout, ships, world.atmosphere, np.random.default_rng(0))
        drawn[name] = canvas.pixels
    changed = np.abs(drawn["with"] - drawn["without"]).max(axis=2) > 0.02
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    centres = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], axis=1)
    for ship in world.ships:
        label = to_label(ship, world.view)
        inside = shapely.contains_xy(shapely.Polygon(box_corners(label.box)), centres[:, 0], centres[:, 1])
        share = changed.ravel()[inside].mean() if inside.any() else changed[int(label.box[1]), int(label.box[0])]
        assert share > 0.5, (ship.kind, label.box)


@pytest.mark.parametrize("fmt", ["coco", "yolo-obb"])
def test_other_label_formats_read_back_the_same_boxes(tiles, tmp_path, fmt):
    out = tmp_path / fmt
    assert main(["synth", "tiles", str(out), "--count", "8", "--size", str(SIZE), "--seed", "3", "--format", fmt]) == 0
    mine = read_dataset(out / "val", fmt=fmt)
    dota = read_dataset(tiles / "val")
    for a, b in zip(mine.images, dota.images, strict=True):
        np.testing.assert_allclose(a.boxes()[:, :4], b.boxes()[:, :4], atol=2e-3)


def test_nir_uint16_tiles_are_georeferenced_geotiffs(tmp_path):
    out = tmp_path / "nir"
    assert main(["synth", "tiles", str(out), "--count", "6", "--size", "128", "--seed", "1", "--bands", "4",
                 "--dtype", "uint16", "--gsd", "2:4"]) == 0
    dataset = read_dataset(out / "train")
    image = dataset.images[0]
    assert image.image_path.suffix == ".tif"
    info = inspect_raster(image.image_path)
    assert (info.count, info.dtype) == (4, "uint16")
    assert info.gsd_m == pytest.approx(image.gsd_m, rel=1e-3)
    assert 2 <= image.gsd_m <= 4
    data = rasterio.open(image.image_path).read()
    assert data.max() > 255  # reflectance x 10,000, not 8-bit values


def _exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse rejects a malformed flag itself, also with code 2
        return int(exc.code)


@pytest.mark.parametrize("args, message", [
    (["--size", "-5"], "expected a number > 0"),
    (["--gsd", "0:1"], "GSD must be"),
    (["--gsd", "0.1", "--size", "64"], "too fine for --size 64"),
    (["--gsd", "5:30"], "too coarse"),
    (["--count", "3"], "--count must be at least 6"),
    (["--size", "20000"], "--size must be between"),
])
def test_bad_arguments_fail_with_one_clear_line(tmp_path, capsys, args, message):
    assert _exit_code(["synth", "tiles", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]  # the last line says it all (argparse puts its usage above)
    assert not (tmp_path / "x").exists()


def test_unwritable_or_occupied_output_is_refused(tmp_path, capsys, tiles):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["synth", "tiles", str(blocker / "sub"), "--count", "6", "--size", "64"]) == 2
    assert "cannot write here" in capsys.readouterr().err
    assert main(["synth", "tiles", str(tiles), "--count", "6", "--size", "64"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    user = tmp_path / "user"
    user.mkdir()
    (user / "precious.txt").write_text("keep")
    assert main(["synth", "tiles", str(user), "--count", "6", "--size", "64", "--overwrite"]) == 2
    assert "not a synthetic dataset" in capsys.readouterr().err
    assert (user / "precious.txt").read_text() == "keep"
