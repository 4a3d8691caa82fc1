"""Guided enrolment keeps to one person, can be captured without turning, and the enrolment and
person dialogs show their countdown and titles whole. Real widgets, models, photos and galleries."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QFontMetrics  # noqa: E402

from core.live.service import RecognitionService  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.storage.repository import Gallery  # noqa: E402
from core.vision.embed import distance  # noqa: E402
from gui.enroll_dialog import AUTO_CAPTURE_FRAMES, CONFIRM, PREVIEW  # noqa: E402
from gui.person_dialog import PersonDialog  # noqa: E402
from camera_frames import WAIT_MS, write_frames  # noqa: E402

TITLE_BAR_BUTTONS = 150  # pixels a title bar's icon and buttons take beside the title
LEFT = Qt.MouseButton.LeftButton
LONGEST_NAME = "Maria Fernanda de los Angeles Santisima Trinidad Gutierrez-Villalobos y Montenegro-Echeverria"


def play(qtbot, make_window, folder):
    """The main window playing ``folder`` as its camera, frames arriving."""
    window = make_window(folder)
    with qtbot.waitSignal(window.controller.frameProcessed, timeout=WAIT_MS):
        pass
    return window


def camera_of(tmp_path, *photos, each=40):
    """A camera folder showing ``photos`` one after the other, ``each`` frames of each."""
    folder = tmp_path / "camera"
    for n, photo in enumerate(photos):
        write_frames(folder / "tmp", photo, each)
        for frame in sorted((folder / "tmp").iterdir()):
            frame.rename(folder / f"{n}{frame.name}")
    (folder / "tmp").rmdir()
    return folder


def enrol(qtbot, dialog, name):
    qtbot.keyClicks(dialog.name, name)
    with qtbot.waitSignal(dialog.finished_enrolment, timeout=WAIT_MS) as finished:
        qtbot.keyClick(dialog.name, Qt.Key.Key_Return)
    return finished.args[0]


def stored(tmp_path):
    with Gallery(tmp_path / "gallery.db") as gallery:
        return [(p.name, p.samples) for p in gallery.people()]


def test_a_guided_view_of_someone_else_is_refused_and_retaken(qtbot, make_window, tmp_path, people):
    obama, kit = people["barack_obama"], people["kit_harington"]
    # straight Obama, then Kit turned a little (view 2 of someone else), then Obama turned to each side
    window = play(qtbot, make_window, camera_of(tmp_path, obama[0], kit[1], obama[1], obama[3]))
    service = window.controller.service
    kit_face = service.preview_enrolment(kit[1]).candidate.embedding
    dialog = window.enroll_from_webcam()
    dialog.guided.setChecked(True)
    offered, prompts = [], []
    window.controller.candidateReady.connect(lambda report: (offered.append(report.candidate),
                                                             prompts.append(dialog.view_prompt.text())))
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == CONFIRM, timeout=3 * WAIT_MS)

    refused = [n for n, candidate in enumerate(offered) if distance(candidate.embedding, kit_face) < service.tau]
    assert refused, "Kit's view was never captured: the test did not test anything"
    assert "not the person of the first view" in prompts[refused[0]]
    assert len(dialog.views) == 3
    assert all(distance(view.embedding, kit_face) > service.tau for view in dialog.views)
    result = enrol(qtbot, dialog, "Barack Obama")
    assert result.person.samples == 3 and stored(tmp_path) == [("Barack Obama", 3)]
    vectors = service.recognizer.matcher.index.matrix
    assert len(vectors) == 3 and all(distance(vector, kit_face) > service.tau for vector in vectors)


def test_capture_this_view_takes_all_three_views_without_turning(qtbot, make_window, tmp_path, people):
    window = play(qtbot, make_window, camera_of(tmp_path, people["barack_obama"][0], each=120))  # never turns
    dialog = window.enroll_from_webcam()
    dialog.auto_capture.setChecked(False)
    dialog.guided.setChecked(True)
    assert not dialog.capture_view.isHidden() and not dialog.start_again.isEnabled()
    for view in (1, 2, 3):
        qtbot.waitUntil(dialog.capture_view.isEnabled, timeout=WAIT_MS)
        if view > 1:
            assert not dialog.capture.isEnabled()  # the turn asked for is not there
        with qtbot.waitSignal(window.controller.candidateReady, timeout=WAIT_MS):
            qtbot.mouseClick(dialog.capture_view, LEFT)
        assert len(dialog.views) == view
    assert dialog.pages.currentIndex() == CONFIRM
    assert all(abs(view.quality.yaw) < 0.08 for view in dialog.views)
    enrol(qtbot, dialog, "Barack Obama")
    assert stored(tmp_path) == [("Barack Obama", 3)]


def test_start_again_forgets_the_views_taken(qtbot, make_window, tmp_path, people):
    window = play(qtbot, make_window, camera_of(tmp_path, people["barack_obama"][0], each=80))
    dialog = window.enroll_from_webcam()
    dialog.guided.setChecked(True)
    with qtbot.waitSignal(window.controller.candidateReady, timeout=WAIT_MS):
        pass  # view 1, captured by itself
    assert len(dialog.views) == 1 and dialog.start_again.isEnabled() and not dialog.guided.isEnabled()
    qtbot.mouseClick(dialog.start_again, LEFT)
    assert dialog.views == [] and dialog.pages.currentIndex() == PREVIEW and dialog.guided.isEnabled()
    assert dialog.view_prompt.text() == "View 1 of 3: look straight into the camera"


def at_minimum_size(qtbot, dialog):
    """``dialog`` shown at the smallest size its layout allows."""
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.resize(1, 1)
    qtbot.waitUntil(lambda: dialog.size() == dialog.minimumSize(), timeout=5000)
    return dialog


def test_the_countdown_fits_on_one_line_at_the_smallest_dialog(qtbot, make_window, tmp_path, people):
    window = play(qtbot, make_window, camera_of(tmp_path, people["barack_obama"][0], each=20))
    dialog = at_minimum_size(qtbot, window.enroll_from_webcam())
    bar = dialog.countdown
    width = QFontMetrics(bar.font()).horizontalAdvance
    for run in range(AUTO_CAPTURE_FRAMES):
        bar.setValue(run)
        bar.setFormat(f"Capturing in {AUTO_CAPTURE_FRAMES - run}…" if run else "Hold still to capture")
        assert width(bar.text()) < bar.contentsRect().width(), bar.text()


def title_fits(dialog) -> bool:
    return QFontMetrics(dialog.font()).horizontalAdvance(dialog.windowTitle()) + TITLE_BAR_BUTTONS \
        <= dialog.minimumWidth()


def test_the_enrolment_titles_show_whole(qtbot, make_window, tmp_path, people):
    window = play(qtbot, make_window, camera_of(tmp_path, people["barack_obama"][0], each=20))
    webcam = window.enroll_from_webcam()
    assert title_fits(at_minimum_size(qtbot, webcam))
    webcam.reject()
    dialog = window.enroll_from_photo(str(people["barack_obama"][1]))
    qtbot.waitUntil(lambda: dialog.candidate is not None, timeout=WAIT_MS)
    assert title_fits(at_minimum_size(qtbot, dialog))


def test_a_person_title_shows_whole_even_for_the_longest_name(qtbot, tmp_path, pipeline, people):
    path = tmp_path / "gallery.db"
    service = RecognitionService(Settings(gallery=str(path)), pipeline, Gallery(path))
    service.commit_enrolment(LONGEST_NAME, service.preview_enrolment(people["barack_obama"][0]).candidate)
    dialog = PersonDialog(service, LONGEST_NAME)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.loaded, timeout=30_000):
        pass
    assert title_fits(at_minimum_size(qtbot, dialog))
    assert dialog.windowTitle().startswith("Maria Fernanda") and dialog.windowTitle().endswith("samples")
    large = dialog.open_sample(dialog.samples[0].id)
    assert title_fits(at_minimum_size(qtbot, large))
    large.close()
    service.close()
