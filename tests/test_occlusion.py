"""The lower-face occlusion classifier: the shipped model on faces it was never trained on."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.errors import ModelError
from core.vision.imaging import load_image
from core.models.registry import file_sha256, find_model
from core.vision.occlusion import COVERED_THRESHOLD, OcclusionDetector

# people/ and scenes/ are held out of training (identities and photos); measured on the shipped
# model: clear faces 16/16 of people/ and 7/7 of scenes/ not covered (highest p 0.11: the full dark
# beard with a broad smile, alex_lacamoire/3.jpg, which the previous model put at 0.994); painted
# masks on those 23 faces 23/23 covered for each of the seeds 11, 12, 13 and 21 (lowest p 0.94).
# The floors of the older tests leave margin; the two tests at the end hold the measured rates.
CLEAR_FLOOR = 0.85
PAINTED_FLOOR = 0.85
BEARDED_SMILE_CEILING = 0.3
PAINTED_ALL_FLOOR = 1.0


@pytest.fixture(scope="module")
def detector() -> OcclusionDetector:
    return OcclusionDetector.load("cpu")


@pytest.fixture(scope="module")
def held_out_chips(pipeline, people) -> np.ndarray:
    """The largest face of every people/ photo, as the app aligns it (never seen in training)."""
    chips = []
    for photos in people.values():
        for path in photos:
            results = pipeline.analyse(load_image(path))
            if results:
                chips.append(max(results, key=lambda r: r.face.area).chip)
    assert len(chips) >= 12
    return np.stack(chips)


@pytest.fixture(scope="module")
def scene_chips(pipeline, data_dir) -> np.ndarray:
    """Every face of every scenes/ photo (held out of training too)."""
    chips = [result.chip for path in sorted((data_dir / "scenes").glob("*.jpg"))
             for result in pipeline.analyse(load_image(path))]
    assert len(chips) >= 5
    return np.stack(chips)


def painted(chips: np.ndarray, seed: int) -> np.ndarray:
    torch = pytest.importorskip("torch")
    from core.training.augment import paint_masks

    tensor = torch.from_numpy(np.ascontiguousarray(chips.transpose(0, 3, 1, 2))).float()
    out = paint_masks(tensor, torch.ones(len(chips), dtype=torch.bool), torch.Generator().manual_seed(seed))
    return np.clip(np.round(out.numpy().transpose(0, 2, 3, 1)), 0, 255).astype(np.uint8)


def test_clear_held_out_faces_are_not_covered(detector, held_out_chips):
    probabilities = detector.covered(held_out_chips)
    assert probabilities.shape == (len(held_out_chips),) and probabilities.dtype == np.float32
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert (probabilities < COVERED_THRESHOLD).mean() >= CLEAR_FLOOR


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_painted_masks_on_held_out_faces_are_covered(detector, held_out_chips, seed):
    masked = painted(held_out_chips, seed)
    assert (detector.covered(masked) >= COVERED_THRESHOLD).mean() >= PAINTED_FLOOR


def test_held_out_accuracy_over_both_classes(detector, held_out_chips):
    masked = painted(held_out_chips, 21)
    right = np.concatenate([detector.covered(held_out_chips) < COVERED_THRESHOLD,
                            detector.covered(masked) >= COVERED_THRESHOLD])
    assert right.mean() >= (CLEAR_FLOOR + PAINTED_FLOOR) / 2


def test_batch_equals_one_by_one(detector, held_out_chips):
    chips = held_out_chips[:8]
    batched = detector.covered(chips)
    single = np.concatenate([detector.covered(chip[None]) for chip in chips])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert detector.covered(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0,)


def test_wrong_chip_shape_is_refused(detector):
    with pytest.raises(ValueError):
        detector.covered(np.zeros((1, 112, 112, 3), np.uint8))


def test_manifest_states_held_out_numbers():
    spec = find_model("occlusion")
    assert spec.licence_path.is_file()
    held_out = spec.details["metrics"]["held_out"]
    assert held_out["clear_correct"] >= 0.8 and held_out["painter_detected"] >= 0.8
    assert spec.defaults["threshold"] == COVERED_THRESHOLD


def test_missing_model_file(model_copy):
    find_model("occlusion").path.unlink()
    with pytest.raises(ModelError, match="model file missing"):
        OcclusionDetector.load("cpu")


def test_altered_model_file(model_copy):
    path = find_model("occlusion").path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="damaged or replaced"):
        OcclusionDetector.load("cpu")


def test_a_different_network_in_its_place(model_copy):
    """A model whose sha256 matches but whose input is not the manifest's: refused, not guessed at."""
    spec = find_model("occlusion")
    shutil.copy(find_model("embed").path, spec.path)
    manifest = model_copy / f"{spec.id}.json"
    raw = json.loads(manifest.read_text())
    raw["sha256"] = file_sha256(spec.path)
    manifest.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="not the occlusion model"):
        OcclusionDetector.load("cpu")


def test_every_clear_held_out_face_is_not_covered(detector, held_out_chips, scene_chips, data_dir, pipeline):
    """No clear face of people/ (all 16 photos) or scenes/ reads as covered: not the full dark beard
    with a broad smile (alex_lacamoire/3.jpg, once p = 0.994), nor any other."""
    assert len(held_out_chips) == 16
    probabilities = detector.covered(np.concatenate([held_out_chips, scene_chips]))
    assert (probabilities < COVERED_THRESHOLD).all(), np.round(probabilities, 3)
    results = pipeline.analyse(load_image(data_dir / "people" / "alex_lacamoire" / "3.jpg"))
    bearded_smile = max(results, key=lambda r: r.face.area).chip
    assert detector.covered(bearded_smile[None])[0] < BEARDED_SMILE_CEILING


@pytest.mark.parametrize("seed", [11, 12, 13, 21])
def test_painted_masks_on_every_clear_held_out_face_are_caught(detector, held_out_chips, scene_chips, seed):
    """The same faces with the app's painted masks are still covered, at the measured rate."""
    masked = painted(np.concatenate([held_out_chips, scene_chips]), seed)
    assert (detector.covered(masked) >= COVERED_THRESHOLD).mean() >= PAINTED_ALL_FLOOR
