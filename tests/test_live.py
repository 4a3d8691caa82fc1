"""The live loop: detecting frame n+1 while frame n is embedded changes nothing but the speed."""

from __future__ import annotations

import numpy as np
import pytest

from core.bench import fit_frame
from core.camera import Frame
from core.gallery import Gallery
from core.imaging import load_image
from core.live import LiveRecognizer
from core.match import Matcher


@pytest.fixture
def scene_frames(people):
    """Two people taking turns in front of the camera, three frames each, the room empty between."""
    obama, biden = (fit_frame(load_image(people[name][1]).pixels) for name in ("barack_obama", "joe_biden"))
    empty = np.zeros_like(obama)
    pixels = [obama] * 3 + [empty] * 6 + [biden] * 3 + [empty] * 2
    return [Frame(image, index, index / 30.0) for index, image in enumerate(pixels)]


@pytest.fixture
def gallery(pipeline, people, tmp_path):
    with Gallery(tmp_path / "g.db") as gallery:
        for name in ("barack_obama", "joe_biden"):
            result = pipeline.analyse(load_image(people[name][0]))[0]
            gallery.enroll(name, result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "test")
        yield gallery


def outcome(results):
    return [(r.frame.index, [(f.track_id, f.name, f.face.box) for f in r.faces], [(e.kind, e.name) for e in r.events])
            for r in results]


def test_overlapped_stream_matches_frame_by_frame(pipeline, gallery, scene_frames):
    def recognizer():
        return LiveRecognizer(pipeline, Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau))

    serial = recognizer()
    one_by_one = outcome([serial.process(frame) for frame in scene_frames])
    overlapped = recognizer()
    streamed = outcome(overlapped.stream(iter(scene_frames)))

    assert streamed == one_by_one
    assert [index for index, _, _ in streamed] == list(range(len(scene_frames)))
    names = [{name for _, name, _ in faces} for _, faces, _ in streamed]
    assert names == [{"barack_obama"}] * 3 + [set()] * 6 + [{"joe_biden"}] * 3 + [set()] * 2
    events = [event for _, _, frame_events in streamed for event in frame_events]
    assert events == [("appeared", "barack_obama"), ("left", "barack_obama"), ("appeared", "joe_biden")]
    assert overlapped.summary().frames == len(scene_frames)


def test_stream_of_nothing_yields_nothing(pipeline, gallery):
    recognizer = LiveRecognizer(pipeline, Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau))
    assert list(recognizer.stream(iter([]))) == []
