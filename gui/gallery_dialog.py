"""The gallery manager: see, search, rename, delete, add samples to, export and import people.

Every gallery and file call is a method of the recognition service run on a worker
(``gui.workers``); the dialog only shows results, one change at a time. The interactive prompts and the warning display are methods,
so tests (and callers) replace them on an instance instead of patching Qt's static dialogs.

Passphrases are asked on the UI thread, never by a worker: an export's twice before it starts
(an empty one exports plain, after a warning; two that differ are asked again); an import's
when its first try says the file is encrypted, then the import runs again. An import that
meets people already enrolled asks whether to skip them or merge their samples, then runs again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import DuplicateNameError
from core.errors import PassphraseNeededError
from core.errors import WrongPassphraseError
from core.errors import NotThisPersonError
from core.errors import OneShotError
from core.storage.store import ImportCounts

from .imageconv import rgb_to_qimage
from .workers import run_in_background

log = logging.getLogger(__name__)

ICON_SIZE = 96
NAME_ROLE = Qt.ItemDataRole.UserRole
COUNT_ROLE = Qt.ItemDataRole.UserRole + 1
EXPORT_FILTER = "OneShot gallery export (*.zip)"
PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.bmp *.gif *.webp *.tif *.tiff *.pgm);;All files (*)"
EMPTY_TEXT = "Nobody is enrolled yet.\nImport… adds the people of a gallery export."
EXPORT_PASSPHRASE_TEXT = ("A passphrase to encrypt the export with (you need it to import the file).\n"
                          "Leave it empty to export without encryption.")
PASSPHRASES_DIFFER_TEXT = f"The two passphrases differ; type it again.\n\n{EXPORT_PASSPHRASE_TEXT}"
PLAIN_EXPORT_WARNING = ("Export without encryption?\n\nAnyone who gets the file can see every face, name and "
                        "face vector in it. Choose a passphrase unless the file never leaves a safe place.")


def samples_text(count: int) -> str:
    return f"{count} sample{'' if count == 1 else 's'}"


def people_text(count: int) -> str:
    return f"{count} {'person' if count == 1 else 'people'}"


def import_summary(counts: ImportCounts) -> str:
    """What an import did: new people, and what became of those already enrolled."""
    merged_samples = sum(added for _, added in counts.merged)
    text = f"Imported {people_text(counts.people)} ({samples_text(counts.samples - merged_samples)})."
    if counts.skipped:
        text += f" Skipped {people_text(len(counts.skipped))} already enrolled: {', '.join(counts.skipped)}."
    if counts.merged:
        names = ", ".join(name for name, _ in counts.merged)
        text += f" Added {samples_text(merged_samples)} to {names}"
        text += f" ({samples_text(counts.duplicates)} they already had left out)." if counts.duplicates else "."
    return text


def conflict_question(file: str, already: list[str], total: int) -> str:
    """Asked when an import meets people already enrolled: what skipping and merging each do."""
    verb = "is" if len(already) == 1 else "are"
    return (f"{len(already)} of the {people_text(total)} in {file} {verb} already enrolled: {', '.join(already)}.\n\n"
            "Skip them: import only the people who are missing, and leave the others as they are.\n"
            "Merge: also add the file's samples to the people already enrolled (samples they already "
            "have are left out).")


def not_this_person_text(error: NotThisPersonError) -> str:
    """The same-person check's refusal in plain words (the error's own text is for the command line)."""
    return (f"This face does not look like {error.name}: its distance to their samples is {error.distance:.2f}, "
            f"and above {error.tau:.2f} a face counts as someone else.\n\n"
            f"Add it to {error.name} anyway only if it really is them.")


def delete_warning(name: str, samples: int) -> str:
    """The confirmation text: deleting cannot be undone, so say so before it happens."""
    return (f"Delete {name} and {samples_text(samples)}?\n\nThis cannot be undone: the samples are erased "
            "from the gallery file irrecoverably. Export the gallery first to keep a copy.")


def chip_icon(chip: np.ndarray | None) -> QIcon:
    """A person's first chip as an icon; a grey square for someone without samples."""
    if chip is None:
        pixmap = QPixmap(ICON_SIZE, ICON_SIZE)
        pixmap.fill(Qt.GlobalColor.lightGray)
    else:
        pixmap = QPixmap.fromImage(rgb_to_qimage(chip))
    return QIcon(pixmap)


