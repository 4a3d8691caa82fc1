"""Several cameras on one engine: what each camera has to itself, and fair turns at the models.

The models, the gallery and the matcher's index are shared: one copy in memory however many
cameras run, and an enrolment made on one is matched on all at once. Each camera keeps its
own tracker (its faces, votes and track ids), frame-rate meter and last identified frame
(what a correction made on its view acts on). Track ids are numbered in a range per camera,
so an id names one face of one camera.

Only one frame is in the networks at a time (two cores: running two at once only makes
both slower), and the turns go in the order they were asked for (``FairTurns``): a camera
delivering 30 frames/s cannot starve one delivering 10, each gets its share of the CPU.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .loop import LiveRecognizer, LiveResult
from ..timing import RateMeter

MAX_CAMERAS = 4
TRACK_IDS_PER_CAMERA = 1_000_000_000


def first_track_id(camera: int) -> int:
    return camera * TRACK_IDS_PER_CAMERA + 1


def camera_of(track_id: int) -> int:
    """The camera whose tracker made ``track_id``."""
    return (track_id - 1) // TRACK_IDS_PER_CAMERA


@dataclass(eq=False)
class CameraSession:
    """One camera's own state; replaced recognizers (a new model) keep the camera's number."""

    number: int
    recognizer: LiveRecognizer
    fps: RateMeter = field(default_factory=RateMeter)
    last: LiveResult | None = None


class FairTurns:
    """A lock granted first come, first served (``threading.Lock`` makes no such promise: a
    thread that releases it and asks again at once usually gets it again)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()  # tickets whose thread stopped waiting (interrupted)

    def __enter__(self) -> FairTurns:
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            try:
                self._changed.wait_for(lambda: self._serving == ticket)
            except BaseException:  # interrupted while waiting: its turn is skipped, not waited for
                self._abandoned.add(ticket)
                if self._serving == ticket:
                    self._advance()
                raise
        return self

    def __exit__(self, *exc_info) -> None:
        with self._changed:
            self._advance()

    def _advance(self) -> None:
        self._serving += 1
        while self._serving in self._abandoned:
            self._abandoned.discard(self._serving)
            self._serving += 1
        self._changed.notify_all()
