"""The registry: shipped files match their manifests; damaged or wrong files fail loudly."""

from __future__ import annotations

import json

import pytest

from core.errors import ModelError
from core.models.registry import file_sha256, find_model, shipped_models, verify_file
from core.vision.pipeline import FacePipeline


def test_shipped_models_are_intact_and_licensed():
    specs = shipped_models()
    assert {spec.task for spec in specs} == {"detect", "embed", "liveness", "occlusion"}
    for spec in specs:
        verify_file(spec)
        assert spec.licence_path.is_file() and spec.licence_path.stat().st_size > 500
        assert spec.source["package"] and spec.source["version"]
        assert "python -m core.modelbuild" in spec.rebuild


def test_missing_model_file(model_copy):
    spec = find_model("embed")
    spec.path.unlink()
    with pytest.raises(ModelError, match="model file missing"):
        FacePipeline.load("cpu")


def test_damaged_model_file(model_copy):
    spec = find_model("detect")
    data = bytearray(spec.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    spec.path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="damaged or replaced"):
        FacePipeline.load("cpu")


def install_as_embedder(folder, data: bytes) -> None:
    """Put ``data`` in the embedder's place with a manifest sha256 that matches it."""
    embedder = find_model("embed")
    embedder.path.write_bytes(data)
    manifest = folder / f"{embedder.id}.json"
    raw = json.loads(manifest.read_text())
    raw["sha256"] = file_sha256(embedder.path)
    manifest.write_text(json.dumps(raw))


def test_wrong_network_in_place_of_the_embedder(model_copy):
    install_as_embedder(model_copy, find_model("detect").path.read_bytes())
    with pytest.raises(ModelError, match="not the embedder its manifest describes"):
        FacePipeline.load("cpu")


def test_garbage_in_place_of_a_model(model_copy):
    install_as_embedder(model_copy, b"not a network")
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        FacePipeline.load("cpu")


def test_broken_manifest(model_copy):
    (model_copy / "centerface.json").write_text("{ not json")
    with pytest.raises(ModelError, match="unreadable model manifest"):
        shipped_models()
