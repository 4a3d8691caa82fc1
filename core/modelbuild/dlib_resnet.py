"""Build an ONNX copy of dlib's 29-layer face recognition ResNet from its ``.dat`` file.

The app embeds faces with ONNX Runtime, not dlib, so the pretrained weights are converted
once at build time. The graph reproduces dlib's forward pass: the input layer's mean
subtraction and division by 256, convolutions with each following affine (frozen batch
norm) folded into their weights and bias, and ``add_prev`` sums that zero-pad the smaller
tensor at the end of every dimension, as dlib does where a down-sampling block meets its
shortcut (channels 32 vs 64, or 3x3 vs 4x4 pixels with 150x150 chips).

Input ``chips``: [batch, 3, 150, 150] float32 RGB values 0..255, NCHW (the 150x150 chips
``dlib.get_face_chip`` cuts). Output ``embeddings``: [batch, 128] float32, dlib's descriptor
(not re-normalised).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from core.modelbuild.dlib_format import LayerRecord, parse_network

log = logging.getLogger(__name__)

INPUT_NAME = "chips"
OUTPUT_NAME = "embeddings"
CHIP_SIZE = 150
EMBEDDING_SIZE = 128
OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime from 1.17 on

SOURCE_PACKAGE = "face_recognition_models 0.3.0"
SOURCE_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SOURCE_LICENCE = "CC0-1.0: released into the public domain by its author Davis E. King (dlib-models)"

Shape = tuple[int, int, int]  # channels, rows, columns of one sample


_BLOCK = ["con", "affine", "relu", "con", "affine"]  # dlib's ``block`` with affine as BN


def _residual() -> list[str]:
    """dlib's ``ares``: relu(block(x) + x)."""
    return ["tag1", *_BLOCK, "add_prev1", "relu"]


def _residual_down() -> list[str]:
    """dlib's ``ares_down``: relu(block(x) at stride 2 + avg_pool(x)), zero-padded to fit."""
    return ["tag1", *_BLOCK, "tag2", "skip1", "avg_pool", "add_prev2", "relu"]


def expected_layers() -> list[str]:
    """The layers of ``anet_type`` in dlib's dnn_face_recognition_ex.cpp, input first.

    Tag and skip wrappers store nothing in the file, so their roles (and the tag each
    add_prev reads) come from this list.
    """
    layers = ["input_rgb_image_sized", "con", "affine", "relu", "max_pool"] + 3 * _residual()
    for residuals_after_down in (3, 2, 2, 0):  # levels of 64, 128, 256 and 256 channels
        layers += _residual_down() + residuals_after_down * _residual()
    return layers + ["avg_pool", "fc", "loss_metric"]


def _record_kind(role: str) -> str:
    """The record kind the parser reports for an architectural role."""
    if role.startswith(("tag", "skip")):
        return "tag_or_skip"
    return role.rstrip("0123456789")


def _match_architecture(records: list[LayerRecord]) -> list[str]:
    """Check the parsed layers are exactly dlib's face ResNet and return each one's role."""
    roles = expected_layers()
    if len(records) != len(roles):
        raise ValueError(f"expected the {len(roles)} layers of dlib's face ResNet, found {len(records)}")
    for index, (role, record) in enumerate(zip(roles, records)):
        if record.kind != _record_kind(role):
            where = f"layer {index} (byte offset {record.offset}) of dlib's face ResNet"
            raise ValueError(f"{where}: expected {_record_kind(role)}, found {record.kind}")
    return roles


def _require(ok: bool, record: LayerRecord, what: str) -> None:
    """Refuse layer variants this converter does not reproduce (rather than mis-convert)."""
    if not ok:
        raise ValueError(f"{record.version} layer at byte offset {record.offset}: expected {what}")


def _pooled(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a dlib (and ONNX, floor mode) window op along one axis."""
    return 1 + (size + 2 * pad - kernel) // stride


class _Graph:
    """Collects nodes and weights under fixed names, and the static shape of each tensor."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.shapes: dict[str, Shape] = {}

    def weight(self, name: str, array: np.ndarray) -> str:
        """Add a constant tensor and return its name."""
        self.weights.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], name: str, shape: Shape, **attrs) -> str:
        """Add a node whose single output has the node's name; return that name."""
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        self.shapes[name] = shape
        return name


