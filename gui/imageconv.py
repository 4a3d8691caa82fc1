"""NumPy pixels to Qt images: the one place the GUI converts between the two."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def rgb_to_qimage(array: np.ndarray) -> QImage:
    """An (H, W, 3) uint8 RGB array as a QImage that owns a copy of the pixels.

    A QImage built on a NumPy buffer only borrows it; copying lets the array be freed or
    reused (the next camera frame) while Qt still paints the image.
    """
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB pixels, got {array.shape} {array.dtype}")
    pixels = np.ascontiguousarray(array)
    height, width, _ = pixels.shape
    return QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB888).copy()
