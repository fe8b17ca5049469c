"""Where a scene comes from: a local file, a GDAL path, a URL, or a STAC item pointing at one.

An input is kept as the text the user gave until it is resolved (``pathlib.Path`` would collapse
``https://host`` into ``https:/host``):

* a local file path: opened as it is;
* a GDAL virtual path (``/vsicurl/...``, ``/vsis3/...``, ``/vsizip/...``): opened as it is;
* ``http://`` / ``https://`` URLs: read through GDAL's ``/vsicurl/``, by HTTP range requests, so a
  cloud-optimised GeoTIFF is read block by block and overview by overview, never downloaded whole;
* ``s3://bucket/key``: through ``/vsis3/`` (credentials from the usual AWS variables or files);
* a STAC item (a ``.json`` file or URL, or a URL without a file suffix that serves JSON): the
  raster is its ``visual`` asset (else an RGB one, :mod:`tankerwatch.infer.runtime.stac`), its
  ``datetime`` becomes the acquisition time and its ``view:`` angles are carried along.

Network reads run under :func:`network_env`: GDAL retries a failed request (HTTP 429 and 5xx, a
timeout) a bounded number of times (:data:`NETWORK_OPTIONS`; a variable already set in the
environment wins) and does not list the remote folder looking for sidecar files; a read cut short
is tried again as many times on a fresh open (:mod:`~tankerwatch.infer.runtime.raster`), so network
files are not cached across opens. When every try fails, the scene fails with one line naming the
URL and is not marked done.

Output files are named ``<stem>.*`` where the stem comes from the text alone: a local file's stem
as before, else the last path component without query or fragment, less a known file suffix, with
characters other than letters, digits, ``.``, ``-`` and ``_`` replaced by ``_``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import rasterio

# GDAL prefixes for each URL scheme we accept.
SCHEMES = {"http://": "/vsicurl/", "https://": "/vsicurl/", "s3://": "/vsis3/"}
# GDAL virtual file systems that go over the network.
NETWORK_VSI = ("/vsicurl", "/vsis3", "/vsigs", "/vsiaz", "/vsiadls", "/vsioss", "/vsiswift", "/vsiwebhdfs")
STAC_SUFFIXES = (".json", ".geojson")
# Suffixes dropped from the last path component to make an output stem.
KNOWN_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".jp2", ".vrt", ".img", *STAC_SUFFIXES)
# GDAL settings for network reads: retries with a growing delay for HTTP 429/5xx and timed-out
# requests, a request timeout, and no directory listing on open (a remote "folder" listing is slow, often forbidden,
# and only finds sidecar files a cloud scene does not have).
NETWORK_OPTIONS = {
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_CONNECTTIMEOUT": "15",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
}
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Source:
    """One scene input. ``text`` is what the user gave (named in errors, recorded as the detection
    header's ``source`` when remote); ``name`` the last path component (messages, quick-look
    title); ``stem`` the output file stem (module doc); ``raster`` the raster to open, as a path or
    URL (:func:`gdal_path` gives GDAL's name for it): ``text`` itself, or for a STAC item its
    asset's href once :func:`resolve_source` has read it (None before); ``is_stac`` whether
    ``text`` is a STAC item.

    Filled in from a STAC item by :func:`resolve_source`: ``acquired`` (UTC ISO 8601) with
    ``acquired_from``, ``view`` (the item's ``view:`` angles in degrees, keys without the prefix)
    and ``stac`` (item id, asset key and href).
    """

    text: str
    name: str
    stem: str
    raster: str | None
    is_stac: bool = False
    acquired: str | None = None
    acquired_from: str | None = None
    view: dict | None = None
    stac: dict | None = None

    def __str__(self) -> str:
        return self.text

    @property
    def is_remote(self) -> bool:
        return bool(_scheme(self.text)) or is_network(self.text)

    @property
    def header_name(self) -> str:
        """The detection header's ``source``: a remote input as given, a local file's name."""
        return self.text if self.is_remote else self.name


def parse_source(item) -> Source:
    """A :class:`Source` from a path or text, without reading anything."""
    if isinstance(item, Source):
        return item
    if isinstance(item, Path):
        is_stac = _is_stac_name(item.name)
        return Source(str(item), item.name, item.stem, None if is_stac else str(item), is_stac=is_stac)
    text = str(item)
    scheme = _scheme(text)
    if not scheme and not text.startswith("/vsi"):
        return parse_source(Path(text))
    name = unquote(urlsplit(text).path.rstrip("/").rsplit("/", 1)[-1]) if scheme else text.rstrip("/").rsplit("/", 1)[-1]
    stem = UNSAFE.sub("_", _strip_known_suffix(name)).strip("._") or "scene"
    is_stac = _is_stac_name(name)
    return Source(text, name or text, stem, None if is_stac else text, is_stac=is_stac)


def resolve_source(item) -> Source:
    """:func:`parse_source`, then for a STAC item (or a suffix-less URL that serves one) read it:
    the raster to open, acquisition time and view angles (:mod:`tankerwatch.infer.runtime.stac`).
    Raises RasterError naming the item or URL when it cannot."""
    from .stac import fetch_item_if_json, read_item

    source = parse_source(item)
    if source.is_stac and source.raster is None:
        scene = read_item(None, source.text)
    elif not source.is_stac and _scheme(source.text) in ("http://", "https://") and "." not in source.name:
        # A URL with no file suffix (a STAC API's item endpoint, say) may serve JSON or a raster.
        found = fetch_item_if_json(source.text)
        if found is None:
            return source
        scene = read_item(found, source.text)
    else:  # a raster, or an item already read
        return source
    return dataclasses.replace(source, is_stac=True, raster=scene.href, acquired=scene.acquired,
                               acquired_from=scene.acquired_from, view=scene.view,
                               stac={"item": scene.item_id, "asset": scene.asset, "href": scene.href})


def gdal_path(text) -> str:
    """The path GDAL opens for ``text``: URLs get their ``/vsi`` prefix, anything else is unchanged."""
    text = str(text)
    scheme = _scheme(text)
    if not scheme:
        return text
    return SCHEMES[scheme] + (text[len(scheme):] if scheme == "s3://" else text)


def is_network(path) -> bool:
    """Whether GDAL reads ``path`` (a GDAL path, e.g. from :func:`gdal_path`) over the network."""
    text = str(path)
    return any(prefix in text for prefix in NETWORK_VSI)


def network_env(path):
    """A ``rasterio.Env`` with :data:`NETWORK_OPTIONS` (less any set in the environment) for a
    network path; a no-op context for anything else (local sidecar files such as ``.ovr`` and
    ``.msk`` must still be found)."""
    if not is_network(path):
        return contextlib.nullcontext()
    prefix = next(vsi for vsi in NETWORK_VSI if vsi in str(path))
    # Not cached across opens: a transfer cut short would otherwise stay in GDAL's cache for the
    # process, and reading again (raster._read's retry, a rerun in the same worker) meet it again.
    return rasterio.Env(CPL_VSIL_CURL_NON_CACHED=prefix + "/",
                        **{key: network_option(key) for key in NETWORK_OPTIONS})


def network_option(key: str) -> str:
    """A :data:`NETWORK_OPTIONS` setting, or the environment's value for it when set there."""
    return os.environ.get(key, NETWORK_OPTIONS[key])


def _scheme(text: str) -> str | None:
    lowered = text[:8].lower()
    return next((scheme for scheme in SCHEMES if lowered.startswith(scheme)), None)


def _is_stac_name(name: str) -> bool:
    return name.lower().endswith(STAC_SUFFIXES)


def _strip_known_suffix(name: str) -> str:
    lowered = name.lower()
    for suffix in KNOWN_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
