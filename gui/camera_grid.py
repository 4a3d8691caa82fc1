"""Several cameras side by side: one tile per camera, each its own view, caption and frame rate.

The first camera keeps the window's main view (corrections, "Who's this?" and enrolment from
the webcam act on it); the others (up to ``MAX_CAMERAS`` in all) are tiles beside it, each
saying what it plays, how fast, or why it stopped.
"""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from core.live.camera_session import MAX_CAMERAS

from .video_view import VideoView


class CameraTile(QWidget):
    """One camera: its view and a caption line ("camera 2: rtsp://***@door/stream · 14.8 fps")."""

    def __init__(self, number: int, view: VideoView | None = None) -> None:
        super().__init__()
        self.number = number
        self.view = view or VideoView()
        self.caption = QLabel(f"camera {number + 1}")
        self.description = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)

    def show_state(self, text: str) -> None:
        """What it plays (a description), or a message when it stopped or was lost."""
        if "\n" in text or text == "Stopped":
            self.view.show_message(text)
            self.caption.setText(f"camera {self.number + 1}: {text.splitlines()[0]}")
        else:
            self.description = text
            self.caption.setText(f"camera {self.number + 1}: {text}")

    def show_fps(self, fps: float) -> None:
        self.caption.setText(f"camera {self.number + 1}: {self.description} · {fps:.1f} fps")


def camera_grid(first: VideoView, count: int) -> tuple[QWidget, list[CameraTile]]:
    """A 1x1, 1x2 or 2x2 grid of ``count`` tiles, the first around the main view."""
    if not 1 <= count <= MAX_CAMERAS:
        raise ValueError(f"1 to {MAX_CAMERAS} cameras, not {count}")
    grid = QWidget()
    layout = QGridLayout(grid)
    layout.setContentsMargins(0, 0, 0, 0)
    tiles = [CameraTile(0, first)] + [CameraTile(number) for number in range(1, count)]
    columns = 1 if count == 1 else 2
    for index, tile in enumerate(tiles):
        layout.addWidget(tile, index // columns, index % columns)
    return grid, tiles