class GalleryDialog(QDialog):
    """Manage the enrolled people of the service's gallery; ``changed`` follows every successful change."""

    changed = Signal()
    loaded = Signal()  # a (re)load has been applied to the list

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._service = service
        self._generation = 0  # the newest load; results of older ones are dropped
        self._busy = False  # one change at a time
        self._writes = False  # whether the running change writes the gallery
        self._select_after_load: str | None = None
        self.setWindowTitle("Gallery")
        self.resize(640, 480)

        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search by name")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.textChanged.connect(self._filter)

        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.list.setGridSize(QSize(ICON_SIZE + 48, ICON_SIZE + 48))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.itemSelectionChanged.connect(self._update_actions)
        self.list.itemDoubleClicked.connect(lambda item: self.open_person(item.data(NAME_ROLE)))

        self.placeholder = QLabel("Reading the gallery…")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel()
        self.status.setWordWrap(True)

        self.rename_button = self._button("Rename…", QKeySequence(Qt.Key.Key_F2),
                                          "Rename the selected person", self.rename_selected)
        self.samples_button = self._button("Samples…", None,
                                           "See, check and remove the selected person's samples", self.open_selected)
        self.add_button = self._button("Add sample…", None, "Add a photo of the selected person",
                                       self.add_sample_to_selected)
        self.delete_button = self._button("Delete…", QKeySequence(QKeySequence.StandardKey.Delete),
                                          "Delete the selected person and every sample, irrecoverably",
                                          self.delete_selected)
        self.export_button = self._button("Export…", None, "Write everyone to a portable file", self.export_all)
        self.import_button = self._button("Import…", None, "Add the people of an exported file", self.import_file)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)

        buttons = QHBoxLayout()
        for button in (self.samples_button, self.rename_button, self.add_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch()
        for button in (self.import_button, self.export_button):
            buttons.addWidget(button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search_box)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.placeholder, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        self.list.hide()  # until the first load says whether anybody is enrolled
        self._update_actions()
        self.refresh()

    def _button(self, text: str, shortcut: QKeySequence | None, tip: str, slot: Callable) -> QPushButton:
        button = QPushButton(text)
        button.setAutoDefault(False)
        if shortcut is not None:
            button.setShortcut(shortcut)
            tip = f"{tip} ({shortcut.toString(QKeySequence.SequenceFormat.NativeText)})"
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- what is shown -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload everyone from the gallery in the background; ``loaded`` follows."""
        self._generation += 1
        generation, service = self._generation, self._service
        run_in_background(lambda: (generation, service.thumbnails()), self._apply, self._load_failed,
                          name="read gallery")

    def _apply(self, result: tuple[int, dict]) -> None:
        generation, thumbnails = result
        if generation != self._generation:
            return
        selected = self._select_after_load or self.selected_name()
        self._select_after_load = None
        self.list.clear()
        for name, (chip, count) in thumbnails.items():
            item = QListWidgetItem(chip_icon(chip), f"{name}\n{samples_text(count)}")
            item.setData(NAME_ROLE, name)
            item.setData(COUNT_ROLE, count)
            item.setToolTip(f"{name}: {samples_text(count)}")
            self.list.addItem(item)
        self._filter(self.search_box.text())
        if selected is not None:
            self.select(selected)
        self.loaded.emit()

    def _load_failed(self, error: Exception) -> None:
        self.placeholder.setText(f"The gallery cannot be read:\n{error}")
        self.placeholder.show()
        self.list.hide()
        self._report(error)

    def visible_names(self) -> list[str]:
        """The names the list shows now (the search hides the others)."""
        items = (self.list.item(row) for row in range(self.list.count()))
        return [item.data(NAME_ROLE) for item in items if not item.isHidden()]

    def selected_name(self) -> str | None:
        """The selected person, or None (nobody selected, or hidden by the search)."""
        items = [item for item in self.list.selectedItems() if not item.isHidden()]
        return items[0].data(NAME_ROLE) if items else None

    def select(self, name: str) -> None:
        """Select ``name`` if the list shows them."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(NAME_ROLE) == name and not item.isHidden():
                self.list.setCurrentItem(item)
                return

    def _filter(self, text: str) -> None:
        needle = text.strip().casefold()
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setHidden(needle not in item.data(NAME_ROLE).casefold())
        self._update_placeholder()
        self._update_actions()

    def _update_placeholder(self) -> None:
        if self.list.count() == 0:
            text = EMPTY_TEXT
        elif not self.visible_names():
            text = f"Nobody's name contains “{self.search_box.text().strip()}”."
        else:
            text = ""
        self.placeholder.setText(text)
        self.placeholder.setVisible(bool(text))
        self.list.setVisible(not text)

    def _update_actions(self) -> None:
        person = not self._busy and self.selected_name() is not None
        self.rename_button.setEnabled(person)
        self.delete_button.setEnabled(person)
        self.add_button.setEnabled(person)
        self.samples_button.setEnabled(person)
        self.export_button.setEnabled(not self._busy and self.list.count() > 0)
        self.import_button.setEnabled(not self._busy)

    def _sample_count(self, name: str) -> int:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(NAME_ROLE) == name:
                return item.data(COUNT_ROLE)
        return 0

    # -- changes: the buttons' slots, also for menus and tests ------------------------------------

    def _start(self, status: str, change: Callable[[], tuple[str, str | None]], writes: bool = True,
               on_failed: Callable[[Exception], None] | None = None) -> None:
        """Run one change in the background; the buttons wait until it is over.

        ``change`` runs on the thread pool and returns (what to say, whom to select); a change
        that ``writes`` the gallery is announced with ``changed`` and followed by a reload.
        """
        self._busy = True
        self._writes = writes
        self.status.setText(status)
        self._update_actions()
        run_in_background(change, self._done, on_failed or self._failed, name="gallery change")

    def _done(self, result: tuple[str, str | None]) -> None:
        message, select = result
        self._busy = False
        self.status.setText(message)
        self._update_actions()
        if self._writes:
            self._select_after_load = select
            self.changed.emit()
            self.refresh()

    def _failed(self, error: Exception) -> None:
        self._idle()
        self._report(error)

    def _idle(self) -> None:
        self._busy = False
        self.status.clear()
        self._update_actions()

    def _report(self, error: Exception) -> None:
        """Core errors say what went wrong in their ``str()``; anything else is a bug, logged in full."""
        if isinstance(error, OneShotError):
            text = str(error)
        else:
            log.error("gallery operation failed", exc_info=error)
            text = (f"Something went wrong ({type(error).__name__}: {error}). "
                    "Nothing was changed; the details are in the log.")
        self.show_warning("Gallery", text)

    def rename_selected(self) -> None:
        """Ask for a new name, then rename in the background (F2)."""
        old, service = self.selected_name(), self._service
        if old is None:
            return
        new = self.ask_new_name(old)
        if new is None or new.strip() == old:
            return

        def rename() -> tuple[str, str]:
            person = service.rename(old, new)
            return f"Renamed {old} to {person.name}.", person.name

        self._start(f"Renaming {old}…", rename)

    def delete_selected(self) -> None:
        """Delete the selected person for good, once confirmed (Del)."""
        name, service = self.selected_name(), self._service
        if name is None or not self.confirm_delete(name):
            return
        self._start(f"Deleting {name}…", lambda: (f"Deleted {name} ({samples_text(service.forget(name))}).", None))

    def add_sample_to_selected(self) -> None:
        """Enrol one more photo of the selected person (detect, quality gate, embed, store)."""
        name = self.selected_name()
        if name is None:
            return
        path = self.ask_open_file(f"A photo of {name}", PHOTO_FILTER)
        if path:
            self._add_sample(name, path, confirmed=False)

    def _add_sample(self, name: str, path: str, confirmed: bool) -> None:
        """Through the same-person check; a refusal asks once whether it really is them."""
        service = self._service

        def add() -> tuple[str, str]:
            service.add_sample(name, path, confirmed=confirmed)
            return f"Added a sample to {name}.", name

        def refused(error: Exception) -> None:
            if isinstance(error, NotThisPersonError) and not confirmed:
                self._idle()
                if self.confirm_same_person(not_this_person_text(error)):
                    self._add_sample(name, path, confirmed=True)
                return
            self._failed(error)

        self._start(f"Adding a sample to {name}…", add, on_failed=refused)

    def open_selected(self):
        """The person view of the selected person (also a double-click on them)."""
        name = self.selected_name()
        return None if name is None else self.open_person(name)

    def open_person(self, name: str):
        """The person view of ``name``: samples with distances, removal, negatives."""
        from .person_dialog import PersonDialog

        dialog = PersonDialog(self._service, name, parent=self)
        dialog.changed.connect(self._person_changed)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _person_changed(self) -> None:
        self._select_after_load = self.selected_name()
        self.changed.emit()
        self.refresh()

    def export_all(self) -> None:
        """Write everyone to a portable file (``.zip`` added when the name has no suffix), encrypted
        with a passphrase asked here, on the UI thread, before the worker starts."""
        chosen = self.ask_save_file("Export the gallery", EXPORT_FILTER)
        if not chosen:
            return
        path = Path(chosen) if Path(chosen).suffix else Path(chosen).with_suffix(".zip")
        passphrase = self._export_passphrase()
        if passphrase is None:
            return
        secret, service = passphrase or None, self._service
        plain = "" if secret else " (not encrypted)"
        self._start(f"Exporting to {path}…",
                    lambda: (f"Exported {samples_text(service.export(path, secret))} to {path}{plain}.", None),
                    writes=False)

    def _export_passphrase(self) -> str | None:
        """Asked twice (a typo would lock the file); "" for a plain export once its warning is
        accepted; None when cancelled."""
        label = EXPORT_PASSPHRASE_TEXT
        while True:
            first = self.ask_passphrase("Export the gallery", label)
            if first is None:
                return None
            if not first:
                return "" if self.confirm_plain_export() else None
            again = self.ask_passphrase("Export the gallery", "The same passphrase again:")
            if again is None:
                return None
            if again == first:
                return first
            label = PASSPHRASES_DIFFER_TEXT

    def import_file(self) -> None:
        """Add the people of an export; people already enrolled are skipped or merged as the user says."""
        chosen = self.ask_open_file("Import a gallery export", EXPORT_FILTER)
        if chosen:
            self._import(Path(chosen), None)

    def _import(self, path: Path, passphrase: str | None, on_conflict: str = "fail") -> None:
        """An encrypted export fails at once without its passphrase (or with a wrong one), and a first
        try fails, writing nothing, on a name already enrolled: the user is asked here, on the UI
        thread, and the import tried again; the worker never waits on a prompt."""
        service = self._service

        def import_() -> tuple[str, None]:
            return import_summary(service.import_archive(path, passphrase, on_conflict=on_conflict)), None

        def refused(error: Exception) -> None:
            if isinstance(error, (PassphraseNeededError, WrongPassphraseError)):
                self._idle()
                question = (f"{path.name} is encrypted. Its passphrase:" if passphrase is None
                            else f"Wrong passphrase for {path.name}; nothing was imported. Try again:")
                answer = self.ask_passphrase("Import a gallery export", question)
                if answer is not None:
                    self._import(path, answer, on_conflict)
                return
            if isinstance(error, DuplicateNameError) and on_conflict == "fail":
                run_in_background(lambda: service.archive_conflicts(path, passphrase),
                                  lambda found: self._resolve_conflict(path, passphrase, *found), self._failed,
                                  name="compare export")
                return
            self._failed(error)

        self._start(f"Importing {path}…", import_, on_failed=refused)

    def _resolve_conflict(self, path: Path, passphrase: str | None, already: list[str], total: int) -> None:
        self._idle()
        choice = self.ask_on_conflict(conflict_question(path.name, already, total))
        if choice is not None:
            self._import(path, passphrase, choice)

    # -- prompts (replace on an instance in tests) ----------------------------------------------

    def ask_on_conflict(self, question: str) -> str | None:
        """"skip" or "merge" for people an import finds already enrolled, or None to import nothing."""
        box = QMessageBox(QMessageBox.Icon.Question, "Import a gallery export", question,
                          QMessageBox.StandardButton.Cancel, self)
        choices = {box.addButton("Skip them", QMessageBox.ButtonRole.AcceptRole): "skip",
                   box.addButton("Merge", QMessageBox.ButtonRole.AcceptRole): "merge"}
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return choices.get(box.clickedButton())

    def confirm_same_person(self, reason: str) -> bool:
        """Asked when a photo added as a sample does not look like the person; Cancel is the default."""
        return self._confirm_risk("Add sample", reason, "Add it anyway")

    def ask_new_name(self, old: str) -> str | None:
        """The new name for ``old``, or None when cancelled."""
        text, ok = QInputDialog.getText(self, "Rename", f"New name for {old}:", QLineEdit.EchoMode.Normal, old)
        return text if ok else None

    def confirm_delete(self, name: str) -> bool:
        """Whether to delete ``name`` for good; Cancel is the default."""
        return self._confirm_risk("Delete person", delete_warning(name, self._sample_count(name)), "Delete")

    def confirm_plain_export(self) -> bool:
        """Whether to write an export anyone can read; Cancel is the default."""
        return self._confirm_risk("Export without encryption", PLAIN_EXPORT_WARNING, "Export unencrypted")

    def _confirm_risk(self, title: str, text: str, action: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Cancel, self)
        accept = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() == accept

    def ask_passphrase(self, title: str, label: str) -> str | None:
        """A passphrase typed hidden (password mode), or None when cancelled."""
        text, ok = QInputDialog.getText(self, title, label, QLineEdit.EchoMode.Password)
        return text if ok else None

    def ask_open_file(self, title: str, file_filter: str) -> str | None:
        """An existing file to read, or None when cancelled."""
        path, _ = QFileDialog.getOpenFileName(self, title, "", file_filter)
        return path or None

    def ask_save_file(self, title: str, file_filter: str) -> str | None:
        """A file to write, or None when cancelled."""
        path, _ = QFileDialog.getSaveFileName(self, title, "", file_filter)
        return path or None

    def show_warning(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)
