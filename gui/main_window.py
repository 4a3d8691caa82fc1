"""The live identification window: the camera image, a labelled box per face, and the controls.

State lives in the ``LiveController`` (what plays, what is in service) and in ``settings``
(what the user saved); widgets only show it. Every slow call goes through the controller or
a worker, never the UI thread.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QFileSystemWatcher, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.errors import AlreadyEnrolledError, NotThisPersonError
from core.settings import Settings, resolve_settings, save_settings

from core.live.camera_session import MAX_CAMERAS

from .camera_grid import camera_grid
from .gallery_dialog import not_this_person_text
from .live_controller import LiveController, describe
from .unknowns_panel import UnknownsPanel
from .video_view import ColourBands, VideoView, identity_overlays, render_annotated
from .workers import run_in_background, running_workers

log = logging.getLogger(__name__)


class PassphraseDialog(QDialog):
    """The gallery's passphrase, typed hidden: a short title and a few wrapped lines of why."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Unlock the gallery")
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.field = QLineEdit()
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Unlock")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(QLabel("Passphrase:"))
        layout.addWidget(self.field)
        layout.addWidget(buttons)
        self.setFixedWidth(420)

    def text(self) -> str:
        return self.label.text()

    def passphrase(self) -> str | None:
        """What was typed, or None when cancelled."""
        return self.field.text() if self.result() == QDialog.DialogCode.Accepted else None


