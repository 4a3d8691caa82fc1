"""Trained weights back into the embedder's own ONNX graph, and proof the file computes the same.

The Torch module *is* the ONNX graph with trainable initialisers, so exporting means writing
those initialisers back into a copy of the parent graph: same operators, same input and output
names and shapes as the shipped embedder, nothing for a tracer to get wrong. The parity check
then runs the written file in ONNX Runtime against the module on real chips.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from .network import OnnxEmbeddingNet
from .trainer import TrainingError, embed_chips

PARITY_LIMIT = 1e-4


def export_onnx(net: OnnxEmbeddingNet, parent: Path, destination: Path) -> None:
    """Write ``parent`` with every initialiser the module holds replaced by its current value."""
    model = onnx.load(str(parent))
    values = {name: parameter.detach().float().cpu().numpy() for name, parameter in net.weights.items()}
    for index, initializer in enumerate(model.graph.initializer):
        if initializer.name in values:
            replacement = numpy_helper.from_array(values[initializer.name].astype(np.float32), initializer.name)
            model.graph.initializer[index].CopyFrom(replacement)
    onnx.checker.check_model(model)
    partial = destination.with_suffix(".partial")
    onnx.save(model, str(partial))
    os.replace(partial, destination)


def parity(net: OnnxEmbeddingNet, onnx_path: Path, chips: np.ndarray) -> float:
    """Largest |ONNX Runtime - Torch| over the chips' descriptors; raise above ``PARITY_LIMIT``."""
    from ..models.runtime import create_session

    session, _ = create_session(onnx_path, "cpu")
    runtime = session.run(None, {session.get_inputs()[0].name:
                                 np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32)})[0]
    reference = embed_chips(net.float().cpu(), chips, torch.device("cpu"))
    worst = float(np.abs(runtime - reference).max())
    if worst > PARITY_LIMIT:
        raise TrainingError(f"{onnx_path}: the exported model differs from the trained one by {worst:.2e} "
                            f"(limit {PARITY_LIMIT:g}); it was not registered")
    return worst
