"""1:N matching: per-person minimum, top-k, unknown above tau, cache refreshed on change."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.storage.repository import Gallery
from core.storage.store import GalleryVectors
from core.live.match import Matcher, VectorIndex, decide

MODEL = "dlib-resnet-v1"


def brute_force(queries, vectors: GalleryVectors) -> np.ndarray:
    out = np.full((len(queries), len(vectors.names)), np.inf)
    for q, query in enumerate(queries):
        for row, owner in zip(vectors.matrix, vectors.owners):
            out[q, owner] = min(out[q, owner], float(((query - row) ** 2).sum()))
    return out


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=12), st.integers(1, 5), st.integers(0, 2**31))
def test_person_distances_equal_brute_force(samples_per_person, queries, seed):
    rng = np.random.default_rng(seed)
    owners = np.repeat(np.arange(len(samples_per_person)), samples_per_person)
    vectors = GalleryVectors([f"p{i}" for i in range(len(samples_per_person))], owners,
                             rng.normal(size=(len(owners), 16)).astype(np.float32))
    query = rng.normal(size=(queries, 16)).astype(np.float32)
    np.testing.assert_allclose(VectorIndex(vectors).person_distances(query), brute_force(query, vectors),
                               rtol=1e-4, atol=1e-4)


def test_decide_orders_candidates_and_says_unknown():
    names = ["ana", "bob", "cy", "dee"]
    distances = np.array([[0.5, 0.2, 0.9, 0.3], [0.7, 0.5, 0.4, 0.8]])
    first, second = decide(distances, names, tau=0.36, top_k=3)
    assert first.name == "bob" and first.distance == pytest.approx(0.2)
    assert [n for n, _ in first.candidates] == ["bob", "dee", "ana"]
    assert second.name is None and second.distance == pytest.approx(0.4)
    assert [n for n, _ in second.candidates] == ["cy", "bob", "ana"]


def test_empty_gallery_gives_unknown_without_distance(tmp_path):
    with Gallery(tmp_path / "g.db") as gallery:
        match = Matcher(gallery, MODEL, 0.36).match(np.zeros((1, 128), np.float32))[0]
    assert (match.name, match.distance, match.candidates) == (None, None, ())


def test_cache_follows_changes_from_any_connection(tmp_path):
    chip = np.zeros((150, 150, 3), np.uint8)
    a, b = np.eye(128, dtype=np.float32)[:2]
    with Gallery(tmp_path / "g.db") as gallery, Gallery(tmp_path / "g.db") as other:
        matcher = Matcher(gallery, MODEL, 0.36)
        gallery.enroll("ana", chip, a, MODEL, 1.0, "x")
        assert matcher.match(a[None])[0].name == "ana"
        index = matcher.index
        assert matcher.index is index  # unchanged gallery: no reload
        other.enroll("bob", chip, b, MODEL, 1.0, "x")  # another connection, as another process would
        assert matcher.match(b[None])[0].name == "bob"
        other.forget("bob")
        assert matcher.match(b[None])[0].name is None


def test_vectors_of_other_models_are_ignored(tmp_path):
    chip = np.zeros((150, 150, 3), np.uint8)
    with Gallery(tmp_path / "g.db") as gallery:
        gallery.enroll("ana", chip, np.ones(128, np.float32), "another-model", 1.0, "x")
        assert Matcher(gallery, MODEL, 0.36).match(np.ones((1, 128), np.float32))[0].name is None


def test_top_k_must_be_positive(tmp_path):
    with Gallery(tmp_path / "g.db") as gallery, pytest.raises(ValueError):
        Matcher(gallery, MODEL, 0.36, top_k=0)
