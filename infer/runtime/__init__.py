"""Running an exported model on scenes: the analyst's path, onnxruntime and numpy only.

- :mod:`.raster`: capped, located reading of GeoTIFF / PNG / JPEG scenes and windows.
- :mod:`.scaling`: the model's band selection and raw-value-to-uint8 mapping.
- :mod:`.tiling`: overlapping tiles, the coarse pass and the merge across tiles.
- :mod:`.onnx_model`: the ONNX contract, metadata checks and the onnxruntime session.
- :mod:`.detect`: one scene in, detections out.
- :mod:`.batch`: many scenes into one folder, done ones skipped, in this process or on a cluster.
- :mod:`.distributed`: scenes as Dask tasks, one session per worker (the ``cluster`` extra; imported
  only when a cluster is used).
- :mod:`.detection_file`: the GeoJSON / CSV detection file schema, written and read.
- :mod:`.quicklook`: the quick-look picture.
- :mod:`.sts`: vessels rafted side by side (ship-to-ship candidates), by geometry.
"""

from .detect import SceneResult, detect_scene, output_paths
from .detection_file import Detection, DetectionFile, read_detection_file, write_detection_files
from .onnx_model import ModelInfo, OnnxDetector, Outputs
from .quicklook import render_quicklook, write_quicklook
from .raster import RasterInfo, inspect_raster, open_raster, read_image, read_window
from .scaling import Scaling

__all__ = [
    "inspect_raster",
    "open_raster",
    "RasterInfo",
    "read_image",
    "read_window",
    "Scaling",
    "ModelInfo",
    "OnnxDetector",
    "Outputs",
    "detect_scene",
    "output_paths",
    "SceneResult",
    "Detection",
    "DetectionFile",
    "read_detection_file",
    "write_detection_files",
    "render_quicklook",
    "write_quicklook",
]
