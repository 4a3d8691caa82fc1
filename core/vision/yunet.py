"""Decode YuNet's output grids: boxes, scores and five landmarks in network-input pixels.

YuNet (libfacedetection.train, Apache-2.0) predicts on three grids, strides 8, 16 and 32, each
flattened row by row to (batch, cells, k): a class and an objectness probability, the box as a
sub-cell centre offset and log-sizes in strides, and five landmarks as offsets from the cell's
corner in strides. No anchors and no NMS in the graph: we decode and suppress ourselves.
"""

from __future__ import annotations

import numpy as np

STRIDES = (8, 16, 32)
OUTPUTS = tuple(f"{kind}_{stride}" for kind in ("cls", "obj", "bbox", "kps") for stride in STRIDES)


def decode_yunet(
    grids: dict[str, np.ndarray], score_threshold: float, input_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first image's cells with sqrt(cls * obj) >= ``score_threshold``: boxes (N, 4),
    scores (N,), landmarks (N, 5, 2), for an input of ``input_size`` (height, width)."""
    boxes, scores, landmarks = [np.zeros((0, 4))], [np.zeros(0)], [np.zeros((0, 5, 2))]
    for stride in STRIDES:
        columns = input_size[1] // stride
        score = np.sqrt(np.clip(grids[f"cls_{stride}"][0, :, 0], 0, 1) * np.clip(grids[f"obj_{stride}"][0, :, 0], 0, 1))
        cells = np.flatnonzero(score >= score_threshold)
        rows, cols = np.divmod(cells, columns)
        box = grids[f"bbox_{stride}"][0, cells].astype(np.float64)
        centre_x, centre_y = (cols + box[:, 0]) * stride, (rows + box[:, 1]) * stride
        half_w, half_h = np.exp(box[:, 2]) * stride / 2, np.exp(box[:, 3]) * stride / 2
        boxes.append(np.stack([centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h], axis=1))
        points = grids[f"kps_{stride}"][0, cells].astype(np.float64).reshape(-1, 5, 2)
        landmarks.append((points + np.stack([cols, rows], axis=1)[:, None, :]) * stride)
        scores.append(score[cells].astype(np.float64))
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(landmarks)
