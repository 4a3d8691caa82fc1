"""One frame end to end (JPEG decode to painted boxes) for 1, 4 and 16 faces at 480p, 720p, 1080p.

Run: ``python -m pytest tests/benchmarks/test_frame.py --benchmark-only`` (``--benchmark-json
FILE`` to compare runs). The detector runs at the live loop's input size; every face is
aligned, embedded and matched against a 1,000-person gallery, as when all are due. The same
figures, per stage and at full detector size too: ``oneshot bench --matrix``. ``test_stream``
compares the live loop frame by frame with the overlapped stream (detect n+1 while n embeds).
"""

from __future__ import annotations

import pytest

from core.bench_matrix import FACE_COUNTS, GALLERY_PEOPLE, RESOLUTIONS, encode_jpeg, synthetic_index, tiled_frame, whole_frame
from core.live.camera import Frame
from core.storage.repository import Gallery
from core.vision.imaging import load_image
from core.live.loop import LIVE_LONG_SIDE, LiveRecognizer
from core.live.match import Matcher
from core.resources import sample_face
from core.live.track import FaceTracker


@pytest.mark.parametrize("faces", FACE_COUNTS, ids=lambda n: f"{n}-faces")
@pytest.mark.parametrize("resolution", list(RESOLUTIONS))
def test_whole_frame(benchmark, pipeline, resolution, faces):
    encoded = encode_jpeg(tiled_frame(load_image(sample_face()).pixels, faces, RESOLUTIONS[resolution]))
    index = synthetic_index(GALLERY_PEOPLE, pipeline.embedder.embedding_size)
    found = benchmark(whole_frame, pipeline, index, FaceTracker(), encoded, LIVE_LONG_SIDE)
    benchmark.extra_info.update({"faces_found": found, "frames_per_second": 1 / benchmark.stats.stats.median,
                                 "faces_per_second": found / benchmark.stats.stats.median})
    assert found <= faces, "no box where there is no face"  # small faces at 384 px may be missed: see the matrix


STREAM_FRAMES = 30


@pytest.mark.parametrize("embed_every", [1, 10], ids=lambda n: f"embed-every-{n}")
@pytest.mark.parametrize("mode", ["serial", "overlapped"])
def test_stream(benchmark, pipeline, tmp_path, mode, embed_every):
    """30 frames of four faces: ``process`` one by one, or ``stream`` detecting n+1 while n embeds.

    ``embed-every-1`` re-embeds every face on every frame (a crowd that keeps changing),
    ``embed-every-10`` is the tracker's default for a steady scene.
    """
    frames = [Frame(tiled_frame(load_image(sample_face()).pixels, 4, RESOLUTIONS["480p"]), n, n / 30)
              for n in range(STREAM_FRAMES)]
    with Gallery(tmp_path / "g.db") as gallery:
        result = pipeline.analyse(load_image(sample_face()))[0]
        gallery.enroll("sample", result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "bench")

        def run() -> int:
            recognizer = LiveRecognizer(pipeline, Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau),
                                        FaceTracker(reembed_every=embed_every))
            results = recognizer.stream(frames) if mode == "overlapped" else map(recognizer.process, frames)
            return sum(len(r.faces) for r in results)

        faces = benchmark(run)
    benchmark.extra_info["frames_per_second"] = STREAM_FRAMES / benchmark.stats.stats.median
    assert faces == 4 * STREAM_FRAMES
