"""Scenes from anywhere: URLs read by HTTP range requests, STAC items, overviews, remote failures.

Everything is served by a local server on 127.0.0.1 (tests/range_server.py) that honours
``Range`` and counts the bytes it sends; no test touches the internet.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from detect_fixtures import paint_vessel
from range_server import RangeServer

from tankerwatch.infer import Detector
from tankerwatch.infer.cli import main
from tankerwatch.infer.core.errors import RasterError
from tankerwatch.infer.runtime import sources as sources_module
from tankerwatch.infer.runtime.raster import inspect_raster, read_decimated, read_window
from tankerwatch.infer.runtime.sources import gdal_path, parse_source, resolve_source

UTM52N = "EPSG:32652"
TRANSFORM = Affine(2.5, 0.0, 675000.0, 0.0, -2.5, 4740000.0)
LONG = [420.3, 300.6, 100.0, 16.0, 0.3]  # longer than the model reaches: found by the coarse pass
SHORT = [[120.4, 110.2, 24.0, 7.0, -0.4], [760.6, 480.3, 30.0, 8.0, 1.1], [150.2, 500.7, 20.0, 6.0, 0.0]]
ITEM_TIME = "2024-06-03T01:55:42.123Z"
VIEW = {"view:sun_elevation": 61.5, "view:sun_azimuth": 141.0, "view:off_nadir": 12.25, "view:azimuth": 98.0}


def harbour() -> np.ndarray:
    """uint8 [3, 600, 900]: textured sea (so overviews are not free to fetch), one long vessel and
    three short ones in the fixture model's colour code."""
    rng = np.random.default_rng(5)
    image = (14 + rng.integers(0, 12, (3, 600, 900))).astype(np.uint8)
    paint_vessel(image, LONG, p_loaded=0.92)
    for box in SHORT:
        paint_vessel(image, box, p_loaded=0.1)
    return image


def write_tif(path, image, cog: bool):
    """A plain tiled GeoTIFF without overviews, or (``cog``) a COG with 256 px tiles and overviews."""
    plain = path.with_name(path.stem + ".plain.tif") if cog else path
    with rasterio.open(plain, "w", driver="GTiff", width=image.shape[2], height=image.shape[1],
                       count=image.shape[0], dtype=image.dtype, crs=UTM52N, transform=TRANSFORM, tiled=True,
                       blockxsize=256, blockysize=256, compress="deflate") as ds:
        ds.write(image)
        ds.update_tags(ACQUISITION_DATETIME="2024-06-03T02:00:00Z")
    if cog:
        rasterio.shutil.copy(plain, path, driver="COG", BLOCKSIZE=256, COMPRESS="DEFLATE",
                             OVERVIEW_RESAMPLING="AVERAGE")
        plain.unlink()
    return path


