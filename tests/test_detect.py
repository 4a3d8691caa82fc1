"""The detector on real photos, and the grid decoding on a hand-made grid."""

from __future__ import annotations

import numpy as np
import pytest

from core.vision.detect import FaceDetector, decode_grid
from core.errors import ModelError
from core.vision.imaging import load_image
from core.live.loop import LIVE_LONG_SIDE, live_threshold
from core.vision.nms import iou

# Who is where in scenes/, left to right, and whether each face must be found.
SCENES = {"two_people.jpg": 2, "obama_and_biden.jpg": 2, "kit_with_rose.jpg": 2}


@pytest.mark.parametrize("long_side", [None, LIVE_LONG_SIDE], ids=["still-photo-size", "live-size"])
def test_all_labelled_faces_found_and_nothing_else(pipeline, labelled_boxes, long_side):
    """Also at the live loop's smaller detector input, which is chosen on exactly this."""
    for path, truth in labelled_boxes.items():
        image = load_image(path)
        threshold = live_threshold(pipeline.detector.score_threshold, long_side)  # as the live loop detects
        faces = [face.scaled(image.scale) for face in pipeline.detect(image.pixels, long_side, threshold)]
        boxes = np.array([face.box for face in faces])
        assert len(faces) == len(truth), f"{path.name}: {len(faces)} boxes for {len(truth)} faces"
        for labelled in np.array(truth, dtype=float):
            assert iou(labelled, boxes).max() >= 0.4, f"{path.name}: face {labelled} not found"


def test_the_live_loop_relieves_pc_only_at_its_small_input():
    assert live_threshold(0.6, LIVE_LONG_SIDE) == pytest.approx(0.5)
    assert live_threshold(0.05, LIVE_LONG_SIDE) == 0.0
    assert live_threshold(0.6, None) is None  # full size: the configured Pc


def test_each_people_photo_has_exactly_one_face(pipeline, people):
    for photos in people.values():
        for photo in photos:
            faces = pipeline.find_faces(load_image(photo))
            assert len(faces) == 1, f"{photo}: {len(faces)} faces"
            face = faces[0]
            (left_eye, right_eye, nose, mouth_left, mouth_right) = face.landmarks
            # upright faces: eyes above nose above mouth, image-left eye first
            assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
            assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_named_scene_faces_are_found(pipeline, data_dir):
    for name, named in SCENES.items():
        faces = pipeline.find_faces(load_image(data_dir / "scenes" / name))
        assert len(faces) >= named, name
        large = [f for f in faces if f.height >= 50]
        assert len(large) >= named, name


def test_decode_grid_reads_a_hand_made_cell():
    """One cell at row 10, col 20 with known offsets, scales and landmarks."""
    h, w, stride = 30, 40, 4
    grids = {
        "heatmap": np.zeros((1, 1, h, w), np.float32),
        "scale": np.zeros((1, 2, h, w), np.float32),
        "offset": np.zeros((1, 2, h, w), np.float32),
        "landmarks": np.zeros((1, 10, h, w), np.float32),
    }
    grids["heatmap"][0, 0, 10, 20] = 0.9
    grids["heatmap"][0, 0, 5, 5] = 0.5  # below the threshold: not decoded
    grids["scale"][0, :, 10, 20] = np.log([10.0, 8.0])  # height 40, width 32
    grids["offset"][0, :, 10, 20] = [0.25, -0.5]  # y, x
    grids["landmarks"][0, :, 10, 20] = [0.5, 0.25] * 5  # y then x, relative to the box
    boxes, scores, landmarks = decode_grid(grids, score_threshold=0.6, stride=stride)
    centre_x, centre_y = (20 - 0.5 + 0.5) * 4, (10 + 0.25 + 0.5) * 4
    assert scores.tolist() == pytest.approx([0.9])
    assert boxes[0] == pytest.approx([centre_x - 16, centre_y - 20, centre_x + 16, centre_y + 20])
    assert landmarks[0] == pytest.approx(np.tile([centre_x - 16 + 8, centre_y - 20 + 20], (5, 1)))


def test_thresholds_are_validated(pipeline):
    with pytest.raises(ValueError, match="thresholds"):
        FaceDetector(pipeline.detector.session, pipeline.detector.spec, score_threshold=1.5)


def test_detector_refuses_a_session_of_another_network(pipeline):
    with pytest.raises(ModelError, match="not the face detector"):
        FaceDetector(pipeline.embedder.session, pipeline.detector.spec)


def test_frame_must_be_rgb_uint8(pipeline):
    with pytest.raises(ValueError, match="uint8 RGB"):
        pipeline.detector.detect(np.zeros((10, 10), np.uint8))
