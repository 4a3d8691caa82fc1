"""What encryption at rest costs: opening a gallery and identifying, encrypted vs plain.

Opening is what the app does at start (and after a change elsewhere): open the file, find the
key, read every vector of the model and every name (each opened in an encrypted gallery) into
the matcher's index. Identifying is one query against that index, the same in both: the
index lives in memory. Galleries of 1k and 100k samples (10 per person, 128-d unit vectors;
each sample's chip is a real face shrunk to 16 px, so a 100k gallery builds in seconds and
stays small: opening never reads chips). Run::

    python -m pytest tests/benchmarks/test_encryption.py --benchmark-only

and compare the rows of one run (the ratio encrypted / plain is the figure that travels).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.storage.repository import Gallery
from core.storage.chips import encode_chip
from core.live.match import Matcher
from gallery_data import MODEL, real_chips

PER_PERSON = 10


@pytest.fixture(scope="module")
def tiny_chip(data_dir) -> bytes:
    return encode_chip(cv2.resize(real_chips(data_dir, 1)[0], (16, 16), interpolation=cv2.INTER_AREA))


@pytest.fixture(scope="module", params=[(1_000, "none"), (1_000, "key"), (100_000, "none"), (100_000, "key")],
                ids=lambda p: f"{p[0] // 1000}k-{'plain' if p[1] == 'none' else 'encrypted'}")
def gallery_path(request, tmp_path_factory, tiny_chip):
    samples, protection = request.param
    rng = np.random.default_rng(samples)
    vectors = rng.normal(size=(samples, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    people = [(f"person {p}", "", [(tiny_chip, vectors[p * PER_PERSON + k], 0.8, "bench")
                                   for k in range(PER_PERSON)]) for p in range(samples // PER_PERSON)]
    path = tmp_path_factory.mktemp("bench") / "g.db"
    with Gallery(path, protection=protection) as gallery:
        gallery.import_people(people, MODEL)
        assert gallery.encrypted == (protection == "key")
    return path, vectors


def test_open(benchmark, gallery_path):
    path, vectors = gallery_path

    def open_and_load() -> int:
        with Gallery(path, readonly=True) as gallery:
            return len(Matcher(gallery, MODEL, 0.36).index.names)

    people = benchmark.pedantic(open_and_load, rounds=5, warmup_rounds=1)
    assert people == len(vectors) // PER_PERSON


def test_identify(benchmark, gallery_path):
    path, vectors = gallery_path
    with Gallery(path, readonly=True) as gallery:
        matcher = Matcher(gallery, MODEL, 0.36)
        query = vectors[7][None]
        match = benchmark(lambda: matcher.match(query)[0])
    assert match.name == "person 0" and match.distance < 1e-5
