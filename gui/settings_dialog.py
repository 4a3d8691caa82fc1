"""The settings dialog: recognition threshold, detector thresholds, camera, runtime and gallery.

It edits a copy of a ``Settings`` and hands it back from ``settings()``; saving and applying
are the caller's job. Each value is explained where it is set, tau in plain words that
follow the slider, because its effect is the least obvious.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.live.camera import is_stream_url, list_cameras
from core.live.camera_session import MAX_CAMERAS
from core.storage.sealing import read_protection
from core.storage.sqlite import SqliteDatabase, default_gallery_path
from core.storage.postgres import is_postgres_location
from core.models.registry import find_model, shipped_model
from core.settings import Settings
from core.vision.pipeline import LIVE_DETECTORS, STILLS_DETECTOR

from .camera_list import MoreCamerasEditor, source_label
from .workers import run_in_background

log = logging.getLogger(__name__)

TAU_MIN, TAU_MAX = 0.10, 0.80
RESOLUTIONS = [(640, 480), (1280, 720), (1920, 1080)]
LIVE_DETECTOR_LABELS = {"yunet-n": "YuNet-n: fast (more cameras at full rate)",
                        "centerface": "CenterFace: slower, names more masked faces"}
PROVIDERS = [("auto", "Automatic"), ("cuda", "CUDA (NVIDIA GPU)"), ("cpu", "CPU")]
CHOOSE_SOURCE = "\0choose"  # combo data of the "Video file or image folder…" entry; no real source
CHOOSE_STREAM = "\0stream"  # combo data of the "Network camera…" entry
VIDEO_PATTERNS = "*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv"
IMAGE_PATTERNS = "*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff *.pgm *.gif"
VIDEO_FILTER = f"Videos ({VIDEO_PATTERNS})"
FOLDER_FILTER = f"Image folder: pick any image in it ({IMAGE_PATTERNS})"
DEMO_SOURCE_FILTER = f"Videos, or any image of a folder ({VIDEO_PATTERNS} {IMAGE_PATTERNS});;{VIDEO_FILTER};;" \
                     f"{FOLDER_FILTER};;All files (*)"


def demo_source_from_choice(path: str) -> str:
    """A chosen image stands for its folder (played as a camera); anything else is a video file."""
    suffixes = {pattern[1:] for pattern in IMAGE_PATTERNS.split()}
    return str(Path(path).parent) if Path(path).suffix.lower() in suffixes else path


def model_defaults() -> dict[str, float]:
    """The shipped models' own values, shown when the user has not chosen one (no second copy here)."""
    return {**shipped_model(STILLS_DETECTOR, "detect").defaults, "tau": find_model("embed").defaults["tau"]}


def explain_tau(tau: float, calibrated: float) -> str:
    """What tau means at this value, for someone who never heard of embeddings.

    ``calibrated`` is the active model's own tau (a fine-tuned model brings its own).
    """
    if tau < 0.25:
        verdict = "Very strict: even the same person in other light or pose will often stay Unknown."
    elif tau < calibrated - 0.03:
        verdict = f"Strict: safer than the model's calibrated {calibrated:.2f}, at the cost of more Unknown faces."
    elif tau <= calibrated + 0.03:
        verdict = f"Balanced: close to the model's calibrated {calibrated:.2f}."
    elif tau <= max(0.50, calibrated + 0.1):
        verdict = "Lenient: more faces get a name, and look-alikes may get the wrong one."
    else:
        verdict = "Very lenient: different people will often be given each other's names."
    return (f"A face gets a name when its distance to that person is below {tau:.2f};\n"
            "otherwise it is shown as Unknown.\n"
            f"Lower: fewer wrong names, more Unknown. Higher: more names, more of them wrong.\n{verdict}")


def gallery_problem(text: str) -> str:
    """Why a typed gallery location cannot be used, or "" (the string alone; no disk access)."""
    if not text or is_postgres_location(text):
        return ""
    if not Path(text).expanduser().is_absolute():
        return "the gallery location must be a full path (or empty for the default)"
    if text.endswith(("/", "\\")):
        return "the gallery location names a folder: add a file name, such as gallery.db"
    return ""