def _normalise(graph: _Graph, record: LayerRecord) -> str:
    """dlib's input layer: (pixel - channel mean) / 256, the mean read from the file."""
    _require(record.settings["size"] == (CHIP_SIZE, CHIP_SIZE), record, f"{CHIP_SIZE}x{CHIP_SIZE} input")
    graph.shapes[INPUT_NAME] = (3, CHIP_SIZE, CHIP_SIZE)
    mean = graph.weight("input_mean", record.params["mean"].reshape(1, 3, 1, 1))
    scale = graph.weight("input_scale", np.array(1 / 256, np.float32))  # exact: a power of two
    centred = graph.node("Sub", [INPUT_NAME, mean], "input_centred", graph.shapes[INPUT_NAME])
    return graph.node("Mul", [centred, scale], "input_scaled", graph.shapes[INPUT_NAME])


def _folded_conv(con: LayerRecord, affine: LayerRecord) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``gamma * (W * x + b) + beta`` into one conv: W' = gamma W, b' = gamma b + beta."""
    _require(affine.settings["mode"] == 0, affine, "a per-channel affine_ (mode 0) after a con_")
    gamma = affine.params["gamma"].astype(np.float64)
    weight = con.params["weight"].astype(np.float64) * gamma[:, None, None, None]
    bias = con.params["bias"].astype(np.float64) * gamma + affine.params["beta"].astype(np.float64)
    return weight.astype(np.float32), bias.astype(np.float32)


def _conv(graph: _Graph, name: str, con: LayerRecord, affine: LayerRecord, source: str) -> str:
    """Emit one convolution with its affine folded in, padding and stride from the file."""
    weight, bias = _folded_conv(con, affine)
    (kernel_y, kernel_x), (stride_y, stride_x) = con.settings["kernel"], con.settings["stride"]
    pad_y, pad_x = con.settings["padding"]
    _, rows, cols = graph.shapes[source]
    rows, cols = _pooled(rows, kernel_y, stride_y, pad_y), _pooled(cols, kernel_x, stride_x, pad_x)
    inputs = [source, graph.weight(f"{name}_weight", weight), graph.weight(f"{name}_bias", bias)]
    window = {"kernel_shape": [kernel_y, kernel_x], "strides": [stride_y, stride_x]}
    shape = (weight.shape[0], rows, cols)
    return graph.node("Conv", inputs, name, shape, **window, pads=[pad_y, pad_x, pad_y, pad_x])


def _pool(graph: _Graph, name: str, record: LayerRecord, source: str) -> str:
    """Emit max or average pooling; dlib's 0x0 window (avg_pool_everything) is global."""
    channels, rows, cols = graph.shapes[source]
    if record.settings["kernel"] == (0, 0):
        _require(record.kind == "avg_pool", record, "a 0x0 window only on avg_pool_everything")
        return graph.node("GlobalAveragePool", [source], name, (channels, 1, 1))
    (kernel_y, kernel_x), (stride_y, stride_x) = record.settings["kernel"], record.settings["stride"]
    _require(record.settings["padding"] == (0, 0), record, "pooling without padding")
    shape = (channels, _pooled(rows, kernel_y, stride_y, 0), _pooled(cols, kernel_x, stride_x, 0))
    op = "MaxPool" if record.kind == "max_pool" else "AveragePool"
    window = {"kernel_shape": [kernel_y, kernel_x], "strides": [stride_y, stride_x]}
    return graph.node(op, [source], name, shape, **window)


def _zero_pad(graph: _Graph, name: str, source: str, target: Shape) -> str:
    """Pad a tensor with zeros at the end of channels, rows and columns up to ``target``."""
    shape = graph.shapes[source]
    if shape == target:
        return source
    ends = [wanted - have for have, wanted in zip(shape, target)]
    pads = graph.weight(f"{name}_pads", np.array([0, 0, 0, 0, 0, *ends], np.int64))
    return graph.node("Pad", [source, pads], name, target, mode="constant")


def _add_prev(graph: _Graph, name: str, source: str, tagged: str) -> str:
    """dlib's add_prev: the sum has the larger size in every dimension, the rest is zeros."""
    target = tuple(max(sizes) for sizes in zip(graph.shapes[source], graph.shapes[tagged]))
    left = _zero_pad(graph, f"{name}_pad_main", source, target)
    right = _zero_pad(graph, f"{name}_pad_shortcut", tagged, target)
    return graph.node("Add", [left, right], name, target)


