"""A STAC item as a scene: which asset holds the picture, when it was taken, from where the sun shone.

Read with the standard library (an item is one small JSON document; the few fields used here do
not need pystac). From a local file or an ``http(s)://`` URL (fetched with bounded retries on 429
and 5xx, as many times and as patiently as GDAL is told to in
:data:`~tankerwatch.infer.runtime.sources.NETWORK_OPTIONS`).

* Raster: the asset keyed ``visual``, else the first asset with role ``visual``, else the first
  with role ``data`` whose ``eo:bands`` (STAC 1.0) or ``bands`` (1.1) name ``red``, ``green`` and
  ``blue``. A relative ``href`` is resolved against the item's own location.
* Acquisition time: ``properties.datetime`` (UTC), else ``start_datetime`` for an item that
  covers an interval; ``acquired_from`` says which.
* Angles (view extension, degrees): ``view:sun_elevation``, ``view:sun_azimuth``,
  ``view:off_nadir``, ``view:incidence_angle``, ``view:azimuth``, kept under their names without
  the prefix; azimuths are geographic (clockwise from north), as STAC defines them.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from ..core.errors import RasterError, first_line, located
from ..core.timestamps import normalise_utc
from .sources import network_option

# The largest item document read: items are kilobytes; a bigger body is not an item.
MAX_ITEM_BYTES = 16 * 2**20
RETRY_STATUS = (429, 500, 502, 503, 504)
# Allowed range per view angle (degrees).
VIEW_ANGLES = {"sun_elevation": (-90.0, 90.0), "sun_azimuth": (0.0, 360.0), "off_nadir": (0.0, 90.0),
               "incidence_angle": (0.0, 90.0), "azimuth": (0.0, 360.0)}
RGB = {"red", "green", "blue"}


@dataclass(frozen=True)
class StacScene:
    item_id: str | None
    asset: str
    href: str
    acquired: str | None
    acquired_from: str | None
    view: dict | None


def fetch_item_if_json(url: str) -> dict | None:
    """The JSON document at ``url`` if it serves one (judged by its first byte), else None."""
    return _fetch(url, sniff=True)


def read_item(item: dict | None, where: str) -> StacScene:
    """The scene an item describes (module doc). ``item`` is the parsed document, or None to read
    it from ``where`` (a local path or an http(s) URL), which errors name."""
    if item is None:
        url = where[len("/vsicurl/"):] if where.startswith("/vsicurl/") else where
        if url.lower().startswith(("http://", "https://")):
            item = _fetch(url)
        elif "://" in url or url.startswith("/vsi"):
            raise RasterError(located(where, "a STAC item is read from a local file or an http(s) URL"))
        else:
            item = _read_local(url)
    if not isinstance(item, dict) or item.get("type") != "Feature" or not isinstance(item.get("assets"), dict):
        kind = item.get("type") if isinstance(item, dict) else type(item).__name__
        hint = ": give one of its items" if kind == "FeatureCollection" else ""
        raise RasterError(located(where, f"not a STAC item (type {kind!r}, expected a Feature with assets){hint}"))
    properties = item.get("properties") if isinstance(item.get("properties"), dict) else {}
    key, asset = _pick_asset(item["assets"], where)
    href = asset["href"]
    base = where if where.lower().startswith(("http://", "https://")) else Path(where).resolve().parent.as_uri() + "/"
    if "://" not in href and not href.startswith("/"):
        href = urljoin(base, href)
        href = href[len("file://"):] if href.startswith("file://") else href
    acquired, acquired_from = _acquired(properties, where)
    return StacScene(item_id=item.get("id"), asset=key, href=href, acquired=acquired, acquired_from=acquired_from,
                     view=_view(properties, where))


def _pick_asset(assets: dict, where: str) -> tuple[str, dict]:
    def roles(asset):
        return set(asset.get("roles") or [])

    def rgb(asset):
        bands = asset.get("eo:bands") or asset.get("bands") or []
        names = {b.get("common_name") or b.get("eo:common_name") for b in bands if isinstance(b, dict)}
        return RGB <= names

    usable = {k: a for k, a in assets.items() if isinstance(a, dict) and isinstance(a.get("href"), str)}
    choices = ([("visual", usable["visual"])] if "visual" in usable else []) + \
        [(k, a) for k, a in usable.items() if "visual" in roles(a)] + \
        [(k, a) for k, a in usable.items() if "data" in roles(a) and rgb(a)]
    if not choices:
        raise RasterError(located(where, f"STAC item has no 'visual' asset and no RGB data asset "
                                         f"(assets: {', '.join(assets) or 'none'})"))
    return choices[0]


def _acquired(properties: dict, where: str) -> tuple[str | None, str | None]:
    for key in ("datetime", "start_datetime"):
        text = properties.get(key)
        if text is None:
            continue
        try:
            return normalise_utc(str(text)), f"STAC {key}"
        except ValueError:
            raise RasterError(located(where, f"STAC {key} {text!r} is not an ISO 8601 date-time")) from None
    return None, None


def _view(properties: dict, where: str) -> dict | None:
    view = {}
    for name, (low, high) in VIEW_ANGLES.items():
        value = properties.get(f"view:{name}")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            raise RasterError(located(where, f"STAC view:{name} {value!r} is not an angle in [{low:g}, {high:g}] "
                                             f"degrees"))
        view[name] = float(value)
    return view or None


def _read_local(path: str):
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_ITEM_BYTES + 1)
    except FileNotFoundError:
        raise RasterError(located(path, "no such STAC item file")) from None
    except OSError as exc:
        raise RasterError(located(path, f"cannot read the STAC item ({exc.strerror})")) from None
    return _parse(data, path)


def _parse(data: bytes, where: str):
    if len(data) > MAX_ITEM_BYTES:
        raise RasterError(located(where, f"over {MAX_ITEM_BYTES // 2**20} MB: not a STAC item"))
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RasterError(located(where, f"not a JSON STAC item ({first_line(exc)})")) from None


def _fetch(url: str, sniff: bool = False):
    """GET ``url`` with bounded retries; the parsed JSON (``sniff``: None if the body does not
    start like JSON, without reading the rest)."""
    retries = int(network_option("GDAL_HTTP_MAX_RETRY"))
    delay = float(network_option("GDAL_HTTP_RETRY_DELAY"))
    timeout = float(network_option("GDAL_HTTP_TIMEOUT"))
    attempt = 0
    while True:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                head = response.read(1)
                if sniff and head not in (b"{", b"["):
                    return None
                return _parse(head + response.read(MAX_ITEM_BYTES), url)
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRY_STATUS or attempt == retries:
                raise RasterError(located(url, f"HTTP {exc.code} ({exc.reason})")) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == retries:
                reason = getattr(exc, "reason", exc)
                raise RasterError(located(url, f"cannot fetch ({first_line(reason)}) after "
                                               f"{retries + 1} tries")) from None
        time.sleep(delay * 2**attempt)
        attempt += 1
