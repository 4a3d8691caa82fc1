"""Take the README's screenshots of the real app on the shared photos.

``python -m gui.screenshots [--data ../shared/data] [--out resources/screenshots]`` runs
offscreen by default (set QT_QPA_PLATFORM=xcb under Xvfb for native window decorations):
a temporary gallery with one photo of each person, a two-person scene played as the
camera, then the main window, the enrolment dialog and the gallery manager are grabbed; and
the live view on a printed photo held up ("Photo?") and on a masked face ("Unknown (masked)");
with ``--import-model FILE.onnx`` (an ArcFace-style embedder), the import dialog after checking
and calibrating it on the shared people (registered in a temporary model store, not the user's).
Then every window and dialog is grabbed on an 800x600 and a 1920x1080 screen (the window
filling the screen, each dialog at its own size but never larger than the screen) into
``review/``: the review of how each one looks small and large.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QEventLoop, QSize, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from core.bench import letterbox  # noqa: E402
from core.live.enrol import enrol, prepare_candidate  # noqa: E402
from core.storage.repository import Gallery  # noqa: E402
from core.vision.imaging import load_image  # noqa: E402
from core.live.match import Matcher  # noqa: E402
from core.vision.pipeline import FacePipeline  # noqa: E402
from core.settings import Settings  # noqa: E402

from .main_window import MainWindow, PassphraseDialog  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def wait_for(signal, timeout_ms: int = 60_000, condition=lambda *args: True) -> None:
    """Run the event loop until ``signal`` fires with arguments meeting ``condition``."""
    loop = QEventLoop()

    def check(*args):
        if condition(*args):
            loop.quit()

    signal.connect(check)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(check)


def pause(milliseconds: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def frames_from(photo: Path, folder: Path, count: int = 30) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = Image.fromarray(letterbox(load_image(photo).pixels))
    for n in range(count):
        frame.save(folder / f"{n:03d}.jpg", quality=92)
    return folder


def masked_frames(photo: Path, folder: Path, count: int = 30) -> Path:
    """Frames of ``photo`` with a mask drawn over its largest face."""
    from core.training.conditions import mask_photo

    image = load_image(photo)
    face = max(FacePipeline.load("cpu").detect(image.pixels), key=lambda found: found.area)
    masked = folder.parent / f"{folder.name}.png"
    Image.fromarray(mask_photo(image.pixels, face)).save(masked)
    return frames_from(masked, folder, count)


def enrol_people(gallery_path: Path, data: Path) -> None:
    pipeline = FacePipeline.load("cpu")
    with Gallery(gallery_path) as gallery:
        matcher = Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau)
        for folder in sorted(p for p in (data / "people").iterdir() if p.is_dir()):
            first = sorted(folder.iterdir())[0]
            candidate = prepare_candidate(pipeline, load_image(first))
            enrol(gallery, matcher, folder.name.replace("_", " ").title(), candidate, pipeline.embedder.duplicate_tau)


def first_run(work: Path, out: Path) -> None:
    """A new user's first start: no camera (an index that is not there) and nobody enrolled."""
    window = MainWindow(Settings(gallery=str(work / "first-run.db")), work / "first-run.json", "0")
    window.resize(1000, 760)
    window.show()
    wait_for(window.controller.cameraLost)
    pause(300)
    window.grab().save(str(out / "first-run.png"))
    window.close()


def live_view_shots(work: Path, data: Path, out: Path) -> None:
    """"Photo?" on upstream's sample of a printed photo held up (liveness on), and "Unknown
    (masked)" on an enrolled person with a mask drawn on (liveness off: the frames are photos)."""
    attack = frames_from(data / "liveness" / "image_F1.jpg", work / "attack")
    window = MainWindow(Settings(gallery=str(work / "gallery.db")), work / "attack.json", str(attack))
    window.resize(1000, 760)
    window.show()
    wait_for(window.controller.frameProcessed, condition=lambda image, report: any(
        face.live is False for face in report.faces))
    pause(300)
    window.grab().save(str(out / "photo-held-up.png"))
    window.close()
    masked = masked_frames(data / "people" / "barack_obama" / "2.jpg", work / "masked")
    window = MainWindow(Settings(gallery=str(work / "gallery.db"), liveness=False), work / "masked.json", str(masked))
    window.resize(1000, 760)
    window.show()
    wait_for(window.controller.frameProcessed, condition=lambda image, report: any(
        face.condition == "masked" and face.name is None for face in report.faces))
    pause(300)
    window.grab().save(str(out / "unknown-masked.png"))
    window.close()


SCREENS = ((800, 600), (1920, 1080))


