"""Read AIS position reports (a CSV file) in one streamed pass, keeping only the fixes near the image times.

Columns, named in a header row (case and surrounding spaces ignored; other columns are ignored):

* ``mmsi``: the transponder's identity, a whole number from 1 to 999,999,999;
* ``time`` (or ``timestamp``, ``time_utc``, ``datetime``, ``basedatetime``): ISO 8601 with its zone
  (``2024-03-01T02:10:00Z`` or ``...+09:00``). A time without a zone stops the read whatever
  ``bad_rows`` says: local and UTC clocks are both common in AIS exports, and a guess would move
  every fix by hours;
* ``lon``/``lat`` (or ``longitude``/``latitude``): WGS84 degrees;
* optional ``length`` (or ``length_m``): the ship's length in metres from its static report (empty
  or 0 means not given, as AIS encodes it);
* optional ``ship_type`` (or ``shiptype``, ``vesseltype``): kept as text (AIS codes 80-89 are tankers).

The file is read once, row by row, so its size does not matter: a fix is kept only when it lies
within ``window_s`` of one of the image times given up front, so memory grows with the number of
vessels near those times, not with the file. A row that cannot be read (wrong number of fields, a
bad MMSI, time or position) is a *bad row*: with ``bad_rows="stop"`` the first one stops the read
with ``file:line: reason``; with ``"skip"`` each is counted, the first :data:`MAX_NAMED_BAD_ROWS`
named in :attr:`AisFile.bad_lines`, and the read goes on. Times are handled as seconds since
1970-01-01T00:00:00Z (UTC).
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import TankerwatchError, located
from .timestamps import NaiveTimeError, aware_utc_seconds

BAD_ROW_MODES = ("skip", "stop")
MAX_NAMED_BAD_ROWS = 20
COLUMN_NAMES = {
    "mmsi": ("mmsi",),
    "time": ("time", "timestamp", "time_utc", "datetime", "basedatetime"),
    "lon": ("lon", "longitude"),
    "lat": ("lat", "latitude"),
    "length": ("length", "length_m"),
    "ship_type": ("ship_type", "shiptype", "vesseltype"),
}
REQUIRED_COLUMNS = ("mmsi", "time", "lon", "lat")


class AisFileError(TankerwatchError):
    """An AIS file cannot be read, or a bad row stops the read."""


@dataclass
class AisTrack:
    """One transponder's fixes near the image times: ``times`` in UTC seconds (sorted),
    ``lonlat`` ``[N, 2]`` WGS84 degrees; static ``length_m`` and ``ship_type`` when any row gave them."""

    mmsi: int
    times: np.ndarray
    lonlat: np.ndarray
    length_m: float | None = None
    ship_type: str | None = None


@dataclass
class AisFile:
    path: Path
    tracks: dict[int, AisTrack]
    rows: int = 0  # data rows read, bad ones included
    kept: int = 0  # fixes within the window of an image time
    bad: int = 0
    bad_lines: list[str] = field(default_factory=list)  # ``file:line: reason`` of the first MAX_NAMED_BAD_ROWS


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    found = {}
    for column, aliases in COLUMN_NAMES.items():
        for alias in aliases:
            if alias in names:
                found[column] = names.index(alias)
                break
    missing = [c for c in REQUIRED_COLUMNS if c not in found]
    if missing:
        raise AisFileError(located(path, f"no {', '.join(missing)} column in the header (found: "
                                         f"{', '.join(names) or 'nothing'}); see the AIS columns in the README", 1))
    return found


def _number(text: str, name: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not low <= value <= high:  # also refuses nan
        raise ValueError(f"{name} {text!r} is outside [{low:g}, {high:g}]")
    return value


def read_ais(path: str | Path, image_times_s: Sequence[float], window_s: float,
             bad_rows: str = "skip") -> AisFile:
    """Stream ``path`` (module doc) and keep each fix within ``window_s`` seconds of one of
    ``image_times_s`` (UTC seconds)."""
    if bad_rows not in BAD_ROW_MODES:
        raise ValueError(f"bad_rows must be one of {BAD_ROW_MODES}, got {bad_rows!r}")
    path = Path(path)
    centres = sorted(float(t) for t in image_times_s)
    fixes: dict[int, list[tuple[float, float, float]]] = {}
    lengths: dict[int, float] = {}
    types: dict[int, str] = {}
    result = AisFile(path, {})
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise AisFileError(located(path, "no such file")) from None
    except OSError as exc:
        raise AisFileError(located(path, f"cannot read ({exc.strerror})")) from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise AisFileError(located(path, "empty file: expected a header row and AIS fixes"))
            cols = _columns(path, header)
            width = len(header)
            i_mmsi, i_time, i_lon, i_lat = (cols[c] for c in REQUIRED_COLUMNS)
            i_length, i_type = cols.get("length"), cols.get("ship_type")
            for row in reader:
                if not row:
                    continue  # a blank line carries nothing
                result.rows += 1
                try:
                    if len(row) != width:
                        raise ValueError(f"{len(row)} fields where the header has {width}")
                    try:
                        mmsi = int(row[i_mmsi])
                    except ValueError:
                        raise ValueError(f"MMSI {row[i_mmsi]!r} is not a whole number") from None
                    if not 0 < mmsi <= 999_999_999:
                        raise ValueError(f"MMSI {mmsi} is outside 1-999999999")
                    try:
                        t = aware_utc_seconds(row[i_time])
                    except NaiveTimeError:
                        raise
                    except ValueError:
                        raise ValueError(f"time {row[i_time]!r} is not an ISO 8601 date-time") from None
                    lon = _number(row[i_lon], "lon", -180.0, 180.0)
                    lat = _number(row[i_lat], "lat", -90.0, 90.0)
                    length = None
                    if i_length is not None and row[i_length].strip():
                        length = _number(row[i_length], "length", 0.0, 1000.0)
                except NaiveTimeError as exc:
                    raise AisFileError(located(path, str(exc), reader.line_num)) from None
                except ValueError as exc:
                    if bad_rows == "stop":
                        raise AisFileError(located(path, f"bad row: {exc}", reader.line_num)) from None
                    result.bad += 1
                    if len(result.bad_lines) < MAX_NAMED_BAD_ROWS:
                        result.bad_lines.append(located(path, f"bad row skipped: {exc}", reader.line_num))
                    continue
                if length:  # 0 is AIS's "not available"
                    lengths[mmsi] = length
                if i_type is not None and row[i_type].strip():
                    types[mmsi] = row[i_type].strip()
                k = bisect.bisect_left(centres, t)
                if (k < len(centres) and centres[k] - t <= window_s) or (k > 0 and t - centres[k - 1] <= window_s):
                    fixes.setdefault(mmsi, []).append((t, lon, lat))
        except csv.Error as exc:
            raise AisFileError(located(path, f"not a readable CSV file ({exc})", reader.line_num)) from None
        except UnicodeDecodeError:
            raise AisFileError(located(path, "not UTF-8 text", reader.line_num + 1)) from None
    if result.rows == result.bad:
        raise AisFileError(located(path, "no readable AIS fix" + (f" ({result.bad} bad rows)" if result.bad else "")))
    for mmsi, rows in fixes.items():
        array = np.asarray(sorted(rows), dtype=np.float64)
        result.tracks[mmsi] = AisTrack(mmsi, array[:, 0], array[:, 1:3], lengths.get(mmsi), types.get(mmsi))
        result.kept += len(rows)
    return result
