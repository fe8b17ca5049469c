"""Read a (Geo)JSON file a user handed us, failing with one line that names it."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import TankerwatchError, located


def read_json(path: str | Path, error_type: type[TankerwatchError] = TankerwatchError):
    """The parsed content of ``path``; a missing or unparsable file raises ``error_type``."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error_type(located(path, "no such file")) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error_type(located(path, f"not a readable GeoJSON file ({exc})")) from None
