"""Ship YuNet-n (the live detector) as published, once its bytes and its graph interface are the ones we expect.

The upstream file already has a dynamic input and named outputs, so the build copies it byte for
byte (no conversion) and takes the licence from the folder or the repository above it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx

from ..vision.yunet import OUTPUTS

UPSTREAM_FILE = "yunet_n_dynamic.onnx"
UPSTREAM_SHA256 = "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12"


def check_upstream(model_bytes: bytes) -> None:
    """Refuse a file that is not the pinned YuNet-n, or whose graph lacks the grids we decode."""
    digest = hashlib.sha256(model_bytes).hexdigest()
    if digest != UPSTREAM_SHA256:
        raise ValueError(f"not the pinned {UPSTREAM_FILE} (sha256 {digest[:12]}..., expected {UPSTREAM_SHA256[:12]}...)")
    graph = onnx.load_from_string(model_bytes).graph
    weights = {init.name for init in graph.initializer}
    inputs = [value.name for value in graph.input if value.name not in weights]
    outputs = {value.name for value in graph.output}
    if inputs != ["input"] or set(OUTPUTS) - outputs:
        raise ValueError(f"unexpected YuNet interface: inputs {inputs}, outputs {sorted(outputs)}")


def build_yunet(source: Path) -> tuple[bytes, str]:
    """Model bytes and licence text, from the upstream ``onnx`` folder (or the file in it)."""
    model_path = source / UPSTREAM_FILE if source.is_dir() else source
    model_bytes = model_path.read_bytes()
    check_upstream(model_bytes)
    licence = next((folder / "LICENSE" for folder in (model_path.parent, model_path.parent.parent)
                    if (folder / "LICENSE").is_file()), None)
    if licence is None:
        raise ValueError(f"no LICENSE next to {model_path} or in the repository above it")
    return model_bytes, licence.read_text(encoding="utf-8")
