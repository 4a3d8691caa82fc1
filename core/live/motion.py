"""Whether anything moved since the frame the current detections came from.

A camera watching a still scene (a desk, a door nobody is at, a person sitting still) would
run the detector on every frame to find the same boxes again. The live loop asks this gate
first: when a small grey thumbnail of the frame matches the one of the last detected frame
everywhere, the previous boxes are reused; the tracker's per-box appearance check, liveness
and the labels carry on as on any frame. Any change anywhere in the picture (someone
entering, a swap of people, a photo held up, a head turning) runs the detector, and so does
every DETECT_EVERY-th frame whatever happens.
"""

from __future__ import annotations

import cv2
import numpy as np

# The thumbnail: grey, 64 px wide (a 640x480 frame in 10x10 px cells), each cell the mean of
# its pixels. Measured on 5 shared photos letterboxed to 640x480 as a camera would see them
# (tests/test_motion.py keeps the cases): the same picture with fresh sensor noise (sigma 3) and
# JPEG at quality 92 differs from its reference by at most 4 grey levels in any cell (5 at
# sigma 5, 8 at sigma 8, a dark room's gain); shifted by 1 px it differs by 25 or more, by
# 0.7 px diagonally 16 or more, and a 40x48 px face moving 1 px in an empty room changes its
# cells by 23 or more. 10 lies above the noisiest camera measured and well below the smallest
# motion. A 48 px thumbnail separated worse (noise up to 3, a 1 px shift 14 or more), a 96 px
# one no better (6 and 38) for twice the cells.
# The thumbnail costs about 0.3 ms per 640x480 frame (every other pixel, then area mean).
THUMB_WIDTH = 64
MOTION_THRESHOLD = 10.0
# However still the scene, the detector runs on every 15th frame (0.5 s at 30 frames/s, 1 s
# at 15): nothing the gate could miss stays unseen for long.
DETECT_EVERY = 15


def thumbnail(pixels: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """An RGB frame as a small grey picture (float32), each pixel the mean of its cell."""
    grey = cv2.cvtColor(np.ascontiguousarray(pixels[::2, ::2]), cv2.COLOR_RGB2GRAY)
    height = max(1, round(width * pixels.shape[0] / pixels.shape[1]))
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)


class MotionGate:
    """Says, frame by frame, whether the detector must run (something moved, or it is time)."""

    def __init__(self, threshold: float = MOTION_THRESHOLD, detect_every: int = DETECT_EVERY) -> None:
        if not threshold > 0.0:
            raise ValueError(f"threshold must be a positive number of grey levels, got {threshold}")
        if detect_every < 1:
            raise ValueError(f"detect_every must be 1 or more, got {detect_every}")
        self.threshold = threshold
        self.detect_every = detect_every
        self._reference: np.ndarray | None = None  # thumbnail of the last frame detected
        self._shape: tuple[int, ...] = ()  # and that frame's shape: faces are in its pixels
        self._skipped = 0  # frames reused since then

    def still(self, pixels: np.ndarray) -> bool:
        """True when nothing moved since the last detected frame and a detection is not due:
        its faces may be reused. False otherwise, and this frame becomes the reference (the
        caller detects on it)."""
        small = thumbnail(pixels)
        if (pixels.shape == self._shape and self._skipped + 1 < self.detect_every
                and float(np.abs(small - self._reference).max()) <= self.threshold):
            self._skipped += 1
            return True
        self._reference, self._shape, self._skipped = small, pixels.shape, 0
        return False
