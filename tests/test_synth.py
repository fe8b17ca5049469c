"""`tankerwatch synth tiles` through the real CLI: determinism, labels, splits, options, bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.boxes import box_corners
from tankerwatch.infer.core.labels import SHADOW_SURFACES, LoadState, VesselType
from tankerwatch.infer.formats.dataset import read_dataset
from tankerwatch.infer.runtime.raster import inspect_raster
from tankerwatch.infer.runtime.sts import Hull, find_rafts
from tankerwatch.infer.synth.background import glint_strength, terminal
from tankerwatch.infer.synth.canvas import Canvas, ellipse_points
from tankerwatch.infer.synth.physics import VIEW_ZENITH_DEG, sample_view
from tankerwatch.infer.synth.render import draw_world
from tankerwatch.infer.synth.tiles import (
    FINE_TERMINAL_SHARE,
    TileSettings,
    compose_tile,
    grid_north_deg,
    render_tile,
    sample_tile_view,
)
from tankerwatch.infer.synth.vessels import ShipGeometry, to_label

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
    assert all(v["shadow_surface"] in SHADOW_SURFACES for t in manifest["tiles"] for v in t["vessels"])
    labels = read_dataset(tiles / "train").images[0]
    record = manifest["tiles"][0]
    assert len(labels.vessels) == len(record["vessels"])
    assert "| val | 2 |" in (tiles / "README.md").read_text()
    for tile in manifest["tiles"]:
        assert tile["background"]["kind"] == tile["scene"] in ("terminal", "open water")
        if tile["scene"] == "terminal":
            assert tile["background"]["focus"] in ("trestle", "berth", "quay", "tank farm")
    assert sum(manifest["backgrounds"].values()) == 8
    assert "Backgrounds: " in (tiles / "README.md").read_text()


def _assert_boxes_over_vessels(world) -> None:
    """Drawing a tile with and without its vessels: each box covers pixels its vessel changed."""
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


@pytest.mark.parametrize("index", range(4))
def test_every_label_box_lies_over_its_vessel(index):
    _assert_boxes_over_vessels(compose_tile(11, index, TileSettings(SIZE)))


FINE = TileSettings(SIZE, gsd_range=(0.5, 1.9))


def _structure_pixels(layout) -> float:
    """Pixels of the tile covered by quays, jetties and tanks (coverage-weighted)."""
    canvas = Canvas(SIZE, SIZE, 1)
    tanks = [ellipse_points((cx, cy), r, r, 0.0) for cx, cy, r, _, _ in layout.tanks]
    got = canvas.coverage(layout.quays + tanks) if layout.quays or tanks else None
    return 0.0 if got is None else float(got[0].sum())


@pytest.fixture(scope="module")
def fine_worlds():
    return [compose_tile(5, i, FINE) for i in range(40)]


def test_fine_tiles_often_show_terminal_structures_at_their_true_scale(fine_worlds):
    """Below 2 m a share of tiles is a window onto a terminal: trestles, quays, tank farms in view."""
    terminals = [w for w in fine_worlds if w.scene_kind == "terminal"]
    assert 0.15 <= len(terminals) / len(fine_worlds) <= 0.6, len(terminals)
    assert FINE_TERMINAL_SHARE >= 0.25
    assert len({w.background["focus"] for w in terminals}) >= 3
    for world in terminals:
        assert world.view.gsd_m < 2
        assert _structure_pixels(world.layout) >= 50, world.background
        assert {"jetty", "quay", "tanks"} & set(world.background["structures"]), world.background
        # The terminal is laid out at full scale: kilometres across, far beyond the tile.
        assert world.background["terminal_extent_m"] >= 2000 > 2 * SIZE * world.view.gsd_m
    for world in fine_worlds:
        if world.scene_kind == "open water":
            assert not world.layout.land and not world.layout.quays and _structure_pixels(world.layout) == 0


def test_a_share_of_tiles_looks_into_the_sun_glint_within_the_sensors_range():
    """Random geometry rarely meets the sun's mirror direction; tiles seek it out for a share, so
    glitter on the water is something the detector has seen, and the views stay ones a satellite
    could take."""
    views = [sample_tile_view(np.random.default_rng([3, i]), 1.0) for i in range(600)]
    strong = np.array([glint_strength(v) > 0.2 for v in views])
    scene_like = np.array([glint_strength(sample_view(np.random.default_rng([3, i]), 1.0)) > 0.2 for i in range(600)])
    assert 0.08 <= strong.mean() <= 0.25 and scene_like.mean() < 0.06, (strong.mean(), scene_like.mean())
    for view in views:
        assert VIEW_ZENITH_DEG[0] <= view.view_zenith_deg <= VIEW_ZENITH_DEG[1]
        assert 0.0 <= view.view_azimuth_deg < 360.0


def test_vessels_in_terminal_tiles_float_clear_of_land_and_structures(fine_worlds):
    for world in fine_worlds:
        obstacles = world.layout.obstacles()
        for ship in world.ships:
            waterline = shapely.Polygon(ShipGeometry(ship, world.view).waterline)
            assert shapely.intersection(waterline, obstacles).area < 1e-6, (world.background, ship.vessel_id)
            corners = box_corners(to_label(ship, world.view).box)
            assert (corners >= 0).all() and (corners <= SIZE).all()
    tankers = [s for w in fine_worlds for s in w.ships if s.kind == "tanker"]
    assert {s.load for s in tankers} == {LoadState.EMPTY, LoadState.LOADED}


def test_label_boxes_lie_over_vessels_in_terminal_tiles(fine_worlds):
    terminals = [w for w in fine_worlds if w.scene_kind == "terminal"][:3]
    assert terminals
    for world in terminals:
        _assert_boxes_over_vessels(world)


def test_terminal_tiles_keep_the_guarantees_and_depend_only_on_seed_and_index(fine_worlds):
    index = next(i for i, w in enumerate(fine_worlds) if w.scene_kind == "terminal")
    world = fine_worlds[index]
    kinds = [s.kind for s in world.ships]
    assert "tanker" in kinds and any(k != "tanker" for k in kinds)
    first = next(s for s in world.ships if s.kind == "tanker")
    assert first.load is (LoadState.EMPTY if index % 2 == 0 else LoadState.LOADED)
    image, again = render_tile(5, index, FINE)
    image2, _ = render_tile(5, index, FINE)
    assert np.array_equal(image, image2)
    assert again.background == world.background
    assert [to_label(s, again.view).box.tolist() for s in again.ships] == \
        [to_label(s, world.view).box.tolist() for s in world.ships]


def test_tiles_pose_hulls_rafted_side_by_side_as_detect_flags_them():
    """A detector that rarely sees two hulls a fender apart boxes them as one or finds one; at 2 m
    the two beams are 2-3 cells of its output map. A share of tiles rafts a vessel alongside a
    tanker lying still, by the rules `detect` flags rafts with; outboard of a berthed host the
    partner is moored too (no wake)."""
    settings = TileSettings(SIZE, gsd_range=(1.8, 2.2))
    with_raft = 0
    for index in range(40):
        world = compose_tile(2, index, settings)
        gsd = world.view.gsd_m
        hulls = [Hull(box_corners(to_label(s, world.view).box) * gsd, s.kind == "tanker") for s in world.ships]
        rafts = find_rafts(hulls, gsd)
        with_raft += bool(rafts)
        for raft in rafts:
            first, second = world.ships[raft.first], world.ships[raft.second]
            assert first.berthed == second.berthed and not (first.moving or second.moving)
    assert with_raft >= 8, with_raft


def test_a_tile_does_not_depend_on_count(tmp_path):
    for count in (6, 8):
        assert main(["synth", "tiles", str(tmp_path / str(count)), "--count", str(count), "--size", "128",
                     "--seed", "7", "--gsd", "0.6:1.5"]) == 0
    six, eight = _files(tmp_path / "6"), _files(tmp_path / "8")
    for name in ("train/images/synth_000000.png", "train/images/synth_000001.png"):
        assert six[name] == eight[name]
    tiles6 = json.loads((tmp_path / "6" / "manifest.json").read_text())["tiles"]
    tiles8 = json.loads((tmp_path / "8" / "manifest.json").read_text())["tiles"]
    assert tiles6[:2] == tiles8[:2]


def test_a_window_of_a_terminal_holds_its_structures_where_the_whole_layout_has_them():
    """Layout.window moves the terminal into the tile's frame without changing what covers a pixel."""
    rng = np.random.default_rng(3)
    view = sample_view(rng, 1.0)
    full = terminal(rng, 2400, 2400, view, rotation=0.7)
    trestle = full.jetties[0][0]
    x0, y0 = (int(v) - SIZE // 2 for v in trestle.mean(axis=0))
    window = full.window(x0, y0, SIZE, SIZE)
    seen = Canvas(SIZE, SIZE, 1, origin=(x0, y0)).coverage(full.quays)
    moved = Canvas(SIZE, SIZE, 1).coverage(window.quays)
    assert seen is not None and moved is not None and seen[1] == moved[1]
    np.testing.assert_array_equal(seen[0], moved[0])
    assert seen[0].sum() > 500  # the trestle crosses the window
    assert len(window.tanks) <= len(full.tanks) and len(window.quays) <= len(full.quays)
    for berth in window.berths:
        assert (0 <= berth.centre).all() and (berth.centre <= SIZE).all()


@pytest.mark.parametrize("fmt", ["coco", "yolo-obb"])
def test_other_label_formats_read_back_the_same_boxes(tiles, tmp_path, fmt):
    out = tmp_path / fmt
    assert main(["synth", "tiles", str(out), "--count", "8", "--size", str(SIZE), "--seed", "3", "--format", fmt]) == 0
    mine = read_dataset(out / "val", fmt=fmt)
    dota = read_dataset(tiles / "val")
    for a, b in zip(mine.images, dota.images, strict=True):
        np.testing.assert_allclose(a.boxes()[:, :4], b.boxes()[:, :4], atol=2e-3)
    if fmt == "coco":  # carries the synthetic truth, in the manifest's vessel order
        manifest = json.loads((out / "manifest.json").read_text())
        records = [v for t in manifest["tiles"] if t["split"] == "val" for v in t["vessels"]]
        assert [v.shadow_surface for image in mine.images for v in image.vessels] == [
            r["shadow_surface"] if r["kind"] == "tanker" else None for r in records]


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
    with rasterio.open(image.image_path) as ds:
        data, tags = ds.read(), ds.tags()
        north = grid_north_deg(ds.crs, ds.transform, ds.width)
    assert data.max() > 255  # reflectance x 10,000, not 8-bit values
    view = json.loads((out / "manifest.json").read_text())["tiles"][0]["view"]
    assert float(tags["SUN_ELEVATION"]) == pytest.approx(view["sun_elevation_deg"], abs=1e-3)
    # Tags are compass bearings: the drawn (grid) azimuth plus the grid convergence.
    assert (float(tags["VIEW_AZIMUTH"]) - view["view_azimuth_deg"] - north + 180) % 360 - 180 == pytest.approx(0, abs=1e-3)


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
    (["--cues", "shadow,wake"], "argument --cues: cues must be a comma-separated list of shadow, side, bow"),
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
