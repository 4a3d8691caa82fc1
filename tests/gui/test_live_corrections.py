"""Corrections from the live window: right-click a face, then "Not X", "This is…" or "Enrol as new
person…". The real app on an image folder standing in for the camera; prompts and the popup are
replaced on the window, so no modal dialog or menu can block a run."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPoint  # noqa: E402
from PySide6.QtGui import QContextMenuEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


from core.storage.repository import Gallery  # noqa: E402
from core.vision.imaging import load_image  # noqa: E402
from gui.person_dialog import PersonDialog  # noqa: E402
from camera_frames import WAIT_MS, names, next_report, write_frames  # noqa: E402









def unexpected(prompt: str):
    def fail(*args):
        raise AssertionError(f"{prompt}{args} was not expected")
    return fail


def enrolled(path) -> dict[str, int]:
    with Gallery(path) as gallery:
        return {person.name: person.samples for person in gallery.people()}


def face_point(window, index: int = 0) -> QPoint:
    """The centre of a face's box as drawn, in the view's pixels."""
    view = window.view
    x1, y1, x2, y2 = view.overlays[index].box
    rect = view.image_rect()
    scale = rect.width() / view.image.width()
    return QPoint(round(rect.left() + (x1 + x2) / 2 * scale), round(rect.top() + (y1 + y2) / 2 * scale))


def right_click(window, point: QPoint):
    """A real context-menu event on the view (it reaches the window); the menu it would pop up."""
    menus = []
    window.popup_menu = lambda menu, position: menus.append(menu)
    QApplication.sendEvent(window.view, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, point,
                                                          window.view.mapToGlobal(point)))
    assert len(menus) == 1, "no correction menu"
    return {action.text(): action for action in menus[0].actions()}


def test_corrections_from_the_live_window(qtbot, make_window, tmp_path, people, pipeline):
    # Obama enrolled; with a lenient tau, Biden in front of the camera is wrongly named Obama
    path = tmp_path / "gallery.db"
    image = load_image(people["barack_obama"][0])
    chip = pipeline.align(image.pixels, pipeline.detect(image.pixels))
    with Gallery(path) as gallery:
        gallery.enroll("Barack Obama", chip[0], pipeline.embed(chip)[0], pipeline.embedder.spec.id, 0.9, "1.jpg")
    window = make_window(write_frames(tmp_path / "biden", people["joe_biden"][0], 30), tau=1.0)
    for prompt in ("ask_person", "ask_name", "confirm_same_person", "ask_duplicate", "show_warning"):
        setattr(window, prompt, unexpected(prompt))
    next_report(qtbot, window, lambda r: names(r) == ["Barack Obama"])
    qtbot.waitUntil(lambda: window.view.face_at(face_point(window)) == 0, timeout=WAIT_MS)
    assert window.view.face_at(QPoint(1, 1)) is None and window.correction_menu(QPoint(1, 1)) is None

    # "Not Barack Obama": the face is stored as his negative and no longer named him
    menu = right_click(window, face_point(window))
    assert list(menu) == ["Not Barack Obama", "This is…", "Enrol as new person…"]
    with qtbot.waitSignal(window.controller.corrected, timeout=WAIT_MS) as said:
        menu["Not Barack Obama"].trigger()
    assert said.args == ["Noted: that face is not Barack Obama."]
    next_report(qtbot, window, lambda r: r.faces and names(r) == [None])
    for _ in range(3):
        assert names(next_report(qtbot, window)) in ([None], [])
    person = PersonDialog(window.controller.service, "Barack Obama", parent=window)
    with qtbot.waitSignal(person.loaded, timeout=WAIT_MS):
        pass
    assert person.negatives_list.count() == 1 and person.negatives[0].source.startswith("live frame")
    assert person.samples_list.count() == 1
    person.close()

    # "Enrol as new person…": asks a name, enrols through the duplicate gate
    window.ask_name = lambda: "Joe Biden"
    menu = right_click(window, face_point(window))
    assert list(menu) == ["This is…", "Enrol as new person…"]  # unknown now: nobody to say "not"
    with qtbot.waitSignal(window.controller.corrected, timeout=WAIT_MS):
        menu["Enrol as new person…"].trigger()
    assert enrolled(path) == {"Barack Obama": 1, "Joe Biden": 1}
    next_report(qtbot, window, lambda r: names(r) == ["Joe Biden"])

    # enrolling him again under another name is refused as a duplicate; "add as a sample instead"
    asked = []

    def duplicate(name, enrolled_as, distance):
        asked.append((name, enrolled_as, distance))
        return "sample"

    window.ask_name, window.ask_duplicate = (lambda: "Joey"), duplicate
    with qtbot.waitSignal(window.controller.corrected, timeout=WAIT_MS):
        right_click(window, face_point(window))["Enrol as new person…"].trigger()
    assert [(name, who) for name, who, _ in asked] == [("Joey", "Joe Biden")] and asked[0][2] < 0.25
    assert enrolled(path) == {"Barack Obama": 1, "Joe Biden": 2}

    # "This is…" Barack Obama: refused with the distance, declined; then Joe Biden: one more sample
    reasons = []

    def decline(name, reason):
        reasons.append((name, reason))
        return False

    window.ask_person = lambda everyone, current: "Barack Obama"
    window.confirm_same_person = decline
    with qtbot.waitSignal(window.controller.correctionRefused, timeout=WAIT_MS):
        right_click(window, face_point(window))["This is…"].trigger()
    assert reasons[0][0] == "Barack Obama" and "distance" in reasons[0][1]
    assert enrolled(path) == {"Barack Obama": 1, "Joe Biden": 2}

    offered = []
    window.ask_person = lambda everyone, current: offered.append((everyone, current)) or "Joe Biden"
    with qtbot.waitSignal(window.controller.corrected, timeout=WAIT_MS) as said:
        right_click(window, face_point(window))["This is…"].trigger()
    assert offered == [(["Barack Obama", "Joe Biden"], "Joe Biden")]
    assert said.args == ["Added a sample to Joe Biden."]
    assert enrolled(path) == {"Barack Obama": 1, "Joe Biden": 3}
    next_report(qtbot, window, lambda r: names(r) == ["Joe Biden"])

    # confirming a refused "This is…" stores it all the same
    window.ask_person = lambda everyone, current: "Barack Obama"
    window.confirm_same_person = lambda name, reason: True
    with qtbot.waitSignal(window.controller.corrected, timeout=WAIT_MS) as said:
        right_click(window, face_point(window))["This is…"].trigger()
    assert said.args == ["Added a sample to Barack Obama."]
    assert enrolled(path) == {"Barack Obama": 2, "Joe Biden": 3}
