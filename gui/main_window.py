"""The live identification window: the camera image, a labelled box per face, and the controls."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QPushButton, QToolBar, QVBoxLayout, QWidget

from core.settings import Settings, save_settings

from .engine import RecognitionEngine
from .video_view import VideoView, identity_overlays
from .workers import run_in_background, wait_for_background_tasks

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Owns the engine thread; every slow call goes to it or to the background pool."""

    closed = Signal()

    def __init__(self, settings: Settings, settings_path: Path | None = None, source: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.settings_path = settings_path
        self.source = source or settings.camera
        self.people_count = 0
        self.last_image = None
        self.setWindowTitle("OneShot")
        self.view = VideoView()
        self.view.show_message("Loading the models…")
        self.banner = self._empty_gallery_banner()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.view, 1)
        self.setCentralWidget(central)
        self._build_actions()
        self._build_status_bar()
        self._restore_window()
        self.engine = RecognitionEngine(settings)
        self._connect_engine()
        self.engine.start()

    # -- construction ----------------------------------------------------------------------

    def _build_actions(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        self.addToolBar(toolbar)
        self.actions_by_name = {}
        for name, text, shortcut, slot in (
            ("start", "Start", "F5", self.toggle_running),
            ("enroll", "Enroll from webcam", "Ctrl+E", self.enroll_from_webcam),
            ("enroll_photo", "Enroll from photo…", "Ctrl+O", self.enroll_from_photo),
            ("gallery", "Gallery…", "Ctrl+G", self.open_gallery),
            ("settings", "Settings…", QKeySequence.StandardKey.Preferences, self.open_settings),
            ("snapshot", "Snapshot", "Ctrl+S", self.snapshot),
            ("demo", "Open video or folder…", "Ctrl+Shift+O", self.open_demo_source),
            ("train", "Train the face model…", "Ctrl+T", self.open_training),
            ("about", "About OneShot", "F1", self.open_about),
            ("quit", "Quit", QKeySequence.StandardKey.Quit, self.close),
        ):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            self.actions_by_name[name] = action
            if name not in ("quit", "about", "demo", "train"):
                toolbar.addAction(action)
        file_menu = self.menuBar().addMenu("&File")
        for name in ("demo", "snapshot", "quit"):
            file_menu.addAction(self.actions_by_name[name])
        people_menu = self.menuBar().addMenu("&People")
        for name in ("enroll", "enroll_photo", "gallery"):
            people_menu.addAction(self.actions_by_name[name])
        tools = self.menuBar().addMenu("&Tools")
        tools.addAction(self.actions_by_name["settings"])
        tools.addAction(self.actions_by_name["train"])
        self.models_menu = tools.addMenu("Face &model")
        self.models_menu.aboutToShow.connect(self._fill_models_menu)
        self.menuBar().addMenu("&Help").addAction(self.actions_by_name["about"])
        for name in ("start", "enroll", "enroll_photo", "gallery", "snapshot", "train"):
            self.actions_by_name[name].setEnabled(False)  # until the engine is ready

    def _build_status_bar(self) -> None:
        self.camera_label = QLabel("No source")
        self.provider_label = QLabel("")
        self.fps_label = QLabel("")
        self.stages_label = QLabel("")
        for label in (self.camera_label, self.provider_label, self.fps_label):
            self.statusBar().addPermanentWidget(label)
        self.statusBar().addWidget(self.stages_label)

    def _empty_gallery_banner(self) -> QWidget:
        banner = QWidget()
        layout = QVBoxLayout(banner)
        text = QLabel("Nobody is enrolled yet. Enroll someone from the webcam to see names here.")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        button = QPushButton("Enroll from webcam (Ctrl+E)")
        button.clicked.connect(self.enroll_from_webcam)
        self.banner_button = button
        layout.addWidget(text)
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignCenter)
        banner.setVisible(False)
        return banner

    def _connect_engine(self) -> None:
        engine = self.engine
        engine.ready.connect(self._engine_ready)
        engine.failed.connect(self._engine_failed)
        engine.frameProcessed.connect(self._show_frame)
        engine.sourceChanged.connect(self._source_changed)
        engine.cameraLost.connect(self._camera_lost)
        engine.cameraRestored.connect(lambda: self.statusBar().showMessage("Camera back", 3000))
        engine.galleryChanged.connect(self._gallery_changed)
        engine.modelChanged.connect(self._model_changed)
        engine.modelFailed.connect(lambda message: QMessageBox.warning(self, "Model not changed", message))

    # -- engine events ----------------------------------------------------------------------

    def _engine_ready(self, providers) -> None:
        self.provider_label.setText(providers.device)
        self.provider_label.setToolTip(providers.reason)
        for name in ("start", "enroll_photo", "gallery"):
            self.actions_by_name[name].setEnabled(True)
        self._offer_training()
        self.view.show_message("Starting the camera…")
        self.engine.start_source(self.source)

    def _engine_failed(self, message: str) -> None:
        self.view.show_message(f"OneShot cannot start:\n{message}")
        QMessageBox.critical(self, "OneShot cannot start", message)

    def _show_frame(self, image, report) -> None:
        self.last_image = image
        self.view.show_frame(image, identity_overlays(report.faces, report.tau), report.captured)
        latency = self.view.latency_ms()
        self.fps_label.setText(f"{report.fps:.1f} fps" + (f" · {latency:.0f} ms capture to screen" if latency else ""))
        self.stages_label.setText(" · ".join(f"{stage} {ms:.0f} ms" for stage, ms in report.stage_ms.items()))

    def _source_changed(self, description: str) -> None:
        running = bool(description)
        self.camera_label.setText(description or "Stopped")
        self.actions_by_name["start"].setText("Stop" if running else "Start")
        self.actions_by_name["enroll"].setEnabled(running)
        self.actions_by_name["snapshot"].setEnabled(running)
        if not running:
            self.view.show_message("Stopped. Press Start (F5).")

    def _camera_lost(self, message: str) -> None:
        self.camera_label.setText("Camera lost")
        self.view.show_message(f"{message}\nRetrying every 2 seconds…")
        self.actions_by_name["enroll"].setEnabled(False)

    def _gallery_changed(self, count: int) -> None:
        self.people_count = count
        self.banner.setVisible(count == 0)

    # -- actions ------------------------------------------------------------------------------

    def toggle_running(self) -> None:
        if self.actions_by_name["start"].text() == "Stop":
            self.engine.stop_source()
        else:
            self.engine.start_source(self.source)

    def enroll_from_webcam(self):
        from .enroll_dialog import EnrollDialog

        dialog = EnrollDialog(self.engine, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def enroll_from_photo(self, path: str | None = None):
        from .enroll_dialog import EnrollDialog

        path = path or QFileDialog.getOpenFileName(self, "Enroll from photo", "", "Images (*)")[0]
        if not path:
            return None
        dialog = EnrollDialog(self.engine, photo=path, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def open_gallery(self):
        from .gallery_dialog import GalleryDialog

        dialog = GalleryDialog(self.engine.gallery, self.engine.pipeline.embedder.spec.id,
                               add_sample=self.engine.add_sample, parent=self)
        dialog.changed.connect(self.engine.refresh_gallery)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def open_settings(self):
        from .settings_dialog import SettingsDialog

        pipeline = self.engine.pipeline
        dialog = SettingsDialog(self.settings, self.provider_label.toolTip(), parent=self,
                                calibrated_tau=pipeline.tau if pipeline else Settings().tau)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.settings()))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def apply_settings(self, settings: Settings) -> None:
        camera_changed = settings.camera != self.settings.camera or settings.resolution != self.settings.resolution
        self.settings = settings
        self._save_settings()
        self.engine.apply_settings(settings)
        if camera_changed:
            self.source = settings.camera
            self.engine.start_source(self.source)

    def open_demo_source(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Image folder to play as a camera")
        if path:
            self.source = path
            self.engine.start_source(path)

    def snapshot(self) -> None:
        if self.last_image is None:
            return
        path = QFileDialog.getSaveFileName(self, "Save snapshot", "snapshot.png", "PNG (*.png)")[0]
        if path and not self.last_image.save(path):
            QMessageBox.warning(self, "Snapshot", f"Could not save {path}")

    def open_about(self) -> None:
        """Versions and licences; collected in the background (it hashes the model files)."""
        from core.info import collect_info

        run_in_background(lambda: collect_info(self.settings.provider), self._show_about,
                          lambda error: QMessageBox.warning(self, "About OneShot", str(error)))

    def _show_about(self, info: dict) -> None:
        from .about import AboutDialog

        self.about_dialog = AboutDialog(info, parent=self)
        self.about_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.about_dialog.open()

    # -- window state --------------------------------------------------------------------------

    def _offer_training(self) -> None:
        """Training needs the train extra; without it the action stays off and says how to get it."""
        from core.training import INSTALL_HINT, missing_packages

        action = self.actions_by_name["train"]
        missing = missing_packages()
        action.setEnabled(not missing)
        tip = f"Training needs {' and '.join(missing)}: {INSTALL_HINT}" if missing else "Fine-tune the face model"
        action.setToolTip(tip)
        action.setStatusTip(tip)

    def open_training(self):
        from .training_wizard import TrainingWizard

        wizard = TrainingWizard(self.engine.pipeline, self.engine.gallery, parent=self)
        wizard.activateRequested.connect(self.switch_model)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.open()
        return wizard

    def switch_model(self, model_id: str) -> None:
        self.statusBar().showMessage(f"Switching to {model_id}: embedding the gallery again…")
        self.engine.switch_model(model_id)

    def _model_changed(self, spec) -> None:
        """A model's tau is calibrated for it, so switching models switches tau too."""
        self.apply_settings(replace(self.settings, tau=float(spec.defaults["tau"])))
        self.statusBar().showMessage(f"Face model: {spec.id} (tau {self.settings.tau:.3f})", 8000)

    def _fill_models_menu(self) -> None:
        from PySide6.QtGui import QActionGroup

        from core.errors import OneShotError
        from core.model_store import embedders

        self.models_menu.clear()
        group = QActionGroup(self.models_menu)
        current = self.engine.pipeline.embedder.spec.id if self.engine.pipeline else None
        try:
            specs = embedders()
        except OneShotError as error:
            self.models_menu.addAction(str(error)).setEnabled(False)
            return
        for spec in specs:
            action = self.models_menu.addAction(f"{spec.id}: {spec.details.get('name', 'shipped')}")
            action.setCheckable(True)
            action.setChecked(spec.id == current)
            action.triggered.connect(lambda _=False, model_id=spec.id: self.switch_model(model_id))
            group.addAction(action)

    def _restore_window(self) -> None:
        window = self.settings.window
        if window.get("geometry"):
            self.restoreGeometry(QByteArray.fromBase64(window["geometry"].encode()))
        else:
            self.resize(960, 720)
        if window.get("state"):
            self.restoreState(QByteArray.fromBase64(window["state"].encode()))

    def _save_settings(self) -> None:
        window = {"geometry": bytes(self.saveGeometry().toBase64()).decode(),
                  "state": bytes(self.saveState().toBase64()).decode()}
        self.settings = replace(self.settings, window=window)
        try:
            save_settings(self.settings, self.settings_path)
        except OSError as error:
            log.warning("could not save settings: %s", error)

    def closeEvent(self, event) -> None:
        self._save_settings()
        self.engine.shutdown()
        wait_for_background_tasks()
        self.closed.emit()
        super().closeEvent(event)


