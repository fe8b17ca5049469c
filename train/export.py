"""Export a detector to one self-describing ONNX file, check it, and derive int8 / fp16 variants.

The file follows the ONNX contract pinned in :mod:`tankerwatch.infer.runtime.onnx_model`: input ``image``
uint8 ``[N, C, H, W]`` with dynamic N, H, W; decoding and peak selection inside the graph (outputs
are final oriented boxes ``(cx, cy, length, width, angle)`` in input pixels, angle in
``[-pi/2, pi/2)``, with type and load-state probabilities); only standard ONNX ops; opset
:data:`OPSET`; ``tankerwatch.*`` metadata with JSON values. The model id is the sha256 of the file.

Exporter: torch's dynamo exporter (``torch.onnx.export(..., dynamo=True)``), chosen explicitly. It
specialises any dimension whose example size is 1, so the example batch is 2 and the exported
input shape is checked to be symbolic in N, H and W.

Variants (same input and output types as the fp32 file):

* int8: static quantisation with onnxruntime's tools, QDQ format, calibrated on real images
  (99.999th-percentile ranges); the network is quantised (activations stay int8 from one convolution
  to the next) except the convolution that reads the image and the heads' output convolutions, and
  the in-graph box decoding and hull-window sampling stay float, so scores and coordinates keep
  their precision;
* fp16 (for GPUs): the network's convolutions run in float16, the in-graph decoding stays float32
  (box coordinates up to 8,192 px would lose whole pixels in float16), uint8 in, float32 out.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from tankerwatch.infer import __version__
from tankerwatch.infer.core.atomic import atomic_path
from tankerwatch.infer.core.boxes import rotated_iou
from tankerwatch.infer.core.errors import ModelError
from tankerwatch.infer.core.labels import LOAD_NAMES, TYPE_NAMES
from tankerwatch.infer.runtime.onnx_model import (
    FORMAT_VERSION,
    INPUT_NAME,
    OUTPUT_NAMES,
    Outputs,
    encode_metadata,
    file_sha256,
)
from tankerwatch.infer.runtime.scaling import Scaling
from tankerwatch.models.detector import HEAD_OUTPUTS

OPSET = 18
# Example input for tracing: batch 2 (a size-1 dimension would be specialised), height != width
# so the two are not unified, both multiples of every network's downsampling factor.
EXAMPLE_BATCH, EXAMPLE_HEIGHT, EXAMPLE_WIDTH = 2, 64, 96
MAX_DIM = 16384
# Parity: shapes (N, H, W) compared between PyTorch and onnxruntime after export.
PARITY_SHAPES = ((1, 96, 128), (2, 64, 64), (3, 160, 96))
SCORE_TOLERANCE = 1e-3
MATCH_IOU = 0.9
MAX_UNMATCHED_SHARE = 0.01
# int8 activation ranges by entropy (the range whose quantised histogram keeps the most of the
# calibration values' distribution), not the extremes nor a fixed percentile. On an earlier
# synthetic model (test split) MinMax cost 3.3 points of AP50, the 99.99th percentile 5.3, the
# 99.999th 1.8, and 99.999 with the first convolution left in float +0.2: small vessels' boxes, a
# few pixels wide, hang on the full-resolution features that convolution makes from the raw image.
# With that convolution in float, entropy against the 99.999th percentile: -0.69 against -0.85
# points on the last model, -0.8 against -2.5 on the one after it (KL box loss, 5 m cap).
CALIBRATION_METHOD = "Entropy"
META_REQUIRED = ("scaling", "gsd_range_m", "load_uncertain_band", "load_max_gsd_m", "config_sha256")


def model_metadata(model: torch.nn.Module, meta: dict, precision: str = "fp32") -> dict:
    """The ``tankerwatch.*`` metadata values for ``model`` trained as ``meta`` describes.

    ``meta`` is a checkpoint's metadata: ``scaling`` (a :class:`Scaling` dict), ``gsd_range_m``,
    ``load_uncertain_band``, ``load_max_gsd_m``, ``config_sha256`` and optionally ``val_metrics``,
    ``type_names``/``load_names`` (which must be the contract's order) and ``max_vessel_px`` (the
    longest vessel the model was trained to find, input pixels; see
    :func:`~tankerwatch.train.datamodule.max_vessel_px_of`). A checkpoint without ``max_vessel_px``
    (written before it existed, or trained on images without labels) exports without the key, and
    ``detect`` then runs its single pass as before.
    """
    missing = [k for k in META_REQUIRED if k not in meta]
    if missing:
        raise ModelError(f"checkpoint metadata lacks {', '.join(missing)}; cannot describe the model")
    for key, expected in (("type_names", TYPE_NAMES), ("load_names", LOAD_NAMES)):
        if key in meta and list(meta[key]) != list(expected):
            raise ModelError(f"checkpoint {key} {list(meta[key])} differ from the ONNX contract's {list(expected)}")
    values = {
        "format_version": FORMAT_VERSION,
        "project_version": __version__,
        "type_names": list(TYPE_NAMES),
        "load_names": list(LOAD_NAMES),
        "in_channels": int(model.in_channels),
        "scaling": Scaling.from_dict(dict(meta["scaling"])).to_dict(),
        "input_multiple": int(model.input_multiple),
        "output_stride": int(model.output_stride),
        "top_k": int(model.top_k),
        "gsd_range_m": [float(v) for v in meta["gsd_range_m"]],
        "load_uncertain_band": [float(v) for v in meta["load_uncertain_band"]],
        "load_max_gsd_m": float(meta["load_max_gsd_m"]),
        "config_sha256": str(meta["config_sha256"]),
        "val_metrics": _json_safe(meta.get("val_metrics") or {}),
        "precision": precision,
    }
    if meta.get("max_vessel_px") is not None:
        values["max_vessel_px"] = _json_safe(meta["max_vessel_px"])  # validated just below, like the rest
    encode_metadata(values)  # validates with the same rules detect applies
    return values


def _json_safe(value):
    """Metrics as plain JSON: floats (NaN -> None), ints, strings, nested dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def set_metadata(proto: onnx.ModelProto, values: dict) -> None:
    """Replace the model's ``tankerwatch.*`` metadata_props with ``values`` (JSON-encoded)."""
    kept = [p for p in proto.metadata_props if not p.key.startswith("tankerwatch.")]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in kept}, **encode_metadata(values)})


