"""Several cameras on one engine: each its own tracks and rate, one gallery and index, fair turns."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from core.live.camera_session import MAX_CAMERAS, FairTurns, camera_of
from core.errors import InputError
from core.vision.imaging import load_image
from core.live.service import Identified
from camera_frames import write_frames


def run_cameras(service, folders, frames_each: int) -> dict[int, list[Identified]]:
    """Every folder as a camera of ``service``, each loop on its own thread, until each identified
    ``frames_each`` frames (or 60 s passed)."""
    stop = threading.Event()
    seen = {camera: [] for camera in range(len(folders))}

    def play(camera, folder):
        for event in service.live(str(folder), should_stop=stop.is_set, camera=camera):
            if isinstance(event, Identified):
                seen[camera].append(event)
            if all(len(events) >= frames_each for events in seen.values()):
                stop.set()

    threads = [threading.Thread(target=play, args=item) for item in enumerate(folders)]
    for thread in threads:
        thread.start()
    stop.wait(60)
    stop.set()
    for thread in threads:
        thread.join(10)
    return seen


def test_two_cameras_share_the_gallery_and_keep_their_own_tracks(obama_service, pipeline, people, tmp_path):
    service = obama_service()
    biden = pipeline.analyse(load_image(people["joe_biden"][0]))[0]
    service._gallery.enroll("Biden", biden.chip, biden.embedding, pipeline.embedder.spec.id, 1.0, "test")
    folders = [write_frames(tmp_path / "door", people["barack_obama"][1], 10),
               write_frames(tmp_path / "hall", people["joe_biden"][1], 10)]
    seen = run_cameras(service, folders, 6)
    named = {camera: {face.name for event in events for face in event.faces} for camera, events in seen.items()}
    assert named == {0: {"Obama"}, 1: {"Biden"}}
    assert all(event.camera == camera for camera, events in seen.items() for event in events)
    tracks = {camera: {face.track_id for event in events for face in event.faces} for camera, events in seen.items()}
    assert all(camera_of(track) == camera for camera, ids in tracks.items() for track in ids)
    # a correction acts on the camera whose face it names
    track = next(iter(tracks[1]))
    assert service.face_candidate(track).chip.shape == (150, 150, 3)
    box = seen[1][-1].faces[0].face.box
    assert service.face_near(box, camera=1).name == "Biden" and service.face_near(box, camera=3) is None


def test_a_fifth_camera_is_refused(obama_service, tmp_path):
    with pytest.raises(InputError, match=f"at most {MAX_CAMERAS} cameras"):
        next(obama_service().live(str(tmp_path), camera=MAX_CAMERAS))


def test_turns_are_taken_in_order_so_no_thread_starves():
    turns, order = FairTurns(), []

    def hungry(name: str) -> None:
        for _ in range(60):
            with turns:
                order.append(name)
                time.sleep(0.0005)

    threads = [threading.Thread(target=hungry, args=(name,)) for name in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(order) == 180
    middle = order[10:-10]  # all three asking all the time: strictly one after the other
    longest = max(len(list(run)) for _, run in itertools.groupby(middle))
    assert longest == 1, middle
