"""YuNet behind the detector interface: its grid decode, the real model on the shared photos, its manifest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelError
from core.live.loop import LIVE_LONG_SIDE, live_threshold
from core.modelbuild.__main__ import write_model
from core.modelbuild.yunet import check_upstream
from core.models.registry import find_model, find_models, read_manifest
from core.vision.detect import FaceDetector
from core.vision.imaging import load_image
from core.vision.nms import iou
from core.vision.yunet import STRIDES, decode_yunet

UPSTREAM = Path(__file__).resolve().parents[1].parent / "shared" / "upstream" / "yunet"


def detector_spec(model_id: str):
    return next(spec for spec in find_models("detect") if spec.id == model_id)


@pytest.fixture(scope="module")
def yunet():
    return FaceDetector.open(detector_spec("yunet-n"), "cpu")


def empty_grids(height: int, width: int) -> dict[str, np.ndarray]:
    sizes = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}
    return {f"{kind}_{s}": np.zeros((1, (height // s) * (width // s), k), np.float32)
            for kind, k in sizes.items() for s in STRIDES}


def test_decode_reads_hand_made_cells_of_two_strides():
    """Stride 8, row 3, col 5 of a 64x96 input (cell 3 * 12 + 5); stride 32, row 1, col 2 (cell 1 * 3 + 2)."""
    grids = empty_grids(64, 96)
    grids["cls_8"][0, 41], grids["obj_8"][0, 41] = 0.81, 1.0  # score sqrt(0.81 * 1) = 0.9
    grids["bbox_8"][0, 41] = [0.5, 0.25, np.log(2.0), np.log(3.0)]  # centre offset x, y; log w, h
    grids["kps_8"][0, 41] = [0.0, 0.0, 1.0, 0.0, 0.5, 1.0, 0.0, 2.0, 1.0, 2.0]
    grids["cls_32"][0, 5], grids["obj_32"][0, 5] = 0.49, 1.0  # score 0.7
    grids["bbox_32"][0, 5] = [0.5, 0.5, 0.0, 0.0]
    grids["cls_16"][0, 0], grids["obj_16"][0, 0] = 1.0, 0.25  # score 0.5: below the threshold
    boxes, scores, landmarks = decode_yunet(grids, 0.6, (64, 96))
    assert scores.tolist() == pytest.approx([0.9, 0.7])
    centre_x, centre_y = (5 + 0.5) * 8, (3 + 0.25) * 8
    assert boxes[0] == pytest.approx([centre_x - 8, centre_y - 12, centre_x + 8, centre_y + 12])
    corner = np.array([5 * 8, 3 * 8])
    assert landmarks[0] == pytest.approx(corner + 8 * np.array([[0, 0], [1, 0], [0.5, 1], [0, 2], [1, 2]]))
    assert boxes[1] == pytest.approx([(2.5 * 32) - 16, (1.5 * 32) - 16, (2.5 * 32) + 16, (1.5 * 32) + 16])


def test_decode_of_an_empty_grid_is_empty():
    boxes, scores, landmarks = decode_yunet(empty_grids(32, 32), 0.6, (32, 32))
    assert boxes.shape == (0, 4) and scores.shape == (0,) and landmarks.shape == (0, 5, 2)


def test_the_network_gets_bgr(yunet):
    """YuNet was trained on OpenCV's BGR images; the frame we get is RGB."""
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 255
    blob = yunet.prepare(red, 64).blob
    assert blob[0, 2].max() == 255 and blob[0, 0].max() == 0


@pytest.mark.parametrize("long_side", [None, LIVE_LONG_SIDE], ids=["still-photo-size", "live-size"])
def test_all_labelled_faces_found_and_nothing_else(yunet, labelled_boxes, long_side):
    for path, truth in labelled_boxes.items():
        image = load_image(path)
        threshold = live_threshold(yunet.score_threshold, long_side)
        faces = [face.scaled(image.scale) for face in yunet.detect(image.pixels, long_side, threshold)]
        boxes = np.array([face.box for face in faces])
        assert len(faces) == len(truth), f"{path.name}: {len(faces)} boxes for {len(truth)} faces"
        for labelled in np.array(truth, dtype=float):
            assert iou(labelled, boxes).max() >= 0.4, f"{path.name}: face {labelled} not found"


