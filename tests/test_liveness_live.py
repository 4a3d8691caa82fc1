"""Liveness in the live loop and at enrolment: a photo held up is never named, a person is.

upstream's sample photos (../shared/data/liveness) show one person live (T1) and as two
printed photos (F1, F2); the three are the same person at the embedder's distances (0.12-0.21).
"""

from __future__ import annotations

import json

import pytest

from core.bench import fit_frame
from core.live.camera import Frame
from core.cli import main
from core.errors import NotLiveError
from core.live.enrol import prepare_candidate
from core.storage.repository import Gallery
from core.vision.imaging import load_image
from core.live.loop import LiveRecognizer
from core.live.match import Matcher
from core.live.track import LIVENESS_FRAMES, FaceTracker


@pytest.fixture
def liveness_photos(data_dir):
    folder = data_dir / "liveness"
    return {name: folder / f"image_{name}.jpg" for name in ("T1", "F1", "F2")}


@pytest.fixture
def gallery(pipeline, liveness_photos, tmp_path):
    with Gallery(tmp_path / "g.db") as gallery:
        result = pipeline.analyse(load_image(liveness_photos["T1"]))[0]
        gallery.enroll("Sample", result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "test")
        yield gallery


def frames(path, count):
    pixels = fit_frame(load_image(path).pixels)
    return [Frame(pixels, index, index / 30.0) for index in range(count)]


def recognise(pipeline, gallery, path, liveness, count=8):
    recognizer = LiveRecognizer(pipeline, Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau), liveness=liveness)
    return [recognizer.process(frame) for frame in frames(path, count)], recognizer


@pytest.mark.parametrize("attack", ["F1", "F2"])
def test_a_photo_held_up_is_never_named(pipeline, gallery, liveness_photos, attack):
    without, _ = recognise(pipeline, gallery, liveness_photos[attack], liveness=False)
    assert without[-1].faces[0].name == "Sample"  # the photo does fool the embedder alone
    results, recognizer = recognise(pipeline, gallery, liveness_photos[attack], liveness=True)
    assert all(face.name is None for result in results for face in result.faces)
    assert not any(event.name for result in results for event in result.events)
    last = results[-1].faces[0]
    assert last.live is False and last.liveness < 0.5
    assert recognizer.summary().embed_calls == 0  # a photo costs no embedding


def test_a_person_is_named_once_judged_live(pipeline, gallery, liveness_photos):
    results, recognizer = recognise(pipeline, gallery, liveness_photos["T1"], liveness=True)
    faces = [result.faces[0] for result in results]
    assert all(face.name is None and face.live is None for face in faces[:LIVENESS_FRAMES - 1])
    assert all(face.name == "Sample" and face.live is True for face in faces[LIVENESS_FRAMES:])
    assert recognizer.summary().liveness_calls <= LIVENESS_FRAMES + 1  # once per track, then at re-embeddings


@pytest.mark.parametrize("scores, live", [((0.9, 0.1, 0.9), True), ((0.1, 0.95, 0.1), False),
                                          ((0.9, 0.9, 0.05, 0.9, 0.9), True), ((0.2, 0.3), None)])
def test_one_bad_frame_neither_names_a_photo_nor_flags_a_person(pipeline, liveness_photos, scores, live):
    tracker = FaceTracker()
    face = pipeline.detect(load_image(liveness_photos["T1"]).pixels)[0]
    track = tracker.update([face])[0].track_id
    for score in scores:
        tracker.observe_liveness(track, score)
    assert tracker.liveness(track, 0.5)[0] is live


def test_enrolment_refuses_a_photo_with_the_reason(pipeline, liveness_photos):
    with pytest.raises(NotLiveError, match="looks like a photo or a screen"):
        prepare_candidate(pipeline, load_image(liveness_photos["F1"]), liveness=True)
    candidate = prepare_candidate(pipeline, load_image(liveness_photos["T1"]), liveness=True)
    assert candidate.liveness >= 0.5


def test_the_cli_refuses_a_photo_unless_forced_and_reports_liveness(capsys, liveness_photos, tmp_path):
    gallery = str(tmp_path / "g.db")
    assert main(["enroll", "--gallery", gallery, "--liveness", "Sample", str(liveness_photos["F2"])]) == 2
    assert "looks like a photo or a screen" in capsys.readouterr().err
    assert main(["enroll", "--gallery", gallery, "--liveness", "--force", "Sample", str(liveness_photos["F2"])]) == 0
    capsys.readouterr()
    assert main(["identify", "--gallery", gallery, "--json", "--liveness",
                 str(liveness_photos["T1"]), str(liveness_photos["F1"])]) == 0
    live, photo = (document["faces"][0] for document in json.loads(capsys.readouterr().out))
    assert live["live"] is True and live["name"] == "Sample" and live["liveness"] >= 0.5
    assert photo["live"] is False and photo["name"] is None and photo["liveness"] < 0.5
    assert main(["verify", "--json", "--liveness", str(liveness_photos["T1"]), str(liveness_photos["F1"])]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["same"] is False and [face["live"] for face in verdict["faces"]] == [True, False]