def read_metadata_values(proto: onnx.ModelProto) -> dict:
    """The ``tankerwatch.*`` metadata of an exported model, decoded (already validated at export)."""
    return {p.key[len("tankerwatch."):]: json.loads(p.value) for p in proto.metadata_props
            if p.key.startswith("tankerwatch.")}


def check_onnx(proto: onnx.ModelProto, where) -> None:
    """onnx's full check (with shape inference), plus the contract's dynamic N, H, W."""
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"{where}: exported graph fails onnx.checker ({str(exc).splitlines()[0]})") from None
    inputs = [i for i in proto.graph.input if i.name == INPUT_NAME]
    if len(inputs) != 1:
        raise ModelError(f"{where}: exported graph has no '{INPUT_NAME}' input")
    dims = inputs[0].type.tensor_type.shape.dim
    fixed = [axis for axis in (0, 2, 3) if dims[axis].HasField("dim_value")]
    if fixed:
        raise ModelError(f"{where}: exporter fixed input axes {fixed} to {[dims[a].dim_value for a in fixed]}; "
                         f"N, H and W must stay dynamic")
    names = tuple(o.name for o in proto.graph.output)
    if names != OUTPUT_NAMES:
        raise ModelError(f"{where}: exported outputs are {list(names)}, the contract says {list(OUTPUT_NAMES)}")


