"""Verification and identification figures on descriptors whose answers are worked out by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.evaluation import evaluate, mean_triplet_loss, pair_distances, rank1_accuracy, roc_curve, tar_at_far


def test_perfectly_separated_people_score_one():
    embeddings = np.array([[0.0], [0.1], [5.0], [5.1], [10.0], [10.1]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    metrics = evaluate(embeddings, labels).metrics
    assert metrics["auc"] == pytest.approx(1.0)
    assert metrics["accuracy"] == pytest.approx(1.0)
    assert metrics["rank1"] == 1.0
    assert metrics["tar_at_far_1e-3"] == 1.0
    assert 0.01 < metrics["threshold"] < 25.0  # between the same pairs (0.01) and the nearest different (24.01)
    assert metrics["pairs"] == {"same": 3, "different": 12}


def test_roc_points_and_tar_at_far_by_hand():
    distances = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    same = np.array([True, False, True, False, True, False])
    roc = roc_curve(distances, same)
    assert np.allclose(roc.tar, [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1, 1])
    assert np.allclose(roc.far, [0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    assert tar_at_far(roc, 0.0) == pytest.approx(1 / 3)
    assert tar_at_far(roc, 0.34) == pytest.approx(2 / 3)


def test_ties_form_one_operating_point():
    roc = roc_curve(np.array([0.5, 0.5, 0.5]), np.array([True, False, True]))
    assert np.allclose(roc.tar, [0, 1]) and np.allclose(roc.far, [0, 1])


def test_rank1_rotates_the_enrolled_image():
    # person 0's second image lies nearer person 1's first: wrong when image 1 of each is enrolled
    embeddings = np.array([[0.0], [4.0], [5.0], [5.5]])
    labels = np.array([0, 0, 1, 1])
    # enrol images 0 and 2: probe 1 (4.0) is nearer 5.0 -> wrong; probe 3 (5.5) right
    # enrol images 1 and 3: probe 0 (0.0) nearer 4.0 -> right; probe 2 (5.0) nearer 5.5 -> right
    assert rank1_accuracy(embeddings, labels) == pytest.approx(3 / 4)


def test_mean_triplet_loss_matches_the_definition():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(9, 3))
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    margin = 0.7
    d = lambda i, j: float(((embeddings[i] - embeddings[j]) ** 2).sum())  # noqa: E731
    losses = [max(d(a, p) - d(a, n) + margin, 0.0)
              for a, p, n in itertools.permutations(range(9), 3)
              if labels[a] == labels[p] and labels[a] != labels[n]]
    assert mean_triplet_loss(embeddings, labels, margin) == pytest.approx(np.mean(losses))


def test_pairs_are_unordered_and_exclude_self():
    distances, same = pair_distances(np.zeros((4, 2)), np.array([0, 0, 1, 1]))
    assert len(distances) == 6 and same.sum() == 2


def test_refuses_what_cannot_be_measured():
    with pytest.raises(ValueError, match="two people"):
        evaluate(np.zeros((3, 2)), np.array([0, 0, 0]))
    with pytest.raises(ValueError, match="two images"):
        evaluate(np.zeros((2, 2)), np.array([0, 1]))
