"""A 100k-sample gallery on PostgreSQL vs the same in a local file: opening (every vector and
name into the matcher's index) and identifying (one query; the index is in memory either way); and catching up with another
station's enrolment.

Both encrypted, 10 samples per person, 128-d unit vectors, chips of 16 px (opening never reads
chips). The server is the tests' own (127.0.0.1, Debian's PostgreSQL). Run::

    python -m pytest tests/benchmarks/test_postgres.py --benchmark-only
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from core.storage.repository import Gallery
from core.storage.chips import encode_chip
from core.storage.copy import copy_gallery
from core.storage.location import open_gallery_at
from core.live.match import Matcher, VectorIndex
from gallery_data import MODEL, real_chips

SAMPLES, PER_PERSON = 100_000, 10


@pytest.fixture(scope="module")
def galleries(tmp_path_factory, data_dir, server):
    chip = encode_chip(cv2.resize(real_chips(data_dir, 1)[0], (16, 16), interpolation=cv2.INTER_AREA))
    vectors = np.random.default_rng(7).normal(size=(SAMPLES, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    path = tmp_path_factory.mktemp("bench") / "g.db"
    with Gallery(path) as gallery:
        gallery.import_people([(f"person {p}", "", [(chip, vectors[p * PER_PERSON + k], 0.8, "bench")
                                                    for k in range(PER_PERSON)])
                               for p in range(SAMPLES // PER_PERSON)], MODEL)
        url = server.create_database("bench100k")
        copy_gallery(gallery, url)
    return {"sqlite": str(path), "postgresql": url}, vectors


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_open_100k(benchmark, galleries, where):
    locations, vectors = galleries

    def open_and_load() -> int:
        with open_gallery_at(locations[where], readonly=True) as gallery:
            return len(Matcher(gallery, MODEL, 0.36).index.names)

    assert benchmark.pedantic(open_and_load, rounds=3, warmup_rounds=1) == SAMPLES // PER_PERSON


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_identify_100k(benchmark, galleries, where):
    locations, vectors = galleries
    with open_gallery_at(locations[where], readonly=True) as gallery:
        matcher = Matcher(gallery, MODEL, 0.36)
        match = benchmark(lambda: matcher.match(vectors[7][None])[0])
    assert match.name == "person 0"


@pytest.mark.parametrize("how", ["catch-up", "full read"])
def test_another_stations_enrolment_100k(benchmark, galleries, how, data_dir):
    """Station B's index after station A enrols one more person: reading only what was added
    (what the matcher does) vs reading every vector again. Runs last: it adds people."""
    locations, _ = galleries
    chip = real_chips(data_dir, 1)[0]
    rng = np.random.default_rng(11 if how == "catch-up" else 12)
    with open_gallery_at(locations["postgresql"]) as station_a, \
            open_gallery_at(locations["postgresql"], readonly=True) as station_b:
        matcher = Matcher(station_b, MODEL, 0.36)
        before = len(matcher.index.names)

        def enrol_on_a() -> None:
            vector = rng.normal(size=128).astype(np.float32)
            revision = station_b.revision
            station_a.enroll(f"{how} {rng.integers(1 << 40)}", chip, vector / np.linalg.norm(vector), MODEL, 0.8, "A")
            while station_b.revision == revision:  # B's listener hears A's commit
                time.sleep(0.001)

        def catch_up() -> int:
            return len(matcher.index.names) if how == "catch-up" else len(VectorIndex(station_b.vectors(MODEL)))

        benchmark.pedantic(catch_up, setup=enrol_on_a, rounds=5)
        assert len(matcher.index.names) == before + 5
