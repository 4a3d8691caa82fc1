"""The enrolment gate on real photos made worse in the ways a webcam makes them worse."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.vision.detect import Face
from core.errors import NoFaceError
from core.vision.imaging import load_image
from core.errors import FaceCountError
from core.vision.quality import choose_face, measure_quality, pose


@pytest.fixture(scope="module")
def portrait(people):
    return load_image(people["rose_leslie"][1])


def report_for(pipeline, pixels):
    face = choose_face(pipeline.detect(pixels), "test")
    return measure_quality(pixels, face)


def test_good_photos_pass(pipeline, people):
    for photos in people.values():
        for photo in photos:
            image = load_image(photo)
            face = choose_face(pipeline.detect(image.pixels), str(photo))
            report = measure_quality(image.pixels, face, image.scale)
            assert report.ok, (photo, report.problems)
            assert 0.5 < report.score <= 1


def test_blur_is_refused_with_hint(pipeline, portrait):
    face = pipeline.detect(portrait.pixels)[0]
    blurred = cv2.GaussianBlur(portrait.pixels, (0, 0), face.height / 25)
    report = report_for(pipeline, blurred)
    assert not report.ok and "blurred" in report.problems[0] and report.hints == ("hold still",)


def test_darkness_is_refused_with_hint(pipeline, portrait):
    dark = (portrait.pixels * 0.25).astype(np.uint8)
    report = report_for(pipeline, dark)
    assert any("too dark" in p for p in report.problems) and "more light" in report.hints


def test_small_face_is_refused_with_hint(pipeline, portrait):
    small = cv2.resize(portrait.pixels, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA)
    report = report_for(pipeline, small)
    assert any("too small" in p for p in report.problems) and "move closer" in report.hints


def test_face_count(pipeline, data_dir):
    scene = load_image(data_dir / "scenes" / "two_people.jpg")
    faces = pipeline.detect(scene.pixels)
    with pytest.raises(FaceCountError, match="2 faces found"):
        choose_face(faces, "scene.jpg")
    assert choose_face(faces, "scene.jpg", use_largest=True) == max(faces, key=lambda f: f.area)
    with pytest.raises(NoFaceError):
        choose_face([], "wall.jpg")


def face_with(nose_x: float, nose_y: float = 60.0) -> Face:
    return Face((0, 0, 100, 120), 0.9, ((30, 40), (70, 40), (nose_x, nose_y), (35, 85), (65, 85)))


def test_pose_from_landmarks():
    yaw, pitch = pose(face_with(50))
    assert yaw == pytest.approx(0) and pitch == pytest.approx(20 / 45)
    assert pose(face_with(68))[0] == pytest.approx(18 / 40)


def test_turned_face_is_refused(portrait):
    turned = face_with(68)
    report = measure_quality(portrait.pixels, turned)
    assert any("turned to the side" in p for p in report.problems) and "look at the camera" in report.hints
