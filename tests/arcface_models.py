"""An ArcFace-shaped test network for the import tests and benchmark: the shipped dlib network
behind an ArcFace-style input (112x112, (x - 127.5) / 127.5, resized to its 150 inside) and a
fixed 128 -> 192 projection, exported to ONNX by PyTorch (the train extra)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from core.models.registry import find_model
from core.training.network import OnnxEmbeddingNet


def arcface_shaped(path, nhwc: bool):
    """Export the test network: fixed batch 2 NCHW, or free batch NHWC; 192-d out."""
    class ArcFaceShaped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = OnnxEmbeddingNet.from_file(find_model("embed").path)
            projection = np.random.default_rng(0).standard_normal((128, 192)).astype(np.float32)
            self.register_buffer("projection", torch.from_numpy(projection))

        def forward(self, x):
            x = x.permute(0, 3, 1, 2) if nhwc else x
            x = torch.nn.functional.interpolate(x * 127.5 + 127.5, size=(150, 150), mode="bilinear")
            return self.net(x) @ self.projection

    shape = (2, 112, 112, 3) if nhwc else (2, 3, 112, 112)
    free = {"dynamic_axes": {"image": {0: "n"}, "vector": {0: "n"}}} if nhwc else {}
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracing notes
        warnings.simplefilter("ignore")
        torch.onnx.export(ArcFaceShaped().eval(), torch.zeros(shape), str(path), input_names=["image"],
                          output_names=["vector"], dynamo=False, **free)
    return path
