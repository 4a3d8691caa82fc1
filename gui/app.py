"""Start the desktop app: ``oneshot`` with no arguments, or ``oneshot gui [--source PATH]``."""

from __future__ import annotations

import json
import sys

from PySide6.QtWidgets import QApplication

from core.settings import default_settings_path, load_settings

from .main_window import MainWindow


def run(source: str | None = None, argv: list[str] | None = None, check_frames: int | None = None) -> int:
    """Open the main window (``source``: a webcam index, video file or image folder) and run.

    ``check_frames``: quit after that many frames with faces, printing who was seen as one
    JSON line (installers' smoke tests); exit code 1 if the engine fails to start.
    """
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("OneShot")
    app.setOrganizationName("OneShot")
    app.setStyle("Fusion")  # follows the system's light or dark colour scheme on every OS
    settings_path = default_settings_path()
    window = MainWindow(load_settings(settings_path), settings_path, source)
    window.show()
    if check_frames:
        _quit_after(window, check_frames)
    return app.exec()


def _quit_after(window: MainWindow, frames: int) -> None:
    seen: list[list] = []

    def on_frame(image, report) -> None:
        if report.faces:
            seen.append([face.name for face in report.faces])
        if len(seen) >= frames:
            window.engine.frameProcessed.disconnect(on_frame)
            print(json.dumps({"frames_with_faces": len(seen), "names": seen[-1]}), flush=True)
            window.close()

    def on_failed(message: str) -> None:
        print(json.dumps({"error": message}), flush=True)
        QApplication.instance().exit(1)

    window.engine.frameProcessed.connect(on_frame)
    window.engine.failed.connect(on_failed)
