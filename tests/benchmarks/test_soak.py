"""Soak: 10,000 frames of the real live loop, to show that nothing grows with running time.

People come and go in front of a looping image-folder "camera" (enrolled and unknown faces,
groups, empty room between), and every frame goes through ``LiveRecognizer.process`` and
``medians()``, as the window does. Frames per second and resident memory are taken over the
first and over the last thousand frames; only memory and the timing windows are asserted,
the speeds are figures to compare. Run (a few minutes on 2 cores)::

    python -m pytest tests/benchmarks/test_soak.py --benchmark-only -s
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.bench import FRAME_SIZE, letterbox
from core.live.camera import ImageFolderSource
from core.live.enrol import enrol, prepare_candidate
from core.storage.repository import Gallery
from core.vision.imaging import load_image
from core.live.loop import LiveRecognizer
from core.live.match import Matcher
from core.memory import resident_mb
from core.timing import WINDOW

FRAMES = 10_000
SPAN = 1_000  # frames per measured stretch, at the start (after warm-up) and at the end
ENROLLED = ("barack_obama", "joe_biden", "kit_harington")
SHOWN = 18  # frames each photo stays in view, drifting, before the room is empty
EMPTY = 8  # more than the tracker's max_missing (5), so every track ends and a new one starts
# Resident memory moved 0.2 MB over the last 9,000 frames (0.8 MB while StageTimes still kept
# every sample). 50 MB leaves the allocator and ONNX Runtime's arenas room, yet catches
# anything kept per frame of more than 6 kB, or a frame (0.9 MB) kept per track (500 tracks).
RSS_GROWTH_LIMIT_MB = 50


def drifting_frames(photo: np.ndarray) -> list[np.ndarray]:
    """``SHOWN`` 640x480 frames of the photo drifting 40 px right and 30 px down: faces that move."""
    width, height = FRAME_SIZE
    inner = letterbox(photo, (width - 40, height - 30))
    frames = []
    for step in range(SHOWN):
        frame = np.zeros((height, width, 3), np.uint8)
        x, y = step * 40 // SHOWN, step * 30 // SHOWN
        frame[y:y + inner.shape[0], x:x + inner.shape[1]] = inner
        frames.append(frame)
    return frames


@pytest.fixture
def camera_folder(tmp_path, data_dir, people) -> Path:
    """A few hundred JPEG frames: each photo but every 1.* (for enrolment), and the scenes, each then an empty room."""
    photos = [path for paths in people.values() for path in paths[1:]] + sorted((data_dir / "scenes").iterdir())
    folder = tmp_path / "camera"
    folder.mkdir()
    empty = np.zeros((FRAME_SIZE[1], FRAME_SIZE[0], 3), np.uint8)
    count = 0
    for photo in photos:
        for frame in drifting_frames(load_image(photo).pixels) + [empty] * EMPTY:
            cv2.imwrite(str(folder / f"{count:04d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            count += 1
    return folder


def test_soak(benchmark, pipeline, people, tmp_path, camera_folder):
    if resident_mb() is None:
        pytest.skip("resident memory is read from /proc (Linux)")
    with Gallery(tmp_path / "g.db") as gallery:
        matcher = Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau)
        for name in ENROLLED:
            enrol(gallery, matcher, name, prepare_candidate(pipeline, load_image(people[name][0])),
                  pipeline.embedder.duplicate_tau)
        recognizer = LiveRecognizer(pipeline, matcher)

        def soak() -> dict:
            names, tracks, events = set(), set(), 0
            marks = {}  # frame number -> (time.perf_counter(), resident MB) when it was reached
            with ImageFolderSource(camera_folder, loop=True) as source:
                for number in range(FRAMES + 1):
                    if number in (0, SPAN, FRAMES - SPAN, FRAMES):
                        marks[number] = (time.perf_counter(), resident_mb())
                    if number == FRAMES:
                        break
                    result = recognizer.process(source.read())
                    pipeline.times.medians()  # the window asks for them on every frame
                    names.update(face.name for face in result.faces)
                    tracks.update(face.track_id for face in result.faces)
                    events += len(result.events)
            return {
                "frames": FRAMES,
                "folder_frames": len(list(camera_folder.iterdir())),
                "first_1000_fps": SPAN / (marks[SPAN][0] - marks[0][0]),
                "last_1000_fps": SPAN / (marks[FRAMES][0] - marks[FRAMES - SPAN][0]),
                "rss_start_mb": marks[0][1],
                "rss_after_first_1000_mb": marks[SPAN][1],
                "rss_before_last_1000_mb": marks[FRAMES - SPAN][1],
                "rss_end_mb": marks[FRAMES][1],
                "tracks": len(tracks),
                "events": events,
                "names": sorted(name for name in names if name is not None),
                "faces_seen": recognizer.counters.faces_seen,
                "embed_calls": recognizer.counters.embed_calls,
                "stage_window_lengths": {stage: len(values) for stage, values in pipeline.times.samples.items()},
            }

        figures = benchmark.pedantic(soak, rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    print("\nsoak:", ", ".join(f"{key} {value:.1f}" if isinstance(value, float) else f"{key} {value}"
                               for key, value in figures.items()))

    assert figures["names"] == sorted(ENROLLED), "the enrolled people are recognised all along"
    assert figures["tracks"] > FRAMES // (SHOWN + EMPTY), "people kept coming and going"
    lengths = figures["stage_window_lengths"]
    assert all(length <= WINDOW for length in lengths.values()), f"stage timings kept beyond the window: {lengths}"
    growth = figures["rss_end_mb"] - figures["rss_after_first_1000_mb"]
    assert growth < RSS_GROWTH_LIMIT_MB, f"resident memory grew {growth:.1f} MB over {FRAMES - SPAN} frames"