def describe_gallery_protection(location: str) -> str:
    """How the gallery file at ``location`` is protected, read without opening or creating it
    (on a worker: it reads the file)."""
    path = Path(location).expanduser()
    if not path.exists():
        return "new gallery: encrypted with a key"
    db = SqliteDatabase(path, readonly=True)
    try:
        protection = read_protection(db)
    finally:
        db.close()
    return protection.describe() if protection is not None else "not encrypted"


class SettingsDialog(QDialog):
    """Edit a ``Settings``; ``settings()`` returns the edited copy, ``window`` untouched.

    ``provider_reason`` says why the running app uses the provider it does (from
    ``core.models.runtime``), shown beside the provider choice. ``playing``: the source the window
    plays now (a video given at start, say), shown as the camera; the saved camera changes only
    when another one is chosen.
    """

    def __init__(self, settings: Settings, provider_reason: str = "", parent: QWidget | None = None,
                 calibrated_tau: float | None = None, protection: str = "", playing: str | None = None) -> None:
        super().__init__(parent)
        self._original = settings
        self._protection = protection
        self._defaults = model_defaults()
        self._calibrated_tau = self._defaults["tau"] if calibrated_tau is None else calibrated_tau
        self._tau_hand_set = settings.tau is not None
        self._camera = playing or settings.camera
        self._playing = self._camera  # settings() keeps the saved camera while this one is left chosen
        self._cameras: list[int] | None = None  # None while the probe runs
        self._resolutions = list(RESOLUTIONS)
        if tuple(settings.resolution) not in self._resolutions:
            self._resolutions.append(tuple(settings.resolution))
        self.setWindowTitle("Settings")

        self.tau_slider = QSlider(Qt.Orientation.Horizontal)
        self.tau_slider.setRange(round(TAU_MIN * 100), round(TAU_MAX * 100))
        self.tau_spin = self._spin(TAU_MIN, TAU_MAX, 0.01, settings.effective_tau(self._calibrated_tau),
                                   "Distance threshold tau: squared distance between face descriptors")
        self.tau_slider.setValue(round(self.tau_spin.value() * 100))
        self.tau_slider.setToolTip(self.tau_spin.toolTip())
        self.tau_explanation = QLabel()  # lines broken by hand: a wrapped label in a form gets clipped
        self.tau_calibrated = QLabel()
        self.use_calibrated = QPushButton(f"Use calibrated ({self._calibrated_tau:.2f})")
        self.use_calibrated.setAutoDefault(False)
        self.use_calibrated.setToolTip("Follow the face model's own threshold, also after switching models")
        self.use_calibrated.clicked.connect(self.take_calibrated_tau)
        values = [step / 100 for step in range(round(TAU_MIN * 100), round(TAU_MAX * 100) + 1)]
        _hold_width(self.tau_explanation, [explain_tau(value, self._calibrated_tau) for value in values])
        _hold_width(self.tau_calibrated, [f"Yours: {value:.2f}; the face model's calibrated value is "
                                          f"{self._calibrated_tau:.2f}." for value in values])
        self.tau_slider.valueChanged.connect(self._tau_slid)
        self.tau_spin.valueChanged.connect(self._tau_changed)

        self.score_spin = self._spin(0.05, 0.95, 0.05, self._value(settings, "score_threshold"),
                                     "Detector score threshold (Pc): a face is kept when the detector is at least "
                                     "this sure. Lower finds smaller, blurred or turned faces, and more false ones.")
        self.nms_spin = self._spin(0.05, 0.95, 0.05, self._value(settings, "nms_threshold"),
                                   "Overlap threshold (IoU) for non-maximum suppression: of two boxes overlapping "
                                   "more than this, only the surer one is kept. Lower merges more boxes; higher "
                                   "keeps faces close together apart but may leave double boxes.")

        self.live_detector_combo = QComboBox()
        for detector_id, label in LIVE_DETECTOR_LABELS.items():
            self.live_detector_combo.addItem(label, detector_id)
        self.live_detector_combo.setCurrentIndex(self.live_detector_combo.findData(settings.live_detector or
                                                                                   LIVE_DETECTORS[0]))
        self.live_detector_combo.setToolTip(
            "The detector of the live view. YuNet takes a third of CenterFace's time, so more cameras keep their "
            "full rate; CenterFace, which photos and enrolment always use, names more masked faces live.")

        self.camera_combo = QComboBox()
        self.camera_combo.currentIndexChanged.connect(self._camera_chosen)
        self.camera_status = QLabel("searching for cameras…")
        self.more_cameras = MoreCamerasEditor(settings.more_cameras, self._source_choices, self._source_for)
        self.more_cameras.changed.connect(self._check)
        self.more_cameras.changed.connect(self._explain_camera_limit)
        self._explain_camera_limit()
        self.resolution_combo = QComboBox()
        for width, height in self._resolutions:
            self.resolution_combo.addItem(f"{width} × {height}")
        self.resolution_combo.setCurrentIndex(self._resolutions.index(tuple(settings.resolution)))
        self.resolution_combo.setToolTip("Asked of webcams; a camera may deliver another size")

        self.provider_combo = QComboBox()
        for value, label in PROVIDERS:
            self.provider_combo.addItem(label, value)
        self.provider_combo.setCurrentIndex(self.provider_combo.findData(settings.provider))
        self.provider_combo.setToolTip("Where the networks run; Automatic takes CUDA when it works, else the CPU")
        self.provider_reason = QLabel(provider_reason)
        self.provider_reason.setWordWrap(True)
        self.provider_reason.setVisible(bool(provider_reason))

        self.gallery_edit = QLineEdit(settings.gallery)
        self.gallery_edit.setPlaceholderText(str(default_gallery_path()))
        self.gallery_edit.setClearButtonEnabled(True)
        self.gallery_edit.setToolTip("The gallery file; empty for the default location shown")
        self.choose_gallery_button = QPushButton("Choose…")
        self.choose_gallery_button.setAutoDefault(False)
        self.choose_gallery_button.clicked.connect(self._choose_gallery)
        self.gallery_edit.editingFinished.connect(self._describe_protection)

        self.protection = QLabel(protection or "(shown once the gallery is open)")
        self.protection.setToolTip("Change it with `oneshot gallery encrypt | decrypt | rekey`")
        self.liveness_check = QCheckBox("Check that each face is live (a photo or screen shows \"Photo?\", never a name)")
        self.liveness_check.setToolTip("On by default. Each new face is checked over its first frames; enrolling "
                                       "from the webcam or a photo refuses a face that looks like a photo or a screen.")
        self.liveness_check.setChecked(settings.liveness)
        self.retention_check = QCheckBox("Forget people not seen for")
        self.retention_check.setToolTip("Off by default. The people the camera has not identified in this many days "
                                        "are deleted with every sample, and the deletion is kept in the history")
        self.retention_days = QSpinBox()
        self.retention_days.setRange(1, 3650)
        self.retention_days.setSuffix(" days")
        self.retention_days.setValue(round(settings.retention_days) if settings.retention_days else 90)
        self.retention_check.setChecked(settings.retention_days is not None)
        self.retention_days.setEnabled(self.retention_check.isChecked())
        self.retention_check.toggled.connect(self.retention_days.setEnabled)

        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Recognition threshold (tau):", _row(self.tau_slider, self.tau_spin))
        form.addRow("", _row(self.tau_calibrated, self.use_calibrated))
        form.addRow(self.tau_explanation)
        form.addRow("Photos held up:", self.liveness_check)
        form.addRow("Detector score (Pc):", self.score_spin)
        form.addRow("Box overlap (NMS IoU):", self.nms_spin)
        form.addRow("Live detector:", self.live_detector_combo)
        form.addRow("Camera:", _row(self.camera_combo, self.camera_status))
        form.addRow("More cameras:", self.more_cameras)
        form.addRow("Resolution:", self.resolution_combo)
        form.addRow("Execution provider:", _row(self.provider_combo, self.provider_reason))
        form.addRow("Gallery file:", _row(self.gallery_edit, self.choose_gallery_button))
        form.addRow("Protection:", self.protection)
        form.addRow("Retention:", _row(self.retention_check, self.retention_days))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

        for signal in (self.score_spin.valueChanged, self.nms_spin.valueChanged, self.gallery_edit.textChanged,
                       self.resolution_combo.currentIndexChanged, self.provider_combo.currentIndexChanged,
                       self.live_detector_combo.currentIndexChanged):
            signal.connect(self._check)
        self._fill_cameras()
        self._show_tau(self.tau_spin.value())
        run_in_background(list_cameras, self._cameras_found, self._camera_probe_failed, name="find cameras")

    def _value(self, settings: Settings, name: str) -> float:
        chosen = getattr(settings, name)
        return self._defaults[name] if chosen is None else chosen

    def _chosen(self, name: str, spin: QDoubleSpinBox) -> float | None:
        """None (the model's value) unless the user set one or moved it off the model's."""
        value = round(spin.value(), 2)
        untouched = getattr(self._original, name) is None and value == round(self._defaults[name], 2)
        return None if untouched else value

    @staticmethod
    def _spin(low: float, high: float, step: float, value: float, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setDecimals(2)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    def settings(self) -> Settings:
        """The edited settings (not validated: OK is disabled while they are invalid)."""
        gallery = self.gallery_edit.text().strip()
        return replace(
            self._original,
            tau=round(self.tau_spin.value(), 2) if self._tau_hand_set else None,
            score_threshold=self._chosen("score_threshold", self.score_spin),
            nms_threshold=self._chosen("nms_threshold", self.nms_spin),
            camera=self._original.camera if self._camera == self._playing else self._camera,
            more_cameras=self.more_cameras.cameras(),
            resolution=self._resolutions[self.resolution_combo.currentIndex()],
            provider=self.provider_combo.currentData() or "",
            gallery=gallery if is_postgres_location(gallery) or not gallery else str(Path(gallery).expanduser()),
            retention_days=self._retention(),
            liveness=self.liveness_check.isChecked(),
            live_detector=self._live_detector(),
        )

    def _live_detector(self) -> str | None:
        """The chosen live detector; the default stays None (unset) unless the user picked another."""
        chosen = self.live_detector_combo.currentData()
        return None if chosen == LIVE_DETECTORS[0] and self._original.live_detector is None else chosen

    def _retention(self) -> float | None:
        """The period in days, None when off; a fractional period set elsewhere is kept if untouched."""
        if not self.retention_check.isChecked():
            return None
        kept = self._original.retention_days
        return kept if kept is not None and round(kept) == self.retention_days.value() else \
            float(self.retention_days.value())

    def take_calibrated_tau(self) -> None:
        """Back to the model's own tau: kept in step with the model from now on."""
        self.tau_spin.setValue(self._calibrated_tau)
        self._tau_hand_set = False
        self._show_tau(self.tau_spin.value())

    def _tau_slid(self, value: int) -> None:
        # Only a real move reaches the spin box: re-setting the value it already has would
        # rewrite its text under the cursor, and a typed "0.15" would end as "0.10".
        if round(self.tau_spin.value() * 100) != value:
            self.tau_spin.setValue(value / 100)

    def _tau_changed(self, value: float) -> None:
        self._tau_hand_set = True
        self.tau_slider.setValue(round(value * 100))
        self._show_tau(value)

    def _show_tau(self, value: float) -> None:
        self.tau_explanation.setText(explain_tau(value, self._calibrated_tau))
        self.tau_calibrated.setText(
            f"Yours: {value:.2f}; the face model's calibrated value is {self._calibrated_tau:.2f}."
            if self._tau_hand_set else f"The face model's calibrated value ({self._calibrated_tau:.2f}).")
        self.use_calibrated.setEnabled(self._tau_hand_set)
        self._check()

    def _check(self) -> None:
        """Disable OK, saying why, while the edited settings cannot be used."""
        try:
            self.settings().validated()
            problem = gallery_problem(self.gallery_edit.text().strip())
        except ValueError as error:
            problem = str(error)
        self.problem.setText(f"Cannot save: {problem}." if problem else "")
        self.problem.setVisible(bool(problem))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)

    # -- camera --------------------------------------------------------------------------------

    def _cameras_found(self, indices: list[int]) -> None:
        self._cameras = indices
        self.camera_status.setText(f"found: {', '.join(map(str, indices))}" if indices else "no camera found")
        self._fill_cameras()

    def _camera_probe_failed(self, error: Exception) -> None:
        log.warning("probing for cameras failed", exc_info=error)
        self._cameras = []
        self.camera_status.setText(f"cannot search for cameras ({error})")
        self._fill_cameras()

    def _fill_cameras(self) -> None:
        """Found cameras, the current source (even if not found now), then the file choice."""
        entries = self._source_choices()
        if self._camera not in {value for _, value in entries}:  # a file, folder or URL: no password shown
            entries.insert(0, (source_label(self._camera, self._cameras), self._camera))
        self.camera_combo.blockSignals(True)
        self.camera_combo.clear()
        for label, value in entries:
            self.camera_combo.addItem(label, value)
        self.camera_combo.setCurrentIndex(self.camera_combo.findData(self._camera))
        self.camera_combo.blockSignals(False)

    def _source_choices(self) -> list[tuple[str, str]]:
        """The cameras found, then the prompts for a network camera and for a file or folder (the
        camera combo's entries and the More cameras menu's)."""
        return [(f"Camera {index}", str(index)) for index in self._cameras or []] + [
            ("Network camera (RTSP or HTTP URL)…", CHOOSE_STREAM), ("Video file or image folder…", CHOOSE_SOURCE)]

    def _source_for(self, value: str) -> str | None:
        """A chosen entry as a source: the prompt's answer for a prompt (None: cancelled)."""
        if value == CHOOSE_SOURCE:
            return self.ask_camera_source()
        if value == CHOOSE_STREAM:
            return self.ask_stream_url()
        return value

    def _camera_chosen(self, index: int) -> None:
        self._camera = self._source_for(self.camera_combo.itemData(index)) or self._camera
        self._fill_cameras()
        self._check()

    def _choose_gallery(self) -> None:
        path = self.ask_gallery_file()
        if path:
            self.gallery_edit.setText(path)
            self._describe_protection()

    def _describe_protection(self) -> None:
        """Protection describes the gallery chosen now, read on a worker; a server's once it is open."""
        location = self.gallery_edit.text().strip()
        if location == self._original.gallery or gallery_problem(location) or is_postgres_location(location):
            self.protection.setText(self._protection or "(shown once the gallery is open)")
            return
        self.protection.setText("…")

        def show(text: str) -> None:
            if self.gallery_edit.text().strip() == location:  # not a location typed since
                self.protection.setText(text)

        run_in_background(lambda: describe_gallery_protection(location or str(default_gallery_path())), show,
                          lambda error: show(f"cannot be read ({error})"), name="read gallery protection")

    def _explain_camera_limit(self) -> None:
        add = self.more_cameras.add_button
        add.setToolTip("" if add.isEnabled() else
                       f"At most {MAX_CAMERAS} cameras in one window: remove one to add another")

    # -- prompts (replace on an instance in tests) ----------------------------------------------

    def ask_stream_url(self) -> str | None:
        """A network camera's URL (rtsp://user:password@host/path, http://host/video.mjpg); None when cancelled."""
        while True:
            text, ok = QInputDialog.getText(self, "Network camera", "Stream URL (RTSP, or HTTP MJPEG):",
                                            QLineEdit.EchoMode.Normal, "rtsp://")
            if not ok:
                return None
            if is_stream_url(text) and text.split("://", 1)[1].strip():
                return text.strip()
            QMessageBox.warning(self, "Network camera", "Give an rtsp://, rtsps://, http:// or https:// URL.")

    def ask_camera_source(self) -> str | None:
        """A video file, or the folder of the image picked; None when cancelled."""
        path, chosen_filter = QFileDialog.getOpenFileName(self, "Video file or image folder", "",
                                                          f"{VIDEO_FILTER};;{FOLDER_FILTER}")
        if not path:
            return None
        return str(Path(path).parent) if chosen_filter == FOLDER_FILTER else path

    def ask_gallery_file(self) -> str | None:
        """A gallery file, new or existing; None when cancelled."""
        start = self.gallery_edit.text() or self.gallery_edit.placeholderText()
        path, _ = QFileDialog.getSaveFileName(self, "Gallery file", start, "OneShot gallery (*.db);;All files (*)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        return path or None


def _hold_width(label: QLabel, texts: list[str]) -> None:
    """As wide as the widest of ``texts`` from the start: typing tau must not widen the dialog (OK would move)."""
    metrics = label.fontMetrics()
    label.setMinimumWidth(max(metrics.horizontalAdvance(line) for text in texts for line in text.splitlines()))


def _row(*widgets: QWidget) -> QWidget:
    """Widgets side by side in one form cell."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return row
