"""Frames per second per camera with 1, 2 and 4 cameras on one engine, and how evenly they share.

Each camera is a looping folder of 640x480 frames of a different enrolled person, played at
30 frames/s as the app plays a folder, through the real live loop (one thread per camera, as
the window runs them). Printed per configuration: each camera's frames/s over 8 s and the
fairness (slowest / fastest camera). Run::

    python -m pytest tests/benchmarks/test_cameras.py --benchmark-only -s
"""

from __future__ import annotations

import threading
import time

import pytest

from core.vision.imaging import load_image
from core.live.service import Identified
from camera_frames import write_frames

PEOPLE = ["barack_obama", "joe_biden", "rose_leslie", "kit_harington"]
SECONDS = 8.0


@pytest.mark.parametrize("cameras", [1, 2, 4])
def test_frames_per_second_per_camera(benchmark, obama_service, pipeline, people, tmp_path, cameras):
    service = obama_service()
    for name in PEOPLE[1:]:
        result = pipeline.analyse(load_image(people[name][0]))[0]
        service._gallery.enroll(name, result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "bench")
    folders = [write_frames(tmp_path / name, people[name][1], 30) for name in PEOPLE[:cameras]]

    def run() -> list[float]:
        stop = threading.Event()
        counts = [0] * cameras
        started = [None] * cameras

        def play(camera: int) -> None:
            for event in service.live(str(folders[camera]), should_stop=stop.is_set, camera=camera):
                if isinstance(event, Identified):
                    started[camera] = started[camera] or time.perf_counter()
                    counts[camera] += 1

        threads = [threading.Thread(target=play, args=(camera,)) for camera in range(cameras)]
        for thread in threads:
            thread.start()
        time.sleep(SECONDS)
        stop.set()
        end = time.perf_counter()
        for thread in threads:
            thread.join(10)
        return [count / (end - start) for count, start in zip(counts, started)]

    rates = benchmark.pedantic(run, rounds=1, iterations=1)
    shown = ", ".join(f"{rate:.1f}" for rate in rates)
    print(f"\n{cameras} camera(s): frames/s per camera {shown}; total {sum(rates):.1f}; "
          f"fairness (slowest/fastest) {min(rates) / max(rates):.2f}")
    assert all(rate > 0 for rate in rates)
