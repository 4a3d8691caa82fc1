"""Our whole pipeline on the shared photos: every pair of people photos decided correctly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.vision.embed import distance, same_person
from core.vision.imaging import load_image


@pytest.fixture(scope="module")
def descriptors(pipeline, people):
    """person/photo -> descriptor of the photo's largest face."""
    found = {}
    for person, photos in people.items():
        for photo in photos:
            results = pipeline.analyse(load_image(photo))
            found[(person, photo.name)] = max(results, key=lambda r: r.face.area).embedding
    return found


def test_every_pair_is_decided_correctly(descriptors, pipeline):
    same, different = [], []
    for (a, va), (b, vb) in itertools.combinations(descriptors.items(), 2):
        (same if a[0] == b[0] else different).append(distance(va, vb))
    assert len(same) == 18 and len(different) == 102
    assert max(same) < pipeline.tau < min(different), (max(same), min(different))


def test_batch_equals_one_at_a_time(pipeline, people):
    image = load_image(people["joe_biden"][0])
    chips = pipeline.align(image.pixels, pipeline.detect(image.pixels) * 3)
    batched = pipeline.embed(chips)
    singles = np.concatenate([pipeline.embed(chip[None]) for chip in chips])
    assert batched.shape == (3, 128)
    assert np.abs(batched - singles).max() < 1e-5


def test_distance_is_squared_euclidean_and_broadcasts():
    a = np.array([1.0, 2.0, 3.0])
    gallery = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [2.0, 2.0, 1.0]])
    assert distance(a, gallery).tolist() == [0.0, 14.0, 5.0]
    assert distance(a, gallery[2]) == 5.0
    assert same_person(0.35, 0.36) and not same_person(0.36, 0.36)


def test_embedding_of_no_chips_is_empty(pipeline):
    assert pipeline.embed(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
