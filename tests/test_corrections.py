"""Corrections from the live window, service side: "Not X", "This is ...", "Enrol as new person",
and the person view's reads and removals, on real models and photos."""

from __future__ import annotations

import pytest

from core.errors import AlreadyEnrolledError, NotThisPersonError
from core.errors import InputError
from core.vision.imaging import load_image
from core.live.service import Identified
from core.settings import Settings
from camera_frames import write_frames




def frames(service, source, count=3) -> list[Identified]:
    events = service.live(str(source), realtime=False, reconnect=False, max_frames=count)
    return [event for event in events if isinstance(event, Identified)]


@pytest.fixture
def service(obama_service):
    """Obama enrolled with a lenient tau (1.0): anyone else in view is wrongly named Obama."""
    return obama_service(tau=1.0)


def test_nothing_to_correct_before_a_frame(service):
    assert service.last_faces() == []
    assert service.face_near((0, 0, 10, 10)) is None
    with pytest.raises(InputError, match="no longer in view"):
        service.face_candidate(1)


def test_not_x_stores_a_negative_and_the_face_is_no_longer_named_x(service, people, tmp_path):
    biden = write_frames(tmp_path / "biden", people["joe_biden"][0], 6)
    (face,) = frames(service, biden)[-1].faces
    assert face.name == "Obama"  # the wrong name the user corrects
    assert service.face_near(face.face.box).track_id == face.track_id

    negative = service.mark_not(face.track_id, "Obama")
    (stored,) = service.negatives("Obama")
    assert stored.id == negative and stored.chip.shape == (150, 150, 3) and stored.source.startswith("live frame")
    assert [f.name for f in frames(service, biden)[-1].faces] == [None]
    # Obama himself is still Obama
    obama = write_frames(tmp_path / "obama", people["barack_obama"][1], 3)
    assert [f.name for f in frames(service, obama)[-1].faces] == ["Obama"]

    service.remove_negative(negative)
    assert service.negatives("Obama") == []
    assert [f.name for f in frames(service, biden)[-1].faces] == ["Obama"]


def test_this_is_adds_a_sample_through_the_same_person_check(service, people, tmp_path, pipeline):
    result = pipeline.analyse(load_image(people["joe_biden"][0]))[0]
    service._gallery.enroll("Biden", result.chip, result.embedding, service.model.id, 1.0, "test")
    service.apply_settings(Settings(gallery=str(service.gallery_path), liveness=False))  # the calibrated tau again
    obama = write_frames(tmp_path / "obama", people["barack_obama"][1], 3)
    (face,) = frames(service, obama)[-1].faces
    assert face.name == "Obama"

    with pytest.raises(AlreadyEnrolledError) as refused:  # closer than duplicate_tau to Obama
        service.assign(face.track_id, "Biden")
    assert refused.value.name == "Obama"
    assert service.assign(face.track_id, "Obama").person.samples == 2

    kit = write_frames(tmp_path / "kit", people["kit_harington"][0], 3)
    (face,) = frames(service, kit)[-1].faces
    with pytest.raises(NotThisPersonError) as refused:
        service.assign(face.track_id, "Biden")
    assert refused.value.distance > service.tau
    assert len(service.person_samples("Biden")) == 1  # refused: nothing stored
    assert service.assign(face.track_id, "Biden", confirmed=True).person.samples == 2

    distances = service.sample_distances("Obama")
    samples = service.person_samples("Obama")
    assert sorted(distances) == [sample.id for sample in samples]
    assert all(0.0 <= d < service.tau for d in distances.values())


def test_enrol_as_new_person_goes_through_the_duplicate_gate(service, people, tmp_path):
    biden = write_frames(tmp_path / "biden", people["joe_biden"][0], 3)
    (face,) = frames(service, biden)[-1].faces
    assert service.enrol_face(face.track_id, "Joe Biden").person.samples == 1
    assert [f.name for f in frames(service, biden)[-1].faces] == ["Joe Biden"]

    obama = write_frames(tmp_path / "obama", people["barack_obama"][0], 3)
    (face,) = frames(service, obama)[-1].faces
    with pytest.raises(AlreadyEnrolledError) as refused:
        service.enrol_face(face.track_id, "Barry")
    assert refused.value.name == "Obama"
    assert service.enrol_face(face.track_id, "Barry", force=True).person.name == "Barry"


def test_removing_samples_keeps_the_last_one(service, people, tmp_path):
    obama = write_frames(tmp_path / "obama", people["barack_obama"][1], 3)
    (face,) = frames(service, obama)[-1].faces
    service.assign(face.track_id, "Obama")
    first, second = service.person_samples("Obama")
    assert service.remove_sample(second.id).samples == 1
    with pytest.raises(InputError, match="last sample"):
        service.remove_sample(first.id)
