"""Enroll from webcam (live preview, quality hints, best-of-burst capture) or from a photo.

The dialog only shows and asks; the live controller's service detects, checks quality
(best of a burst), embeds and writes the gallery, off the UI thread. Two pages: the live preview with its hints and a Capture button, then
the chosen chip with the name field, a warning if the face resembles someone enrolled, and
Enroll.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.errors import InputError
from core.gallery import clean_name

from .imageconv import rgb_to_qimage
from .video_view import NEUTRAL, Overlay, VideoView


class EnrollDialog(QDialog):
    """``photo`` None: enrol from the running camera; else from that photo file."""

    finished_enrolment = Signal(object)  # EnrolmentResult

    def __init__(self, controller, photo: str | None = None, parent=None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.candidate = None
        self.setWindowTitle("Enroll from photo" if photo else "Enroll from webcam")
        self.pages = QStackedWidget()
        self.pages.addWidget(self._preview_page())
        self.pages.addWidget(self._confirm_page())
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        layout.addWidget(self.status)
        self._connections = [(controller.candidateReady, self._show_candidate),
                             (controller.enrolFailed, self._show_error), (controller.enrolled, self._done)]
        if not photo:
            self._connections += [(controller.enrolFrame, self._show_preview),
                                  (controller.cameraLost, self._camera_lost)]
        for signal, slot in self._connections:
            signal.connect(slot)
        if photo:
            self.status.setText("Looking at the photo…")
            self.pages.setCurrentIndex(1)
            controller.preview_photo(photo)
        else:
            controller.set_enrolling(True)

    def _preview_page(self) -> QWidget:
        page = QWidget()
        self.preview = VideoView()
        self.preview.guide = True
        self.preview.show_message("Waiting for the camera…")
        self.hints = QLabel("Look into the camera")
        self.hints.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.hints.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.hints.setFont(font)
        self.capture = QPushButton("Capture")
        self.capture.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.capture.setToolTip("Takes the best of a short burst of good frames (Space)")
        self.capture.setEnabled(False)
        self.capture.clicked.connect(self._capture)
        layout = QVBoxLayout(page)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.hints)
        layout.addWidget(self.capture)
        return page

    def _confirm_page(self) -> QWidget:
        page = QWidget()
        self.chip = QLabel()
        self.chip.setFixedSize(150, 150)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Name")
        self.name.textChanged.connect(self._validate)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #c77700")
        self.buttons = QDialogButtonBox()
        self.enrol_button = self.buttons.addButton("Enroll", QDialogButtonBox.ButtonRole.AcceptRole)
        self.retake = self.buttons.addButton("Retake", QDialogButtonBox.ButtonRole.ResetRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.enrol_button.setEnabled(False)
        self.enrol_button.clicked.connect(self._enrol)
        self.retake.clicked.connect(self._retake)
        self.buttons.rejected.connect(self.reject)
        fields = QVBoxLayout()
        fields.addWidget(QLabel("Who is this?"))
        fields.addWidget(self.name)
        fields.addWidget(self.warning)
        fields.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.chip)
        row.addLayout(fields, 1)
        layout = QVBoxLayout(page)
        layout.addLayout(row)
        layout.addWidget(self.buttons)
        return page

    # -- engine results ----------------------------------------------------------------------

    def _show_preview(self, image, view) -> None:
        if self.pages.currentIndex() != 0:
            return
        overlays = [Overlay(view.face.box, NEUTRAL)] if view.face is not None else []
        self.preview.show_frame(image, overlays)
        good = view.report is not None and view.report.ok
        self.capture.setEnabled(good)
        self.hints.setText("Good: press Capture" if good else " · ".join(h.capitalize() for h in view.hints))

    def _capture(self) -> None:
        self.capture.setEnabled(False)
        self.status.setText("Hold still…")
        self.controller.capture_burst()

    def _show_candidate(self, report) -> None:
        self.candidate = report.candidate
        self.chip.setPixmap(QPixmap.fromImage(rgb_to_qimage(report.candidate.chip)))
        self.warning.setText(
            f"This face resembles {report.similar.name} (distance {report.similar.distance:.2f}). "
            "Enroll only if this is a different person." if report.similar else "")
        self.status.setText(f"Quality {report.candidate.quality.score:.2f}")
        self.pages.setCurrentIndex(1)
        self.name.setFocus()
        self._validate()

    def _camera_lost(self, message: str) -> None:
        self.preview.show_message(f"{message}\nWaiting for the camera…")
        self.capture.setEnabled(False)

    def _show_error(self, message: str) -> None:
        self.status.setText(message)
        if self.pages.currentIndex() == 0:
            self.capture.setEnabled(True)

    def _validate(self) -> None:
        try:
            clean_name(self.name.text())
        except InputError as error:
            self.enrol_button.setEnabled(False)
            self.enrol_button.setToolTip(str(error))
            return
        self.enrol_button.setEnabled(self.candidate is not None)
        self.enrol_button.setToolTip("")

    def _enrol(self) -> None:
        self.enrol_button.setEnabled(False)
        self.status.setText("Saving…")
        self.controller.commit_enrolment(self.name.text(), self.candidate, force=bool(self.warning.text()))

    def _done(self, result) -> None:
        self.finished_enrolment.emit(result)
        self.accept()

    def _retake(self) -> None:
        self.candidate = None
        self.pages.setCurrentIndex(0)
        self.status.setText("")

    def done(self, code: int) -> None:
        """Leaving the dialog, whichever way: the live view goes back to identifying."""
        self.controller.set_enrolling(False)
        for signal, slot in self._connections:
            signal.disconnect(slot)
        self._connections = []
        super().done(code)