def test_landmarks_land_near_centerfaces_in_the_same_order(yunet, pipeline, people):
    """Same five points, same order: each within 0.2 eye distances of CenterFace's on average
    (measured: 0.071 mean, 0.139 worst on these photos; a swapped pair is about 1 eye distance off)."""
    errors = []
    for photo in (p for photos in people.values() for p in photos):
        pixels = load_image(photo).pixels
        reference = max(pipeline.detector.detect(pixels), key=lambda f: f.area)
        ours = yunet.detect(pixels)
        match = ours[int(iou(np.array(reference.box), np.array([f.box for f in ours])).argmax())]
        theirs, mine = reference.landmark_array(), match.landmark_array()
        errors.append(np.linalg.norm(theirs - mine, axis=1).mean() / np.linalg.norm(theirs[1] - theirs[0]))
    assert max(errors) < 0.2 and np.mean(errors) < 0.1, np.round(errors, 3)


def test_small_frames_are_enlarged_as_the_manifest_says(yunet, pipeline):
    """The live detector never enlarges a frame; CenterFace's points on ORL's 92x112 crops are best at 3x."""
    crop = np.zeros((112, 92, 3), np.uint8)
    assert yunet.prepare(crop).factor == 1.0 and pipeline.detector.prepare(crop).factor == 3.0


def test_photos_keep_centerface_and_the_live_view_runs_yunet(pipeline):
    """CenterFace's points are the ones the embedder's taus were calibrated on; YuNet-n is the
    live default (core.modelbuild.manifests, at YuNet)."""
    assert pipeline.detector.spec.id == find_model("detect").id == "centerface"
    assert pipeline.live_detector.spec.id == "yunet-n"


def test_detector_refuses_a_session_of_the_other_network(yunet, pipeline):
    with pytest.raises(ModelError, match="not the face detector"):
        FaceDetector(pipeline.detector.session, yunet.spec)
    with pytest.raises(ModelError, match="not the face detector"):
        FaceDetector(yunet.session, detector_spec("centerface"))


def test_an_unknown_decoder_is_refused(yunet):
    spec = dataclasses.replace(yunet.spec, outputs={**yunet.spec.outputs, "decoder": "retinaface"})
    with pytest.raises(ModelError, match="unknown grid decoder 'retinaface'"):
        FaceDetector(yunet.session, spec)


def test_a_replaced_model_file_is_refused(tmp_path, yunet):
    copy = tmp_path / yunet.spec.path.name
    copy.write_bytes(yunet.spec.path.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelError, match="damaged or replaced"):
        FaceDetector.open(dataclasses.replace(yunet.spec, path=copy), "cpu")


def test_the_build_refuses_another_file():
    with pytest.raises(ValueError, match="not the pinned"):
        check_upstream(detector_spec("centerface").path.read_bytes())


def test_the_build_reproduces_the_shipped_model_and_manifest(tmp_path):
    if not UPSTREAM.is_dir():
        pytest.skip(f"upstream YuNet files not found at {UPSTREAM}")
    manifest = write_model("yunet", UPSTREAM, tmp_path)
    shipped = detector_spec("yunet-n")
    assert json.loads(shipped.path.with_name("yunet-n.json").read_text()) == manifest
    assert (tmp_path / manifest["file"]).read_bytes() == shipped.path.read_bytes()
    assert (tmp_path / manifest["licence"]["file"]).read_text() == shipped.licence_path.read_text()
    built = read_manifest(tmp_path / "yunet-n.json")
    assert built.outputs["decoder"] == "yunet" and built.outputs["strides"] == list(STRIDES)