class MainWindow(QMainWindow):
    """The live view, its menus and status bar, over one ``LiveController``."""

    closed = Signal()

    def __init__(self, settings: Settings, settings_path: Path | None = None,
                 source: str | list[str] | None = None) -> None:
        """``source``: what to play instead of the configured camera; a list of up to four
        shows them side by side (the first is the main view)."""
        super().__init__()
        sources = [source] if isinstance(source, str) else list(source or [])
        if len(sources) > MAX_CAMERAS:
            raise ValueError(f"at most {MAX_CAMERAS} cameras in one window, not {len(sources)}")
        self.settings = settings
        self.settings_path = settings_path
        self.source = (sources[0] if sources else None) or settings.camera
        self.extra_sources = sources[1:] if sources else list(settings.more_cameras)
        self.people_count = 0
        self.frames_shown = 0  # since the source started: tells "no camera at all" from "camera lost"
        self.last_image = None
        self.last_overlays = []
        self.bands = ColourBands()  # each track's colour band: this window's own, its track ids unique across cameras
        self.training = None  # the training wizard while it is open
        self._chosen_settings: Settings | None = None  # chosen in Settings, saved once in force
        self.setWindowTitle("OneShot")
        self.view = VideoView()
        self.view.show_message("Loading the models…")
        self.banner = self._empty_gallery_banner()
        self.no_camera_bar = self._no_camera_bar()
        self.locked_bar = self._locked_bar()
        self.passphrase_dialog: PassphraseDialog | None = None  # while the gallery's passphrase is asked
        self.passphrase_prompt = ""  # why it was last asked: Unlock asks the same way
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.locked_bar)
        layout.addWidget(self.no_camera_bar)
        layout.addWidget(self.banner)
        self.setCentralWidget(central)
        self._video_area: QWidget | None = None
        self.source_description = ""  # what the main camera plays (for its tile's caption)
        self.tiles = []
        self._show_cameras(1 + len(self.extra_sources))
        self._build_actions()
        self._build_status_bar()
        self.controller = LiveController(resolve_settings(saved=settings))
        self._connect_controller()
        self.unknowns = UnknownsPanel(self.controller, self)  # "Who's this?": unknown faces, grouped
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.unknowns)
        self.people_menu.addAction(self.unknowns.toggleViewAction())
        self._restore_window()  # after every dock exists, so their places come back too
        self.controller.open()

    # -- construction ----------------------------------------------------------------------

    def _show_cameras(self, count: int) -> None:
        """The main view alone, or ``count`` tiles side by side around it (again when Settings
        change the cameras: the main view stays, the other tiles are new)."""
        layout = self.centralWidget().layout()
        if self._video_area is not None:
            layout.removeWidget(self._video_area)
            if self._video_area is not self.view:
                self.view.setParent(None)  # out of the old grid, which goes
                self._video_area.deleteLater()
        if count > 1:
            self._video_area, self.tiles = camera_grid(self.view, count)
            if self.source_description:
                self.tiles[0].show_state(self.source_description)
        else:
            self._video_area, self.tiles = self.view, []
        layout.addWidget(self._video_area, 1)
        self.view.show()

    def _camera_state(self, camera: int, text: str) -> None:
        if camera < len(self.tiles):  # not a camera that Settings just took away
            self.tiles[camera].show_state(text)

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
            ("history", "History…", "Ctrl+H", self.open_history),
            ("settings", "Settings…", "Ctrl+,", self.open_settings),
            ("snapshot", "Snapshot", "Ctrl+S", self.snapshot),
            ("demo", "Open video or folder…", "Ctrl+Shift+O", self.open_demo_source),
            ("unlock", "Unlock the gallery…", "Ctrl+U", self.unlock_gallery),
            ("train", "Train the face model…", "Ctrl+T", self.open_training),
            ("import_model", "Import a face model…", "Ctrl+I", self.open_model_import),
            ("about", "About OneShot", "F1", self.open_about),
            ("quit", "Quit", QKeySequence.StandardKey.Quit, self.close),
        ):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(shortcut))
            action.setStatusTip(f"{text.rstrip('…')} ({action.shortcut().toString(QKeySequence.NativeText)})")
            action.triggered.connect(slot)
            self.actions_by_name[name] = action
            if name not in ("quit", "about", "demo", "train", "import_model", "history", "unlock"):
                toolbar.addAction(action)
        file_menu = self.file_menu = self.menuBar().addMenu("&File")
        for name in ("demo", "unlock", "snapshot", "quit"):
            file_menu.addAction(self.actions_by_name[name])
        people_menu = self.people_menu = self.menuBar().addMenu("&People")
        for name in ("enroll", "enroll_photo", "gallery", "history"):
            people_menu.addAction(self.actions_by_name[name])
        tools = self.menuBar().addMenu("&Tools")
        tools.addAction(self.actions_by_name["settings"])
        tools.addAction(self.actions_by_name["train"])
        tools.addAction(self.actions_by_name["import_model"])
        self.models_menu = tools.addMenu("Face &model")
        self.models_group = QActionGroup(self)
        self.models_menu.aboutToShow.connect(self._fill_models_menu)
        self.menuBar().addMenu("&Help").addAction(self.actions_by_name["about"])
        for name in ("start", "enroll", "enroll_photo", "gallery", "history", "snapshot", "train", "import_model",
                     "unlock"):
            self.actions_by_name[name].setEnabled(False)  # until the models are loaded (unlock: until locked)

    def _build_status_bar(self) -> None:
        """Source, device and speed stay whole at any width; the per-stage line gives way first."""
        self.camera_label = QLabel("No source")
        self.provider_label = QLabel("")
        self.fps_label = QLabel("")
        self.gallery_label = QLabel("")  # a shared gallery's server out of reach
        self.gallery_label.setStyleSheet("color: #b00020; font-weight: bold;")
        self.stages_label = QLabel("")
        self.stages_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.fps_label.setMinimumWidth(self.fps_label.fontMetrics().horizontalAdvance(
            "000.0 fps · 000 ms capture to screen") + 8)
        self.statusBar().addWidget(self.stages_label, 1)
        for label in (self.gallery_label, self.camera_label, self.provider_label, self.fps_label):
            self.statusBar().addPermanentWidget(label)

    def _empty_gallery_banner(self) -> QWidget:
        banner = QWidget()
        layout = QVBoxLayout(banner)
        text = QLabel("Nobody is enrolled yet. Enroll someone to see names here.")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner_button = QPushButton("Enroll from webcam (Ctrl+E)")
        self.banner_button.clicked.connect(self.enroll_from_webcam)
        self.banner_button.setEnabled(False)  # until frames arrive: the dialog would wait for none
        self.banner_photo_button = QPushButton("Enroll from photo… (Ctrl+O)")
        self.banner_photo_button.clicked.connect(lambda: self.enroll_from_photo())
        self.banner_photo_button.setEnabled(False)  # until the models are loaded
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.banner_button)
        buttons.addWidget(self.banner_photo_button)
        buttons.addStretch(1)
        layout.addWidget(text)
        layout.addLayout(buttons)
        banner.setVisible(False)
        return banner

    def _no_camera_bar(self) -> QWidget:
        """Shown while no camera answers: the way to a video or an image folder instead."""
        bar = QWidget()
        layout = QHBoxLayout(bar)
        self.no_camera_text = QLabel()
        self.no_camera_text.setWordWrap(True)
        button = QPushButton("Open video or folder… (Ctrl+Shift+O)")
        button.clicked.connect(self.open_demo_source)
        self.no_camera_button = button
        layout.addWidget(self.no_camera_text, 1)
        layout.addWidget(button)
        bar.setVisible(False)
        return bar

    def _locked_bar(self) -> QWidget:
        """Shown while the gallery waits for its passphrase: the way to ask it again."""
        bar = QWidget()
        layout = QHBoxLayout(bar)
        self.locked_text = QLabel("The gallery is locked: it is protected by a passphrase and none was given. "
                                  "Unlock it, or choose another gallery in Settings.")
        self.locked_text.setWordWrap(True)
        self.unlock_button = QPushButton("Unlock…")
        self.unlock_button.clicked.connect(self.unlock_gallery)
        layout.addWidget(self.locked_text, 1)
        layout.addWidget(self.unlock_button)
        bar.setVisible(False)
        return bar

    def _connect_controller(self) -> None:
        controller = self.controller
        controller.ready.connect(self._ready)
        controller.failed.connect(self._failed)
        controller.passphraseNeeded.connect(self._ask_gallery_passphrase)
        controller.locked.connect(self._locked)
        controller.cameraState.connect(self._camera_state)
        controller.frameProcessed.connect(self._show_frame)
        controller.sourceChanged.connect(self._source_changed)
        controller.cameraLost.connect(self._camera_lost)
        controller.cameraRestored.connect(lambda: self.statusBar().showMessage("Camera back", 3000))
        controller.galleryChanged.connect(self._gallery_changed)
        controller.modelChanged.connect(self._model_changed)
        controller.modelFailed.connect(lambda message: self.show_warning("Model not changed", message))
        controller.settingsFailed.connect(self._settings_failed)
        controller.settingsApplied.connect(self._settings_in_force)
        self._connect_corrections()

    # -- controller events --------------------------------------------------------------------

    def _show_provider(self, providers) -> None:
        self.provider_label.setText(providers.device)
        self.provider_label.setToolTip(providers.reason)

    def _ready(self, providers) -> None:
        self._show_provider(providers)
        self.locked_bar.setVisible(False)
        self.actions_by_name["unlock"].setEnabled(False)
        for name in ("start", "enroll_photo", "gallery", "history", "import_model"):
            self.actions_by_name[name].setEnabled(True)
        self.banner_photo_button.setEnabled(True)
        self._offer_training()
        self._follow_model_changes()
        self.view.show_message("Starting the camera…")
        self.controller.start_source(self.source)
        self.controller.start_extra_sources(self.extra_sources)

    def _ask_gallery_passphrase(self, prompt: str) -> None:
        """Asked on the UI thread; the gallery is then opened again on a worker with the answer."""
        self.view.show_message("The gallery is protected by a passphrase…")
        self.passphrase_prompt = prompt
        self.ask_passphrase(prompt)

    def ask_passphrase(self, prompt: str) -> None:
        """Open the passphrase dialog (window-modal, not blocking); its answer goes to the controller."""
        dialog = self.passphrase_dialog = PassphraseDialog(prompt, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _: self._passphrase_given(dialog))
        dialog.open()

    def _passphrase_given(self, dialog: PassphraseDialog) -> None:
        if self.passphrase_dialog is dialog:
            self.passphrase_dialog = None
        self.controller.give_passphrase(dialog.passphrase())

    def _locked(self) -> None:
        """No passphrase given at start: say so, and offer to ask again; Settings can pick another gallery."""
        self.view.show_message("The gallery is locked.\nUnlock… asks for its passphrase again.")
        self.locked_bar.setVisible(True)
        self.actions_by_name["unlock"].setEnabled(True)

    def unlock_gallery(self) -> None:
        if self.controller.is_locked and self.passphrase_dialog is None:
            self.ask_passphrase(self.passphrase_prompt)

    def _failed(self, message: str) -> None:
        self.view.show_message(f"OneShot cannot start:\n{message}")
        QMessageBox.critical(self, "OneShot cannot start", message)

    def _show_frame(self, image, report) -> None:
        if report.camera >= max(len(self.tiles), 1):
            return  # the last frames of a camera that Settings just took away
        if self.tiles:
            self.tiles[report.camera].show_fps(report.fps)
        if report.camera:  # another camera's tile: its picture and its rate, nothing else
            self.tiles[report.camera].view.show_frame(image, identity_overlays(report.faces, report.tau, self.bands),
                                                      report.frame.captured)
            return
        self.last_image = image
        self.last_overlays = identity_overlays(report.faces, report.tau, self.bands)
        self.view.show_frame(image, self.last_overlays, report.frame.captured)
        if not self.frames_shown:  # the first frame of this source: enrolling and snapshots work now
            for name in ("enroll", "snapshot"):
                self.actions_by_name[name].setEnabled(True)
            self.banner_button.setEnabled(True)
            self.no_camera_bar.setVisible(False)
        self.frames_shown += 1
        offline = not self.controller.service.gallery_online
        self.gallery_label.setText("Gallery server offline: identifying from memory" if offline else "")
        latency = self.view.latency_ms()
        self.fps_label.setText(f"{report.fps:.1f} fps" + (f" · {latency:.0f} ms capture to screen" if latency else ""))
        stages = " · ".join(f"{stage} {ms:.0f}" for stage, ms in report.stage_ms.items())
        self.stages_label.setText(f"{stages} ms" if stages else "")  # one unit for all: it fits 800 px
        self.stages_label.setToolTip(f"per-stage median, ms: {stages}" if stages else "")

    def _source_changed(self, description: str) -> None:
        running = bool(description)
        self.source_description = description
        self.frames_shown = 0
        self.camera_label.setText(description or "Stopped")
        if self.tiles and description:
            self.tiles[0].show_state(description)
        self._show_start("Stop" if running else "Start")
        self._clear_speed()
        if not running:
            self._frames_stopped()
            self.view.show_message("Stopped. Press Start (F5).")

    def _camera_lost(self, message: str) -> None:
        self._frames_stopped()
        self._clear_speed()
        never_started = self.source is not None and self.source.strip().isdigit() and self.camera_label.text() in (
            "No source", "No camera")
        if never_started:  # first start without a camera: say where else frames can come from
            self._show_start("Start", f"No camera to start: {message}. Connect a camera, or use File > Open video "
                                      "or folder… (Ctrl+Shift+O).")
            self.camera_label.setText("No camera")
            self.no_camera_text.setText(f"No camera found ({message}). Connect a camera, or play a video file "
                                        "or a folder of images instead.")
            self.no_camera_bar.setVisible(True)
            self.view.show_message(f"{message}\nFile > Open video or folder… (Ctrl+Shift+O) plays a video or "
                                   "a folder of images instead.\nLooking for the camera every 2 seconds…")
        else:
            self._show_start("Stop")  # still trying: Stop ends that
            self.camera_label.setText("Camera lost")
            self.view.show_message(f"{message}\nRetrying every 2 seconds…")

    def _show_start(self, text: str, why_not: str = "") -> None:
        """Start or Stop; off, saying why, while there is no camera to start (the search goes on)."""
        action = self.actions_by_name["start"]
        action.setText(text)
        action.setEnabled(not why_not and self.controller.service is not None)
        tip = why_not or f"{text} ({action.shortcut().toString(QKeySequence.NativeText)})"
        action.setToolTip(tip)
        action.setStatusTip(tip)

    def _frames_stopped(self) -> None:
        """No frames now: nothing to enrol from or to snapshot."""
        self.frames_shown = 0
        for name in ("enroll", "snapshot"):
            self.actions_by_name[name].setEnabled(False)
        self.banner_button.setEnabled(False)

    def _clear_speed(self) -> None:
        self.fps_label.setText("")
        self.stages_label.setText("")
        self.view.latencies_ms.clear()

    def _gallery_changed(self, count: int) -> None:
        self.people_count = count
        self.banner.setVisible(count == 0)

    # -- actions ------------------------------------------------------------------------------

    def toggle_running(self) -> None:
        if self.controller.running:
            self.controller.stop_source()
        else:
            self.controller.start_source(self.source)
            self.controller.start_extra_sources(self.extra_sources)

    def enroll_from_webcam(self):
        """Only while frames arrive (the action is off otherwise): the dialog shows the live preview."""
        from .enroll_dialog import EnrollDialog

        if not self.frames_shown:
            self.show_warning("Enroll from webcam", "No camera image yet: start a camera, or use Enroll from photo….")
            return None
        dialog = EnrollDialog(self.controller, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def enroll_from_photo(self, path: str | None = None):
        from .enroll_dialog import EnrollDialog

        path = path or self.ask_open_file("Enroll from photo", "Images (*)")
        if not path:
            return None
        dialog = EnrollDialog(self.controller, photo=path, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def open_gallery(self):
        from .gallery_dialog import GalleryDialog

        dialog = GalleryDialog(self.controller.service, parent=self)
        dialog.changed.connect(self.controller.refresh_gallery)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def open_history(self):
        from .history_dialog import HistoryDialog

        dialog = HistoryDialog(self.controller.service, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def open_settings(self):
        from .settings_dialog import SettingsDialog

        service = self.controller.service
        dialog = SettingsDialog(self.settings, self.provider_label.toolTip(), parent=self,
                                calibrated_tau=service.calibrated_tau if service else None,
                                protection=service.gallery_protection if service else "", playing=self.source)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.settings()))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def apply_settings(self, settings: Settings) -> None:
        """Put what the user chose in force (environment overrides still win); it is saved once in
        force, so settings that cannot be used (a provider this machine lacks) leave the file as it was."""
        try:
            resolved = resolve_settings(saved=settings)
        except Exception as error:  # a bad ONESHOT_* variable: say which, keep running as before
            self._settings_failed(describe(error))
            return
        self._chosen_settings = settings
        if self.controller.is_locked:  # nothing open yet: try the new choice (another gallery) at once
            self._take_settings(resolved)
            self.controller.reopen(resolved)
            return
        self.controller.apply_settings(resolved)
        if (settings.provider, settings.gallery) == (self.settings.provider, self.settings.gallery):
            self._take_settings(resolved)  # nothing to load, nothing that can fail: in force at the next frame

    def _settings_failed(self, message: str) -> None:
        self._chosen_settings = None
        self.show_warning("Settings not applied", f"{message}\n\nNothing was saved: the settings in force are kept.")

    def _settings_in_force(self, resolved: Settings) -> None:
        self._show_provider(self.controller.service.providers)
        self._take_settings(resolved)

    def _take_settings(self, resolved: Settings) -> None:
        """Save the settings chosen, and follow a change of cameras (once only)."""
        settings, self._chosen_settings = self._chosen_settings, None
        if settings is None:
            return
        camera_changed = settings.camera != self.settings.camera or settings.resolution != self.settings.resolution
        cameras_changed = settings.more_cameras != self.settings.more_cameras
        self.settings = settings
        self._save_settings()
        if camera_changed:
            self.source = resolved.camera
            self.controller.start_source(self.source)
        if cameras_changed:
            self.extra_sources = list(settings.more_cameras)
            self._show_cameras(1 + len(self.extra_sources))
            if self.controller.running:
                self.controller.start_extra_sources(self.extra_sources)

    def open_demo_source(self) -> None:
        """Play a video file, or the folder of a chosen image, as the camera."""
        path = self.ask_demo_source()
        if path:
            self.source = path
            self.controller.start_source(path)

    def ask_demo_source(self) -> str | None:
        """A video file, or the folder of the image picked (a dialog cannot offer files and folders at once)."""
        from .settings_dialog import demo_source_from_choice, DEMO_SOURCE_FILTER

        chosen = QFileDialog.getOpenFileName(self, "Video file, or any image of a folder to play", "",
                                             DEMO_SOURCE_FILTER)[0]
        return demo_source_from_choice(chosen) if chosen else None

    def snapshot(self) -> str | None:
        """Save the frame on screen, with its boxes and names unless the raw frame is asked for."""
        if self.last_image is None:
            return None
        path, annotated = self.ask_snapshot_file()
        if not path:
            return None
        image = render_annotated(self.last_image, self.last_overlays) if annotated else self.last_image
        try:
            _write_private(path, _png_bytes(image))
        except OSError as error:
            self.show_warning("Snapshot", f"Could not save {path}: {error.strerror or error}")
            return None
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return path

    def ask_snapshot_file(self) -> tuple[str, bool]:
        """(path, with boxes and names?) from a save dialog offering both kinds."""
        annotated, raw = "PNG with boxes and names (*.png)", "PNG, camera image only (*.png)"
        path, chosen = QFileDialog.getSaveFileName(self, "Save snapshot", "snapshot.png", f"{annotated};;{raw}")
        return path, chosen != raw

    def ask_open_file(self, title: str, file_filter: str) -> str | None:
        return QFileDialog.getOpenFileName(self, title, "", file_filter)[0] or None

    def show_warning(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    def open_about(self) -> None:
        """Versions and licences; collected in the background (it hashes the model files)."""
        from core.models.info import collect_info

        run_in_background(lambda: collect_info(self.settings.provider), self._show_about,
                          lambda error: self.show_warning("About OneShot", describe(error)), name="about")

    def _show_about(self, info: dict) -> None:
        from .about import AboutDialog

        self.about_dialog = AboutDialog(info, parent=self)
        self.about_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.about_dialog.open()

    # -- corrections from the live window ------------------------------------------------------

    def _connect_corrections(self) -> None:
        controller = self.controller
        controller.corrected.connect(lambda message: self.statusBar().showMessage(message, 5000))
        controller.correctionFailed.connect(lambda message: self.show_warning("Not corrected", message))
        controller.correctionRefused.connect(self._correction_refused)

    def contextMenuEvent(self, event) -> None:
        """Right-click a face in the live view: correct its name; elsewhere, Qt's own menu."""
        point = self.view.mapFrom(self, event.pos())
        menu = self.correction_menu(point) if self.view.rect().contains(point) else None
        if menu is None:
            super().contextMenuEvent(event)
            return
        self.popup_menu(menu, event.globalPos())

    def correction_menu(self, point) -> QMenu | None:
        """The corrections for the face under ``point`` (view pixels), or None where there is none.

        "Not X" for a named face, "This is…" and "Enrol as new person…" for any face; each acts
        on the face's track in the service's newest frame.
        """
        index = self.view.face_at(QPointF(point))
        if index is None or index >= len(self.view.overlays):
            return None
        live = self.controller.face_near(self.view.overlays[index].box)
        if live is None:
            return None
        menu = QMenu(self)
        track_id, name = live.track_id, live.name
        if name is not None:
            menu.addAction(f"Not {name}").triggered.connect(lambda: self.controller.mark_not(track_id, name))
        menu.addAction("This is…").triggered.connect(lambda: self.this_is(track_id, name))
        menu.addAction("Enrol as new person…").triggered.connect(lambda: self.enrol_as_new(track_id))
        return menu

    def popup_menu(self, menu: QMenu, global_pos) -> None:
        """Show ``menu`` (tests replace this: a modal menu would block them)."""
        menu.exec(global_pos)

    def this_is(self, track_id: int, current: str | None = None) -> None:
        """Ask who the face is, then add it to them as a sample (the same-person check applies)."""
        def chosen(names: list[str]) -> None:
            if not names:
                self.show_warning("This is…", "Nobody is enrolled yet: use Enrol as new person… instead.")
                return
            name = self.ask_person(names, current)
            if name:
                self.controller.assign(track_id, name)

        self.controller.names_for_correction(chosen)

    def enrol_as_new(self, track_id: int) -> None:
        """Ask a name, then enrol the face as a new person (the duplicate gate applies)."""
        name = self.ask_name()
        if name and name.strip():
            self.controller.enrol_face(track_id, name.strip())

    def _correction_refused(self, refusal) -> None:
        """A check said no: show why, with the distance, and offer to overrule it."""
        error, track_id, name = refusal.error, refusal.track_id, refusal.name
        if refusal.action == "assign":
            if self.confirm_same_person(name, not_this_person_text(error) if isinstance(error, NotThisPersonError)
                                        else str(error)):
                self.controller.assign(track_id, name, confirmed=True)
            return
        if not isinstance(error, AlreadyEnrolledError):  # not expected from enrolment: show it
            self.show_warning("Not enrolled", str(error))
            return
        choice = self.ask_duplicate(name, error.name, error.distance)
        if choice == "different":
            self.controller.enrol_face(track_id, name, force=True)
        elif choice == "sample":
            self.controller.assign(track_id, error.name)

    # prompts: tests replace them on the instance

    def ask_person(self, names: list[str], current: str | None) -> str | None:
        """Whom the face is, from the enrolled ``names``; None when cancelled."""
        others = [n for n in names if n != current] or names
        name, ok = QInputDialog.getItem(self, "This is…", "This face is:", others, 0, False)
        return name if ok else None

    def ask_name(self) -> str | None:
        """The new person's name; None when cancelled."""
        name, ok = QInputDialog.getText(self, "Enrol as new person", "Name:")
        return name if ok else None

    def confirm_same_person(self, name: str, reason: str) -> bool:
        """The face was refused as a sample of ``name`` (``reason`` gives the distance): add it anyway?"""
        box = QMessageBox(QMessageBox.Icon.Warning, f"This is {name}?", reason, parent=self)
        add = box.addButton("Add it anyway", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
        box.exec()
        return box.clickedButton() is add

    def ask_duplicate(self, name: str, enrolled: str, distance: float) -> str | None:
        """The face is almost certainly ``enrolled`` already: "different" (enrol ``name`` anyway),
        "sample" (add it to ``enrolled`` instead) or None (cancel)."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Enrol as new person",
                          f"This face is already enrolled as {enrolled} (distance {distance:.3f}).",
                          QMessageBox.StandardButton.Cancel, self)
        different = box.addButton(f"Enrol {name}: a different person", QMessageBox.ButtonRole.AcceptRole)
        sample = box.addButton(f"Add as a sample of {enrolled} instead", QMessageBox.ButtonRole.ActionRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return {different: "different", sample: "sample"}.get(box.clickedButton())

    # -- models --------------------------------------------------------------------------------

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

        wizard = TrainingWizard(self.controller.service, parent=self)
        wizard.activateRequested.connect(self.switch_model)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.destroyed.connect(lambda: setattr(self, "training", None))
        self.training = wizard
        wizard.open()
        return wizard

    def open_model_import(self):
        """Tools > Import a face model…; its "Use this model now" switches as the wizard's does."""
        from .model_import_dialog import ModelImportDialog

        dialog = ModelImportDialog(self.controller.service, parent=self)
        dialog.activateRequested.connect(self.switch_model)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def switch_model(self, model_id: str) -> None:
        self.statusBar().showMessage(f"Switching to {model_id}: embedding the gallery again…")
        self.controller.switch_model(model_id)

    def _follow_model_changes(self) -> None:
        """``oneshot models activate`` in a terminal switches this window's model too."""
        from core.models.store import user_model_dir

        folder = user_model_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            log.warning("not following model changes in %s: %s", folder, error)
            return
        self.model_watcher = QFileSystemWatcher([str(folder)], self)
        # One look after a burst of changes: writing active.json is a create and a rename.
        self.model_check = QTimer(self, singleShot=True, interval=300)
        self.model_check.timeout.connect(self.controller.follow_active_model)
        self.model_watcher.directoryChanged.connect(lambda _: self.model_check.start())

    def _model_changed(self, spec) -> None:
        """A hand-set tau stays; else the new model's calibrated tau came with it. Say which."""
        service = self.controller.service
        if self.settings.tau is None:
            short, detail = f"tau {service.tau:.3f} (calibrated)", f"tau {service.tau:.3f}, calibrated for this model"
        else:
            short = f"your tau {service.tau:.3f} kept"
            detail = f"{short}; the model's calibrated tau is {service.calibrated_tau:.3f}"
        self.statusBar().setToolTip(f"Face model: {spec.id} ({detail})")  # the whole sentence on hover
        self.statusBar().showMessage(f"Model {spec.id}: {short}", 10000)

    def _fill_models_menu(self) -> None:
        from core.errors import OneShotError
        from core.models.store import embedders

        group = self.models_group  # one group for the window's life: a new one per opening would pile up
        for action in group.actions():
            group.removeAction(action)
        self.models_menu.clear()
        current = self.controller.service.model.id if self.controller.service else None
        try:
            specs = embedders()
        except OneShotError as error:
            self.models_menu.addAction(str(error)).setEnabled(False)
            return
        for spec in specs:
            action = self.models_menu.addAction(model_label(spec))
            action.setCheckable(True)
            action.setChecked(spec.id == current)
            action.triggered.connect(lambda _=False, model_id=spec.id: self.switch_model(model_id))
            group.addAction(action)

    # -- window state --------------------------------------------------------------------------

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

    def confirm_stop_training(self) -> bool:
        """Asked on close while a model is training."""
        answer = QMessageBox.question(
            self, "Training is running",
            "A face model is being trained. Stop it and quit?\n\nIts progress is kept: training again with the "
            "same data and settings resumes where it stopped.")
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:
        """Ask before ending a training run; then stop and join every thread before the window goes."""
        if self.training is not None and self.training.is_training() and not self.confirm_stop_training():
            event.ignore()
            return
        if self.training is not None:
            self.training.stop_training()
        self._save_settings()
        if hasattr(self, "model_check"):
            self.model_check.stop()
        if not self.controller.shutdown():
            log.warning("still running after 10 s: %s", ", ".join(running_workers()))
        self.closed.emit()
        super().closeEvent(event)


def model_label(spec) -> str:
    """A Face model entry: its id, what it is and its tau, so the shipped one is easy to find
    again; an imported one with the licence its user gave ("&&": a plain "&", not a shortcut)."""
    from core.models.store import is_imported

    tau = f"tau {spec.defaults['tau']:.3f}"
    if is_imported(spec):
        return f"{spec.id}: {tau} (imported, {spec.licence.replace('&', '&&')})"
    return f"{spec.id}: {spec.details.get('name', 'shipped')}, {tau}"


def _png_bytes(image) -> bytes:
    buffer = QBuffer()
    buffer.open(QBuffer.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError("the image could not be encoded")
    return bytes(buffer.data())


def _write_private(path: str, data: bytes) -> None:
    """Readable by the user alone, like the gallery and its exports: a snapshot shows faces."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        if hasattr(os, "fchmod"):  # an existing file keeps its old mode otherwise
            os.fchmod(fd, 0o600)
        file.write(data)
