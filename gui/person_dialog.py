"""The person view: one person's samples and negatives, to curate what the gallery holds.

Each sample shows its chip, source, date, quality and its distance to the nearest of the
person's other samples; one that does not look like the others (near or above tau) is
flagged amber or red, the colours of the live view. A sample can be removed (never the last:
the core says why) and opened large; the faces marked "not this person" from the live window
are listed below with their own Remove. Every read and write is a service method on a worker;
prompts are methods, so tests replace them on an instance.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import OneShotError

from .imageconv import rgb_to_qimage
from .video_view import confidence_colour
from .workers import run_in_background

log = logging.getLogger(__name__)

CHIP_SIZE = 96
LARGE_SIZE = 450  # a sample opened by double-click: three times the stored 150 px chip
ID_ROLE = Qt.ItemDataRole.UserRole
GREEN = confidence_colour(0.0, 1.0)
TITLE_BAR_BUTTONS = 150  # pixels a title bar's icon and buttons take beside the title
TITLE_PART = 220  # pixels at most of a name or source in a title: longer ones end in "…"


def shown_date(created: str) -> str:
    """The stored ISO time (UTC) to the minute: ``2026-11-23 21:50 UTC``."""
    return f"{created[:16].replace('T', ' ')} UTC"


def sample_text(info, distance: float | None, tau: float) -> str:
    """Source, date, quality and distance to the others, one per line."""
    lines = [info.source, shown_date(info.created), f"quality {info.quality:.2f}"]
    if distance is None:
        pass
    elif math.isinf(distance):
        lines.append("the only sample")
    else:
        flag = "  (unlike the others)" if distance >= tau else ""
        lines.append(f"distance {distance:.2f}{flag}")
    return "\n".join(lines)


def short(widget: QWidget, text: str) -> str:
    """``text`` cut to TITLE_PART pixels, for a title."""
    return widget.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, TITLE_PART)


def set_title(dialog: QDialog, title: str, across: QWidget) -> None:
    """Title ``dialog`` and keep it at least wide enough to show the title whole (``across``: a widget
    spanning the dialog); a window manager cuts a title too long for its window in the middle."""
    dialog.setWindowTitle(title)
    across.setMinimumWidth(max(across.minimumWidth(),
                               dialog.fontMetrics().horizontalAdvance(title) + TITLE_BAR_BUTTONS))


def chip_list() -> QListWidget:
    view = QListWidget()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setIconSize(QSize(CHIP_SIZE, CHIP_SIZE))
    view.setGridSize(QSize(CHIP_SIZE + 90, CHIP_SIZE + 80))
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setMovement(QListView.Movement.Static)
    view.setWordWrap(True)
    return view


class PersonDialog(QDialog):
    """The samples and negatives of ``name``; ``changed`` follows every removal, ``loaded`` every load."""

    changed = Signal()
    loaded = Signal()

    def __init__(self, service, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._service = service
        self.name = name
        self.tau = service.tau
        self._generation = 0
        self._busy = False
        self.samples: list = []  # SampleInfo, as shown
        self.distances: dict[int, float] = {}
        self.negatives: list = []
        self.resize(720, 560)

        self.samples_list = chip_list()
        self.samples_list.itemSelectionChanged.connect(self._update_actions)
        self.samples_list.itemDoubleClicked.connect(lambda item: self.open_sample(item.data(ID_ROLE)))
        self.negatives_list = chip_list()
        self.negatives_list.setMaximumHeight(CHIP_SIZE + 110)
        self.negatives_list.itemSelectionChanged.connect(self._update_actions)
        self.negatives_list.itemDoubleClicked.connect(lambda item: self.open_sample(item.data(ID_ROLE), True))
        self.samples_label = QLabel("Reading the samples…")
        self.negatives_label = QLabel("Not this person")
        for label in (self.samples_label, self.negatives_label):
            label.setWordWrap(True)  # a long name must not widen the dialog past the screen
        self.status = QLabel()
        self.status.setWordWrap(True)
        set_title(self, f"{short(self, name)}: samples", self.samples_list)

        self.remove_button = self._button("Remove sample…", "Delete the selected sample, irrecoverably",
                                          self.remove_selected_sample)
        self.add_masked_button = self._button("Add masked sample…", "A photo of them wearing a mask: masked faces "
                                              "are then compared with it at their own threshold",
                                              self.add_masked_sample)
        self.remove_negative_button = self._button("Remove", "Forget that the selected face is not this person",
                                                   self.remove_selected_negative)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)

        negatives_row = QHBoxLayout()
        negatives_row.addWidget(self.negatives_list, 1)
        negatives_row.addWidget(self.remove_negative_button, 0, Qt.AlignmentFlag.AlignTop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.add_masked_button)
        buttons.addStretch()
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.samples_label)
        layout.addWidget(self.samples_list, 1)
        layout.addWidget(self.negatives_label)
        layout.addLayout(negatives_row)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._update_actions()
        self.refresh()

    def _button(self, text: str, tip: str, slot: Callable) -> QPushButton:
        button = QPushButton(text)
        button.setAutoDefault(False)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- what is shown -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the samples, their distances and the negatives in the background; ``loaded`` follows."""
        self._generation += 1
        generation, service, name = self._generation, self._service, self.name

        def read():
            damaged = []
            samples = service.person_samples(name, damaged)
            return generation, samples, service.sample_distances(name), service.negatives(name), damaged

        run_in_background(read, self._apply, self._report, name="read person")

    def _apply(self, result) -> None:
        generation, samples, distances, negatives, damaged = result
        if generation != self._generation:
            return
        self.samples, self.distances, self.negatives = samples, distances, negatives
        self.tau = self._service.tau
        self.samples_list.clear()
        for info in samples:
            distance = distances.get(info.id)
            item = self._item(info, sample_text(info, distance, self.tau))
            colour = self.flag_colour(distance)
            if colour is not None:
                item.setBackground(QBrush(colour))
                item.setToolTip(f"Sample {info.id} is {distance:.2f} from the nearest other sample "
                                f"(tau {self.tau:.2f}): is it really {self.name}?")
            self.samples_list.addItem(item)
        self.negatives_list.clear()
        for info in negatives:
            self.negatives_list.addItem(self._item(info, f"{info.source}\n{shown_date(info.created)}"))
        count = len(samples)
        hidden = "".join(f"; sample {entry.id} is damaged ({entry.reason}): `oneshot remove-sample {entry.id}` "
                         "removes it" for entry in damaged)
        self.samples_label.setText(f"{self.name}: {count} sample{'' if count == 1 else 's'} "
                                   f"(double-click one to see it large){hidden}")
        self.negatives_label.setText(f"Not {self.name}: {len(negatives)} face{'' if len(negatives) == 1 else 's'} "
                                     "marked from the live window")
        self._update_actions()
        self.loaded.emit()

    def flag_colour(self, distance: float | None):
        """Amber near tau, red at or above it (as the live view colours a match); None otherwise."""
        if distance is None or math.isinf(distance):
            return None
        colour = confidence_colour(distance, self.tau)
        return None if colour == GREEN else colour

    def _item(self, info, text: str) -> QListWidgetItem:
        item = QListWidgetItem(QPixmap.fromImage(rgb_to_qimage(info.chip)), text)
        item.setData(ID_ROLE, info.id)
        return item

    def _selected(self, view: QListWidget) -> int | None:
        items = view.selectedItems()
        return items[0].data(ID_ROLE) if items else None

    def select_sample(self, sample_id: int) -> None:
        self._select(self.samples_list, sample_id)

    def select_negative(self, negative_id: int) -> None:
        self._select(self.negatives_list, negative_id)

    def _select(self, view: QListWidget, chip_id: int) -> None:
        for row in range(view.count()):
            if view.item(row).data(ID_ROLE) == chip_id:
                view.setCurrentItem(view.item(row))
                return

    def _update_actions(self) -> None:
        self.remove_button.setEnabled(not self._busy and self._selected(self.samples_list) is not None)
        self.remove_negative_button.setEnabled(not self._busy and self._selected(self.negatives_list) is not None)
        self.add_masked_button.setEnabled(not self._busy)

    def open_sample(self, chip_id: int, negative: bool = False) -> QDialog | None:
        """A sample (or negative) shown large, with what is known of it."""
        infos = self.negatives if negative else self.samples
        info = next((info for info in infos if info.id == chip_id), None)
        if info is None:
            return None
        dialog = QDialog(self)
        picture = QLabel()
        picture.setPixmap(QPixmap.fromImage(rgb_to_qimage(info.chip)).scaled(
            LARGE_SIZE, LARGE_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        text = QLabel(sample_text(info, None if negative else self.distances.get(info.id), self.tau))
        set_title(dialog, f"{'Not ' if negative else ''}{short(self, self.name)}: {short(self, info.source)}", text)
        layout = QVBoxLayout(dialog)
        layout.addWidget(picture)
        layout.addWidget(text)
        dialog.picture = picture
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # -- changes -----------------------------------------------------------------------------

    def remove_selected_sample(self) -> None:
        """Delete the selected sample once confirmed; the core refuses the last one and says why."""
        sample_id = self._selected(self.samples_list)
        if sample_id is None or not self.confirm_remove_sample(sample_id):
            return
        service = self._service
        self._start(f"Removing sample {sample_id}…", lambda: service.remove_sample(sample_id),
                    lambda person: f"Removed sample {sample_id}; {person.name} has {person.samples} left.")

    def add_masked_sample(self) -> None:
        """A photo of the person wearing a mask, as a masked sample (refused if no mask is seen)."""
        photo = self.choose_photo()
        if not photo:
            return
        service, name = self._service, self.name
        self._start("Adding the masked sample…", lambda: service.add_sample(name, photo, masked=True),
                    lambda result: f"Added a masked sample; {result.person.name} has {result.person.samples} samples.")

    def remove_selected_negative(self) -> None:
        negative_id = self._selected(self.negatives_list)
        if negative_id is None or not self.confirm_remove_negative(negative_id):
            return
        service = self._service
        self._start("Removing…", lambda: service.remove_negative(negative_id),
                    lambda person: f"{person.name} may be named again where that face was.")

    def _start(self, status: str, change: Callable, say: Callable) -> None:
        self._busy = True
        self.status.setText(status)
        self._update_actions()
        run_in_background(change, lambda result: self._done(say(result)), self._failed, name="person change")

    def _done(self, message: str) -> None:
        self._busy = False
        self.status.setText(message)
        self._update_actions()
        self.changed.emit()
        self.refresh()

    def _failed(self, error: Exception) -> None:
        self._busy = False
        self.status.clear()
        self._update_actions()
        self._report(error)

    def _report(self, error: Exception) -> None:
        if isinstance(error, OneShotError):
            text = str(error)
        else:
            log.error("person view operation failed", exc_info=error)
            text = f"Something went wrong ({type(error).__name__}: {error}). The details are in the log."
        self.show_warning(self.name, text)

    # -- prompts (replace on an instance in tests) ----------------------------------------------

    def confirm_remove_sample(self, sample_id: int) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, "Remove sample",
                          f"Remove this sample of {self.name}?\n\nThis cannot be undone: the sample is erased "
                          "from the gallery file irrecoverably.", QMessageBox.StandardButton.Cancel, self)
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() == remove

    def confirm_remove_negative(self, negative_id: int) -> bool:
        answer = QMessageBox.question(self, "Remove", f"Forget that this face is not {self.name}?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def choose_photo(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self, f"Masked photo of {self.name}", "",
                                              "Images (*.jpg *.jpeg *.png *.bmp *.webp *.pgm *.tif *.tiff)")
        return path

    def show_warning(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)
