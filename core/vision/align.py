"""Cut the 150x150 face chip the embedder was trained on, from five landmarks.

dlib trained its ResNet on chips from ``get_face_chip_details(shape, 150, 0.25)``: a
similarity transform that puts the face's landmarks where dlib's mean face shape has them,
with 25% padding. Our detector's five points (eye centres, nose tip, mouth corners) are not
dlib's five, so their target positions are derived from the same mean face shape: each eye
centre is the mean of that eye's six contour points (36-41, 42-47), the nose tip is point
30, the mouth corners are points 48 and 54.
"""

from __future__ import annotations

import cv2
import numpy as np

CHIP_SIZE = 150
CHIP_PADDING = 0.25

# Our five landmarks in dlib's unit mean-face frame (x, y in [0, 1]), as derived above.
MEAN_FACE_LANDMARKS = np.array(
    [
        (0.225492, 0.215990),  # eye on the image's left
        (0.754761, 0.215990),  # eye on the image's right
        (0.490127, 0.515625),  # nose tip
        (0.254149, 0.780233),  # mouth corner, image left
        (0.726104, 0.780233),  # mouth corner, image right
    ]
)


# The five points of InsightFace's ArcFace template in its 112x112 input: the framing most
# third-party ArcFace-style networks were trained on (tighter than dlib's, the forehead cut).
ARCFACE_112_LANDMARKS = np.array(
    [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041)]
)
TEMPLATES = ("arcface-112", "dlib-150")


def chip_landmarks(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """Where the five landmarks land in a ``size`` chip with dlib's ``padding``."""
    return (padding + MEAN_FACE_LANDMARKS) / (2 * padding + 1) * size


def template_landmarks(template: str, size: int) -> np.ndarray:
    """Where a template ("arcface-112" or "dlib-150") puts the five landmarks in a ``size`` input."""
    if template == "arcface-112":
        return ARCFACE_112_LANDMARKS * (size / 112.0)
    if template == "dlib-150":
        return chip_landmarks(size)
    raise ValueError(f"unknown alignment template {template!r} (known: {', '.join(TEMPLATES)})")


def chip_to_template(template: str, size: int) -> np.ndarray:
    """The one similarity taking a stored 150x150 chip to a network's ``size`` input framed by
    ``template``: every chip has its landmarks at the same places, so no photo is needed."""
    return similarity_transform(chip_landmarks(), template_landmarks(template, size))


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) mapping source to target.

    Returns the 2x3 matrix [[a, -b, tx], [b, a, ty]]. Linear least squares in (a, b, tx, ty)
    gives the same optimum as Umeyama's method without reflections.
    """
    source = np.asarray(source, dtype=np.float64).reshape(-1, 2)
    target = np.asarray(target, dtype=np.float64).reshape(-1, 2)
    if len(source) != len(target) or len(source) < 2:
        raise ValueError("need at least two matching point pairs")
    x, y = source[:, 0], source[:, 1]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    design = np.concatenate([np.stack([x, -y, ones, zeros], 1), np.stack([y, x, zeros, ones], 1)])
    (a, b, tx, ty), *_ = np.linalg.lstsq(design, np.concatenate([target[:, 0], target[:, 1]]), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


def align_face(
    rgb: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING
) -> np.ndarray:
    """The (size, size, 3) uint8 chip for one face's (5, 2) landmarks."""
    matrix = similarity_transform(landmarks, chip_landmarks(size, padding))
    return warp_chip(rgb, matrix, size)


def warp_chip(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Apply an image->chip similarity without aliasing.

    Bilinear sampling of a face much larger than the chip would alias, so (as dlib does)
    the face's region is first halved with a Gaussian pyramid until one chip pixel spans
    less than two image pixels.
    """
    matrix = np.array(matrix, dtype=np.float64)
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    if scale < 0.5:
        rgb, matrix = _crop_footprint(rgb, matrix, size)
        while scale < 0.5 and min(rgb.shape[:2]) >= 2:
            rgb = cv2.pyrDown(rgb)
            matrix[:, :2] *= 2.0  # a pyramid pixel i sits on image pixel 2i
            scale *= 2.0
    return cv2.warpAffine(
        rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _crop_footprint(rgb: np.ndarray, matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of the image the chip covers (plus a margin), and the matrix for it."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64)
    points = corners @ inverse.T
    height, width = rgb.shape[:2]
    x0, y0 = np.clip(np.floor(points.min(axis=0)).astype(int) - 4, 0, [width, height])
    x1, y1 = np.clip(np.ceil(points.max(axis=0)).astype(int) + 4, 0, [width, height])
    if x1 <= x0 or y1 <= y0:
        return np.zeros((1, 1, 3), dtype=rgb.dtype), matrix  # chip wholly outside: all border
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ np.array([x0, y0], dtype=np.float64)
    return np.ascontiguousarray(rgb[y0:y1, x0:x1]), shifted
