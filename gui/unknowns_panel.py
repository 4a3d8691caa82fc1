"""Who's this? A side panel listing the people the live view saw but could not name.

The groups live in the recognition service, in memory only (nothing biometric is written
before the user names someone); this dock only shows them. It takes a snapshot at most once a
second while frames arrive (a cheap copy under a lock, on the UI thread) and redraws only when
the groups changed. Name…, Add to… and Forget go through the ``LiveController`` on workers;
a refusal the user may overrule (a face already enrolled as someone else, or far from the
person it is added to) is asked about once, then sent again with the user's word.
"""

from __future__ import annotations

import time
from datetime import datetime

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import AlreadyEnrolledError

from .gallery_dialog import chip_icon
from .live_controller import LiveController

REFRESH_SECONDS = 1.0  # the list follows the live loop at most this often
ICON_SIZE = 64
EMPTY_TEXT = "Nobody unknown so far.\nFaces the live view cannot name are grouped here, in memory only."


def seen_text(count: int) -> str:
    return f"seen {count} time{'s' if count != 1 else ''}"


class UnknownsPanel(QDockWidget):
    """The "Who's this?" dock over a ``LiveController``; ``refreshed`` follows every redraw."""

    refreshed = Signal()

    def __init__(self, controller: LiveController, parent: QWidget | None = None) -> None:
        super().__init__("Who's this?", parent)
        self.setObjectName("unknowns-dock")
        self.controller = controller
        self._revision: int | None = None
        self._last_refresh = -REFRESH_SECONDS
        self._busy = False
        self.list = QListWidget()
        self.list.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        # Entries fit the panel's width however narrow it is made: long lines are cut short
        # with "…" (the whole text is the tooltip), never scrolled sideways.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setWordWrap(True)
        self.list.itemSelectionChanged.connect(self._update_actions)
        self.placeholder = QLabel(EMPTY_TEXT)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.name_button = self._button("Name…", "Enrol this person under a name, with their best faces",
                                        self.name_selected)
        self.add_button = self._button("Add to…", "Add these faces to someone already enrolled", self.add_selected)
        self.forget_button = self._button("Forget", "Drop this person from the list; nothing is stored",
                                          self.forget_selected)
        buttons = QHBoxLayout()
        for button in (self.name_button, self.add_button, self.forget_button):
            buttons.addWidget(button)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self.setWidget(body)
        controller.frameProcessed.connect(self._on_frame)
        controller.unknownsChanged.connect(self.refresh)
        controller.unknownStored.connect(self._stored)
        controller.unknownRefused.connect(self._refused)
        controller.unknownFailed.connect(self._failed)
        self._show([])

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- the list ------------------------------------------------------------------------------

    def _on_frame(self, *_frame) -> None:
        if time.monotonic() - self._last_refresh >= REFRESH_SECONDS:
            self.refresh(force=False)

    def refresh(self, force: bool = True) -> None:
        """Show the groups as they are now; unless ``force``, only if they changed."""
        self._last_refresh = time.monotonic()
        revision, groups = self.controller.unknown_groups()
        if not force and revision == self._revision:
            return
        self._revision = revision
        self._show(groups)

    def _show(self, groups) -> None:
        selected = self.selected_group()
        self.list.clear()
        for group in groups:
            last = datetime.fromtimestamp(group.last_seen).strftime("%H:%M:%S")
            item = QListWidgetItem(chip_icon(group.best.chip),
                                   f"Unknown person {group.group_id}\n{seen_text(group.count)}\nlast at {last}")
            item.setToolTip(item.text())
            item.setData(Qt.ItemDataRole.UserRole, group.group_id)
            self.list.addItem(item)
            if group.group_id == selected:
                item.setSelected(True)
                self.list.setCurrentItem(item)
        self.list.setVisible(bool(groups))
        self.placeholder.setVisible(not groups)
        self._update_actions()
        self.refreshed.emit()

    def group_ids(self) -> list[int]:
        return [self.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.list.count())]

    def selected_group(self) -> int | None:
        items = self.list.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def select(self, group_id: int) -> None:
        for row, known in enumerate(self.group_ids()):
            if known == group_id:
                self.list.setCurrentRow(row)

    def _update_actions(self) -> None:
        chosen = self.selected_group() is not None and not self._busy and self.controller.service is not None
        for button in (self.name_button, self.add_button, self.forget_button):
            button.setEnabled(chosen)

    # -- actions -------------------------------------------------------------------------------

    def name_selected(self) -> None:
        group_id = self.selected_group()
        if group_id is None:
            return
        name = self.ask_name(group_id)
        if name and name.strip():
            self._start(f"Enrolling {name.strip()}…")
            self.controller.name_unknown_group(group_id, name.strip())

    def add_selected(self) -> None:
        group_id = self.selected_group()
        if group_id is None:
            return
        self._start("Listing the people enrolled…")
        self.controller.enrolled_names_for(lambda names: self._add_to_chosen(group_id, names))

    def _add_to_chosen(self, group_id: int, names: list[str]) -> None:
        self._finish("")
        if not names:
            self.show_warning("Add to…", "Nobody is enrolled yet: use Name… to enrol this person.")
            return
        name = self.ask_person(group_id, names)
        if name:
            self._start(f"Adding to {name}…")
            self.controller.add_unknown_group_to(group_id, name)

    def forget_selected(self) -> None:
        group_id = self.selected_group()
        if group_id is not None:
            self._start("Forgetting…")
            self.controller.forget_unknown_group(group_id)

    def _start(self, status: str) -> None:
        self._busy = True
        self.status.setText(status)
        self._update_actions()

    def _finish(self, status: str) -> None:
        self._busy = False
        self.status.setText(status)
        self._update_actions()

    def _stored(self, result) -> None:
        samples = result.person.samples
        self._finish(f"{result.person.name} now has {samples} sample{'s' if samples != 1 else ''}.")

    def _refused(self, group_id: int, name: str, refusal) -> None:
        self._finish("")
        if isinstance(refusal, AlreadyEnrolledError):
            question = f"{refusal}\n\nEnrol them as {name} all the same (they really are different people)?"
            if self.ask_confirm(question):
                self._start(f"Enrolling {name}…")
                self.controller.name_unknown_group(group_id, name, force=True)
        elif self.ask_confirm(f"{refusal}\n\nAdd these faces to {name} all the same?"):
            self._start(f"Adding to {name}…")
            self.controller.add_unknown_group_to(group_id, name, confirmed=True)

    def _failed(self, message: str) -> None:
        self._finish("")
        self.refresh()  # a group may be gone (dropped for newer ones) since it was chosen
        self.show_warning("Who's this?", message)

    # -- prompts (replace on an instance in tests) ----------------------------------------------

    def ask_name(self, group_id: int) -> str | None:
        """The name to enrol unknown person ``group_id`` under, or None when cancelled."""
        text, ok = QInputDialog.getText(self, "Name this person", f"Who is unknown person {group_id}?",
                                        QLineEdit.EchoMode.Normal, "")
        return text if ok else None

    def ask_person(self, group_id: int, names: list[str]) -> str | None:
        """The enrolled person to add unknown person ``group_id`` to, or None when cancelled."""
        name, ok = QInputDialog.getItem(self, "Add to…", f"Unknown person {group_id} is:", names, 0, False)
        return name if ok else None

    def ask_confirm(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Who's this?", question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def show_warning(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)
