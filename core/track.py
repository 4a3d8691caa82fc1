"""Follow faces from frame to frame by box overlap, and vote on who each one is.

Embedding every face in every frame is wasted work and makes labels flicker: a track keeps
its identity while its box overlaps, asks for a new embedding only now and then (or when a
clearly better view arrives), and its label is the majority of its last few identifications.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from .detect import Face
from .nms import iou

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackedFace:
    """A detection with the track it belongs to, and whether it is worth embedding now."""

    track_id: int
    face: Face
    needs_embedding: bool


@dataclass(frozen=True)
class TrackEvent:
    """A person ("appeared" | "left") on a track; ``name`` None is an unknown person.

    ``frame`` is the number of the ``update`` call (0-based) during or after which the tracker
    decided, so events come in frame order.
    """

    kind: str
    track_id: int
    name: str | None
    frame: int


@dataclass
class _Track:
    track_id: int
    face: Face
    embedded_frame: int  # frame of the last embedding (creation until the first one)
    embedded_area: float
    observations: deque[tuple[str | None, float]]
    missing: int = 0
    labelled: bool = False  # an "appeared" was emitted, so a "left" is owed
    label: str | None = None


class FaceTracker:
    """Greedy IoU tracker with a short identity vote per track.

    Call ``update`` once per frame with that frame's detections, ``observe`` with the
    identification of each face that ``needs_embedding``, and collect ``pop_events``.
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_missing: int = 5,
        vote_window: int = 7,
        reembed_every: int = 10,
        quality_gain: float = 1.25,
    ) -> None:
        if not 0.0 <= iou_threshold < 1.0:
            raise ValueError(f"iou_threshold must lie in [0, 1), got {iou_threshold}")
        if max_missing < 0:
            raise ValueError(f"max_missing must be 0 or more, got {max_missing}")
        if vote_window < 1:
            raise ValueError(f"vote_window must be 1 or more, got {vote_window}")
        if reembed_every < 1:
            raise ValueError(f"reembed_every must be 1 or more, got {reembed_every}")
        if not (math.isfinite(quality_gain) and quality_gain >= 1.0):
            raise ValueError(f"quality_gain must be a finite number of at least 1, got {quality_gain}")
        self.iou_threshold = iou_threshold
        self.max_missing = max_missing
        self.vote_window = vote_window
        self.reembed_every = reembed_every
        self.quality_gain = quality_gain
        self._tracks: dict[int, _Track] = {}
        self._events: list[TrackEvent] = []
        self._frame = -1
        self._next_id = 1

    def update(self, faces: list[Face]) -> list[TrackedFace]:
        """Assign this frame's faces to tracks; the result is in the order of ``faces``."""
        self._frame += 1
        tracks = list(self._tracks.values())
        matches = self._match(tracks, faces)
        result = []
        for index, face in enumerate(faces):
            track = matches.get(index)
            if track is None:
                track = _Track(
                    track_id=self._next_id,
                    face=face,
                    embedded_frame=self._frame,
                    embedded_area=face.area,
                    observations=deque(maxlen=self.vote_window),
                )
                self._next_id += 1
                self._tracks[track.track_id] = track
                needs = True
            else:
                track.face = face
                track.missing = 0
                needs = (
                    self._frame - track.embedded_frame >= self.reembed_every
                    or face.area > track.embedded_area * self.quality_gain
                )
            result.append(TrackedFace(track.track_id, face, needs))
        matched = {track.track_id for track in matches.values()}
        for track in tracks:
            if track.track_id not in matched:
                track.missing += 1
                if track.missing > self.max_missing:
                    self._end(track)
        return result

    def observe(self, track_id: int, name: str | None, distance: float) -> None:
        """Record one identification of a track (its embedding for this frame).

        An observation for a track that has already ended is ignored: with embedding done
        elsewhere, the answer may arrive after the face left.
        """
        if not 1 <= track_id < self._next_id:
            raise ValueError(f"no track {track_id} was ever made")
        track = self._tracks.get(track_id)
        if track is None:
            log.debug("observation for ended track %d ignored", track_id)
            return
        track.embedded_frame = self._frame
        track.embedded_area = track.face.area
        track.observations.append((name, float(distance)))
        voted = _vote(track.observations)
        if not track.labelled:
            track.labelled, track.label = True, voted
            self._emit("appeared", track)
        elif voted != track.label:
            self._emit("left", track)
            track.label = voted
            self._emit("appeared", track)

    def reidentify(self) -> None:
        """Forget every vote (the gallery or tau changed): each face is embedded again next frame.

        Labels stay until the new votes decide, so a rename or a new tau shows up at once
        without faces flickering to "unknown" in between.
        """
        for track in self._tracks.values():
            track.observations.clear()
            track.embedded_frame = self._frame - self.reembed_every

    def label(self, track_id: int) -> tuple[str | None, float | None]:
        """The voted name and the latest distance seen for it; (None, None) before any vote."""
        track = self._tracks.get(track_id)
        if track is None:
            raise KeyError(f"track {track_id} is not being tracked")
        if not track.labelled:
            return None, None
        distance = next((d for name, d in reversed(track.observations) if name == track.label), None)
        return track.label, distance

    def pop_events(self) -> list[TrackEvent]:
        """Events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def finish(self) -> list[TrackEvent]:
        """End every track (the stream is over): pending events, then their "left" events."""
        for track in list(self._tracks.values()):
            self._end(track)
        return self.pop_events()

    def _match(self, tracks: list[_Track], faces: list[Face]) -> dict[int, _Track]:
        """Face index -> track, pairing the highest IoU first, each side at most once."""
        if not tracks or not faces:
            return {}
        boxes = np.array([face.box for face in faces], dtype=np.float64)
        overlaps = np.stack([iou(np.asarray(track.face.box, dtype=np.float64), boxes) for track in tracks])
        # Stable sort: equal overlaps go to the older track, then the earlier face.
        order = np.argsort(-overlaps, axis=None, kind="stable")
        matches: dict[int, _Track] = {}
        used_tracks: set[int] = set()
        for flat in order:
            row, column = divmod(int(flat), len(faces))
            if overlaps[row, column] <= self.iou_threshold:
                break
            if row not in used_tracks and column not in matches:
                used_tracks.add(row)
                matches[column] = tracks[row]
        return matches

    def _end(self, track: _Track) -> None:
        del self._tracks[track.track_id]
        if track.labelled:
            self._emit("left", track)

    def _emit(self, kind: str, track: _Track) -> None:
        self._events.append(TrackEvent(kind, track.track_id, track.label, self._frame))


def _vote(observations: deque[tuple[str | None, float]]) -> str | None:
    """The most frequent name in the window; a tie goes to the name seen most recently."""
    votes = Counter(name for name, _ in observations)
    best = max(votes.values())
    return next(name for name, _ in reversed(observations) if votes[name] == best)
