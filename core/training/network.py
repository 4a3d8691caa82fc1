"""The embedding network in PyTorch, with its weights read from the shipped ONNX file.

Training needs no dlib file and no second definition of the architecture that could drift:
the module runs the ONNX graph itself, node by node, with every convolution and the final
projection as trainable parameters. The graph uses a small, fixed set of operators (those
``core.modelbuild.dlib_resnet`` writes); anything else is refused by name.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

TRAINABLE_SUFFIXES = ("_weight", "_bias")


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _torch_pads(onnx_pads: list[int]) -> list[int]:
    """ONNX [b1, b2, ..., e1, e2, ...] (begins then ends, first axis first) to F.pad's order."""
    rank = len(onnx_pads) // 2
    pads = []
    for axis in reversed(range(rank)):
        pads += [int(onnx_pads[axis]), int(onnx_pads[axis + rank])]
    return pads


class OnnxEmbeddingNet(nn.Module):
    """f(x): (B, 3, 150, 150) RGB float 0..255 -> (B, 128), exactly as the ONNX graph computes it."""

    SUPPORTED = {"Sub", "Mul", "Conv", "Relu", "MaxPool", "AveragePool", "Pad", "Add",
                 "GlobalAveragePool", "Flatten", "MatMul"}

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        graph = model.graph
        unsupported = sorted({node.op_type for node in graph.node} - self.SUPPORTED)
        if unsupported:
            raise ValueError(f"the embedding graph uses operators this trainer does not know: {unsupported}")
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        self.nodes = [(node.op_type, list(node.input), list(node.output), _attributes(node)) for node in graph.node]
        self.weights = nn.ParameterDict()
        for initializer in graph.initializer:
            value = torch.from_numpy(numpy_helper.to_array(initializer).copy())
            if initializer.name.endswith(TRAINABLE_SUFFIXES):
                self.weights[initializer.name] = nn.Parameter(value)
            else:
                self.register_buffer(initializer.name, value)

    @classmethod
    def from_file(cls, path: Path) -> "OnnxEmbeddingNet":
        return cls(onnx.load(str(path)))

    def _tensor(self, name: str, values: dict[str, torch.Tensor]) -> torch.Tensor:
        if name in values:
            return values[name]
        if name in self.weights:
            return self.weights[name]
        return getattr(self, name)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        values = {self.input_name: chips}
        for op, inputs, outputs, attributes in self.nodes:
            args = [self._tensor(name, values) for name in inputs if name]
            values[outputs[0]] = self._run(op, args, attributes)
        return values[self.output_name]

    @staticmethod
    def _run(op: str, args: list[torch.Tensor], attributes: dict) -> torch.Tensor:
        if op == "Sub":
            return args[0] - args[1]
        if op == "Mul":
            return args[0] * args[1]
        if op == "Add":
            return args[0] + args[1]
        if op == "Relu":
            return F.relu(args[0])
        if op == "MatMul":
            return args[0] @ args[1]
        if op == "Flatten":
            return torch.flatten(args[0], start_dim=attributes.get("axis", 1))
        if op == "GlobalAveragePool":
            return args[0].mean(dim=(2, 3), keepdim=True)
        if op == "Pad":
            return F.pad(args[0], _torch_pads(args[1].tolist()), value=float(args[2]) if len(args) > 2 else 0.0)
        if op == "Conv":
            top, left, bottom, right = attributes.get("pads", [0, 0, 0, 0])
            x = args[0] if (top, left) == (bottom, right) else F.pad(args[0], [left, right, top, bottom])
            padding = (top, left) if (top, left) == (bottom, right) else 0
            bias = args[2] if len(args) > 2 else None
            return F.conv2d(x, args[1], bias, stride=tuple(attributes.get("strides", [1, 1])), padding=padding)
        kernel, strides = tuple(attributes["kernel_shape"]), tuple(attributes.get("strides", [1, 1]))
        if attributes.get("pads", [0, 0, 0, 0]) != [0, 0, 0, 0]:
            raise ValueError(f"{op} with padding is not supported")
        if op == "MaxPool":
            return F.max_pool2d(args[0], kernel, strides)
        return F.avg_pool2d(args[0], kernel, strides)  # AveragePool
