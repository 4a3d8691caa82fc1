"""Settings' "More cameras" list: the sources shown beside the main camera in one window.

Each entry is what ``--source`` takes: a webcam number, a video file or image folder, or a
network camera's URL (shown without its password, kept with it).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QMenu, QPushButton, QVBoxLayout, QWidget

from core.live.camera_session import MAX_CAMERAS
from core.redact import redact


def source_label(spec: str, found: list[int] | None = None) -> str:
    """How a source reads in a list: "Camera 1" (with "(not found)" when a search found others), or
    the file, folder or URL, its password hidden."""
    if spec.isascii() and spec.isdigit():
        missing = found is not None and int(spec) not in found
        return f"Camera {spec}{' (not found)' if missing else ''}"
    return redact(spec)


class MoreCamerasEditor(QWidget):
    """A list with Add (a found camera, a network camera, a video or folder) and Remove.

    ``choices()`` gives the menu's entries as (label, spec or prompt key); ``ask(key)`` turns a
    prompt key into a source, or None when the user cancels.
    """

    changed = Signal()

    def __init__(self, cameras: tuple[str, ...], choices: Callable[[], list[tuple[str, str]]],
                 ask: Callable[[str], str | None]) -> None:
        super().__init__()
        self._choices, self._ask = choices, ask
        self.list = QListWidget()
        self.list.setMaximumHeight(90)
        self.list.setToolTip(f"Shown beside the main camera, side by side (up to {MAX_CAMERAS} cameras in all)")
        self.add_button = QPushButton("Add…")
        self.add_menu = QMenu(self.add_button)
        self.add_menu.aboutToShow.connect(self._fill_menu)
        self.add_button.setMenu(self.add_menu)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.currentRowChanged.connect(self._enable)
        buttons = QVBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        for spec in cameras:
            self._append(spec)
        self._enable()

    def cameras(self) -> tuple[str, ...]:
        return tuple(self.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.list.count()))

    def add(self, key: str) -> None:
        """Add the source a menu entry stands for (asking for it where the entry is a prompt)."""
        spec = self._ask(key)
        if spec and spec not in self.cameras() and self.list.count() < MAX_CAMERAS - 1:
            self._append(spec)
            self._enable()
            self.changed.emit()

    def remove_selected(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)
            self._enable()
            self.changed.emit()

    def _append(self, spec: str) -> None:
        item = QListWidgetItem(source_label(spec))
        item.setData(Qt.ItemDataRole.UserRole, spec)  # the source itself, password and all
        self.list.addItem(item)

    def _fill_menu(self) -> None:
        self.add_menu.clear()
        for label, key in self._choices():
            self.add_menu.addAction(label).triggered.connect(lambda _=False, key=key: self.add(key))

    def _enable(self, *_) -> None:
        self.add_button.setEnabled(self.list.count() < MAX_CAMERAS - 1)
        self.remove_button.setEnabled(self.list.currentRow() >= 0)
