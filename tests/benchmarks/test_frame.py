"""One frame end to end (JPEG decode to painted boxes) for 1, 4 and 16 faces at 480p, 720p, 1080p.

Run: ``python -m pytest tests/benchmarks/test_frame.py --benchmark-only`` (``--benchmark-json
FILE`` to compare runs). The detector runs at the live loop's input size; every face is
aligned, embedded and matched against a 1,000-person gallery, as when all are due. The same
figures, per stage and at full detector size too: ``oneshot bench --matrix``.
"""

from __future__ import annotations

import pytest

from core.bench_matrix import FACE_COUNTS, GALLERY_PEOPLE, RESOLUTIONS, encode_jpeg, synthetic_index, tiled_frame, whole_frame
from core.imaging import load_image
from core.live import LIVE_LONG_SIDE
from core.resources import sample_face
from core.track import FaceTracker


@pytest.mark.parametrize("faces", FACE_COUNTS, ids=lambda n: f"{n}-faces")
@pytest.mark.parametrize("resolution", list(RESOLUTIONS))
def test_whole_frame(benchmark, pipeline, resolution, faces):
    encoded = encode_jpeg(tiled_frame(load_image(sample_face()).pixels, faces, RESOLUTIONS[resolution]))
    index = synthetic_index(GALLERY_PEOPLE, pipeline.embedder.embedding_size)
    found = benchmark(whole_frame, pipeline, index, FaceTracker(), encoded, LIVE_LONG_SIDE)
    benchmark.extra_info.update({"faces_found": found, "frames_per_second": 1 / benchmark.stats.stats.median,
                                 "faces_per_second": found / benchmark.stats.stats.median})
    assert found <= faces, "no box where there is no face"  # small faces at 384 px may be missed: see the matrix
