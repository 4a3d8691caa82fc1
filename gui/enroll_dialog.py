"""Enroll from webcam (live preview, quality hints, auto-capture) or from a photo.

The dialog only shows and asks; the live controller's service detects, checks quality
(best of a burst), embeds and writes the gallery, off the UI thread. Three pages:
- the live preview with its hints; once the quality gate has passed for AUTO_CAPTURE_FRAMES
  frames in a row the best of a short burst is captured by itself (Capture or Space too).
  "Guided: 3 views" asks for a straight view, then a little to one side and to the other
  (the landmarks' yaw tells), and stores the three as samples of one person;
- a group photo with its faces boxed and numbered: click the one to enrol;
- the chosen chip with the name field and Enroll (Enter). A name already enrolled adds the
  face as a sample of that person. The gates are the command line's: a face closer than
  duplicate_tau to someone enrolled is refused unless the user says it is a different person
  (or adds it as a sample of them instead); one resembling someone below tau is a warning; a
  sample farther than tau from its person is refused with the distance unless confirmed.
After enrolling, the main window's status bar says so ("Enrolled X with 1 sample").
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.errors import NotThisPersonError
from core.errors import InputError
from core.storage.names import clean_name, name_key
from core.live.match import Match
from core.vision.embed import distance
from core.vision.quality import STRAIGHT, turned

from .imageconv import rgb_to_qimage
from .video_view import NEUTRAL, Overlay, VideoView

# Good frames in a row before capture starts by itself: at the 8-15 frames/s the enrolment
# preview runs at on a laptop CPU that is about a second of holding still, long enough not
# to fire on a face passing through, short enough not to feel like waiting.
AUTO_CAPTURE_FRAMES = 8
PREVIEW, CONFIRM, CHOOSE = 0, 1, 2  # the pages
MESSAGE_MS = 8000  # how long the status bar shows the confirmation
VIEW_PROMPTS = ("Look straight into the camera", "Turn your head a little to one side",
                "Now a little to the other side")
VIEW_CHIP = 56  # pixels, the captured views shown while guiding
IDLE_TEXT = "Hold still to capture"
OTHER_PERSON = ("This is not the person of the first view: ask them to step back in front of the camera, "
                "or start again")


def samples_text(count: int) -> str:
    return f"{count} sample{'s' if count != 1 else ''}"


class FacePicker(VideoView):
    """A still photo with its faces boxed and numbered; a click on a face emits its number (from 1)."""

    picked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.faces = []

    def show_faces(self, image, faces) -> None:
        self.faces = list(faces)
        self.show_frame(image, [Overlay(face.box, NEUTRAL, str(number)) for number, face in enumerate(faces, 1)])

    def image_point(self, position: QPointF) -> tuple[float, float] | None:
        """A widget position in image pixels (None outside the image)."""
        target = self.image_rect()
        if self.image is None or not target.contains(position):
            return None
        scale = target.width() / self.image.width()
        return (position.x() - target.x()) / scale, (position.y() - target.y()) / scale

    def face_at(self, position: QPointF) -> int | None:
        """The number of the face under ``position``: the smallest box holding it, if several do."""
        point = self.image_point(position)
        if point is None:
            return None
        x, y = point
        inside = [(face.area, number) for number, face in enumerate(self.faces, 1)
                  if face.box[0] <= x <= face.box[2] and face.box[1] <= y <= face.box[3]]
        return min(inside)[1] if inside else None

    def widget_point(self, number: int) -> QPointF:
        """The centre of face ``number`` on the widget (where a click chooses it)."""
        x1, y1, x2, y2 = self.faces[number - 1].box
        target = self.image_rect()
        scale = target.width() / self.image.width()
        return QPointF(target.x() + (x1 + x2) / 2 * scale, target.y() + (y1 + y2) / 2 * scale)

    def mousePressEvent(self, event) -> None:
        number = self.face_at(event.position())
        if number is not None and event.button() == Qt.MouseButton.LeftButton:
            self.picked.emit(number)
        else:
            super().mousePressEvent(event)


class EnrollDialog(QDialog):
    """``photo`` None: enrol from the running camera; else from that photo file."""

    finished_enrolment = Signal(object)  # EnrolmentResult

    def __init__(self, controller, photo: str | None = None, parent=None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.from_photo = bool(photo)
        self.candidate = None
        self.similar = None  # the Match of someone enrolled the candidate resembles
        self.duplicate = False  # ... closer than duplicate_tau: a new person only if the user says so
        self.refused: NotThisPersonError | None = None  # the last sample refused as far from its person
        self.enrolled_names: dict[str, str] = {}  # name_key -> name, of everyone enrolled
        self.photo_image = None  # a group photo's LoadedImage, while its faces are offered
        self.good_run = 0  # good preview frames in a row
        self.capturing = False  # a burst was asked for and its candidate has not come yet
        self.adding_to: str | None = None  # the person the last commit added a sample to
        self.views = []  # a guided enrolment's candidates so far
        self.first_view = None  # ... and the CandidateReady of its first (whom it resembles)
        self.setWindowTitle("Enroll from photo" if photo else "Enroll from webcam")
        self.pages = QStackedWidget()
        self.pages.addWidget(self._preview_page())
        self.pages.addWidget(self._confirm_page())
        self.pages.addWidget(self._choose_page())
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        layout.addWidget(self.status)
        self.enrol_button.setDefault(True)  # Enter enrols; set once the button is inside the dialog
        self._connections = [(controller.candidateReady, self._show_candidate),
                             (controller.enrolFailed, self._show_error), (controller.enrolled, self._done),
                             (controller.enrolRefused, self._refused), (controller.namesListed, self._names_listed)]
        if photo:
            self._connections.append((controller.facesFound, self._show_faces))
        else:
            self._connections += [(controller.enrolFrame, self._show_preview),
                                  (controller.cameraLost, self._camera_lost)]
        for signal, slot in self._connections:
            signal.connect(slot)
        controller.list_enrolled()
        if photo:
            self.status.setText("Looking at the photo…")
            self.pages.setCurrentIndex(CONFIRM)
            self.retake.hide()  # until a group photo offers other faces
            controller.preview_photo(photo)
        else:
            controller.set_enrolling(True)

    # -- pages -------------------------------------------------------------------------------

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
        self.auto_capture = QCheckBox("Capture automatically")
        self.auto_capture.setChecked(True)
        self.auto_capture.setToolTip(f"Captures by itself once the face has been good for {AUTO_CAPTURE_FRAMES} "
                                     "frames in a row")
        self.auto_capture.toggled.connect(self._auto_toggled)
        self.countdown = QProgressBar()
        self.countdown.setRange(0, AUTO_CAPTURE_FRAMES)
        self.countdown.setValue(0)
        self.countdown.setFormat(IDLE_TEXT)
        # wide enough for its longest text on one line: a narrow bar wraps "Capturing in 1…"
        metrics = self.countdown.fontMetrics()
        self.countdown.setMinimumWidth(max(metrics.horizontalAdvance(text) for text in (
            IDLE_TEXT, f"Capturing in {AUTO_CAPTURE_FRAMES}…")) + 4 * metrics.averageCharWidth())
        self.guided = QCheckBox(f"Guided: {len(VIEW_PROMPTS)} views")
        self.guided.setToolTip("Straight, a little to one side, a little to the other: three samples that "
                               "recognise the person from more angles")
        self.guided.toggled.connect(self._guided_toggled)
        self.view_prompt = QLabel()
        self.view_prompt.setWordWrap(True)
        self.view_progress = QProgressBar()
        self.view_progress.setRange(0, len(VIEW_PROMPTS))
        self.view_progress.setFormat(f"%v of {len(VIEW_PROMPTS)} views")
        self.view_chips = [QLabel() for _ in VIEW_PROMPTS]
        guide_row = QHBoxLayout()
        guide_row.addStretch(1)
        for chip in self.view_chips:
            chip.setFixedSize(VIEW_CHIP, VIEW_CHIP)
            chip.setFrameShape(QLabel.Shape.Box)
            guide_row.addWidget(chip)
        guide_row.addWidget(self.view_progress)
        self.capture_view = QPushButton("Capture this view")
        self.capture_view.setToolTip("For someone who cannot turn their head: takes the view as it is, "
                                     "without waiting for the turn asked for")
        self.start_again = QPushButton("Start again")
        self.start_again.setToolTip("Forget the views captured so far")
        for button, slot in ((self.capture_view, lambda: self._capture(None)), (self.start_again, self._retake)):
            button.setAutoDefault(False)
            button.setEnabled(False)
            button.clicked.connect(slot)
        guide_buttons = QVBoxLayout()
        guide_buttons.addWidget(self.capture_view)
        guide_buttons.addWidget(self.start_again)
        guide_row.addLayout(guide_buttons)
        self.guide_panel = QWidget()
        guide = QVBoxLayout(self.guide_panel)
        guide.addWidget(self.view_prompt)  # on its own line: a refusal there takes two
        guide.addLayout(guide_row)
        self.guide_panel.hide()
        self.capture = QPushButton("Capture")
        self.capture.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.capture.setToolTip("Takes the best of a short burst of good frames (Space)")
        self.capture.setEnabled(False)
        self.capture.setAutoDefault(False)  # Space captures; Enter is for Enroll
        self.capture.clicked.connect(lambda: self._capture(self.view_pose()))
        row = QHBoxLayout()
        row.addWidget(self.auto_capture)
        row.addWidget(self.guided)
        row.addWidget(self.countdown, 1)
        row.addWidget(self.capture)
        layout = QVBoxLayout(page)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.guide_panel)
        layout.addWidget(self.hints)
        layout.addLayout(row)
        return page

    def _confirm_page(self) -> QWidget:
        page = QWidget()
        self.chip = QLabel()
        self.chip.setFixedSize(150, 150)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Name (an enrolled name adds a sample to them)")
        self.name.textChanged.connect(self._name_changed)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #c77700")
        self.different = QCheckBox("This is a different person")
        self.different.setToolTip("Enroll this face under a new name even though it looks like someone enrolled")
        self.different.toggled.connect(self._validate)
        self.masked = QCheckBox("Masked sample: they wear a mask in this view")
        self.masked.setToolTip("Masked faces are then compared with it at their own threshold; a face without a "
                               "mask is refused as a masked sample")
        self.masked.hide()
        self.as_sample = QPushButton("Add as a sample instead")
        self.as_sample.clicked.connect(self._add_as_sample)
        self.confirm_same = QPushButton("Yes, this is them")
        self.confirm_same.clicked.connect(self._confirm_same_person)
        for button in (self.as_sample, self.confirm_same):
            button.setAutoDefault(False)  # Enter is for Enroll
        for widget in (self.different, self.as_sample, self.confirm_same):
            widget.hide()
        self.buttons = QDialogButtonBox()
        self.enrol_button = self.buttons.addButton("Enroll", QDialogButtonBox.ButtonRole.AcceptRole)
        self.retake = self.buttons.addButton("Retake", QDialogButtonBox.ButtonRole.ResetRole)
        self.retake.setAutoDefault(False)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel).setAutoDefault(False)
        self.enrol_button.setEnabled(False)
        self.enrol_button.clicked.connect(self._enrol)
        self.retake.clicked.connect(self._retake)
        self.buttons.rejected.connect(self.reject)
        fields = QVBoxLayout()
        fields.addWidget(QLabel("Who is this?"))
        fields.addWidget(self.name)
        fields.addWidget(self.warning)
        fields.addWidget(self.different)
        fields.addWidget(self.masked)
        fields.addWidget(self.as_sample)
        fields.addWidget(self.confirm_same)
        fields.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.chip, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(fields, 1)
        layout = QVBoxLayout(page)
        layout.addLayout(row)
        layout.addWidget(self.buttons)
        return page

    def _choose_page(self) -> QWidget:
        page = QWidget()
        self.picker = FacePicker()
        self.picker.picked.connect(self.choose_face)
        self.choose_hint = QLabel()
        self.choose_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        cancel = QPushButton("Cancel")
        cancel.setAutoDefault(False)
        cancel.clicked.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.choose_hint, 1)
        row.addWidget(cancel)
        layout = QVBoxLayout(page)
        layout.addWidget(self.picker, 1)
        layout.addLayout(row)
        return page

    # -- the live preview and capture ------------------------------------------------------------

    def _show_preview(self, image, view) -> None:
        if self.pages.currentIndex() != PREVIEW:
            return
        overlays = [Overlay(view.face.box, NEUTRAL)] if view.face is not None else []
        self.preview.show_frame(image, overlays)
        good = view.report is not None and view.report.ok
        pose = self.view_pose()
        ready = good and (pose is None or pose.holds(view.report.yaw))
        if self.capturing:
            return
        self.good_run = self.good_run + 1 if ready else 0
        self.capture.setEnabled(ready)
        self.capture_view.setEnabled(good)
        automatic = self.auto_capture.isChecked()
        self.countdown.setValue(min(self.good_run, AUTO_CAPTURE_FRAMES))
        self.countdown.setFormat(f"Capturing in {AUTO_CAPTURE_FRAMES - self.good_run}…" if self.good_run
                                 else IDLE_TEXT)
        if ready:
            self.hints.setText("Good: hold still" if automatic else "Good: press Capture")
        elif good:
            self.hints.setText(VIEW_PROMPTS[len(self.views)])
        else:
            self.hints.setText(" · ".join(h.capitalize() for h in view.hints))
        if automatic and self.good_run >= AUTO_CAPTURE_FRAMES:
            self._capture(pose)

    def _auto_toggled(self, on: bool) -> None:
        self.countdown.setVisible(on)
        self.good_run = 0
        self.countdown.setValue(0)

    def view_pose(self):
        """The head turn the next guided view asks for (None: not guided)."""
        if not self.guided.isChecked():
            return None
        if not self.views:
            return STRAIGHT
        if len(self.views) == 1:
            return turned()
        return turned(-1 if self.views[1].quality.yaw > 0 else 1)  # the side not yet taken

    def _guided_toggled(self, on: bool) -> None:
        self.guide_panel.setVisible(on)
        self._show_views()

    def _show_views(self) -> None:
        self.view_progress.setValue(len(self.views))
        if len(self.views) < len(VIEW_PROMPTS):
            self.view_prompt.setText(f"View {len(self.views) + 1} of {len(VIEW_PROMPTS)}: "
                                     f"{VIEW_PROMPTS[len(self.views)].lower()}")
        for n, chip in enumerate(self.view_chips):
            chip.setPixmap(QPixmap.fromImage(rgb_to_qimage(self.views[n].chip)).scaled(
                VIEW_CHIP, VIEW_CHIP, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
                if n < len(self.views) else QPixmap())
        self.guided.setEnabled(not self.views)  # switching mode halfway would mix the two
        self.start_again.setEnabled(bool(self.views))
        self.good_run = 0

    def _capture(self, pose) -> None:
        """The best of a burst of good frames turned as ``pose`` asks (None: as they come)."""
        self.capturing = True
        for button in (self.capture, self.capture_view):
            button.setEnabled(False)
        self.countdown.setValue(AUTO_CAPTURE_FRAMES)
        self.countdown.setFormat("Capturing…")
        self.hints.setText("Hold still…")
        self.status.setText("Capturing the best of a short burst…")
        self.controller.capture_burst(pose)

    def _end_capture(self) -> None:
        self.capturing = False
        self.good_run = 0
        self.countdown.setValue(0)
        self.countdown.setFormat(IDLE_TEXT)

    def _camera_lost(self, message: str) -> None:
        self.preview.show_message(f"{message}\nWaiting for the camera…")
        for button in (self.capture, self.capture_view):
            button.setEnabled(False)
        self.good_run = 0

    # -- a group photo -------------------------------------------------------------------------

    def _show_faces(self, image, loaded, faces) -> None:
        """Several faces in the photo: show them numbered and let a click choose."""
        self.photo_image = loaded
        self.picker.show_faces(image, faces)
        self.choose_hint.setText(f"{len(faces)} faces in this photo: click the one to enroll (or type its number)")
        self.status.setText("")
        self.retake.setText("Choose another face")
        self.retake.show()
        self.pages.setCurrentIndex(CHOOSE)

    def keyPressEvent(self, event) -> None:
        """On a group photo, a face's number chooses it too."""
        text = event.text()
        if self.pages.currentIndex() == CHOOSE and text.isdigit() and 1 <= int(text) <= len(self.picker.faces):
            self.choose_face(int(text))
            return
        super().keyPressEvent(event)

    def choose_face(self, number: int) -> None:
        """Enrol face ``number`` (from 1) of the group photo."""
        self.status.setText(f"Looking at face {number}…")
        self.controller.preview_photo(self.photo_image, face_number=number)

    # -- the candidate -------------------------------------------------------------------------

    def _show_candidate(self, report) -> None:
        if self.capturing:
            self._end_capture()
        if self.guided.isChecked() and not self.from_photo:
            if not self._same_person(report.candidate):
                self.view_prompt.setText(OTHER_PERSON)  # stays until a view is taken or they start again
                self.status.setText("View not stored")
                return
            self.views.append(report.candidate)
            self.first_view = self.first_view or report
            self._show_views()
            if len(self.views) < len(VIEW_PROMPTS):
                self.status.setText(f"View {len(self.views)} captured")
                return
            report = self.first_view  # the first view is the one checked against the gallery
            self.status.setText(f"{len(self.views)} views captured")
        self.candidate = report.candidate
        self.similar, self.duplicate = report.similar, report.duplicate
        self.refused = None
        self.chip.setPixmap(QPixmap.fromImage(rgb_to_qimage(report.candidate.chip)))
        self.different.setChecked(False)
        if not self.views:
            self.status.setText(f"Quality {report.candidate.quality.score:.2f}")
        self.pages.setCurrentIndex(CONFIRM)
        self.name.setFocus()
        self._show_gates()

    def _same_person(self, candidate) -> bool:
        """A later guided view must show the face of the first one (closer than tau), or views would mix people."""
        if not self.views:
            return True
        return distance(candidate.embedding, self.views[0].embedding) < self.controller.service.tau

    def _show_gates(self) -> None:
        """The warning and the choices that go with the candidate and the name typed."""
        similar, name = self.similar, self.name.text().strip()
        same_as_similar = similar is not None and name_key(name) == name_key(similar.name)
        self.confirm_same.setVisible(self.refused is not None)
        if self.refused is not None:
            who = self.refused.name
            self.warning.setText(f"This face does not look like {who} (distance {self.refused.distance:.2f}, "
                                 f"above tau {self.refused.tau:.2f}). Add it only if it really is {who}.")
            self.confirm_same.setText(f"Yes, this is {who}")
        elif similar is None or same_as_similar:
            self.warning.setText("")
        elif self.duplicate:
            self.warning.setText(f"This face is already enrolled as {similar.name} (distance "
                                 f"{similar.distance:.2f}). Add it as a sample of {similar.name}, or enroll it "
                                 "under a new name only if this is a different person.")
        else:
            self.warning.setText(f"This face resembles {similar.name} (distance {similar.distance:.2f}). "
                                 "Enroll only if this is a different person.")
        offer = self._offers_choice()
        self.different.setVisible(offer)
        self.as_sample.setVisible(offer)
        if similar is not None:
            self.as_sample.setText(f"Add as a sample of {similar.name} instead")
        self._validate()

    def _offers_choice(self) -> bool:
        """A duplicate of someone else than the name typed: a new person only if the user says so."""
        if not self.duplicate or self.refused is not None or self.similar is None:
            return False
        return name_key(self.name.text().strip()) != name_key(self.similar.name)

    def _names_listed(self, names: list[str]) -> None:
        self.enrolled_names = {name_key(name): name for name in names}
        completer = QCompleter(names, self.name)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.name.setCompleter(completer)
        self._validate()

    def _name_changed(self) -> None:
        self.refused = None  # a refusal was about the name typed before
        self._show_gates()

    def adding_sample_to(self) -> str | None:
        """The enrolled person the typed name names, if any: Enroll then adds a sample to them."""
        try:
            return self.enrolled_names.get(name_key(clean_name(self.name.text())))
        except InputError:
            return None

    def _validate(self) -> None:
        try:
            clean_name(self.name.text())
        except InputError as error:
            self.enrol_button.setEnabled(False)
            self.enrol_button.setToolTip(str(error))
            return
        person = self.adding_sample_to()
        self.enrol_button.setText(f"Add to {person}" if person else "Enroll")
        self.masked.setVisible(person is not None and not self.views)  # one view, to someone enrolled
        if not self.masked.isVisible():
            self.masked.setChecked(False)
        blocked = self._offers_choice() and not self.different.isChecked()
        self.enrol_button.setEnabled(self.candidate is not None and not blocked and self.refused is None)
        self.enrol_button.setToolTip(f"Already enrolled as {self.similar.name}: tick \"This is a different "
                                     "person\", or add it as a sample instead" if blocked else "")

    def _commit(self, name: str, add_sample: bool, confirmed: bool = False) -> None:
        for widget in (self.enrol_button, self.as_sample, self.confirm_same):
            widget.setEnabled(False)
        self.adding_to = name if add_sample else None
        self.status.setText("Saving…")
        candidate = list(self.views) if self.views else self.candidate
        self.controller.commit_enrolment(name, candidate, force=self.different.isChecked(),
                                         add_sample=add_sample, confirmed=confirmed,
                                         masked=add_sample and self.masked.isChecked())

    def _enrol(self) -> None:
        if not self.enrol_button.isEnabled():
            return
        person = self.adding_sample_to()
        self._commit(person or self.name.text(), add_sample=person is not None)

    def _add_as_sample(self) -> None:
        """The duplicate is the enrolled person it resembles: one more sample of them (same gates)."""
        self._commit(self.similar.name, add_sample=True)

    def _confirm_same_person(self) -> None:
        self._commit(self.refused.name, add_sample=True, confirmed=True)

    def _refused(self, error) -> None:
        """A gate refused the commit: say why and offer to overrule it."""
        for widget in (self.as_sample, self.confirm_same):
            widget.setEnabled(True)
        self.status.setText("Not saved.")
        if isinstance(error, NotThisPersonError):
            self.refused = error
        else:  # AlreadyEnrolledError: someone was enrolled with this face meanwhile
            self.similar = Match(error.name, error.distance, ())
            self.duplicate = True
        self._show_gates()

    def _show_error(self, message: str) -> None:
        self.status.setText(message)
        for widget in (self.as_sample, self.confirm_same):
            widget.setEnabled(True)
        if self.pages.currentIndex() == PREVIEW:
            self._end_capture()
        else:
            self._validate()

    def confirmation(self, result) -> str:
        """What the status bar says after a commit."""
        person = result.person
        # a masked face stored as a plain sample: say so
        note = " (the face looked masked: a photo without a mask makes a better sample)" if result.warning else ""
        if self.adding_to is not None:
            added = f"{len(self.views)} samples" if len(self.views) > 1 else "a sample"
            return f"Added {added} to {person.name} (now {samples_text(person.samples)}){note}"
        return f"Enrolled {person.name} with {samples_text(person.samples)}{note}"

    def _done(self, result) -> None:
        message = self.confirmation(result)
        window = self.parent()
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(message, MESSAGE_MS)
        self.status.setText(message)
        self.finished_enrolment.emit(result)
        self.accept()

    def _retake(self) -> None:
        self.candidate = None
        self.refused = None
        self.views, self.first_view = [], None
        self._show_views()
        if self.from_photo:  # a group photo: choose another of its faces
            self.pages.setCurrentIndex(CHOOSE)
            self.status.setText("")
            return
        self._end_capture()
        self.pages.setCurrentIndex(PREVIEW)
        self.status.setText("")

    def done(self, code: int) -> None:
        """Leaving the dialog, whichever way: the live view goes back to identifying."""
        self.controller.set_enrolling(False)
        for signal, slot in self._connections:
            signal.disconnect(slot)
        self._connections = []
        super().done(code)
