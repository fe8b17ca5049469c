"""Synthetic port imagery with exact ground truth (numpy only, no torch).

- :mod:`.physics`: sun and view geometry, shadow and hull-side widths, tanker specs and drafts.
- :mod:`.canvas`, :mod:`.background`, :mod:`.vessels`, :mod:`.effects`, :mod:`.render`: drawing.
- :mod:`.placement`: where vessels go (berths, anchorage, alongside).
- :mod:`.sts`: ship-to-ship pairs and berth rafts, with their truth, in scenes and series.
- :mod:`.tiles`, :mod:`.scene`, :mod:`.series`: the three products ``tankerwatch synth`` writes.
"""

from .scene import SceneSettings, write_scene
from .series import write_series
from .tiles import TileSettings, write_tiles

__all__ = [
    "TileSettings",
    "write_tiles",
    "SceneSettings",
    "write_scene",
    "write_series",
]
