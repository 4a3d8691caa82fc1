"""Verification and identification figures on descriptors whose answers are worked out by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.evaluation import (_tar_at_far_fast, compare, evaluate, evaluate_shifted, mean_triplet_loss,
                             pair_distances, rank1_accuracy, roc_curve, tar_at_far, verdict)


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


def _pairs(seed: int = 0, people: int = 10, images: int = 6, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(people), images)
    centres = rng.normal(size=(people, 8)) * 1.2
    return centres[labels] + rng.normal(size=(len(labels), 8)) * spread, labels


def test_identical_scores_are_no_measurable_change():
    embeddings, labels = _pairs()
    distances, same = pair_distances(embeddings, labels)
    result = verdict(distances, distances.copy(), same, rounds=200)
    assert result.word == "no measurable change"
    assert result.difference == 0 and result.low == 0 and result.high == 0


def test_a_clear_gain_is_better_and_a_clear_loss_is_worse():
    embeddings, labels = _pairs()
    weak, same = pair_distances(embeddings, labels)
    strong, _ = pair_distances(_pairs(spread=0.4)[0], labels)  # the same people, tighter clusters
    gain = verdict(weak, strong, same, rounds=300, seed=1)
    assert gain.word == "better" and gain.low > 0 and gain.difference > 0.1
    assert verdict(strong, weak, same, rounds=300, seed=1).word == "worse"
    assert verdict(weak, strong, same, metric="auc", rounds=300).word == "better"
    assert "TAR at FAR 1e-2" in gain.sentence() and gain.public()["word"] == "better"


def test_a_gain_within_the_resampling_noise_is_no_measurable_change():
    embeddings, labels = _pairs()
    before, same = pair_distances(embeddings, labels)
    # the after model accepts one more same-person pair at FAR 1e-2: a gain resampling also gives
    allowed = int(np.floor(1e-2 * (~same).sum()))
    first_refused = np.sort(before[~same])[allowed]
    missed = np.flatnonzero(same & (before >= first_refused))
    after = before.copy()
    after[missed[np.argmin(before[missed])]] = first_refused * 0.5
    result = verdict(before, after, same, rounds=500)
    assert result.difference > 0
    assert result.word == "no measurable change"


def test_verdict_is_seeded_and_checks_its_input():
    embeddings, labels = _pairs()
    before, same = pair_distances(embeddings, labels)
    after = before + np.random.default_rng(2).normal(scale=0.3, size=before.shape)
    assert verdict(before, after, same, rounds=100, seed=3) == verdict(before, after, same, rounds=100, seed=3)
    with pytest.raises(ValueError, match="same pairs"):
        verdict(before, after[:-1], same)
    with pytest.raises(ValueError, match="metric"):
        verdict(before, after, same, metric="rank1")
    with pytest.raises(ValueError, match="both same-person and different-person"):
        verdict(before, after, np.zeros_like(same))


def test_the_bootstrap_tar_equals_the_roc_tar():
    rng = np.random.default_rng(4)
    for _ in range(20):
        distances = np.round(rng.uniform(size=400), 2)  # ties included
        same = rng.uniform(size=400) < 0.2
        assert _tar_at_far_fast(distances[same], distances[~same], 1e-2) == pytest.approx(
            tar_at_far(roc_curve(distances, same), 1e-2))


def test_compare_takes_two_evaluations_of_the_same_pairs():
    embeddings, labels = _pairs()
    before = evaluate(embeddings, labels)
    assert before.distances is not None and before.same.sum() == before.metrics["pairs"]["same"]
    assert compare(before, evaluate(embeddings, labels), rounds=50).word == "no measurable change"
    with pytest.raises(ValueError, match="same pairs"):
        compare(before, evaluate(embeddings[:-6], labels[:-6]), rounds=50)


def test_shifted_evaluation_pairs_clean_enrolment_with_shifted_probes():
    embeddings, labels = _pairs(images=4)
    unchanged = evaluate_shifted(embeddings, embeddings, labels)
    plain = evaluate(embeddings, labels)
    for key in ("auc", "tar_at_far_1e-2", "rank1"):  # each unordered pair counted in both orders
        assert unchanged.metrics[key] == pytest.approx(plain.metrics[key])
    assert unchanged.metrics["pairs"] == {"same": 2 * plain.metrics["pairs"]["same"],
                                          "different": 2 * plain.metrics["pairs"]["different"]}
    # probes moved onto the next person's centre: identification fails, enrolment alone is clean
    people = labels.max() + 1
    moved = embeddings[np.argsort((labels + 1) % people, kind="stable")]
    assert evaluate_shifted(embeddings, moved, labels).metrics["rank1"] < 0.2
    with pytest.raises(ValueError, match="same images"):
        evaluate_shifted(embeddings, embeddings[:-1], labels)
