"""The enrolment dialog's gates and choices, driven like a user would, on real photos and models."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402

from core.vision.embed import distance  # noqa: E402
from core.storage.repository import Gallery  # noqa: E402
from gui.enroll_dialog import AUTO_CAPTURE_FRAMES, CHOOSE, CONFIRM  # noqa: E402
from camera_frames import WAIT_MS, write_frames  # noqa: E402

LEFT = Qt.MouseButton.LeftButton




def running_window(qtbot, make_window, tmp_path, photo):
    """The main window playing frames of ``photo``, its service loaded and frames arriving."""
    window = make_window(write_frames(tmp_path / "camera", photo, 20))
    with qtbot.waitSignal(window.controller.frameProcessed, timeout=WAIT_MS):
        pass
    return window


def enrol_directly(window, name, photo):
    service = window.controller.service
    return service.commit_enrolment(name, service.preview_enrolment(photo).candidate)


def samples(tmp_path) -> list[tuple[str, int]]:
    with Gallery(tmp_path / "gallery.db") as gallery:
        return [(p.name, p.samples) for p in gallery.people()]


def photo_candidate(qtbot, window, photo):
    dialog = window.enroll_from_photo(str(photo))
    qtbot.waitUntil(lambda: dialog.candidate is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bool(dialog.enrolled_names), timeout=WAIT_MS)
    return dialog


def test_a_duplicate_is_refused_unless_a_different_person_or_added_as_a_sample(qtbot, make_window, tmp_path,
                                                                               people):
    obama = people["barack_obama"]
    window = running_window(qtbot, make_window, tmp_path, obama[0])
    enrol_directly(window, "Obama", obama[0])

    dialog = photo_candidate(qtbot, window, obama[2])  # 0.13 from the enrolled photo: a duplicate
    assert "already enrolled as Obama (distance 0.1" in dialog.warning.text()
    assert not dialog.different.isHidden() and not dialog.as_sample.isHidden()
    assert dialog.as_sample.text() == "Add as a sample of Obama instead"
    qtbot.keyClicks(dialog.name, "Barack")
    assert not dialog.enrol_button.isEnabled()  # refused like the command line without --force
    assert "different person" in dialog.enrol_button.toolTip()
    dialog.different.setChecked(True)
    assert dialog.enrol_button.isEnabled()
    dialog.different.setChecked(False)

    with qtbot.waitSignal(dialog.finished_enrolment, timeout=WAIT_MS) as finished:
        qtbot.mouseClick(dialog.as_sample, LEFT)
    assert finished.args[0].person.name == "Obama"
    assert samples(tmp_path) == [("Obama", 2)]
    assert window.statusBar().currentMessage() == "Added a sample to Obama (now 2 samples)"

    # the user says it is someone else: a second person with this face, as with --force
    dialog = photo_candidate(qtbot, window, obama[3])
    qtbot.keyClicks(dialog.name, "Barack")
    dialog.different.setChecked(True)
    with qtbot.waitSignal(dialog.finished_enrolment, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.enrol_button, LEFT)
    assert samples(tmp_path) == [("Barack", 1), ("Obama", 2)]


def test_a_far_sample_is_refused_with_its_distance_then_confirmed(qtbot, make_window, tmp_path, people):
    window = running_window(qtbot, make_window, tmp_path, people["barack_obama"][0])
    enrol_directly(window, "Obama", people["barack_obama"][0])

    dialog = photo_candidate(qtbot, window, people["joe_biden"][0])
    assert dialog.warning.text() == ""  # looks like nobody enrolled
    qtbot.keyClicks(dialog.name, "obama")
    assert dialog.enrol_button.text() == "Add to Obama"  # an enrolled name adds a sample
    with qtbot.waitSignal(window.controller.enrolRefused, timeout=WAIT_MS) as refused:
        qtbot.keyClick(dialog.name, Qt.Key.Key_Return)  # Enter enrols
    d = refused.args[0].distance
    assert d > window.controller.service.tau
    assert f"does not look like Obama (distance {d:.2f}" in dialog.warning.text()
    assert not dialog.confirm_same.isHidden() and dialog.confirm_same.text() == "Yes, this is Obama"
    assert not dialog.enrol_button.isEnabled()
    assert samples(tmp_path) == [("Obama", 1)]

    with qtbot.waitSignal(dialog.finished_enrolment, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.confirm_same, LEFT)
    assert samples(tmp_path) == [("Obama", 2)]


def test_a_group_photo_enrols_the_face_clicked(qtbot, make_window, tmp_path, people, data_dir):
    window = running_window(qtbot, make_window, tmp_path, people["barack_obama"][0])
    dialog = window.enroll_from_photo(str(data_dir / "scenes" / "two_people.jpg"))  # Obama left, Biden right
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == CHOOSE, timeout=WAIT_MS)
    picker = dialog.picker
    assert len(picker.faces) == 2 and [o.label for o in picker.overlays] == ["1", "2"]
    biden = max((1, 2), key=lambda n: picker.faces[n - 1].box[0])
    assert picker.face_at(picker.rect().topLeft()) is None  # outside every face: nothing chosen

    with qtbot.waitSignal(window.controller.candidateReady, timeout=WAIT_MS):
        qtbot.keyClick(dialog, "3")  # no such face: nothing happens
        qtbot.keyClick(dialog, str(3 - biden))  # the other face, by its number
    assert dialog.candidate.face.box == picker.faces[2 - biden].box
    qtbot.mouseClick(dialog.retake, LEFT)
    assert dialog.pages.currentIndex() == CHOOSE and dialog.candidate is None

    with qtbot.waitSignal(window.controller.candidateReady, timeout=WAIT_MS):
        qtbot.mouseClick(picker, LEFT, pos=picker.widget_point(biden).toPoint())
    assert dialog.pages.currentIndex() == CONFIRM and dialog.retake.text() == "Choose another face"
    assert dialog.candidate.face.box == picker.faces[biden - 1].box
    qtbot.keyClicks(dialog.name, "Joe Biden")
    with qtbot.waitSignal(dialog.finished_enrolment, timeout=WAIT_MS):
        qtbot.keyClick(dialog.name, Qt.Key.Key_Return)
    assert window.statusBar().currentMessage() == "Enrolled Joe Biden with 1 sample"

    service = window.controller.service
    stored = service.recognizer.matcher.index.matrix[0]
    assert distance(stored, service.preview_enrolment(people["joe_biden"][1]).candidate.embedding) < service.tau
    assert distance(stored, service.preview_enrolment(people["barack_obama"][0]).candidate.embedding) > service.tau


def test_auto_capture_offers_a_candidate_without_pressing_capture(qtbot, make_window, tmp_path, people):
    window = running_window(qtbot, make_window, tmp_path, people["barack_obama"][0])
    dialog = window.enroll_from_webcam()
    counts = []
    dialog.countdown.valueChanged.connect(counts.append)
    with qtbot.waitSignal(window.controller.candidateReady, timeout=WAIT_MS):
        pass  # nobody presses Capture
    assert counts[:AUTO_CAPTURE_FRAMES] == list(range(1, AUTO_CAPTURE_FRAMES + 1))  # the visible countdown
    assert dialog.pages.currentIndex() == CONFIRM and dialog.candidate is not None
    qtbot.keyClicks(dialog.name, "Barack Obama")
    with qtbot.waitSignal(dialog.finished_enrolment, timeout=WAIT_MS):
        qtbot.keyClick(dialog.name, Qt.Key.Key_Return)
    assert samples(tmp_path) == [("Barack Obama", 1)]
    assert window.statusBar().currentMessage() == "Enrolled Barack Obama with 1 sample"


def test_guided_enrolment_stores_three_views_straight_and_to_each_side(qtbot, make_window, tmp_path, people):
    obama = people["barack_obama"]  # yaw 0.02 (straight), -0.18 and +0.17 (a little to each side)
    folder = tmp_path / "turning"
    for n, photo in enumerate((obama[0], obama[1], obama[3])):
        write_frames(folder / "tmp", photo, 40)
        for frame in sorted((folder / "tmp").iterdir()):
            frame.rename(folder / f"{n}{frame.name}")
    (folder / "tmp").rmdir()
    window = make_window(folder)
    with qtbot.waitSignal(window.controller.frameProcessed, timeout=WAIT_MS):
        pass
    dialog = window.enroll_from_webcam()
    dialog.guided.setChecked(True)
    assert dialog.view_prompt.text() == "View 1 of 3: look straight into the camera"
    for view in (1, 2):
        with qtbot.waitSignal(window.controller.candidateReady, timeout=WAIT_MS):
            pass
        assert dialog.view_progress.value() == view and dialog.pages.currentIndex() != CONFIRM
    assert not dialog.guided.isEnabled()
    with qtbot.waitSignal(window.controller.candidateReady, timeout=WAIT_MS):
        pass
    assert dialog.pages.currentIndex() == CONFIRM
    yaws = [view.quality.yaw for view in dialog.views]
    assert abs(yaws[0]) < 0.08 and 0.08 < abs(yaws[1]) and 0.08 < abs(yaws[2]) and yaws[1] * yaws[2] < 0
    qtbot.keyClicks(dialog.name, "Barack Obama")
    with qtbot.waitSignal(dialog.finished_enrolment, timeout=WAIT_MS):
        qtbot.keyClick(dialog.name, Qt.Key.Key_Return)
    assert samples(tmp_path) == [("Barack Obama", 3)]
    assert window.statusBar().currentMessage() == "Enrolled Barack Obama with 3 samples"
