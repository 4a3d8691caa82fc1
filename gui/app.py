"""Start the desktop app: ``oneshot`` with no arguments, or ``oneshot gui [--source PATH]``."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from core.settings import default_settings_path, load_settings

from .main_window import MainWindow


def run(source: str | None = None, argv: list[str] | None = None) -> int:
    """Open the main window (``source``: a webcam index, video file or image folder) and run."""
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("OneShot")
    app.setOrganizationName("OneShot")
    app.setStyle("Fusion")  # follows the system's light or dark colour scheme on every OS
    settings_path = default_settings_path()
    window = MainWindow(load_settings(settings_path), settings_path, source)
    window.show()
    return app.exec()
