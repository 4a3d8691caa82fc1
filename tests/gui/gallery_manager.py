"""The gallery manager's test vocabulary: the people enrolled, their faces, and prompts answered
by the test (shared by test_dialogs.py and test_gallery_restore.py; the fixtures are in conftest.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from core.storage.repository import Gallery
from gui.gallery_dialog import GalleryDialog
from core.vision.imaging import load_image

EVERYONE = {"Barack Obama": 2, "Joe Biden": 1, "Kit Harington": 1}
PASSPHRASE = "correct horse battery staple"


def face(pipeline, photo: Path) -> tuple[np.ndarray, np.ndarray]:
    """The chip and vector of the (only) face in a photo."""
    image = load_image(photo)
    chip = pipeline.align(image.pixels, pipeline.detect(image.pixels))[0]
    return chip, pipeline.embed(chip[None])[0]


def enrolled(path: Path) -> dict[str, int]:
    """name -> sample count, read through a connection of its own."""
    with Gallery(path) as gallery:
        return {person.name: person.samples for person in gallery.people()}


def unexpected(prompt: str):
    def fail(*args):
        raise AssertionError(f"{prompt}{args} was not expected")
    return fail


class Answers:
    """A prompt replaced by the test: gives ``replies`` in turn and records each question
    (title, label); answering off the UI thread fails the test, so no worker ever waits on one."""

    def __init__(self, *replies) -> None:
        self.replies, self.asked = list(replies), []

    def __call__(self, *question):
        assert threading.current_thread() is threading.main_thread(), f"{question} asked off the UI thread"
        self.asked.append(question)
        return self.replies.pop(0)


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.text()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def refused(qtbot, dialog: GalleryDialog, button) -> str:
    """Click ``button``, expecting the change to fail; the one warning shown."""
    with qtbot.assertNotEmitted(dialog.changed):
        click(qtbot, button)
        qtbot.waitUntil(lambda: len(dialog.warnings) > 0)
    assert len(dialog.warnings) == 1 and button.isEnabled()
    return dialog.warnings.pop()
