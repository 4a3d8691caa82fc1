"""The window on a shared gallery: identifying from memory while its server is away, and saying so."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from core.storage.postgres import PostgresGallery  # noqa: E402
from core.vision.imaging import load_image  # noqa: E402
from camera_frames import WAIT_MS, names, next_report, write_frames  # noqa: E402


def test_the_status_bar_says_when_the_server_is_away_and_names_keep_coming(qtbot, make_window, server, tmp_path,
                                                                           people, pipeline):
    url = server.create_database("window")
    result = pipeline.analyse(load_image(people["barack_obama"][0]))[0]
    with PostgresGallery(url) as gallery:
        gallery.enroll("Obama", result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "test")
    window = make_window(write_frames(tmp_path / "obama", people["barack_obama"][1], 10), gallery=url)
    next_report(qtbot, window, lambda report: names(report) == ["Obama"])
    assert window.gallery_label.text() == ""
    server.stop()
    try:
        qtbot.waitUntil(lambda: "offline" in window.gallery_label.text(), timeout=WAIT_MS)
        assert names(next_report(qtbot, window, lambda report: report.faces)) == ["Obama"]  # from memory
    finally:
        server.restart()
    qtbot.waitUntil(lambda: window.gallery_label.text() == "", timeout=WAIT_MS)
