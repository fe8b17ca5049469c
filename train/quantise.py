"""int8 and fp16 variants of an exported fp32 model, and the images int8 is calibrated on.

Both variants keep the fp32 file's input and output types (uint8 in, float32 and int64 out) and its
``tankerwatch.*`` metadata, with ``precision`` set to ``int8`` or ``fp16``:

* int8: static quantisation with onnxruntime's tools, QDQ format, calibrated on real images
  (:data:`CALIBRATION_METHOD` ranges); the network is quantised (activations stay int8 from one
  convolution to the next) except the convolution that reads the image and the heads' output
  convolutions, and the in-graph box decoding and the sampling of hull windows and profiles stay float, so scores and
  coordinates keep their precision;
* fp16 (for GPUs): the network's convolutions run in float16, the in-graph decoding stays float32
  (box coordinates up to 8,192 px would lose whole pixels in float16).

Which nodes are "the network" is read from the graph (:func:`_split_graph`): everything upstream of
the detector's head convolutions; the rest is decoding.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import onnx

from tankerwatch.infer.core.atomic import atomic_path
from tankerwatch.infer.core.errors import ModelError
from tankerwatch.infer.runtime.onnx_model import INPUT_NAME, VIEW_INPUT_NAME, file_sha256
from tankerwatch.infer.runtime.scaling import Scaling
from tankerwatch.models.detector import HEAD_OUTPUTS

from .export import check_onnx, example_views, model_input, read_metadata_values, set_metadata

# int8 activation ranges by entropy (the range whose quantised histogram keeps the most of the
# calibration values' distribution): the extremes waste the 8 bits on rare outliers and a fixed
# percentile clips what matters for some layers. The first convolution stays in float: small
# vessels' boxes, a few pixels wide, hang on the full-resolution features it makes from the raw
# image (docs/experiments.md has the figures behind both choices).
CALIBRATION_METHOD = "Entropy"


class _CalibrationReader:
    """onnxruntime CalibrationDataReader over uint8 images ``[C, H, W]``, one at a time, in the
    strided form (``__len__``, ``set_range``) that lets the calibrator take one image per pass."""

    def __init__(self, images: list[np.ndarray], with_view: bool):
        self._images = images
        self._with_view = with_view
        self._iter = iter(images)

    def __len__(self) -> int:
        return len(self._images)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._iter = iter(self._images[start_index:end_index])

    def get_next(self):
        image = next(self._iter, None)
        if image is None:
            return None
        # The view row only feeds float geometry downstream of the network: any valid row will do.
        return {INPUT_NAME: image[None], **({VIEW_INPUT_NAME: example_views(1)} if self._with_view else {})}


def quantize_int8(fp32_path, out_path, calibration_images: list[np.ndarray]) -> str:
    """Static int8 quantisation (QDQ, per-channel int8 weights, uint8 activations) of the
    network part of ``fp32_path`` (decoding stays float), calibrated on ``calibration_images`` (uint8 ``[C, H, W]``, the
    model's scaled input); metadata carried over with ``precision: int8``. Returns the model id."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration_images:
        raise ModelError(f"{out_path}: int8 quantisation needs calibration images (--calib DIR)")
    source = onnx.load(str(fp32_path))
    values = read_metadata_values(source)
    with tempfile.TemporaryDirectory(dir=Path(out_path).parent) as tmp_dir, atomic_path(out_path) as tmp:
        prepared = Path(tmp_dir) / "prepared.onnx"
        with contextlib.redirect_stdout(io.StringIO()):
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            prepared_graph = onnx.load(str(prepared)).graph
            network, head_convs = _split_graph(prepared_graph)
            # The heads' outputs set peak scores and box sizes directly: they stay float, as does all
            # decoding downstream of them (peak selection, the quality rescoring, and the load stage
            # and hull-window type head, which sample the image at decoded box coordinates that 8 bits cannot hold),
            # and so do the image's scaling and the convolution that reads it (see CALIBRATION_METHOD).
            keep_float = head_convs + _before_convs(prepared_graph) + [
                n.name for n in prepared_graph.node if n.name not in network]
            with_view = VIEW_INPUT_NAME in [i.name for i in prepared_graph.input]
            try:
                quantize_static(str(prepared), str(tmp), _CalibrationReader(calibration_images, with_view),
                                quant_format=QuantFormat.QDQ, nodes_to_exclude=keep_float, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod[CALIBRATION_METHOD],
                                # One image per calibration pass: the calibrator stacks a pass's tensors
                                # with np.asarray, which fails when they differ in shape, as they do
                                # across images of different sizes or numbers of detections.
                                extra_options={"CalibStridedMinMax": 1})
            except (ValueError, MemoryError) as error:
                # The entropy calibrator keeps each activation's histogram at the bin width of the
                # first image's range; a layer all but silent there and active later asks for
                # billions of bins (numpy refuses them, or cannot allocate them).
                if isinstance(error, ValueError) and "bins" not in str(error):
                    raise
                raise ModelError(f"{out_path}: int8 calibration failed ({str(error).splitlines()[0][:120]}): "
                                 f"a layer barely active on the first calibration image; calibrate on images "
                                 f"like the ones the model will see (--calib)") from None
        proto = onnx.load(str(tmp))
        set_metadata(proto, {**values, "precision": "int8"})
        check_onnx(proto, out_path, values["format_version"])
        onnx.save(proto, str(tmp))
    return file_sha256(out_path)


def _downstream_of_nodes(graph: onnx.GraphProto, start: list[onnx.NodeProto]) -> set[str]:
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found: set[str] = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        if node.name in found:
            continue
        found.add(node.name)
        stack.extend(nxt for out in node.output for nxt in consumers.get(out, []))
    return found


def _before_convs(graph: onnx.GraphProto) -> list[str]:
    """Names of the nodes with no convolution before them: the input's scaling and padding and the
    convolutions that read their result. The scaling is quantisable (a batch norm) but the load
    stage and the type head sample its output too, at sub-pixel positions 8 bits would blur."""
    after_conv = set()
    for node in graph.node:
        if node.op_type == "Conv":
            after_conv |= _downstream_of_nodes(graph, [node]) - {node.name}
    return [n.name for n in graph.node if n.name not in after_conv]


def _split_graph(graph: onnx.GraphProto) -> tuple[set[str], list[str]]:
    """``(network, head_convs)``: names of the nodes the network proper consists of (backbone, neck,
    head trunk and the head convolutions), as opposed to the in-graph decoding after it, and of the
    head convolutions (heatmap, regression, type and quality logits). Those are the 1x1
    convolutions that all read the one shared trunk tensor, the only tensor that feeds as many
    convolutions as there are head maps; everything downstream of them is decoding, the
    load stage and the hull-window type head included (they sample the image at decoded boxes)."""
    producer = {out: node for node in graph.node for out in node.output}
    conv_readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        if node.op_type == "Conv" and node.input:
            conv_readers.setdefault(node.input[0], []).append(node)
    trunk, readers = max(conv_readers.items(), key=lambda item: len(item[1]), default=(None, []))
    if len(readers) != len(HEAD_OUTPUTS):
        raise ModelError(f"cannot find the detector's heads in the graph: the most-read tensor {trunk!r} "
                         f"feeds {len(readers)} convolutions, not {len(HEAD_OUTPUTS)}")
    network, stack = set(), list(readers)
    while stack:
        node = stack.pop()
        if node.name in network:
            continue
        network.add(node.name)
        stack.extend(producer[i] for i in node.input if i in producer)
    return network, [n.name for n in readers]


def _sort_nodes(graph: onnx.GraphProto) -> None:
    """Put the graph's nodes in topological order (ONNX requires it), keeping the order otherwise."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ModelError("graph has a cycle or a node input nothing produces")
        for node in ready:
            available.update(node.output)
        ordered.extend(ready)
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
    del graph.node[:]
    graph.node.extend(ordered)


def convert_fp16(fp32_path, out_path) -> str:
    """float16 variant for GPUs: the network in float16, decoding in float32, uint8 in, f32 out."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    source = onnx.load(str(fp32_path))
    values = read_metadata_values(source)
    network, _ = _split_graph(source.graph)
    decoding = [n.name for n in source.graph.node if n.name not in network]
    converted = convert_float_to_float16(source, keep_io_types=True, node_block_list=decoding)
    _sort_nodes(converted.graph)  # the converter appends its Cast nodes out of order
    del converted.graph.value_info[:]  # and leaves stale types there; the checker re-infers them
    set_metadata(converted, {**values, "precision": "fp16"})
    check_onnx(converted, out_path, values["format_version"])
    with atomic_path(out_path) as tmp:
        onnx.save(converted, str(tmp))
    return file_sha256(out_path)


def calibration_images(folder, scaling: Scaling, limit: int = 32, max_side: int = 1024) -> list[np.ndarray]:
    """Up to ``limit`` model inputs from the images in ``folder`` (or its ``images/`` and split
    subfolders), spread evenly over the sorted list."""
    from tankerwatch.infer.formats.dataset import list_images

    root = Path(folder)
    paths = sorted({p for sub in (root, root / "images", *(root / s / "images" for s in ("train", "val", "test")))
                    for p in list_images(sub)})
    if not paths:
        raise ModelError(f"{root}: no calibration images found (looked in it, images/ and */images/)")
    step = max(1, len(paths) // limit)
    return [model_input(p, scaling, max_side) for p in paths[::step][:limit]]