@pytest.fixture(scope="module")
def model(reach_model):
    return reach_model


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server over a folder holding ``scene.tif`` (COG), ``plain.tif`` (no overviews), an HTML
    error page named ``.tif``, and a STAC item pointing at the COG by a relative href."""
    root = tmp_path_factory.mktemp("www")
    image = harbour()
    write_tif(root / "scene.tif", image, cog=True)
    write_tif(root / "plain.tif", image, cog=False)
    (root / "error_page.tif").write_text("<html><body><h1>403 Forbidden</h1></body></html>\n")
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "S2X_20240603", "geometry": None,
            "properties": {"datetime": ITEM_TIME, **VIEW},
            "assets": {"thumbnail": {"href": "thumb.png", "roles": ["thumbnail"]},
                       "visual": {"href": "scene.tif", "type": "image/tiff; application=geotiff",
                                  "roles": ["visual"]}}}
    (root / "item.json").write_text(json.dumps(item))
    # A STAC API's item endpoint: no file suffix, href relative to it.
    (root / "items").mkdir()
    item["assets"]["visual"]["href"] = "../scene.tif"
    (root / "items" / "S2X_20240603").write_text(json.dumps(item))
    with RangeServer(root) as server:
        yield server


@pytest.fixture
def quick_retries(monkeypatch):
    """Retries a tenth of a second apart (the bound under test is their number, not their delay)."""
    monkeypatch.setitem(sources_module.NETWORK_OPTIONS, "GDAL_HTTP_RETRY_DELAY", "0.1")


def detect(*args) -> int:
    return main(["detect", *map(str, args), "--threads", "1", "--cluster", "none"])


def features(path) -> list[dict]:
    """The file's features less the scene's name (the only thing that differs by where it was read)."""
    collection = json.loads(path.read_text())
    for feature in collection["features"]:
        feature["properties"].pop("source")
    return collection["features"]


def test_a_cog_over_http_gives_the_detections_it_gives_from_disk(model, served, tmp_path, capsys):
    url = f"{served.url}/scene.tif"
    assert detect(model, url, "-o", tmp_path / "remote") == 0
    assert detect(model, served.root / "scene.tif", "-o", tmp_path / "local") == 0
    err = capsys.readouterr().err
    assert "coarse pass at" in err  # the coarse pass ran, over the overviews
    remote, local = features(tmp_path / "remote" / "scene.geojson"), features(tmp_path / "local" / "scene.geojson")
    assert len(remote) == 4 and remote == local
    header = json.loads((tmp_path / "remote" / "scene.geojson").read_text())["tankerwatch"]
    assert header["source"] == url  # the URL as given
    assert header["acquired"] == "2024-06-03T02:00:00Z" and header["acquired_from"] == "ACQUISITION_DATETIME"
    assert any(r == "/scene.tif" and rng and rng.startswith("bytes=") for r, rng in served.requests)


def test_a_stac_item_gives_the_raster_its_time_and_view_angles(model, served, tmp_path):
    # A URL (the href is relative to it) and a local copy of the item naming the raster's URL.
    local_item = tmp_path / "S2X_local.json"
    item = json.loads((served.root / "item.json").read_text())
    item["assets"]["visual"]["href"] = f"{served.url}/scene.tif"
    local_item.write_text(json.dumps(item))
    assert detect(model, f"{served.url}/item.json", local_item, "-o", tmp_path / "out") == 0
    reference = features(tmp_path / "out" / "item.geojson")
    assert len(reference) == 4 and features(tmp_path / "out" / "S2X_local.geojson") == reference
    for name, source in (("item", f"{served.url}/item.json"), ("S2X_local", local_item.name)):
        header = json.loads((tmp_path / "out" / f"{name}.geojson").read_text())["tankerwatch"]
        assert header["source"] == source
        assert header["acquired"] == "2024-06-03T01:55:42Z" and header["acquired_from"] == "STAC datetime"
        # The item's angles as it states them; a model without the view input feeds none (no "view").
        assert "view" not in header
        assert header["stac"] == {"item": "S2X_20240603", "asset": "visual", "href": f"{served.url}/scene.tif",
                                  "view": {"sun_elevation": 61.5, "sun_azimuth": 141.0, "off_nadir": 12.25,
                                           "azimuth": 98.0}}
    found = Detector(model, device="cpu", threads=1).detect(f"{served.url}/items/S2X_20240603")
    assert found.header["stac"]["href"] == f"{served.url}/scene.tif" and len(found) == 4
    assert found.header["acquired"] == "2024-06-03T01:55:42Z"


def test_the_api_reads_a_url(model, served):
    detector = Detector(model, device="cpu", threads=1)
    remote = detector.detect(f"{served.url}/scene.tif")
    local = detector.detect(served.root / "scene.tif")
    assert remote.header["source"] == f"{served.url}/scene.tif" and local.header["source"] == "scene.tif"
    assert [r["box_px"] for r in remote] == [r["box_px"] for r in local] and len(remote) == 4


@pytest.mark.parametrize("name, reason", [("missing.tif", "HTTP response code: 404"),
                                          ("error_page.tif", "not recognized as being in a supported file format")])
def test_a_bad_url_is_one_line_naming_it(model, served, tmp_path, capsys, quick_retries, name, reason):
    url = f"{served.url}/{name}"
    assert detect(model, url, "-o", tmp_path / "out") == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith(f"tankerwatch detect: error: {url}: cannot read it over the "
                                                     f"network ({reason}")


def test_a_batch_skips_failing_urls_and_finishes_the_rest(model, served, tmp_path, capsys, quick_retries):
    bad = [f"{served.url}/gone/missing.tif", f"{served.url}/error_page.tif", f"{served.url}/absent.json"]
    assert detect(model, bad[0], f"{served.url}/scene.tif", *bad[1:], "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    skipped = [line for line in err.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 3 and all(any(url in line for line in skipped) for url in bad)
    assert "HTTP 404" in next(line for line in skipped if "absent.json" in line)
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"scene.csv", "scene.geojson", "scene.quicklook.png"} <= written
    assert all(name.startswith("scene.") for name in written)  # nothing of the failed ones


def test_retries_are_bounded(served, tmp_path, quick_retries):
    (served.root / "flaky.tif").write_bytes((served.root / "scene.tif").read_bytes())
    (served.root / "down.tif").write_bytes((served.root / "scene.tif").read_bytes())
    served.fail_next["/flaky.tif"] = 2  # two 503s, then it answers: within the retry budget
    assert inspect_raster(f"{served.url}/flaky.tif").width == 900
    served.fail_next["/down.tif"] = 100
    with pytest.raises(RasterError, match=rf"^{served.url}/down.tif: cannot read it over the network \(.*503"):
        inspect_raster(f"{served.url}/down.tif")
    # Each request GDAL makes to open a file (at most two: its size, then its header) is tried once
    # and retried GDAL_HTTP_MAX_RETRY times, no more.
    tries = int(sources_module.NETWORK_OPTIONS["GDAL_HTTP_MAX_RETRY"]) + 1
    assert tries <= 100 - served.fail_next["/down.tif"] <= 2 * tries


def test_a_stac_fetch_is_retried_and_a_suffixless_url_is_told_apart(served, quick_retries):
    served.fail_next["/item.json"] = 1
    assert resolve_source(f"{served.url}/item.json").raster == f"{served.url}/scene.tif"
    assert served.fail_next["/item.json"] == 0
    (served.root / "rasters").mkdir(exist_ok=True)
    (served.root / "rasters" / "scene").write_bytes((served.root / "scene.tif").read_bytes())
    raster = resolve_source(f"{served.url}/rasters/scene")  # no suffix, not JSON: a raster
    assert not raster.is_stac and raster.raster == raster.text and inspect_raster(raster.text).width == 900
    with pytest.raises(RasterError, match=r"s3://bucket/item\.json: a STAC item is read from a local file or an "
                                          r"http\(s\) URL"):
        resolve_source("s3://bucket/item.json")


def test_a_cut_transfer_and_a_timeout_fail_naming_the_url(served, tmp_path, monkeypatch, quick_retries):
    for name in ("cut_once.tif", "cut.tif"):
        (served.root / name).write_bytes((served.root / "scene.tif").read_bytes())  # IFDs first
    served.cut["/cut_once.tif"] = 1  # a cut transfer is tried again, and the second try arrives whole
    np.testing.assert_array_equal(read_decimated(f"{served.url}/cut_once.tif")[0],
                                  read_decimated(served.root / "scene.tif")[0])
    assert served.cut["/cut_once.tif"] == 0
    served.cut["/cut.tif"] = 100
    assert inspect_raster(f"{served.url}/cut.tif").width == 900  # the header arrives whole
    with pytest.raises(RasterError, match=rf"^{served.url}/cut.tif: cannot decode pixels \(.*Read error") as info:
        read_decimated(f"{served.url}/cut.tif")  # the pixels do not: never a silently short scene
    assert "\n" not in str(info.value)
    tries = int(sources_module.NETWORK_OPTIONS["GDAL_HTTP_MAX_RETRY"]) + 1
    assert served.cut["/cut.tif"] == 100 - tries  # the read and its retries, no more
    (served.root / "slow.tif").write_bytes((served.root / "scene.tif").read_bytes())
    served.delay["/slow.tif"] = 1.5
    monkeypatch.setitem(sources_module.NETWORK_OPTIONS, "GDAL_HTTP_TIMEOUT", "1")
    monkeypatch.setitem(sources_module.NETWORK_OPTIONS, "GDAL_HTTP_MAX_RETRY", "1")
    with pytest.raises(RasterError, match=rf"^{served.url}/slow.tif: cannot read it over the network \(.*timed out"):
        inspect_raster(f"{served.url}/slow.tif")
    assert 2 <= sum(path == "/slow.tif" for path, _ in served.requests) <= 4  # timed out, tried once more


def test_coarse_reads_fetch_the_overviews_not_the_full_resolution_blocks(served):
    counts, windows = {}, {}
    for name in ("scene.tif", "plain.tif"):
        # A query string makes a fresh URL, so GDAL's cache of earlier tests' reads does not count.
        url = f"{served.url}/{name}?coarse"
        served.reset_counts()
        decimated, valid = read_decimated(url, max_side=225)
        windows[name], _ = read_window(url, 0, 0, 900, 600, out_size=(300, 200))
        counts[name] = served.bytes_sent
        assert decimated.shape == (3, 150, 225) and valid.all() and windows[name].shape == (3, 200, 300)
    local, _ = read_window(served.root / "scene.tif", 0, 0, 900, 600, out_size=(300, 200))
    np.testing.assert_array_equal(windows["scene.tif"], local)  # the same pixels as from disk
    # From the 2x overview (itself averaged) or from full resolution: area averages either way.
    assert np.abs(windows["scene.tif"].astype(int) - windows["plain.tif"]).mean() < 1.0
    assert counts["plain.tif"] >= 2.5 * counts["scene.tif"], counts  # 2x overview: about 4x fewer pixels


def test_sources_keep_urls_whole_and_name_outputs_safely():
    url = parse_source("https://example.test/a/b/S2%20scene.TIF?X-Amz-Signature=abc#frag")
    assert (url.name, url.stem, url.raster) == ("S2 scene.TIF", "S2_scene", url.text)
    assert gdal_path(url.text) == "/vsicurl/" + url.text and url.is_remote
    assert url.header_name == url.text
    s3 = parse_source("s3://bucket/key/scene.tif")
    assert gdal_path(s3.text) == "/vsis3/bucket/key/scene.tif" and s3.stem == "scene"
    vsi = parse_source("/vsicurl/https://example.test/x/y.tif")
    assert vsi.stem == "y" and vsi.is_remote and gdal_path(vsi.text) == vsi.text
    api = parse_source("https://example.test/collections/s2/items/S2B_33UUP_20240501_0_L2A")
    assert api.stem == "S2B_33UUP_20240501_0_L2A" and not api.is_stac  # decided when resolved
    item = parse_source("https://example.test/catalog/S2B_1/S2B_1.json")
    assert item.is_stac and item.raster is None and item.stem == "S2B_1"
    local = parse_source("/data/scenes/port.tif")
    assert (local.name, local.stem, local.header_name, local.is_remote) == ("port.tif", "port", "port.tif", False)


def test_stac_assets_dates_and_angles_are_checked(tmp_path):
    def item(assets, **properties):
        path = tmp_path / "item.json"
        path.write_text(json.dumps({"type": "Feature", "id": "x", "assets": assets,
                                    "properties": {"datetime": None, **properties}}))
        return path

    rgb = {"B04": {"href": "b4.tif", "roles": ["data"], "eo:bands": [{"common_name": "red"}]},
           "TCI": {"href": "sub/tci.tif", "roles": ["data"],
                   "eo:bands": [{"common_name": c} for c in ("red", "green", "blue")]}}
    source = resolve_source(item(rgb, start_datetime="2024-01-02T03:04:05+01:00",
                                 end_datetime="2024-01-02T03:05:00+01:00"))
    assert source.stac["asset"] == "TCI" and source.raster == str(tmp_path / "sub" / "tci.tif")
    assert (source.acquired, source.acquired_from) == ("2024-01-02T02:04:05Z", "STAC start_datetime")
    assert source.view is None
    with pytest.raises(RasterError, match=r"item\.json: STAC item has no 'visual' asset and no RGB data asset "
                                          r"\(assets: B04\)"):
        resolve_source(item({"B04": rgb["B04"]}))
    with pytest.raises(RasterError, match=r"item\.json: STAC view:sun_elevation 'high' is not an angle"):
        resolve_source(item(rgb, **{"view:sun_elevation": "high"}))
    collection = tmp_path / "many.json"
    collection.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(RasterError, match=r"many\.json: not a STAC item .*give one of its items"):
        resolve_source(collection)
    with pytest.raises(RasterError, match=r"nothing\.json: no such STAC item file"):
        resolve_source(tmp_path / "nothing.json")

