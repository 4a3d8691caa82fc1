"""Enrolment choices and gates: a face chosen from a group photo, a sample checked against its person."""

from __future__ import annotations

import pytest

from core.vision.detect import Face
from core.errors import AlreadyEnrolledError, NotThisPersonError
from core.live.enrol import person_distance
from core.errors import InputError, NoFaceError
from core.storage.repository import Gallery
from core.vision.imaging import load_image
from core.vision.quality import STRAIGHT, select_face, turned
from core.errors import FaceChoiceError, FaceCountError
from core.live.service import RecognitionService
from core.settings import Settings


def face(x1, y1, x2, y2) -> Face:
    w, h = x2 - x1, y2 - y1
    marks = ((x1 + 0.3 * w, y1 + 0.4 * h), (x1 + 0.7 * w, y1 + 0.4 * h), (x1 + 0.5 * w, y1 + 0.6 * h),
             (x1 + 0.35 * w, y1 + 0.8 * h), (x1 + 0.65 * w, y1 + 0.8 * h))
    return Face((x1, y1, x2, y2), 0.9, marks)


# detection order is not left to right: the number follows the order detect lists them in
FACES = [face(300, 0, 400, 120), face(0, 0, 80, 100), face(120, 10, 260, 180)]


def test_select_face_by_number_counts_from_one_in_detection_order():
    assert [select_face(FACES, "p", face_number=n) for n in (1, 2, 3)] == FACES
    for wrong in (0, 4, -1):
        with pytest.raises(FaceChoiceError, match=f"no face {wrong}: 3 faces found .numbered 1 to 3"):
            select_face(FACES, "p", face_number=wrong)


def test_select_face_by_box_takes_the_face_it_overlaps_most():
    assert select_face(FACES, "p", box=(110, 0, 270, 190)) is FACES[2]  # a loose box around it
    assert select_face(FACES, "p", box=(130, 20, 250, 170)) is FACES[2]  # a tight one
    assert select_face(FACES, "p", box=(-10, -10, 270, 190)) is FACES[2]  # both inside: the closer fit
    assert select_face(FACES, "p", box=(-5, -5, 90, 110)) is FACES[1]
    with pytest.raises(FaceChoiceError, match="no face lies in the box"):
        select_face(FACES, "p", box=(240, 150, 320, 200))  # grazes two faces, holds neither
    with pytest.raises(FaceChoiceError, match="is empty"):
        select_face(FACES, "p", box=(100, 100, 50, 150))
    with pytest.raises(FaceChoiceError, match="not both"):
        select_face(FACES, "p", face_number=1, box=(0, 0, 80, 100))


def test_select_face_without_a_choice_needs_exactly_one_face():
    with pytest.raises(FaceCountError, match="3 faces found") as raised:
        select_face(FACES, "p")
    assert raised.value.faces == tuple(FACES)  # a GUI can offer them to choose from
    assert select_face(FACES, "p", use_largest=True) is FACES[2]
    assert select_face(FACES[:1], "p") is FACES[0]
    with pytest.raises(NoFaceError):
        select_face([], "p", face_number=1)
    assert issubclass(FaceChoiceError, InputError)  # exit code 2 on the command line


@pytest.fixture
def service(pipeline, people, tmp_path):
    """A service with Obama enrolled from one photo."""
    gallery = Gallery(tmp_path / "g.db")
    service = RecognitionService(Settings(gallery=str(tmp_path / "g.db")), pipeline, gallery)
    service.commit_enrolment("Obama", service.preview_enrolment(people["barack_obama"][0]).candidate)
    yield service
    service.close()


def test_a_group_photo_enrols_the_face_chosen_by_number_or_box(service, data_dir, people, pipeline):
    scene = load_image(data_dir / "scenes" / "two_people.jpg")  # Obama left, Biden right
    with pytest.raises(FaceCountError):
        service.preview_enrolment(scene)
    boxes = [f.box for f in pipeline.find_faces(scene)]
    right = max(range(len(boxes)), key=lambda i: boxes[i][0])
    by_number = service.preview_enrolment(scene, face_number=right + 1)
    x1, y1, x2, y2 = boxes[right]
    by_box = service.preview_enrolment(scene, box=(x1 - 20, y1 - 20, x2 + 20, y2 + 20))
    assert by_number.candidate.face.box == by_box.candidate.face.box == boxes[right]
    assert by_number.similar is None  # Biden does not look like the enrolled Obama
    left = service.preview_enrolment(scene, face_number=2 - right)
    assert left.similar.name == "Obama" and left.duplicate
    with pytest.raises(FaceChoiceError, match="no face 3"):
        service.preview_enrolment(scene, face_number=3)


def test_a_sample_far_from_the_person_is_refused_with_its_distance_unless_confirmed(service, people):
    biden = service.preview_enrolment(people["joe_biden"][0]).candidate
    with pytest.raises(NotThisPersonError, match=r"does not look like 'Obama' \(distance 0\.\d{3}") as refused:
        service.commit_enrolment("obama", biden, add_sample=True)
    assert refused.value.distance > service.tau and refused.value.name == "Obama"
    with pytest.raises(NotThisPersonError):
        service.add_sample("Obama", people["joe_biden"][0])
    assert service._gallery.person("Obama").samples == 1
    result = service.add_sample("Obama", people["joe_biden"][0], confirmed=True)
    assert result.person.samples == 2


def test_a_sample_close_to_the_person_is_added_and_a_duplicate_may_become_a_sample(service, people):
    assert service.add_sample("Obama", people["barack_obama"][1]).person.samples == 2
    again = service.preview_enrolment(people["barack_obama"][2])
    assert again.duplicate and again.similar.name == "Obama"
    with pytest.raises(AlreadyEnrolledError):
        service.commit_enrolment("Barack", again.candidate)
    assert service.commit_enrolment("Obama", again.candidate, add_sample=True).person.samples == 3
    matcher = service.recognizer.matcher
    assert person_distance(matcher, "OBAMA", again.candidate.embedding) < service.duplicate_tau
    assert person_distance(matcher, "nobody", again.candidate.embedding) is None


def test_guided_views_are_stored_together_or_not_at_all(service, people):
    obama = [service.preview_enrolment(photo).candidate for photo in people["barack_obama"][1:4]]
    biden = service.preview_enrolment(people["joe_biden"][0]).candidate
    with pytest.raises(AlreadyEnrolledError):  # the first view is a duplicate of the enrolled Obama
        service.commit_views("Barack", obama)
    with pytest.raises(NotThisPersonError, match="'Obama'"):  # one view is someone else: nothing stored
        service.commit_views("obama", [obama[0], biden], add_sample=True)
    with pytest.raises(NotThisPersonError, match="'Joe'"):
        service.commit_views("Joe", [biden, obama[0]], force=True)
    assert [(p.name, p.samples) for p in service._gallery.people()] == [("Obama", 1)]
    result = service.commit_views("Obama", obama, add_sample=True)
    assert result.person.samples == 4
    assert service.commit_views("Joe", [biden, obama[0]], force=True, confirmed=True).person.samples == 2


def test_a_pose_target_takes_a_turn_range_and_optionally_a_side():
    assert STRAIGHT.holds(0.0) and STRAIGHT.holds(-0.05) and not STRAIGHT.holds(0.12)
    either, left = turned(), turned(-1)
    assert either.holds(0.15) and either.holds(-0.15) and not either.holds(0.02) and not either.holds(0.5)
    assert left.holds(-0.15) and not left.holds(0.15)
