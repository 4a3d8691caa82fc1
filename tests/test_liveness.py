"""Liveness: the ONNX conversion matches PyTorch, and the shipped models tell live from print."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelError
from core.vision.imaging import load_image
from core.vision.liveness import LIVE_THRESHOLD, LivenessChecker, crop_batch, upstream_box
from core.models.registry import find_models
from core.vision.pipeline import FacePipeline

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SAMPLES = DATA / "liveness"
UPSTREAM = DATA.parent / "upstream" / "silent-face-anti-spoofing"
KINDS = {"minifasnet-v2": ("liveness-v2", "MiniFASNetV2"), "minifasnet-v1se": ("liveness-v1se", "MiniFASNetV1SE")}


@pytest.fixture(scope="module")
def samples() -> dict[str, tuple[np.ndarray, list]]:
    """Upstream's sample photos (T1 live, F1 and F2 attacks) with the faces our detector finds."""
    if not SAMPLES.is_dir():
        pytest.skip(f"liveness sample photos not found at {SAMPLES}")
    pipeline = FacePipeline.load("cpu")
    found = {}
    for name in ("image_T1", "image_F1", "image_F2"):
        pixels = load_image(SAMPLES / f"{name}.jpg").pixels
        found[name] = (pixels, [face.box for face in pipeline.detect(pixels)])
        assert len(found[name][1]) == 1, f"{name}: expected one face"
    return found


@pytest.fixture(scope="module")
def checker() -> LivenessChecker:
    return LivenessChecker.load("cpu")


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_conversion_matches_pytorch_and_the_shipped_bytes(tmp_path, samples):
    torch = pytest.importorskip("torch", reason="the conversion needs PyTorch (pip install '.[train]')")
    import onnxruntime as ort

    from core.modelbuild.__main__ import write_model
    from core.modelbuild.minifasnet import load_network

    if not UPSTREAM.is_dir():
        pytest.skip(f"upstream .pth files not found at {UPSTREAM}")
    for spec in find_models("liveness"):
        kind, network_name = KINDS[spec.id]
        pth = UPSTREAM / Path(spec.source["member"]).name
        manifest = write_model(kind, pth, tmp_path)  # raises itself past 1e-5
        assert manifest["sha256"] == spec.sha256, f"{spec.id}: rebuilt bytes differ from the shipped file"
        crops = np.concatenate([crop_batch(pixels, [upstream_box(b) for b in boxes], spec.input["crop"]["scale"], 80)
                                for pixels, boxes in samples.values()])
        session = ort.InferenceSession(str(tmp_path / manifest["file"]), providers=["CPUExecutionProvider"])
        onnx_probs = _softmax(session.run(None, {"crops": crops})[0].astype(np.float64))
        with torch.no_grad():
            torch_probs = _softmax(load_network(pth, network_name)(torch.from_numpy(crops)).double().numpy())
        assert np.abs(onnx_probs - torch_probs).max() < 1e-5


def test_live_and_attack_samples(checker, samples):
    scores = {name: float(checker.scores(pixels, boxes)[0]) for name, (pixels, boxes) in samples.items()}
    assert scores["image_T1"] >= LIVE_THRESHOLD, scores
    assert scores["image_F1"] < LIVE_THRESHOLD, scores
    assert scores["image_F2"] < LIVE_THRESHOLD, scores
    assert all(0.0 <= s <= 1.0 for s in scores.values())


def test_batch_equals_one_by_one(checker, samples):
    """Three photos side by side: one call for the three faces gives each face's own score."""
    frame = np.ascontiguousarray(np.hstack([pixels for pixels, _ in samples.values()]))
    boxes, offset = [], 0
    for pixels, (x1, y1, x2, y2) in ((p, b[0]) for p, b in samples.values()):
        boxes.append((x1 + offset, y1, x2 + offset, y2))
        offset += pixels.shape[1]
    together = checker.scores(frame, boxes)
    alone = np.array([checker.scores(frame, [box])[0] for box in boxes])
    assert together.shape == (3,)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert checker.scores(frame, []).shape == (0,)


def test_missing_model_file(model_copy):
    find_models("liveness", model_copy)[0].path.unlink()
    with pytest.raises(ModelError, match="model file missing"):
        LivenessChecker.load("cpu", model_copy)


def test_altered_model_file(model_copy):
    path = find_models("liveness", model_copy)[-1].path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="damaged or replaced"):
        LivenessChecker.load("cpu", model_copy)


def test_no_liveness_manifest(model_copy):
    for spec in find_models("liveness", model_copy):
        (model_copy / f"{spec.id}.json").unlink()
    with pytest.raises(ModelError, match="no model manifest for the 'liveness' task"):
        LivenessChecker.load("cpu", model_copy)
