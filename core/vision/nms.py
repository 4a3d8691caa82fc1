"""Greedy non-maximum suppression, vectorised with NumPy.

Drop boxes scoring below the score threshold, keep the best remaining box, remove every box
whose IoU with it exceeds the NMS threshold, repeat. Boxes are (x1, y1, x2, y2).
"""

from __future__ import annotations

import numpy as np


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of (N, 4) boxes; degenerate boxes have area 0."""
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box against (N, 4) boxes; 0 where the union is empty."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = box_areas(box[None, :])[0] + box_areas(boxes) - inter
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64), where=union > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, score_threshold: float, iou_threshold: float) -> np.ndarray:
    """Indices of the kept boxes, best score first.

    Ties in score keep the lower index first, so the result does not depend on sort
    stability across NumPy versions.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    candidates = np.flatnonzero(scores >= score_threshold)
    order = candidates[np.lexsort((candidates, -scores[candidates]))]
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        order = rest[iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(kept, dtype=np.intp)
