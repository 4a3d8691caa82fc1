"""The detector's pre-processing, OpenCV against NumPy: the measurements behind ``FaceDetector.prepare``.

Run: ``python -m pytest tests/benchmarks/test_preprocess.py --benchmark-only``. Group
``resize``: a 480p and a 1080p webcam frame shrunk to the live detector input (longest side
384) by the shipped ``resize_for_network`` (exact halvings, then bilinear), by OpenCV's
bilinear or pixel-averaging filter alone and by NumPy index sampling (nearest pixel, the
fastest thing NumPy alone does). Group ``pack``: the resized RGB frame written as the
network's (1, 3, H, W) float32 input into a fresh array (what ``prepare`` does), into one
reused across frames, or by ``cv2.dnn.blobFromImage``; each must equal ``prepare``'s input.
Reuse saved 0.02 ms a frame here, too little for a per-thread buffer in a detector that the
engine and the training wizard share.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.bench import fit_frame
from core.bench_matrix import RESOLUTIONS
from core.vision.detect import resize_for_network
from core.vision.imaging import load_image
from core.live.loop import LIVE_LONG_SIDE
from core.resources import sample_face

FRAMES = {name: RESOLUTIONS[name] for name in ("480p", "1080p")}


def live_size(frame: np.ndarray) -> tuple[int, int]:
    factor = LIVE_LONG_SIDE / max(frame.shape[:2])
    return round(frame.shape[1] * factor), round(frame.shape[0] * factor)


def numpy_nearest(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rows = (np.arange(size[1]) * frame.shape[0] / size[1]).astype(np.intp)
    columns = (np.arange(size[0]) * frame.shape[1] / size[0]).astype(np.intp)
    return frame[rows[:, None], columns]


RESIZERS = {
    "shipped": resize_for_network,
    "opencv-bilinear": lambda frame, size: cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR),
    "opencv-area": lambda frame, size: cv2.resize(frame, size, interpolation=cv2.INTER_AREA),
    "numpy-nearest": numpy_nearest,
}


def pack_fresh(rgb: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    blob = np.zeros(shape, np.float32)
    blob[0, :, :rgb.shape[0], :rgb.shape[1]] = rgb.transpose(2, 0, 1)
    return blob


REUSED: dict[tuple[int, ...], np.ndarray] = {}


def pack_reused(rgb: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    blob = REUSED.get(shape)
    if blob is None:
        blob = REUSED[shape] = np.zeros(shape, np.float32)
    blob[0, :, :rgb.shape[0], :rgb.shape[1]] = rgb.transpose(2, 0, 1)
    return blob


def pack_opencv(rgb: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    padded = cv2.copyMakeBorder(rgb, 0, shape[2] - rgb.shape[0], 0, shape[3] - rgb.shape[1], cv2.BORDER_CONSTANT)
    return cv2.dnn.blobFromImage(padded)


PACKERS = {"numpy-fresh": pack_fresh, "numpy-reused": pack_reused, "opencv-blob": pack_opencv}


@pytest.fixture(params=list(FRAMES))
def frame(request):
    return fit_frame(load_image(sample_face()).pixels, FRAMES[request.param])


@pytest.mark.benchmark(group="resize")
@pytest.mark.parametrize("method", list(RESIZERS))
def test_resize(benchmark, frame, method):
    size = live_size(frame)
    resized = benchmark(RESIZERS[method], frame, size)
    assert resized.shape == (size[1], size[0], 3)


@pytest.mark.benchmark(group="pack")
@pytest.mark.parametrize("method", list(PACKERS))
def test_pack(benchmark, pipeline, frame, method):
    prepared = pipeline.detector.prepare(frame, LIVE_LONG_SIDE)
    rgb = resize_for_network(frame, live_size(frame))
    blob = benchmark(PACKERS[method], rgb, prepared.blob.shape)
    np.testing.assert_array_equal(blob, prepared.blob)
