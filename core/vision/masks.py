"""Masked copies of a clear face chip, so a masked face can be compared with masked faces.

Two masked faces of one person lie closer than a masked face and a clear one, and strangers'
masked faces are held apart by a stricter tau (``masked_masked``, see ``core.vision.condition``). So
every clear sample also gets the mean descriptor of a few masked copies of its chip (stored as
the vector of a derived model, ``copies_model_id``), painted here without torch: the same few
mask shapes and fabrics every time (a light-blue surgical mask, a white one, a black cloth one),
placed from the chip's landmarks (``core.vision.align.chip_landmarks``), with a soft edge.

Measured the app's way on the shared photos (ORL and people/, photo 1 of 37 people enrolled, 9
more never enrolled; the other photos with a plain mask drawn on in colours none of the copies
has): 97 of 247 masked faces named right and 2 wrong with the copies, 17 right and 1 wrong
without them; none of the 9 strangers' masked faces named either way.
"""

from __future__ import annotations

import numpy as np

from .align import CHIP_PADDING, chip_landmarks

# (fabric RGB, top edge between the eyes (0) and the nose tip (1), bend of the top edge at
# the cheeks in eye distances, bottom below the mouth in nose-to-mouth distances)
MASK_STYLES = (((140, 185, 215), 0.55, 0.12, 1.0),
               ((235, 238, 240), 0.5, 0.08, 1.1),
               ((30, 30, 34), 0.45, -0.02, 1.2))
HALF_WIDTH = 0.78  # in eye distances, out to the cheeks
BOTTOM_BEND = 0.3  # the rounding under the chin, in eye distances
EDGE = 1.2  # the soft edge's width in pixels


COPIES_SUFFIX = "+masked-copies"


def copies_model_id(model_id: str) -> str:
    """The derived model whose vectors are a sample's masked copies under ``model_id``."""
    return model_id + COPIES_SUFFIX


def copy_vectors(embed, chips: np.ndarray) -> np.ndarray:
    """(N, D): for each chip, the mean descriptor (``embed``) of its masked copies."""
    if not len(chips):
        return np.zeros((0, 0), dtype=np.float32)
    vectors = embed(masked_copies(chips))
    return vectors.reshape(len(chips), len(MASK_STYLES), -1).mean(axis=1).astype(np.float32)


def masked_copies(chips: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 chips -> (N * len(MASK_STYLES), S, S, 3): each chip once per style,
    styles varying fastest."""
    chips = np.asarray(chips, dtype=np.uint8)
    if chips.ndim != 4 or chips.shape[-1] != 3:
        raise ValueError(f"expected (N, S, S, 3) chips, got {chips.shape}")
    size = chips.shape[1]
    alphas = [_mask_alpha(size, top, bend, bottom)[..., None] for _, top, bend, bottom in MASK_STYLES]
    out = np.empty((len(chips), len(MASK_STYLES), size, size, 3), dtype=np.uint8)
    for k, ((colour, *_), alpha) in enumerate(zip(MASK_STYLES, alphas)):
        fabric = np.asarray(colour, dtype=np.float32) * (1.0 - 0.12 * alpha)  # a little shading
        out[:, k] = np.round(chips * (1.0 - alpha) + fabric * alpha).astype(np.uint8)
    return out.reshape(-1, size, size, 3)


def _mask_alpha(size: int, top: float, bend: float, bottom: float) -> np.ndarray:
    """(S, S) coverage in [0, 1] of one mask shape in a ``size`` chip."""
    marks = chip_landmarks(size, CHIP_PADDING)
    eye_y, nose_y, mouth_y = marks[:2, 1].mean(), marks[2, 1], marks[3:, 1].mean()
    eye_gap = marks[1, 0] - marks[0, 0]
    centre, half = marks[2, 0], HALF_WIDTH * eye_gap
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    u = (xs - centre) / half
    top_edge = eye_y + top * (nose_y - eye_y) + bend * eye_gap * u ** 2
    bottom_edge = mouth_y + bottom * (mouth_y - nose_y) - BOTTOM_BEND * eye_gap * u ** 2

    def inside(distance: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-distance / EDGE))

    return inside(ys - top_edge) * inside(bottom_edge - ys) * inside((1.0 - np.abs(u)) * half)
