"""Start the desktop app: ``oneshot`` with no arguments, or ``oneshot gui [--source PATH]``."""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtWidgets import QApplication

from core.memory import resident_mb
from core.settings import default_settings_path, load_settings
from core.storage.history import set_program

from .main_window import MainWindow


def run(source: str | list[str] | None = None, argv: list[str] | None = None, check_frames: int | None = None) -> int:
    """Open the main window (``source``: a webcam index, network camera, video file or image
    folder, or a list of up to four shown side by side) and run.

    ``check_frames``: quit after that many frames with faces, printing who was seen, the
    frame rate and resident memory after the first and the last tenth as one JSON line
    (installers' smoke tests, soak runs); exit code 1 if the models fail to load.
    """
    set_program("oneshot gui")  # the gallery's history names the desktop app as the one making changes
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
    """Count frames with faces (constant memory: a counter and the last names, nothing per frame)."""
    state = {"count": 0, "names": [], "marks": []}
    tenth = max(1, frames // 10)

    def on_frame(image, report) -> None:
        if not report.faces:
            return
        state["count"] += 1
        state["names"] = [face.name for face in report.faces]
        if state["count"] in (tenth, frames):  # after warm-up, and at the end
            state["marks"].append((state["count"], time.perf_counter(), resident_mb()))
        if state["count"] >= frames:
            window.controller.frameProcessed.disconnect(on_frame)
            summary = {"frames_with_faces": state["count"], "names": state["names"]}
            if len(state["marks"]) == 2:
                (first, start, rss_start), (last, end, rss_end) = state["marks"]
                summary.update(fps=round((last - first) / max(end - start, 1e-9), 2),
                               rss_mb={"after_first_tenth": rss_start and round(rss_start, 1),
                                       "at_end": rss_end and round(rss_end, 1)})
            print(json.dumps(summary), flush=True)
            window.close()

    def on_failed(message: str) -> None:
        print(json.dumps({"error": message}), flush=True)
        QApplication.instance().exit(1)

    window.controller.frameProcessed.connect(on_frame)
    window.controller.failed.connect(on_failed)
