"""Stand-in cameras for the tests: folders of 640x480 frames made from the shared photos."""

from __future__ import annotations

import io
import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from core.bench import letterbox
from core.vision.imaging import load_image

# The longest any GUI test waits for a signal or a condition (model loading and the first frames
# with both cores busy with other work). Tests wait on events, never on time: a passing test
# never waits this long, and a failing one says so after three minutes.
WAIT_MS = 180_000
JPEG_QUALITY = 92


def write_frames(folder: Path, photos, count: int) -> Path:
    """``count`` frames cycling through ``photos`` (one path or several): each photo a perfectly
    still scene, not a webcam (see ``write_moving_frames``)."""
    photos = [photos] if isinstance(photos, (str, Path)) else list(photos)
    frames = [letterbox(load_image(photo).pixels) for photo in photos]
    return _save(folder, (frames[n % len(frames)] for n in range(count)))


def write_moving_frames(folder: Path, photo, count: int, seed: int = 0, shift: float = 3.0,
                        noise: float = 3.0) -> Path:
    """``count`` frames of ``photo`` as a webcam sees someone sitting in front of it: the picture
    drifts along a slow closed loop (up to ``shift`` px, sub-pixel steps, one lap over the
    ``count`` frames so a looping folder does not jump) with fresh sensor noise of sigma
    ``noise`` on each frame, saved as JPEG. At 30 frames a lap the live loop's motion gate
    sees 80-93 % of the frames of the shared people/ photos move (all but the turns)."""
    base = letterbox(load_image(photo).pixels)
    rng = np.random.default_rng(seed)

    def frame(n: int) -> np.ndarray:
        angle = 2 * math.pi * n / count
        move = np.float32([[1, 0, shift * math.sin(angle)], [0, 1, shift / 2 * math.sin(2 * angle)]])
        return sensor_noise(cv2.warpAffine(base, move, base.shape[1::-1], borderMode=cv2.BORDER_REPLICATE),
                            rng, noise)

    return _save(folder, (frame(n) for n in range(count)))


def sensor_noise(pixels: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    """``pixels`` with a camera sensor's fresh noise of sigma ``sigma`` grey levels."""
    return np.clip(pixels + rng.normal(0.0, sigma, pixels.shape), 0, 255).astype(np.uint8)


def jpeg(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` after a trip through JPEG at the quality the stand-in cameras save (92)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=JPEG_QUALITY)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _save(folder: Path, frames) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, pixels in enumerate(frames):
        Image.fromarray(pixels).save(folder / f"{n:03d}.jpg", quality=JPEG_QUALITY)
    return folder


def next_report(qtbot, window, condition=lambda report: True, timeout: int = WAIT_MS):
    """The next frame the window's live loop processed whose report satisfies ``condition``."""
    seen = []

    def check(image, report):
        if condition(report):
            seen.append(report)
        return bool(seen)

    with qtbot.waitSignal(window.controller.frameProcessed, timeout=timeout, check_params_cb=check):
        pass
    return seen[-1]


def names(report) -> list[str | None]:
    return [face.name for face in report.faces]
