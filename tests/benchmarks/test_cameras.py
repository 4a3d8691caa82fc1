"""Frames per second per camera with 1, 2 and 4 cameras on one engine, liveness off and on, and
how evenly the cameras share.

Each camera is a looping folder of 640x480 frames of a different enrolled person moving like
someone in front of a webcam (``write_moving_frames``: a slow sub-pixel drift, sensor noise,
JPEG), played at 30 frames/s as the app plays a folder, through the real live loop (one
thread per camera, as the window runs them). A still photo repeated would let the detector's
motion gate skip nearly every frame: not what a camera sees. Printed per configuration: each
camera's frames/s over 8 s, their total, the fairness (slowest / fastest camera) and the
frames the detector ran on against those it skipped (nothing moved). Run::

    python -m pytest tests/benchmarks/test_cameras.py --benchmark-only -s
"""

from __future__ import annotations

import threading
import time

import pytest

from core.vision.imaging import load_image
from core.live.service import Identified
from camera_frames import write_moving_frames

PEOPLE = ["barack_obama", "joe_biden", "rose_leslie", "kit_harington"]
SECONDS = 8.0
LAP = 30  # frames of one lap of the drift: 1 s at 30 frames/s


@pytest.mark.parametrize("liveness", [False, True], ids=["liveness-off", "liveness-on"])
@pytest.mark.parametrize("cameras", [1, 2, 4])
def test_frames_per_second_per_camera(benchmark, obama_service, pipeline, people, tmp_path, cameras, liveness):
    service = obama_service(liveness=liveness)
    for name in PEOPLE[1:]:
        result = pipeline.analyse(load_image(people[name][0]))[0]
        service._gallery.enroll(name, result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "bench")
    folders = [write_moving_frames(tmp_path / name, people[name][1], LAP, seed=camera)
               for camera, name in enumerate(PEOPLE[:cameras])]

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
    counters = [service._session(camera).recognizer.counters for camera in range(cameras)]
    detected = sum(counter.detections for counter in counters)
    skipped = sum(counter.detections_skipped for counter in counters)
    scored = sum(counter.liveness_calls for counter in counters)
    shown = ", ".join(f"{rate:.1f}" for rate in rates)
    print(f"\n{cameras} camera(s), liveness {'on' if liveness else 'off'}: frames/s per camera {shown}; "
          f"total {sum(rates):.1f}; fairness (slowest/fastest) {min(rates) / max(rates):.2f}; "
          f"detector ran {detected}, skipped {skipped}; liveness scored {scored}")
    assert all(rate > 0 for rate in rates)