def review_dialogs(window: MainWindow, photo: Path, out: Path) -> None:
    """Every window and dialog on each of ``SCREENS``, as ``review/NAME-WxH.png``."""
    folder = out / "review"
    folder.mkdir(parents=True, exist_ok=True)
    def person_view():
        manager = window.open_gallery()
        wait_for(manager.loaded)
        return manager.open_person("Barack Obama")

    opened = {"settings": window.open_settings, "gallery-manager": window.open_gallery,
              "person-view": person_view, "history": window.open_history, "training-wizard": window.open_training,
              "model-import": window.open_model_import,
              "enroll-from-photo": lambda: window.enroll_from_photo(str(photo)),
              "enroll-from-webcam": window.enroll_from_webcam,
              "passphrase": lambda: PassphraseDialog("This gallery is protected by a passphrase. Type it to open "
                                                     "the gallery.", window)}
    for width, height in SCREENS:
        window.resize(width, height)
        pause(300)
        window.grab().save(str(folder / f"main-window-{width}x{height}.png"))
        for name, open_dialog in opened.items():
            dialog = open_dialog()
            dialog.resize(dialog.sizeHint().boundedTo(QSize(width, height)).expandedTo(dialog.minimumSize()))
            pause(500)
            dialog.grab().save(str(folder / f"{name}-{width}x{height}.png"))
            dialog.close()
            if dialog.parent() is not window:  # the person view's gallery manager
                dialog.parent().close()


def model_import_shot(window: MainWindow, model: Path, data: Path, work: Path, out: Path) -> None:
    """The import dialog with ``model`` compared beside the shipped one, registered under ``work``."""
    store = os.environ.get("ONESHOT_USER_MODELS")
    os.environ["ONESHOT_USER_MODELS"] = str(work / "models")
    try:
        dialog = window.open_model_import()
        dialog.file.setText(str(model))
        dialog.licence.setText("Apache-2.0")
        dialog.source.folder.setText(str(data / "people"))
        dialog.resize(720, 760)
        dialog.start_import()
        wait_for(dialog.job.finished, timeout_ms=600_000)
        pause(300)
        dialog.grab().save(str(out / "model-import.png"))
        dialog.reject()
    finally:
        if store is None:
            os.environ.pop("ONESHOT_USER_MODELS")
        else:
            os.environ["ONESHOT_USER_MODELS"] = store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots")
    parser.add_argument("--import-model", type=Path, metavar="FILE.onnx",
                        help="an ArcFace-style embedder to show the import dialog with (model-import.png)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication([])
    app.setStyle("Fusion")
    work = Path(tempfile.mkdtemp(prefix="oneshot-shots-"))
    enrol_people(work / "gallery.db", args.data)
    first_run(work, args.out)
    live_view_shots(work, args.data, args.out)
    scene = frames_from(args.data / "scenes" / "two_people.jpg", work / "scene")
    # the demo camera plays photos, which liveness rightly calls photos: off for these shots
    window = MainWindow(Settings(gallery=str(work / "gallery.db"), liveness=False), work / "settings.json",
                        str(scene))
    window.resize(1000, 760)
    window.show()
    wait_for(window.controller.frameProcessed, condition=lambda image, report: len(report.faces) == 2
             and all(face.name for face in report.faces))
    pause(300)
    window.grab().save(str(args.out / "main-window.png"))

    window.controller.start_source(str(frames_from(args.data / "orl" / "s1" / "1.pgm", work / "stranger")))
    wait_for(window.unknowns.refreshed, condition=lambda: window.unknowns.list.count() > 0)
    pause(300)
    window.grab().save(str(args.out / "whos-this.png"))

    window.controller.start_source(str(frames_from(args.data / "people" / "kit_harington" / "2.jpg", work / "kit")))
    wait_for(window.controller.frameProcessed)
    dialog = window.enroll_from_webcam()
    dialog.resize(720, 640)
    dialog.auto_capture.setChecked(False)  # the plain preview first
    wait_for(window.controller.enrolFrame, condition=lambda image, view: view.report is not None and view.report.ok)
    pause(300)
    dialog.grab().save(str(args.out / "enroll-dialog.png"))
    dialog.auto_capture.setChecked(True)
    wait_for(window.controller.enrolFrame, condition=lambda image, view: dialog.countdown.isVisible()
             and dialog.countdown.value() >= dialog.countdown.maximum() // 2)
    dialog.grab().save(str(args.out / "auto-capture.png"))
    dialog.reject()

    manager = window.open_gallery()
    manager.resize(760, 520)
    if not manager.visible_names():
        wait_for(manager.loaded)
    pause(300)
    manager.grab().save(str(args.out / "gallery-manager.png"))
    person = manager.open_person("Barack Obama")
    person.resize(760, 520)
    wait_for(person.loaded)
    pause(300)
    person.grab().save(str(args.out / "person-view.png"))
    person.reject()
    manager.reject()
    if args.import_model:
        model_import_shot(window, args.import_model, args.data, work, args.out)
    review_dialogs(window, args.data / "people" / "kit_harington" / "2.jpg", args.out)
    window.close()
    print(f"screenshots written to {args.out}")


if __name__ == "__main__":
    main()
