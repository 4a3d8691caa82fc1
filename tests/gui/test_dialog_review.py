"""Every dialog on a small screen (800x600) and a large one (1920x1080): it fits, and no text in
it is cut off (issue 24: clipped entries, titles and messages). ``python -m gui.screenshots``
grabs the same review as pictures into resources/screenshots/review/."""

from __future__ import annotations

import pytest
from camera_frames import WAIT_MS
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

from core.vision.imaging import load_image
from gui.main_window import PassphraseDialog

SCREENS = [QSize(800, 600), QSize(1920, 1080)]
DIALOGS = ["settings", "gallery", "person", "history", "training", "model-import", "enroll-from-photo", "passphrase"]


def opened(qtbot, window, name: str, photo):
    def person():
        manager = window.open_gallery()
        qtbot.waitUntil(lambda: "Kit Harington" in manager.visible_names())
        return manager.open_person("Kit Harington")

    def passphrase():
        dialog = PassphraseDialog("This gallery is protected by a passphrase. Type it to open the gallery.", window)
        dialog.open()
        return dialog

    return {"settings": window.open_settings, "gallery": window.open_gallery, "person": person,
            "history": window.open_history, "training": window.open_training,
            "model-import": window.open_model_import, "passphrase": passphrase,
            "enroll-from-photo": lambda: window.enroll_from_photo(str(photo))}[name]()


def clipped(dialog: QWidget) -> list[str]:
    """The texts of visible labels and buttons narrower than their text needs (one line each,
    or for a wrapped label, shorter than the height its text needs at its width)."""
    found = []
    for widget in dialog.findChildren(QWidget):
        if not widget.isVisibleTo(dialog) or not isinstance(widget, (QLabel, QAbstractButton)):
            continue
        text = widget.text()
        if not text or (isinstance(widget, QLabel) and widget.textFormat() != 0 and "<" in text):
            continue  # rich text lays itself out
        if isinstance(widget, QLabel) and widget.wordWrap():
            if widget.height() + 1 < widget.heightForWidth(widget.width()):
                found.append(text)
        elif widget.width() + 1 < widget.sizeHint().width():
            found.append(text)
    return found


def enrolled_kit(window, photo) -> None:
    """One person in the window's gallery, so the person view has samples to show."""
    service = window.controller.service
    service.commit_enrolment("Kit Harington", service.preview_enrolment(load_image(photo)).candidate)


@pytest.mark.parametrize("screen", SCREENS, ids=lambda size: f"{size.width()}x{size.height()}")
@pytest.mark.parametrize("name", DIALOGS)
def test_each_dialog_fits_the_screen_with_no_text_cut_off(make_window, people, qtbot, name, screen):
    window = make_window(None)
    qtbot.waitUntil(lambda: window.controller.service is not None, timeout=WAIT_MS)  # the models are loaded
    window.resize(screen)
    if name == "person":
        enrolled_kit(window, people["kit_harington"][0])
    dialog = opened(qtbot, window, name, people["kit_harington"][1])
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT_MS)
    minimum = dialog.minimumSizeHint().expandedTo(dialog.minimumSize())
    assert minimum.width() <= screen.width() and minimum.height() <= screen.height(), (name, minimum)
    dialog.resize(dialog.sizeHint().boundedTo(screen).expandedTo(minimum))
    qtbot.waitUntil(lambda: dialog.size().width() >= minimum.width(), timeout=WAIT_MS)
    assert clipped(dialog) == [], name
    dialog.close()


@pytest.mark.parametrize("screen", SCREENS, ids=lambda size: f"{size.width()}x{size.height()}")
def test_the_main_window_shows_its_text_whole(make_window, qtbot, screen):
    window = make_window(None)
    qtbot.waitUntil(lambda: window.controller.service is not None, timeout=WAIT_MS)
    window.resize(screen)
    qtbot.waitUntil(lambda: window.size() == screen, timeout=WAIT_MS)
    assert clipped(window) == []
