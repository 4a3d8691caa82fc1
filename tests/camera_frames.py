"""Stand-in cameras for the tests: folders of 640x480 frames made from the shared photos."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from core.bench import letterbox
from core.vision.imaging import load_image

# The longest any GUI test waits for a signal or a condition (model loading and the first frames
# with both cores busy with other work). Tests wait on events, never on time: a passing test
# never waits this long, and a failing one says so after three minutes.
WAIT_MS = 180_000


def write_frames(folder: Path, photos, count: int) -> Path:
    """``count`` frames cycling through ``photos`` (one path or several), like a camera delivers."""
    photos = [photos] if isinstance(photos, (str, Path)) else list(photos)
    folder.mkdir(parents=True, exist_ok=True)
    frames = [Image.fromarray(letterbox(load_image(photo).pixels)) for photo in photos]
    for n in range(count):
        frames[n % len(frames)].save(folder / f"{n:03d}.jpg", quality=92)
    return folder


def next_report(qtbot, window, condition=lambda report: True, timeout: int = WAIT_MS):
    """The next frame the window's live loop processed whose report satisfies ``condition``."""
    seen = []

    def check(image, report):
        if condition(report):
            seen.append(report)
        return bool(seen)

    with qtbot.waitSignal(window.controller.frameProcessed, timeout=timeout, check_params_cb=check):
        pass
    return seen[-1]


def names(report) -> list[str | None]:
    return [face.name for face in report.faces]
