"""1:N search time over synthetic 128-d galleries (1k to 1M vectors), one query and a batch of 8.

Run: ``python -m pytest tests/benchmarks --benchmark-only``. Exact search: the same code the
live loop runs (per-person minimum, then top-3 and the tau decision).
"""

from __future__ import annotations

import numpy as np
import pytest

from core.storage.store import GalleryVectors
from core.live.match import VectorIndex, decide

SIZES = [1_000, 10_000, 100_000, 1_000_000]


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n // 1000}k")
def index(request):
    rng = np.random.default_rng(request.param)
    matrix = rng.normal(size=(request.param, 128)).astype(np.float32)
    names = [f"p{n}" for n in range(request.param)]
    return VectorIndex(GalleryVectors(names, np.arange(request.param), matrix))


@pytest.mark.parametrize("batch", [1, 8])
def test_search(benchmark, index, batch):
    queries = np.random.default_rng(batch).normal(size=(batch, 128)).astype(np.float32)
    matches = benchmark(lambda: decide(index.person_distances(queries), index.names, 0.36, 3))
    assert len(matches) == batch and all(len(m.candidates) == 3 for m in matches)
