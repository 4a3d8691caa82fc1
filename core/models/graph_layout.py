"""What a third-party embedding network takes and gives, read from its ONNX graph, not guessed from its name.

ONNX Runtime's session states each input's and output's element type and shape (a number, or
a name or None where the graph leaves it free). An embedder must take one float image batch,
(B, 3, S, S) or (B, S, S, 3), and give one (B, D) vector per image; anything else is refused
with what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError, ModelImportError
from .runtime import create_session

FLOAT_TYPES = ("tensor(float)", "tensor(float16)", "tensor(double)")


@dataclass(frozen=True)
class GraphLayout:
    input_name: str
    input_shape: list  # as the graph states it: numbers, and names or None for free axes
    layout: str  # "NCHW" or "NHWC"
    size: int  # the square image side
    batch: int | None  # fixed batch size, or None when free
    dimensions: int | None  # the vector length, None when the graph leaves it free


def open_graph(path: Path, source: str):
    """A CPU session on ``path`` (a copy of ``source``), or ``ModelImportError`` when it is not an ONNX model."""
    try:
        return create_session(path, "cpu")[0]
    except ModelError as error:
        reason = str(error).split("(", 1)[-1].rstrip(")").replace(f"Load model from {path} failed:", "")
        raise ModelImportError(source, f"not an ONNX model ONNX Runtime can load ({reason})") from None


def graph_layout(session, source: str) -> GraphLayout:
    """The input layout, size, batch and vector length of an embedding network's session."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) < 1:
        raise ModelImportError(source, f"an embedder has one input and one output; this has {len(inputs)} "
                                       f"input(s) and {len(outputs)} output(s)")
    image, vector = inputs[0], outputs[0]
    if image.type not in FLOAT_TYPES:
        raise ModelImportError(source, f"its input {image.name!r} is {image.type}, not a float image")
    if image.type != "tensor(float)":
        raise ModelImportError(source, f"its input {image.name!r} is {image.type}; only float32 inputs are taken")
    shape = list(image.shape)
    if len(shape) != 4:
        raise ModelImportError(source, f"its input {image.name!r} has shape {shape}, not a 4-D image batch "
                                       "(N, 3, H, W) or (N, H, W, 3)")
    if shape[1] == 3 and _side(shape[2]) and shape[2] == shape[3]:
        layout, size = "NCHW", shape[2]
    elif shape[3] == 3 and _side(shape[1]) and shape[1] == shape[2]:
        layout, size = "NHWC", shape[1]
    else:
        raise ModelImportError(source, f"its input {image.name!r} has shape {shape}: not 3 colour channels "
                                       "around a fixed square image")
    out = list(vector.shape)
    if vector.type not in FLOAT_TYPES or len(out) != 2:
        raise ModelImportError(source, f"its output {vector.name!r} is {vector.type} of shape {out}, "
                                       "not one vector per image (N, D)")
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    dimensions = out[1] if isinstance(out[1], int) and out[1] > 0 else None
    return GraphLayout(image.name, shape, layout, int(size), batch, dimensions)


def _side(value) -> bool:
    return isinstance(value, int) and value >= 16