def _embed(graph: _Graph, name: str, record: LayerRecord, source: str) -> str:
    """dlib's fc_no_bias: flatten to [batch, inputs] and multiply by the (inputs, outputs) matrix."""
    _require(not record.settings["has_bias"], record, "fc_no_bias")
    wanted = (graph.shapes[source][0], EMBEDDING_SIZE)
    _require(record.params["weight"].shape == wanted, record, f"a {wanted[0]} x {wanted[1]} weight matrix")
    flat = graph.node("Flatten", [source], f"{name}_flatten", graph.shapes[source], axis=1)
    weight = graph.weight(f"{name}_weight", record.params["weight"])
    return graph.node("MatMul", [flat, weight], OUTPUT_NAME, (EMBEDDING_SIZE, 1, 1))


def _emit_layers(graph: _Graph, records: list[LayerRecord], roles: list[str]) -> None:
    """Walk the layers in forward order as dlib does, keeping tagged outputs for later sums."""
    current = _normalise(graph, records[0])
    tags: dict[str, str] = {}
    pending_con = None
    for index, (role, record) in enumerate(zip(roles[1:], records[1:]), start=1):
        name = f"l{index:03d}_{role}"
        if role == "con":
            pending_con = record
        elif role == "affine":
            current = _conv(graph, name.replace("affine", "conv"), pending_con, record, current)
        elif role == "relu":
            current = graph.node("Relu", [current], name, graph.shapes[current])
        elif role in ("max_pool", "avg_pool"):
            current = _pool(graph, name, record, current)
        elif role.startswith("tag"):
            tags[role.removeprefix("tag")] = current
        elif role.startswith("skip"):
            current = tags[role.removeprefix("skip")]
        elif role.startswith("add_prev"):
            current = _add_prev(graph, name, current, tags[role.removeprefix("add_prev")])
        elif role == "fc":
            current = _embed(graph, name, record, current)
        # loss_metric only matters in training: the embedding is the fc output itself.


def _metadata(source_sha256: str, records: list[LayerRecord]) -> dict[str, str]:
    """Provenance kept in the model file: what it was converted from and under what licence."""
    margin, threshold = records[-1].settings["margin"], records[-1].settings["distance_threshold"]
    return {
        "source_package": SOURCE_PACKAGE,
        "source_file": SOURCE_FILE,
        "source_sha256": source_sha256,
        "licence": SOURCE_LICENCE,
        "converter": __name__,
        "input": f"{INPUT_NAME}: [batch, 3, {CHIP_SIZE}, {CHIP_SIZE}] float32 RGB 0..255, dlib face chip",
        "output": f"{OUTPUT_NAME}: [batch, {EMBEDDING_SIZE}] float32 dlib face descriptor, not normalised",
        "dlib_loss_metric": f"margin {margin:.6g}, distance threshold {threshold:.6g}",
    }


def _model(graph: _Graph, metadata: dict[str, str]) -> onnx.ModelProto:
    """Wrap the nodes into a checked opset-17 model with a dynamic batch dimension."""
    chips = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, CHIP_SIZE, CHIP_SIZE])
    embeddings = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", EMBEDDING_SIZE])
    onnx_graph = helper.make_graph(
        graph.nodes, "dlib_face_recognition_resnet_v1", [chips], [embeddings], graph.weights
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="oneshot-faceid",
        doc_string=f"dlib's face recognition ResNet ({SOURCE_FILE} from {SOURCE_PACKAGE}, "
        f"{SOURCE_LICENCE}), converted to ONNX by {__name__}.",
    )
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model


def build_embedder(dat: str | Path | bytes) -> onnx.ModelProto:
    """Convert dlib's face recognition ``.dat`` file (a path, or its bytes as read from the
    face_recognition_models sdist) into an equivalent ONNX model."""
    data = dat if isinstance(dat, bytes) else Path(dat).read_bytes()
    records = parse_network(data)
    roles = _match_architecture(records)
    graph = _Graph()
    _emit_layers(graph, records, roles)
    log.info("converted %d dlib layers into %d ONNX nodes", len(records), len(graph.nodes))
    return _model(graph, _metadata(hashlib.sha256(data).hexdigest(), records))
