"""NMS: the definition's properties, and equality with a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.vision.nms import iou, nms


def brute_force_nms(boxes, scores, score_threshold, iou_threshold):
    """The lecture's definition, one pair at a time in plain Python."""

    def pair_iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])  # noqa: E731
        union = area(a) + area(b) - inter
        return inter / union if union > 0 else 0.0

    remaining = [i for i in range(len(boxes)) if scores[i] >= score_threshold]
    kept = []
    while remaining:
        best = max(remaining, key=lambda i: (scores[i], -i))
        kept.append(best)
        remaining = [i for i in remaining if i != best and pair_iou(boxes[best], boxes[i]) <= iou_threshold]
    return kept


def random_boxes(draw_array):
    corners = draw_array
    x1 = np.minimum(corners[:, 0], corners[:, 2])
    x2 = np.maximum(corners[:, 0], corners[:, 2])
    y1 = np.minimum(corners[:, 1], corners[:, 3])
    y2 = np.maximum(corners[:, 1], corners[:, 3])
    return np.stack([x1, y1, x2, y2], axis=1)


box_sets = st.integers(0, 40).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, (n, 4), elements=st.floats(0, 100, allow_nan=False)).map(random_boxes),
        arrays(np.float64, (n,), elements=st.floats(0, 1, allow_nan=False)),
    )
)
thresholds = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(box_sets, thresholds, thresholds)
def test_equals_brute_force_reference(data, score_threshold, iou_threshold):
    boxes, scores = data
    assert nms(boxes, scores, score_threshold, iou_threshold).tolist() == brute_force_nms(
        boxes.tolist(), scores.tolist(), score_threshold, iou_threshold
    )


@settings(max_examples=200, deadline=None)
@given(box_sets, thresholds, thresholds)
def test_kept_boxes_are_sorted_separated_and_above_threshold(data, score_threshold, iou_threshold):
    boxes, scores = data
    kept = nms(boxes, scores, score_threshold, iou_threshold)
    assert np.all(np.diff(scores[kept]) <= 0)
    assert np.all(scores[kept] >= score_threshold)
    for position, index in enumerate(kept):
        others = kept[position + 1:]
        assert np.all(iou(boxes[index], boxes[others]) <= iou_threshold + 1e-12)


@settings(max_examples=200, deadline=None)
@given(box_sets, thresholds, thresholds)
def test_is_idempotent(data, score_threshold, iou_threshold):
    boxes, scores = data
    kept = nms(boxes, scores, score_threshold, iou_threshold)
    again = nms(boxes[kept], scores[kept], score_threshold, iou_threshold)
    assert again.tolist() == list(range(len(kept)))


def test_worked_example():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.5])
    # box 1 overlaps box 0 with IoU 81/119 = 0.68; box 3 scores below the threshold
    assert nms(boxes, scores, score_threshold=0.6, iou_threshold=0.5).tolist() == [0, 2]
    assert nms(boxes, scores, score_threshold=0.6, iou_threshold=0.7).tolist() == [0, 1, 2]


def test_iou_of_identical_disjoint_and_degenerate_boxes():
    box = np.array([0.0, 0.0, 2.0, 2.0])
    others = np.array([[0, 0, 2, 2], [5, 5, 6, 6], [1, 1, 1, 1], [1, 0, 3, 2]], dtype=float)
    assert iou(box, others) == pytest.approx([1.0, 0.0, 0.0, 1 / 3])


def test_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        nms(np.zeros((2, 4)), np.zeros(1), 0.5, 0.5)
