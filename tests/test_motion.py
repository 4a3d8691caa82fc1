"""The motion gate: a still camera's noise is not motion, a 1 px move anywhere is, and the
detector runs at least every DETECT_EVERY frames whatever the scene does."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.bench import letterbox
from core.live.motion import DETECT_EVERY, MotionGate
from core.vision.imaging import load_image
from camera_frames import jpeg, sensor_noise

PHOTOS = ["people/barack_obama/2.jpg", "people/joe_biden/2.jpg", "liveness/image_T1.jpg", "scenes/two_people.jpg"]


def shifted(pixels: np.ndarray, dx: float, dy: float) -> np.ndarray:
    move = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(pixels, move, pixels.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(params=PHOTOS)
def scene(request, data_dir) -> np.ndarray:
    return letterbox(load_image(data_dir / request.param).pixels)


@pytest.mark.parametrize("sigma", [3.0, 8.0])
def test_sensor_and_jpeg_noise_is_not_motion(scene, sigma):
    """A still scene seen by a noisy camera (sigma 3, and a dark room's 8) reuses every frame."""
    rng = np.random.default_rng(0)
    gate = MotionGate(detect_every=1000)
    assert not gate.still(jpeg(sensor_noise(scene, rng, sigma)))  # the first frame is always detected
    assert all(gate.still(jpeg(sensor_noise(scene, rng, sigma))) for _ in range(30))


@pytest.mark.parametrize("dx, dy", [(1.0, 0.0), (0.0, -1.0), (0.7, 0.7)])
def test_a_one_pixel_move_of_the_picture_is_motion(scene, dx, dy):
    rng = np.random.default_rng(1)
    gate = MotionGate(detect_every=1000)
    gate.still(jpeg(sensor_noise(scene, rng)))
    assert not gate.still(jpeg(sensor_noise(shifted(scene, dx, dy), rng)))


def test_a_small_face_moving_in_one_corner_is_motion(data_dir):
    """A 40x48 px face (ORL, about the detector's smallest) moving 1 px, the rest of the room still."""
    rng = np.random.default_rng(2)
    face = cv2.resize(load_image(data_dir / "orl" / "s1" / "1.pgm").pixels, (40, 48), interpolation=cv2.INTER_AREA)
    room = np.full((480, 640, 3), 110, np.uint8)

    def with_face(left: int) -> np.ndarray:
        frame = room.copy()
        frame[10:58, left:left + 40] = face
        return jpeg(sensor_noise(frame, rng))

    gate = MotionGate(detect_every=1000)
    gate.still(with_face(590))
    assert gate.still(with_face(590))
    assert not gate.still(with_face(591))


def test_motion_is_measured_from_the_last_detected_frame(scene):
    """A slow drift, too small to see from one frame to the next, is caught once it adds up."""
    gate = MotionGate(detect_every=1000)
    gate.still(scene)
    steps = [gate.still(shifted(scene, 0.1 * n, 0.0)) for n in range(1, 21)]
    assert steps[0] and not all(steps)


def test_the_detector_runs_every_detect_every_frames_in_a_still_scene(scene):
    gate = MotionGate()
    ran = [n for n in range(3 * DETECT_EVERY + 1) if not gate.still(scene)]
    assert ran == [0, DETECT_EVERY, 2 * DETECT_EVERY, 3 * DETECT_EVERY]


def test_another_frame_size_is_detected():
    gate = MotionGate(detect_every=1000)
    gate.still(np.zeros((480, 640, 3), np.uint8))
    assert not gate.still(np.zeros((240, 320, 3), np.uint8))


@pytest.mark.parametrize("settings", [{"threshold": 0.0}, {"threshold": float("nan")}, {"detect_every": 0}])
def test_nonsense_settings_are_refused(settings):
    with pytest.raises(ValueError):
        MotionGate(**settings)
