"""tankerwatch.infer: the torch-free core, what an analyst installs.

Importing this package, or any module in it, never imports torch, torchvision, lightning or
albumentations: analysts run it on a base install with onnxruntime alone. Its parts, by role:

- :mod:`.core`: errors, atomic writes, oriented boxes, georeferencing, the label model, the tanker
  size table; every other part builds on it.
- :mod:`.evaluation`: metrics (one definition everywhere) and the colour-only baseline.
- :mod:`.runtime`: raster reading, scaling, tiling, the ONNX model, ``detect`` and its files.
- :mod:`.formats`: labelled datasets in DOTA, YOLO-OBB, COCO and GeoJSON.
- :mod:`.synth`: the synthetic port generator (numpy only).
- :mod:`.report`: tracking, events, volumes and the terminal report.
- :mod:`.commands` and :mod:`.cli`: the ``tankerwatch`` command line.
- :mod:`.api`: the Python API, :class:`Detector` and :class:`Detections`, importable from here.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tankerwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["Detections", "Detector", "__version__"]


def __getattr__(name: str):
    # The API is imported on first use, so `import tankerwatch.infer.<anything>` (the CLI's start
    # among them) does not pay for onnxruntime and rasterio.
    if name in ("Detector", "Detections"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
