"""Tools > Import a face model…: the dialog form of ``oneshot models import``.

The user names an ONNX file, its licence and the faces to calibrate on (a folder of people or
the gallery's own samples); the check, the calibration and the registration run on a worker
(``RecognitionService.import_model``), so the window stays live. The outcome shows the new model's tau
and accuracy beside the shipped model's on the same faces; nothing changes in the running app
until the user ticks "Use this model now" and closes. A refusal says why, and nothing is
registered.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.errors import InputError
from core.evaluation import METRIC_LABELS
from core.training.importing import Framing
from core.vision.align import TEMPLATES
from core.vision.network_input import channel_values

from .faces_source import FacesSource
from .live_controller import describe
from .workers import Worker

AUTOMATIC = "From the input size (112: ArcFace, 150: dlib)"


def typed_channels(text: str, what: str) -> tuple[float, float, float] | None:
    """A mean or std field (numbers apart by commas or spaces); None when it is empty."""
    parts = text.replace(",", " ").split()
    if not parts:
        return None
    try:
        return channel_values(parts)
    except ValueError:
        raise InputError(f"{what} must be one number or three (R G B), not {text!r}") from None


def comparison_html(spec) -> str:
    """The imported model's tau and figures beside the shipped model's, on the same faces (the
    shipped model's best threshold there is its tau's counterpart, as in ``oneshot models``)."""
    metrics = spec.details["metrics"]
    shipped, imported, data = metrics["before"], metrics["after"], metrics["calibration"]
    rows = [("tau", shipped["threshold"], spec.defaults["tau"])]
    rows += [(label, shipped[key], imported[key]) for key, label in METRIC_LABELS
             if key != "threshold" and key in shipped and key in imported]
    cells = "".join(f"<tr><td>{html.escape(label)}</td><td align='right'>{before:.4f}</td>"
                    f"<td align='right'>{after:.4f}</td></tr>" for label, before, after in rows)
    name, import_ = html.escape(spec.id), spec.details["import"]
    return (f"<p><b>{name}</b> is registered (licence: {html.escape(spec.licence)}).</p>"
            f"<p>Both models on the same {data['images']} photos of {data['people']} people "
            f"({html.escape(data['source'])}); tau: {html.escape(import_['calibration'])}.</p>"
            f"<table cellspacing='6'><tr><th></th><th>{html.escape(import_['compared_with'])} (shipped)</th>"
            f"<th>{name}</th></tr>{cells}</table>")


class ModelImportDialog(QDialog):
    """Emits ``activateRequested(model_id)`` when the user closes it with "Use this model now" ticked."""

    activateRequested = Signal(str)

    def __init__(self, service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import a face model")
        self.service = service
        self.job: Worker | None = None
        self.imported = None  # the registered ModelSpec

        self.file = QLineEdit()
        self.file.setPlaceholderText("an ONNX face-embedding model (ArcFace-style)")
        browse_file = QPushButton("Browse…")
        browse_file.clicked.connect(self._browse_file)
        self.licence = QLineEdit()
        self.licence.setPlaceholderText("e.g. Apache-2.0: you must have the right to use the model")
        self.model_id = QLineEdit()
        self.model_id.setPlaceholderText("from the file name")

        self.source = FacesSource()

        self.template = QComboBox()
        self.template.addItem(AUTOMATIC, None)
        for name in TEMPLATES:
            self.template.addItem(name, name)
        self.bgr = QCheckBox("The network expects BGR (default RGB)")
        self.mean = QLineEdit()
        self.mean.setPlaceholderText("127.5")
        self.std = QLineEdit()
        self.std.setPlaceholderText("127.5")

        form = QFormLayout()
        form.addRow("Model file:", _row(self.file, browse_file))
        form.addRow("Licence:", self.licence)
        form.addRow("Id:", self.model_id)
        calibration = QGroupBox("Calibrate tau on")
        calibration_layout = QVBoxLayout(calibration)
        calibration_layout.addWidget(self.source)
        advanced = QGroupBox("Input (ArcFace's defaults: RGB, (x - 127.5) / 127.5)")
        advanced_form = QFormLayout(advanced)
        advanced_form.addRow("Alignment:", self.template)
        advanced_form.addRow("Mean:", self.mean)
        advanced_form.addRow("Std:", self.std)
        advanced_form.addRow("", self.bgr)

        self.import_button = QPushButton("Import")
        self.import_button.clicked.connect(self.start_import)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.result = QTextBrowser()  # scrolls: the comparison table is taller than a small screen has room for
        self.result.setVisible(False)
        self.use_now = QCheckBox("Use this model now (the gallery is embedded again; switching back loses nothing)")
        self.use_now.setVisible(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.addButton(self.import_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.import_button.setDefault(True)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(calibration)
        layout.addWidget(advanced)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.result, 1)
        layout.addWidget(self.use_now)
        layout.addWidget(self.buttons)
        self.resize(640, 560)

    def _browse_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Face model", "", "ONNX models (*.onnx);;All files (*)")
        if chosen:
            self.file.setText(chosen)

    def framing(self) -> Framing:
        return Framing(self.template.currentData(), typed_channels(self.mean.text(), "Mean"),
                       typed_channels(self.std.text(), "Std"), self.bgr.isChecked())

    def start_import(self) -> None:
        """Check, calibrate and register on a worker; the form waits, the window does not."""
        try:
            work = self._work()
        except InputError as error:
            self._failed(error)
            return
        self.import_button.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText("Checking the model…")
        self.result.setVisible(False)
        self.use_now.setVisible(False)
        self.use_now.setChecked(False)
        self.imported = None
        job = self.job = Worker("import a face model")
        job.progress.connect(self._progress)
        job.done.connect(self._done)
        job.failed.connect(self._failed)
        job.start(work, job)

    def _work(self):
        """The import as the form asks it now (read here, on the UI thread), for a worker to run."""
        framing = self.framing()
        if not self.file.text().strip():
            raise InputError("choose the model file first")
        if not self.source.is_complete():
            raise InputError("choose a folder of people, or the gallery's own samples")
        file = Path(self.file.text().strip())
        folder, crops = self.source.folder_path(), self.source.crops.isChecked()
        licence, model_id = self.licence.text(), self.model_id.text().strip() or None

        def work(job: Worker):
            return self.service.import_model(file, licence, folder, crops, model_id, framing,
                                             progress=lambda done, total, _path: job.report((done, total)),
                                             should_stop=job.cancelled)

        return work

    def _progress(self, value) -> None:
        """Faces read so far; once all are, the check and calibration run without steps to count."""
        done, total = value
        if done < total:
            self.status.setText(f"Reading the faces: {done} of {total}…")
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        else:
            self.status.setText("Checking and calibrating the model on the faces…")
            self.progress.setRange(0, 0)

    def _done(self, spec) -> None:
        self.imported = spec
        self.import_button.setEnabled(True)
        self.progress.setVisible(False)
        self.status.setText("")
        self.result.setHtml(comparison_html(spec))
        self.result.setVisible(True)
        self.use_now.setVisible(True)

    def _failed(self, error: Exception) -> None:
        self.import_button.setEnabled(True)
        self.progress.setVisible(False)
        self.status.setText(f"<b>Not imported:</b> {html.escape(describe(error))}")

    def is_importing(self) -> bool:
        return self.job is not None and self.job.is_running()

    def done(self, result: int) -> None:
        """Closing mid-import cancels it (nothing is registered) and waits for the worker."""
        if self.is_importing():
            self.job.cancel()
            self.job.wait(None)
        if self.imported is not None and self.use_now.isChecked():
            self.activateRequested.emit(self.imported.id)
        super().done(result)


def _row(*widgets) -> QWidget:
    """Widgets side by side, a line edit stretching."""
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget, 1 if isinstance(widget, QLineEdit) else 0)
    holder = QWidget()
    holder.setLayout(row)
    row.setContentsMargins(0, 0, 0, 0)
    return holder
