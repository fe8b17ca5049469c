"""tankerwatch.infer: the torch-free core.

Label model and formats, box geometry, metrics, raster I/O and scaling, the detection file schema,
``detect``, ``report`` and the ``tankerwatch`` command line. Importing this package (or any module
in it) never imports torch, torchvision, lightning or albumentations: analysts run it on a base
install with onnxruntime alone.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tankerwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
