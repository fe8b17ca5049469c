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
