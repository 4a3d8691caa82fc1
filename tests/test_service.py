"""The recognition service: the one live loop and the typed changes both front ends use."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from core.errors import CameraError
from core.models.store import register_embedder, set_active
from core.live.service import (
    BURST,
    WAIT_SECONDS,
    CandidateReady,
    EnrolPreview,
    Identified,
    RateMeter,
    SourceLost,
    SourceStarted,
)
from core.settings import Settings
from camera_frames import write_frames




@pytest.fixture
def service(obama_service):
    return obama_service()


def grabber_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("LatestFrameGrabber") and t.is_alive()]


def test_a_file_is_identified_frame_by_frame_and_ends(service, people, tmp_path):
    folder = write_frames(tmp_path / "obama", people["barack_obama"][1], 6)
    events = list(service.live(str(folder), realtime=False, reconnect=False))
    assert isinstance(events[0], SourceStarted) and not events[0].restored
    frames = [event for event in events if isinstance(event, Identified)]
    assert [event.frame.index for event in frames] == list(range(6))
    assert all([face.name for face in event.faces] == ["Obama"] for event in frames)
    assert frames[-1].fps > 0 and set(frames[-1].stage_ms) >= {"detect", "track"}
    assert [event.kind for event in frames[0].events] == ["appeared"]
    assert [event.kind for event in service.finish()] == ["left"]


def test_max_frames_and_stopping_end_the_loop_and_join_the_grabber(service, people, tmp_path):
    folder = write_frames(tmp_path / "obama", people["barack_obama"][1], 4)
    assert sum(isinstance(e, Identified) for e in service.live(str(folder), realtime=False, max_frames=3)) == 3

    stop = threading.Event()
    live = service.live(str(folder), should_stop=stop.is_set)  # realtime: a grabber thread, replaying
    seen = 0
    for event in live:
        seen += isinstance(event, Identified)
        if seen == 6:  # more than the folder holds: it started again at its end
            stop.set()
    assert seen == 6 and not grabber_threads()

    live = service.live(str(folder))
    next(event for event in live if isinstance(event, Identified))
    live.close()  # a consumer that walks away (the GUI's cancel) also joins the grabber
    assert not grabber_threads()


def test_a_missing_camera_is_retried_until_it_answers(service, people, tmp_path, monkeypatch):
    monkeypatch.setattr("core.live.service.RETRY_SECONDS", 0.3)
    missing = tmp_path / "camera"
    with pytest.raises(CameraError):
        next(service.live(str(missing), reconnect=False))
    live = service.live(str(missing))
    lost = next(live)
    assert isinstance(lost, SourceLost) and str(missing) in lost.message
    shutil.move(str(write_frames(tmp_path / "staging", people["barack_obama"][1], 3)), str(missing))
    events = []
    for event in live:
        events.append(event)
        if isinstance(event, Identified):
            break
    started = [event for event in events if isinstance(event, SourceStarted)]
    assert len(started) == 1 and started[0].restored
    live.close()


def test_burst_enrolment_offers_the_best_of_several_good_frames(service, people, tmp_path):
    folder = write_frames(tmp_path / "biden", people["joe_biden"][0], 3)
    service.set_enrolling(True)
    previews, candidates = 0, []
    live = service.live(str(folder))
    for event in live:
        if isinstance(event, EnrolPreview):
            previews += 1
            if previews == 1:
                assert event.face is not None and event.report.ok, event.hints
                service.capture_burst()
        elif isinstance(event, CandidateReady):
            candidates.append(event)
            break
    live.close()
    assert previews >= BURST and len(candidates) == 1
    assert candidates[0].similar is None  # Biden resembles nobody enrolled
    result = service.commit_enrolment("Biden", candidates[0].candidate)
    assert result.person.name == "Biden" and service.people_count() == 2


def test_settings_apply_at_once_and_a_new_gallery_is_swapped_in(service, pipeline, tmp_path):
    calibrated = pipeline.tau
    assert service.tau == calibrated
    service.apply_settings(Settings(gallery=service.settings.gallery, tau=0.2, score_threshold=0.8))
    assert service.tau == 0.2 and pipeline.detector.score_threshold == 0.8
    service.apply_settings(Settings(gallery=service.settings.gallery))
    assert service.tau == calibrated
    assert pipeline.detector.score_threshold == pipeline.detector.spec.defaults["score_threshold"]

    other = tmp_path / "other.db"
    service.apply_settings(Settings(gallery=str(other)))
    assert service.gallery_path == other and service.people_count() == 0


@pytest.fixture
def second_model(pipeline, tmp_path, private_models):
    """The shipped network registered again under another id with its own calibrated tau."""
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(pipeline.embedder.spec.path, copy)
    return register_embedder(copy, pipeline.embedder.spec, "test-copy", "a copy", 0.3, {}, "copied by a test")


def test_a_model_switch_brings_its_tau_unless_one_was_set_by_hand(service, second_model, pipeline):
    spec = service.switch_model(second_model.id)
    assert spec.id == service.model.id == "test-copy"
    assert service.tau == pytest.approx(0.3) == service.calibrated_tau
    service.apply_settings(Settings(gallery=service.settings.gallery, tau=0.25))
    service.switch_model(pipeline.embedder.spec.id)
    assert service.tau == 0.25 and service.calibrated_tau == pipeline.tau


def test_a_model_activated_elsewhere_is_followed(service, second_model):
    assert service.follow_active_model() is None
    set_active(second_model.id)  # what `oneshot models activate` does in another process
    assert service.follow_active_model().id == second_model.id
    assert service.model.id == second_model.id


def test_the_frame_rate_estimate_is_constant_memory_and_follows_the_rate():
    meter = RateMeter()
    for n in range(100_000):
        meter.tick(n / 30.0)
    assert meter.rate == pytest.approx(30.0)
    for n in range(200):
        meter.tick(100_000 / 30.0 + (n + 1) / 10.0)
    assert meter.rate == pytest.approx(10.0, rel=0.01)
    assert set(vars(meter)) == {"weight", "rate", "_last"}


def test_waits_yield_often_enough_to_stop(service, tmp_path):
    stop = threading.Event()
    live = service.live(str(tmp_path / "nothing"), should_stop=stop.is_set)
    assert isinstance(next(live), SourceLost)
    assert next(live) is None  # waiting to retry, at a cancel point every WAIT_SECONDS
    stop.set()
    assert list(live) == []
    assert WAIT_SECONDS <= 0.25
    assert np.isfinite(service.tau)


def test_retention_keeps_who_the_camera_sees_and_forgets_the_unseen(obama_service, pipeline, people, tmp_path, clock):
    """With a retention period, the live loop notes who it identifies and forgets those not seen."""
    from core.vision.imaging import load_image

    service = obama_service(retention_days=1.5 / 86400)  # 1.5 seconds, in days
    biden = pipeline.analyse(load_image(people["joe_biden"][0]))[0]
    service._gallery.enroll("Biden", biden.chip, biden.embedding, pipeline.embedder.spec.id, 1.0, "test")
    clock.advance(3)  # dates are stored to the second
    folder = write_frames(tmp_path / "obama", people["barack_obama"][1], 3)
    names = [face.name for event in service.live(str(folder), realtime=False, reconnect=False)
             if isinstance(event, Identified) for face in event.faces]
    assert "Obama" in names
    assert service.enrolled_names() == ["Obama"]
    forgotten = [entry for entry in service.history()[0] if entry.action == "forget"]
    assert [(entry.subject, entry.detail.split(" (")[1]) for entry in forgotten] == [
        ("Biden", "retention: not seen for 1.73611e-05 days)")]
