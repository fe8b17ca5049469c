"""Acquisition times as the project writes them: UTC, ``YYYY-MM-DDTHH:MM:SSZ``."""

from __future__ import annotations

from datetime import datetime, timezone


def normalise_utc(text: str) -> str:
    """``text`` (ISO 8601; a trailing ``Z`` or no zone at all both mean UTC) as ``YYYY-MM-DDTHH:MM:SSZ``.

    Raises ``ValueError`` for anything that is not an ISO 8601 date-time; callers add the file or
    flag it came from.
    """
    raw = text.strip()
    stamp = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith("Z") else raw)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class NaiveTimeError(ValueError):
    """An ISO 8601 date-time without a zone where one is required."""


def aware_utc_seconds(text: str) -> float:
    """Seconds since 1970-01-01T00:00:00Z of an ISO 8601 date-time that states its zone (``Z`` or
    ``+HH:MM``), for inputs such as AIS fixes where local and UTC clocks are both common.

    Raises :class:`NaiveTimeError` for a time without a zone (never guessed), ``ValueError`` for
    anything that is not an ISO 8601 date-time.
    """
    raw = text.strip()
    stamp = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    if stamp.tzinfo is None:
        raise NaiveTimeError(f"time {raw!r} has no zone (write it as UTC with a Z or an offset such as +00:00)")
    return stamp.timestamp()
