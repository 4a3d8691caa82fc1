"""Several cameras in one window: each view identifies on its own, one ending leaves the others."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dataclasses import replace  # noqa: E402

import pytest  # noqa: E402

from core.cli import build_parser  # noqa: E402
from core.storage.repository import Gallery  # noqa: E402
from core.vision.imaging import load_image  # noqa: E402
from core.settings import Settings, load_settings  # noqa: E402
from camera_frames import WAIT_MS, names, next_report, write_frames  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402


def enrol(path, pipeline, people, *who) -> None:
    with Gallery(path) as gallery:
        for name in who:
            result = pipeline.analyse(load_image(people[name][0]))[0]
            gallery.enroll(name, result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "test")


def wait_for_each(qtbot, window, cameras, name_of):
    """Every camera's view shows its own person, and its caption its frame rate."""
    pending = set(cameras)
    for _ in range(400):
        if not pending:
            break
        report = next_report(qtbot, window)
        if names(report) == [name_of[report.camera]]:
            pending.discard(report.camera)
    assert not pending, f"cameras {sorted(pending)} never identified their person"


@pytest.mark.parametrize("count", [2, 4])
def test_cameras_side_by_side_each_identify_their_person(qtbot, make_window, tmp_path, people, pipeline, count):
    who = ["barack_obama", "joe_biden", "rose_leslie", "kit_harington"][:count]
    enrol(tmp_path / "gallery.db", pipeline, people, *who)
    folders = [str(write_frames(tmp_path / name, people[name][1], 10)) for name in who]
    window = make_window(folders)
    assert len(window.tiles) == count
    wait_for_each(qtbot, window, range(count), dict(enumerate(who)))
    qtbot.waitUntil(lambda: all(tile.caption.text().endswith(" fps") and " · 0.0 fps" not in tile.caption.text()
                                for tile in window.tiles), timeout=WAIT_MS)
    assert window.tiles[1].caption.text().startswith(f"camera 2: {who[1]} (10 files")


def test_one_camera_failing_leaves_the_others_running(qtbot, make_window, tmp_path, people, pipeline):
    enrol(tmp_path / "gallery.db", pipeline, people, "barack_obama")
    missing = tmp_path / "unplugged"
    window = make_window([str(write_frames(tmp_path / "door", people["barack_obama"][1], 10)), str(missing)])
    qtbot.waitUntil(lambda: "Retrying" in window.tiles[1].view.placeholder, timeout=WAIT_MS)
    assert "unplugged" in window.tiles[1].caption.text()
    report = next_report(qtbot, window, lambda r: r.camera == 0 and names(r) == ["barack_obama"])
    assert report.camera == 0


def test_settings_keep_more_cameras_and_hide_their_passwords(qtbot, monkeypatch):
    monkeypatch.setattr("gui.settings_dialog.list_cameras", lambda: [0, 1])
    from gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(camera="0"))
    qtbot.addWidget(dialog)
    editor = dialog.more_cameras
    qtbot.waitUntil(lambda: dialog.camera_status.text().startswith("found"), timeout=WAIT_MS)
    url = "rtsp://admin:s3cret@10.0.0.2/live"
    dialog.ask_stream_url = lambda: url

    def choose(label: str) -> None:
        editor.add_menu.aboutToShow.emit()
        next(action for action in editor.add_menu.actions() if action.text().startswith(label)).trigger()

    choose("Network camera")
    choose("Camera 1")
    assert dialog.settings().more_cameras == (url, "1")
    assert [editor.list.item(row).text() for row in range(2)] == ["rtsp://***@10.0.0.2/live", "Camera 1"]
    choose("Camera 0")
    assert not editor.add_button.isEnabled()  # four cameras in all
    editor.list.setCurrentRow(0)
    editor.remove_button.click()
    assert dialog.settings().more_cameras == ("1", "0") and editor.add_button.isEnabled()


def test_cameras_from_settings_start_and_change_while_running(qtbot, make_window, tmp_path, people, pipeline):
    enrol(tmp_path / "gallery.db", pipeline, people, "barack_obama", "joe_biden", "rose_leslie")
    folders = {name: str(write_frames(tmp_path / name, people[name][1], 10))
               for name in ("barack_obama", "joe_biden", "rose_leslie")}
    window = make_window(None, camera=folders["barack_obama"], more_cameras=(folders["joe_biden"],))
    assert len(window.tiles) == 2
    wait_for_each(qtbot, window, [0, 1], {0: "barack_obama", 1: "joe_biden"})
    window.apply_settings(replace(window.settings, more_cameras=(folders["rose_leslie"], folders["joe_biden"])))
    assert len(window.tiles) == 3 and window.tiles[0].view is window.view
    wait_for_each(qtbot, window, [0, 1, 2], {0: "barack_obama", 1: "rose_leslie", 2: "joe_biden"})
    assert load_settings(tmp_path / "settings.json").more_cameras == (folders["rose_leslie"], folders["joe_biden"])
    window.apply_settings(replace(window.settings, more_cameras=()))
    assert window.tiles == [] and window.centralWidget().isAncestorOf(window.view)
    qtbot.waitUntil(lambda: not window.controller.extra_running, timeout=WAIT_MS)
    report = next_report(qtbot, window, lambda r: names(r) == ["barack_obama"])
    assert report.camera == 0


def test_a_fifth_source_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["gui"] + [arg for n in range(5) for arg in ("--source", str(tmp_path / str(n)))])
    assert "at most 4 cameras in one window" in capsys.readouterr().err
    args = build_parser().parse_args(["gui", "--source", "a", "--source", "b"])
    assert args.source == ["a", "b"]
    with pytest.raises(ValueError, match="at most 4 cameras"):
        MainWindow.__init__(MainWindow.__new__(MainWindow), None, None, ["a"] * 5)