@contextlib.contextmanager
def _decoding(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The model in eval mode with in-graph decoding on; its previous state restored after."""
    was_training, was_decoding = model.training, model.decode
    model.eval()
    model.decode = True
    try:
        yield model
    finally:
        model.decode = was_decoding
        model.train(was_training)


def export_onnx(model: torch.nn.Module, meta: dict, out_path, opset: int = OPSET) -> str:
    """Export ``model`` (an OrientedDetector or anything with its attributes and decode switch)
    to ``out_path`` atomically, with metadata and checks; return the model id (sha256)."""
    values = model_metadata(model, meta, "fp32")
    example = torch.zeros((EXAMPLE_BATCH, model.in_channels, EXAMPLE_HEIGHT, EXAMPLE_WIDTH), dtype=torch.uint8)
    dims = {"image": {0: torch.export.Dim("batch", min=1, max=1024),
                      2: torch.export.Dim("height", min=1, max=MAX_DIM),
                      3: torch.export.Dim("width", min=1, max=MAX_DIM)}}
    out_path = Path(out_path)
    with _decoding(model), atomic_path(out_path) as tmp:
        # The exporter narrates every step on stdout; keep the command's output to what it found.
        with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            try:
                torch.onnx.export(model, (example,), str(tmp), input_names=[INPUT_NAME],
                                  output_names=list(OUTPUT_NAMES), dynamic_shapes=dims, opset_version=opset,
                                  dynamo=True, external_data=False)
            except Exception as exc:  # the exporter raises many types; the one line matters
                raise ModelError(f"{out_path}: ONNX export failed ({str(exc).strip().splitlines()[0]})") from None
        proto = onnx.load(str(tmp))
        _strip_trace_metadata(proto.graph)
        set_metadata(proto, values)
        check_onnx(proto, out_path)
        onnx.save(proto, str(tmp))
    return file_sha256(out_path)


def _strip_trace_metadata(graph: onnx.GraphProto) -> None:
    """Drop the exporter's per-node debug metadata (stack traces, and object addresses that change
    from run to run), so one checkpoint always exports to the same bytes and the same model id."""
    for item in (*graph.node, *graph.input, *graph.output, *graph.value_info, *graph.initializer):
        del item.metadata_props[:]


def _session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = min(2, torch.get_num_threads())
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class ParityReport:
    """PyTorch vs onnxruntime on the same inputs: ``rows`` compared, ``unmatched`` rows (a box with
    no partner of IoU >= ``MATCH_IOU``, or a count mismatch not explained by a score at the
    threshold), the worst score difference and the lowest IoU among matches."""

    rows: int
    unmatched: int
    max_score_diff: float
    min_iou: float

    @property
    def ok(self) -> bool:
        # A weakly trained net has flat heatmaps, where a 1e-7 difference can flip which of two
        # equal neighbours is a peak: allow that for at most 1 % of the rows.
        return self.unmatched <= self.rows * MAX_UNMATCHED_SHARE and self.max_score_diff <= SCORE_TOLERANCE

    def __str__(self) -> str:
        return (f"{self.rows} boxes compared, {self.unmatched} unmatched, max score difference "
                f"{self.max_score_diff:.2e}, min IoU {self.min_iou:.4f}")


def compare_outputs(reference: Outputs, candidate: Outputs, score_tolerance: float = SCORE_TOLERANCE) -> ParityReport:
    """Match each image's valid rows by rotated IoU (greedy by reference score); a row may go
    unmatched only when its score is within ``score_tolerance`` of the weakest row kept (a peak at
    the score threshold may fall either side of it)."""
    rows = unmatched = 0
    max_diff, min_iou = 0.0, 1.0
    for i in range(len(reference.count)):
        ref, got = reference.image(i), candidate.image(i)
        rows += len(ref.scores)
        iou = rotated_iou(ref.boxes, got.boxes)
        taken = np.zeros(len(got.scores), dtype=bool)
        floor = min(float(ref.scores.min(initial=np.inf)), float(got.scores.min(initial=np.inf)))
        for r in range(len(ref.scores)):
            candidates = np.flatnonzero(~taken & (iou[r] >= MATCH_IOU)) if iou.size else np.array([], int)
            if len(candidates) == 0:
                unmatched += int(ref.scores[r] > floor + score_tolerance)
                continue
            best = candidates[np.argmin(np.abs(got.scores[candidates] - ref.scores[r]))]
            taken[best] = True
            max_diff = max(max_diff, abs(float(got.scores[best] - ref.scores[r])))
            min_iou = min(min_iou, float(iou[r, best]))
        unmatched += int(np.sum(~taken & (got.scores > floor + score_tolerance)))
    return ParityReport(rows, unmatched, max_diff, min_iou)


def torch_outputs(model: torch.nn.Module, images: np.ndarray) -> Outputs:
    with _decoding(model), torch.no_grad():
        return Outputs(*(t.numpy() for t in model(torch.from_numpy(images))))


def check_parity(model: torch.nn.Module, onnx_path, images: Iterable[np.ndarray] | None = None,
                 seed: int = 0) -> ParityReport:
    """Compare PyTorch and onnxruntime on batches ``uint8 [N, C, H, W]``; by default on
    :data:`PARITY_SHAPES` filled with bright blobs on a dark, noisy sea, so there are peaks."""
    session = _session(onnx_path)
    if images is None:
        rng = np.random.default_rng(seed)
        images = [blob_images(rng, n, model.in_channels, h, w) for n, h, w in PARITY_SHAPES]
    reports = []
    for batch in images:
        raw = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
        reports.append(compare_outputs(torch_outputs(model, batch), Outputs(*raw)))
    return ParityReport(sum(r.rows for r in reports), sum(r.unmatched for r in reports),
                        max(r.max_score_diff for r in reports), min(r.min_iou for r in reports))


def blob_images(rng: np.random.Generator, n: int, channels: int, height: int, width: int) -> np.ndarray:
    """uint8 ``[n, channels, height, width]``: noise plus a few bright rotated bars (vessel-like)."""
    images = rng.integers(0, 40, size=(n, channels, height, width)).astype(np.float64)
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    for image in images:
        for _ in range(3):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            length, angle = rng.uniform(10, 40), rng.uniform(-math.pi / 2, math.pi / 2)
            along = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
            across = -(xx - cx) * math.sin(angle) + (yy - cy) * math.cos(angle)
            image[:, (np.abs(along) < length / 2) & (np.abs(across) < length / 8)] += rng.uniform(120, 200)
    return np.clip(images, 0, 255).astype(np.uint8)


class _CalibrationReader:
    """onnxruntime CalibrationDataReader over uint8 images ``[C, H, W]``, one at a time, in the
    strided form (``__len__``, ``set_range``) that lets the calibrator take one image per pass."""

    def __init__(self, images: list[np.ndarray]):
        self._images = images
        self._iter = iter(images)

    def __len__(self) -> int:
        return len(self._images)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._iter = iter(self._images[start_index:end_index])

    def get_next(self):
        image = next(self._iter, None)
        return None if image is None else {INPUT_NAME: image[None]}


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
            # decoding downstream of them (peak selection, the quality rescoring, and the hull-window
            # load stage, which samples the image at decoded box coordinates that 8 bits cannot hold),
            # and so does the convolution that reads the image (see CALIBRATION_METHOD).
            keep_float = head_convs + _input_convs(prepared_graph) + [
                n.name for n in prepared_graph.node if n.name not in network]
            quantize_static(str(prepared), str(tmp), _CalibrationReader(calibration_images),
                            quant_format=QuantFormat.QDQ, nodes_to_exclude=keep_float, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod[CALIBRATION_METHOD],
                            # One image per calibration pass: the calibrator stacks a pass's tensors
                            # with np.asarray, which fails when they differ in shape, as they do
                            # across images of different sizes or numbers of detections.
                            extra_options={"CalibStridedMinMax": 1})
        proto = onnx.load(str(tmp))
        set_metadata(proto, {**values, "precision": "int8"})
        check_onnx(proto, out_path)
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


def _input_convs(graph: onnx.GraphProto) -> list[str]:
    """Names of the convolutions that read the input with no other convolution before them."""
    after_conv = set()
    for node in graph.node:
        if node.op_type == "Conv":
            after_conv |= _downstream_of_nodes(graph, [node]) - {node.name}
    return [n.name for n in graph.node if n.op_type == "Conv" and n.name not in after_conv]


def _split_graph(graph: onnx.GraphProto) -> tuple[set[str], list[str]]:
    """``(network, head_convs)``: names of the nodes the network proper consists of (backbone, neck,
    head trunk and the head convolutions), as opposed to the in-graph decoding after it, and of the
    head convolutions (heatmap, regression, type and quality logits). Those are the 1x1
    convolutions that all read the one shared trunk tensor, the only tensor that feeds as many
    convolutions as there are head maps; everything downstream of them is decoding, the
    hull-window load stage included (it samples the image at decoded boxes)."""
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
    check_onnx(converted, out_path)
    with atomic_path(out_path) as tmp:
        onnx.save(converted, str(tmp))
    return file_sha256(out_path)


def model_input(path, scaling: Scaling, max_side: int | None = None) -> np.ndarray:
    """uint8 ``[C, H, W]`` model input of an image file, each file its own scene (the stretch is
    computed over the whole file); ``max_side`` keeps a centred crop of at most that size."""
    from tankerwatch.infer.runtime.raster import inspect_raster, read_window
    from tankerwatch.infer.runtime.scaling import to_uint8

    info = inspect_raster(path)
    width, height = info.width, info.height
    col, row = 0, 0
    if max_side is not None:
        col, row = max(0, (width - max_side) // 2), max(0, (height - max_side) // 2)
        width, height = min(width, max_side), min(height, max_side)
    lo, hi = scaling.scene_limits(path)
    array, valid = read_window(path, col, row, width, height, scaling.bands)
    image = to_uint8(array, lo, hi)
    image[:, ~valid] = 0
    return image


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


def evaluate_onnx(onnx_path, dataset_path) -> dict:
    """Headline figures of an ONNX model on a labelled dataset (its ``val`` split if it has one),
    each image run whole as its own scene, resampled into the model's ``gsd_range_m`` as ``detect``
    would: vessel_AP50, vessel_AP50_95, load_accuracy, load_coverage."""
    from tankerwatch.infer.evaluation.metrics import DetectionEvaluator
    from tankerwatch.infer.formats.dataset import read_dataset
    from tankerwatch.infer.runtime.onnx_model import OnnxDetector
    from tankerwatch.infer.runtime.tiling import resample_scale, zoom_bands

    detector = OnnxDetector(onnx_path, device="cpu", threads=min(2, torch.get_num_threads()))
    info = detector.info
    dataset = read_dataset(dataset_path)
    images = dataset.splits.get("val") or dataset.images
    evaluator = DetectionEvaluator(uncertain_band=info.load_uncertain_band, load_max_gsd_m=info.load_max_gsd_m)
    multiple = info.input_multiple
    for truth in images:
        image = model_input(truth.image_path, info.scaling)
        scale = resample_scale(truth.gsd_m, info.gsd_range_m)  # image pixels per model pixel
        image = zoom_bands(image, 1 / scale)
        _, h, w = image.shape
        padded = np.zeros((image.shape[0], -(-h // multiple) * multiple, -(-w // multiple) * multiple), np.uint8)
        padded[:, :h, :w] = image  # bottom/right padding keeps pixel coordinates
        found = detector.run(padded[None]).image(0)
        boxes = np.array(found.boxes, dtype=np.float64).reshape(-1, 5)
        boxes[:, :4] *= scale
        evaluator.add(truth, boxes, found.scores, found.type_probs, found.load_probs, gsd_m=truth.gsd_m)
    figures = evaluator.compute()
    return {k: figures.get(k) for k in ("vessel_AP50", "vessel_AP50_95", "load_accuracy", "load_coverage")}
