"""A broken scene never passes as an empty sea: every cut or corrupt file fails with one line that
names it, leaves no output, and a folder run finishes the good scenes, exits 1 and retries the
broken ones on the next run (they are not marked done)."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from detect_fixtures import paint_vessel
from PIL import Image

from tankerwatch.infer.cli import main
from tankerwatch.infer.core.errors import RasterError
from tankerwatch.infer.runtime.raster import read_decimated, read_image

CUT_POINTS = (0.1, 0.5, 0.9, 0.999)


def harbour(size=256) -> np.ndarray:
    """A textured sea (so codecs cannot squeeze it to a few bytes) with one painted vessel."""
    rng = np.random.default_rng(3)
    image = (20 + rng.integers(0, 12, (3, size, size))).astype(np.uint8)
    paint_vessel(image, [size / 2 + 0.5, size / 2 + 0.5, 30.0, 8.0, 0.5])
    return image


def write_geotiff(path, image, **profile):
    options = dict(driver="GTiff", width=image.shape[2], height=image.shape[1], count=image.shape[0],
                   dtype=image.dtype, crs="EPSG:32652", transform=Affine(2.0, 0, 675000.0, 0, -2.0, 4740000.0))
    options.update(profile)
    with rasterio.open(path, "w", **options) as ds:
        ds.write(image)
    return path


def write_picture(path, image):
    Image.fromarray(image.transpose(1, 2, 0)).save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
    return path


def cut(path, share, target):
    data = path.read_bytes()
    target.write_bytes(data[: int(len(data) * share)])
    return target


def corrupt_a_tile(path, target):
    """Zero 2 kB in the middle of a deflate-compressed tiled GeoTIFF: a bad tile, intact header."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2048] = bytes(2048)
    target.write_bytes(bytes(data))
    return target


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    folder = tmp_path_factory.mktemp("originals")
    image = harbour()
    return {
        ".png": write_picture(folder / "scene.png", image),
        ".jpg": write_picture(folder / "scene.jpg", image),
        ".tif": write_geotiff(folder / "scene.tif", image, tiled=True, blockxsize=64, blockysize=64,
                              compress="deflate"),
    }


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
@pytest.mark.parametrize("share", CUT_POINTS)
def test_a_cut_file_is_refused_in_one_line_naming_it(originals, tmp_path, suffix, share):
    read_image(originals[suffix])  # the whole file is fine
    broken = cut(originals[suffix], share, tmp_path / f"cut{suffix}")
    for read in (read_image, read_decimated):
        with pytest.raises(RasterError) as info:
            read(broken)
        message = str(info.value)
        assert message.startswith(str(broken)) and "\n" not in message
        assert "See previous exception" not in message  # GDAL's own words, not rasterio's wrapper


def test_a_corrupt_tile_is_refused_with_gdals_reason(originals, tmp_path):
    broken = corrupt_a_tile(originals[".tif"], tmp_path / "bad_tile.tif")
    with pytest.raises(RasterError, match=r"bad_tile\.tif: cannot decode pixels \(.*(Decod|Read|TIFF)"):
        read_image(broken)


def test_folder_run_finishes_the_good_scene_and_retries_the_broken_ones(blob_model, originals, tmp_path, capsys):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_geotiff(scenes / "a_good.tif", harbour())
    cut(originals[".png"], 0.33, scenes / "b_cut.png")
    cut(originals[".jpg"], 0.9, scenes / "c_cut.jpg")
    cut(originals[".tif"], 0.6, scenes / "d_cut.tif")
    corrupt_a_tile(originals[".tif"], scenes / "e_bad_tile.tif")
    (scenes / "f_empty.tif").write_bytes(b"")
    (scenes / "g_error_page.tif").write_text("<html><body><h1>502 Bad Gateway</h1></body></html>\n")
    broken = ["b_cut.png", "c_cut.jpg", "d_cut.tif", "e_bad_tile.tif", "f_empty.tif", "g_error_page.tif"]
    out = tmp_path / "out"

    assert main(["detect", str(blob_model), str(scenes), "-o", str(out), "--threads", "1"]) == 1
    err = capsys.readouterr().err
    skipped = [line for line in err.splitlines() if line.startswith("skipped")]
    assert sorted(name for name in broken if any(name in line for line in skipped)) == broken
    assert len(skipped) == len(broken)
    written = {p.name for p in out.iterdir()}
    assert {"a_good.csv", "a_good.geojson", "a_good.quicklook.png"} <= written
    assert all(name.startswith("a_good.") for name in written)  # nothing of the broken scenes

    # Nothing of the broken scenes was marked done: the rerun tries each of them again.
    assert main(["detect", str(blob_model), str(scenes), "-o", str(out), "--threads", "1"]) == 1
    captured = capsys.readouterr()
    assert len([line for line in captured.err.splitlines() if line.startswith("skipped")]) == len(broken)
    assert "already done" in captured.out


@pytest.mark.parametrize("name", ["cut.png", "empty.tif"])
def test_a_single_broken_scene_is_an_error_with_no_output(blob_model, originals, tmp_path, capsys, name):
    scene = tmp_path / name
    if name == "empty.tif":
        scene.write_bytes(b"")
    else:
        cut(originals[".png"], 0.5, scene)
    assert main(["detect", str(blob_model), str(scene), "-o", str(tmp_path / "out"), "--threads", "1"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("tankerwatch detect: error: ") and name in errors[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
