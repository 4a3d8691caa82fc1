"""Follow faces from frame to frame by box overlap, and vote on who each one is.

Embedding every face in every frame is wasted work and makes labels flicker: a track keeps
its identity while its box overlaps, asks for a new embedding only now and then, and its
label is the majority of its last few identifications.

But the identity must follow the face, not the box: when one person takes another's place
(a seat change, a queue at a door) the box barely moves. So a track also asks for an
embedding at once when its box jumps or changes size abruptly, when a cheap appearance
signature of the box (an 8x8 grey patch, measured on every frame) changes, and on every
frame while its vote is in flux; and a fresh embedding farther than tau from every one of
the track's own recent embeddings ends the track and starts a new one with its own vote.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..vision.detect import Face
from ..vision.nms import iou

log = logging.getLogger(__name__)

# The appearance signature: the box's grey pixels shrunk to 8x8, zero mean, unit length; the
# change between two is 1 - their correlation (0 same, 1 unrelated). Measured with the
# detector's own boxes on 640x480 frames, every face pasted at the same spot as in
# tests/test_live.py (ORL photos enlarged 2.5x, 40 people; 16 people/ photos framed alike),
# a steady face being the same photo shifted up to 2 px with sensor noise sigma 3:
#   ORL     steady: p90 0.056, p99 0.123, 1.9 % above 0.10 | another person: min 0.082, p1 0.135
#   people/ steady: p90 0.082, p99 0.119, 5.6 % above 0.10 | another person: min 0.173, p1 0.247
# (shifts of 4 px and sigma 4 change little: p99 0.116 and 0.189). 12x12 and 16x16 patches,
# an inset box or a centre-weighted window all separated worse; colour added little.
# A change above 0.10 re-embeds at once: 99.87 % of the ORL swaps and all people/ ones, for
# 2-6 % of steady frames. Above half of that (every swap measured; 12-24 % of steady frames)
# the face is re-embedded 3 frames after the last embedding instead of 10. A face turning
# its head fires too: a new view, worth a new embedding. The cost is 20-40 us per face at
# any face size (the crop is subsampled to about 32 px before the area resize), against
# tens of ms for one embedding on the CPU.
APPEARANCE_SIZE = 8
APPEARANCE_PIXELS = 32
# Liveness is decided over the track, not one frame: the median of its latest scores, once it
# has at least LIVENESS_FRAMES of them (a new face is scored on each of its first frames, then
# again whenever it is due for an embedding, and on every frame while its latest score
# disagrees with the verdict). The median of three outvotes one bad frame either way. A score
# counts as a check like an embedding: a photo held up, never embedded, is scored once per
# re-embedding interval, not on every frame (53 of 60 frames before, 8 now).
LIVENESS_FRAMES = 3
LIVENESS_WINDOW = 5
# Events pile up only if nobody collects them; beyond this many the oldest are dropped.
MAX_PENDING_EVENTS = 1024
# A match is "sure" (green) below this fraction of tau and "near" (amber) from there to tau.
SURE_FRACTION = 0.7
# Hysteresis, as a share of tau: with the shipped model (tau 0.36) a steady face's distance
# wanders by about 0.01 between embeddings, so a band or a name changes only once the distance
# is 0.02 past its edge. A share, not a fixed 0.02: an imported model's distances live on its
# own scale (tau 0.1 to 1.3 measured), where a fixed margin would be a fifth of tau or nothing.
# Never past tau for a name: a face above tau is unknown at once, and a name comes back only
# below tau * (1 - HYSTERESIS) ("Unknown" is better than a wrong name).
HYSTERESIS = 0.02 / 0.36


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
    embedded_frame: int  # frame of the last check: an embedding or a liveness score (creation until then)
    embedded_area: float
    observations: deque[tuple[str | None, float]]
    embeddings: deque[np.ndarray]  # the last few embeddings: who this track is
    look: np.ndarray | None = None  # appearance signature in the latest frame
    reference: np.ndarray | None = None  # appearance signature at the last check
    missing: int = 0
    labelled: bool = False  # an "appeared" was emitted, so a "left" is owed
    label: str | None = None
    liveness: deque[float] = field(default_factory=lambda: deque(maxlen=LIVENESS_WINDOW))
    condition: str = "clear"  # at the latest embedding (``core.vision.condition``)
    tau: float | None = None  # that condition's threshold


class FaceTracker:
    """Greedy IoU tracker with a short identity vote per track.

    Call ``update`` once per frame with that frame's detections (and its pixels, for the
    appearance check), ``observe`` with the identification of each face that
    ``needs_embedding`` (and its embedding, for the same-person check), and collect
    ``pop_events``. ``identity_tau`` is the squared distance beyond which an embedding is
    another person than the track's (the live loop keeps it at the matcher's tau); None
    turns that check off.
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_missing: int = 5,
        vote_window: int = 7,
        reembed_every: int = 10,
        quality_gain: float = 1.25,
        identity_tau: float | None = None,
        memory: int = 4,
        appearance_change: float = 0.10,
        unsure_every: int = 3,
        box_jump: float = 0.2,
        box_scale: float = 1.4,
        first_id: int = 1,
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
        if memory < 1:
            raise ValueError(f"memory must be 1 or more, got {memory}")
        if not 0.0 < appearance_change <= 2.0:
            raise ValueError(f"appearance_change must lie in (0, 2], got {appearance_change}")
        if unsure_every < 1:
            raise ValueError(f"unsure_every must be 1 or more, got {unsure_every}")
        if not (math.isfinite(box_jump) and box_jump > 0.0):
            raise ValueError(f"box_jump must be a positive finite number, got {box_jump}")
        if not (math.isfinite(box_scale) and box_scale > 1.0):
            raise ValueError(f"box_scale must be a finite number above 1, got {box_scale}")
        self.iou_threshold = iou_threshold
        self.max_missing = max_missing
        self.vote_window = vote_window
        self.reembed_every = reembed_every
        self.quality_gain = quality_gain
        self.identity_tau = identity_tau
        self.memory = memory
        self.appearance_change = appearance_change
        self.unsure_every = unsure_every
        self.box_jump = box_jump
        self.box_scale = box_scale
        self._tracks: dict[int, _Track] = {}
        self._events: deque[TrackEvent] = deque(maxlen=MAX_PENDING_EVENTS)
        self._dropped_events = False  # warned once already
        self._frame = -1
        self._first_id = first_id  # several cameras: each tracker numbers its tracks in its own range
        self._next_id = first_id

    @property
    def identity_tau(self) -> float | None:
        return self._identity_tau

    @identity_tau.setter
    def identity_tau(self, value: float | None) -> None:
        if value is not None and not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"identity_tau must be None or a finite number of at least 0, got {value}")
        self._identity_tau = value

    def update(self, faces: list[Face], pixels: np.ndarray | None = None) -> list[TrackedFace]:
        """Assign this frame's faces to tracks; the result is in the order of ``faces``.

        ``pixels`` is the frame the faces were found in; without it there is no appearance
        check, and only a new track, the interval, a better view or a box that jumped ask
        for an embedding.
        """
        self._frame += 1
        tracks = list(self._tracks.values())
        matches = self._match(tracks, faces)
        result = []
        for index, face in enumerate(faces):
            look = appearance(pixels, face.box) if pixels is not None else None
            track = matches.get(index)
            if track is None:
                track = self._new_track(face, look)
                needs = True
            else:
                needs = self._due(track, face, look)
                track.face, track.look, track.missing = face, look, 0
            result.append(TrackedFace(track.track_id, face, needs))
        matched = {track.track_id for track in matches.values()}
        for track in tracks:
            if track.track_id not in matched:
                track.missing += 1
                if track.missing > self.max_missing:
                    self._end(track)
        return result

    def observe(self, track_id: int, name: str | None, distance: float | None,
                embedding: np.ndarray | None = None) -> int:
        """Record one identification of a track (its embedding for this frame); the id of the
        track that holds the face now.

        With ``embedding`` and ``identity_tau`` set, an embedding farther than tau from each
        of the track's recent embeddings is someone else: the track ends ("left") and a new
        one, whose id is returned, starts on the same face with this observation as its
        first vote ("appeared"). Not when the name is the track's own label: the gallery
        says it is the same person, and a split would only add a "left"/"appeared" pair.
        A distance of None or NaN (nothing to compare with) counts as infinite.

        An observation for a track that has already ended is ignored: with embedding done
        elsewhere, the answer may arrive after the face left.
        """
        if not self._first_id <= track_id < self._next_id:
            raise ValueError(f"no track {track_id} was ever made")
        track = self._tracks.get(track_id)
        if track is None:
            log.debug("observation for ended track %d ignored", track_id)
            return track_id
        distance = math.inf if distance is None or math.isnan(distance) else float(distance)
        vector = None
        if embedding is not None:
            vector = np.array(embedding, dtype=np.float32).ravel()  # a copy: callers reuse buffers
            if not np.isfinite(vector).all():
                log.debug("track %d: non-finite embedding not kept", track_id)
                vector = None
        if vector is not None and self._someone_else(track, name, vector):
            self._end(track)
            track = self._new_track(track.face, track.look)
        self._checked(track)
        if vector is not None:
            track.embeddings.append(vector)
        track.observations.append((self._named(track, name, distance), distance))
        # The majority outvotes one odd name, never one look past tau: that face is unknown now.
        voted = None if track.observations[-1][0] is None else _vote(track.observations)
        if not track.labelled:
            track.labelled, track.label = True, voted
            self._emit("appeared", track)
        elif voted != track.label:
            self._emit("left", track)
            track.label = voted
            self._emit("appeared", track)
        return track.track_id

    def needs_liveness(self, track_id: int, embedding_due: bool, threshold: float) -> bool:
        """Whether to score this track's face for liveness now: until it is decided, at each
        re-embedding (a track can be a person, then a photo swapped in under the box), and
        while its latest score says otherwise than its verdict (settled in a few frames)."""
        track = self._tracks.get(track_id)
        if track is None:
            return False
        if len(track.liveness) < LIVENESS_FRAMES or embedding_due:
            return True
        return (track.liveness[-1] >= threshold) != (float(np.median(track.liveness)) >= threshold)

    def observe_liveness(self, track_id: int, score: float) -> None:
        """Record one frame's live probability for a track (ignored once the track has ended);
        the next re-embedding interval counts from here, as after an embedding."""
        track = self._tracks.get(track_id)
        if track is not None and math.isfinite(score):
            track.liveness.append(float(score))
            self._checked(track)

    def liveness(self, track_id: int, threshold: float) -> tuple[bool | None, float | None]:
        """(live, median score) over the track's latest scores; live is None until decided."""
        track = self._tracks.get(track_id)
        if track is None or not track.liveness:
            return None, None
        score = float(np.median(track.liveness))
        return (score >= threshold if len(track.liveness) >= LIVENESS_FRAMES else None), score

    def identified(self, track_id: int) -> bool:
        """Whether the track has had an identification since it began (or since ``reidentify``)."""
        track = self._tracks.get(track_id)
        return track is not None and bool(track.observations)

    def set_condition(self, track_id: int, condition: str, tau: float | None) -> None:
        """The condition the track's face was last embedded in, and the tau it was decided at."""
        track = self._tracks.get(track_id)
        if track is not None:
            track.condition, track.tau = condition, tau

    def condition(self, track_id: int) -> tuple[str, float | None]:
        track = self._tracks.get(track_id)
        return ("clear", None) if track is None else (track.condition, track.tau)

    def reidentify(self) -> None:
        """Forget every vote (the gallery, tau or the model changed): each face is embedded
        again next frame.

        Labels stay until the new votes decide, so a rename or a new tau shows up at once
        without faces flickering to "unknown" in between. The recent embeddings go too: a
        new model's vectors cannot be compared with the old one's.
        """
        for track in self._tracks.values():
            track.observations.clear()
            track.embeddings.clear()
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
        events = list(self._events)
        self._events.clear()
        return events

    def finish(self) -> list[TrackEvent]:
        """End every track (the stream is over): pending events, then their "left" events."""
        for track in list(self._tracks.values()):
            self._end(track)
        return self.pop_events()

    def _new_track(self, face: Face, look: np.ndarray | None) -> _Track:
        track = _Track(
            track_id=self._next_id,
            face=face,
            embedded_frame=self._frame,
            embedded_area=face.area,
            observations=deque(maxlen=self.vote_window),
            embeddings=deque(maxlen=self.memory),
            look=look,
            reference=look,
        )
        self._next_id += 1
        self._tracks[track.track_id] = track
        return track

    def _checked(self, track: _Track) -> None:
        """The track's face was looked at closely this frame: its next check is measured from here."""
        track.embedded_frame, track.embedded_area, track.reference = self._frame, track.face.area, track.look

    def _due(self, track: _Track, face: Face, look: np.ndarray | None) -> bool:
        """Whether a matched track's face (``face``, this frame) should be embedded now."""
        waited = self._frame - track.embedded_frame
        if waited >= self.reembed_every or face.area > track.embedded_area * self.quality_gain:
            return True
        if _abrupt(track.face, face, self.box_jump, self.box_scale):
            return True
        if track.observations and track.observations[-1][0] != track.label:
            return True  # the vote is in flux: settle it in a few frames, not a few intervals
        change = _change(track.reference, look)
        return change > self.appearance_change or (change > self.appearance_change / 2
                                                   and waited >= self.unsure_every)

    def _named(self, track: _Track, name: str | None, distance: float) -> str | None:
        """The name an observation votes for: none past tau, and a name the track does not
        show yet only clearly inside tau (so a face whose distance hovers at tau does not
        flip between a name and "Unknown")."""
        tau = track.tau if track.tau is not None else self.identity_tau
        if name is None or tau is None or name == track.label:
            return name if tau is None or distance <= tau else None
        return name if distance <= tau * (1.0 - HYSTERESIS) else None

    def _someone_else(self, track: _Track, name: str | None, vector: np.ndarray) -> bool:
        """Whether ``vector`` is farther than tau from each of the track's recent embeddings.

        The nearest of the last few, not the latest: a head turning drifts. ORL photos 1 and 2
        of each of 40 people, pasted as in tests/test_live.py, lie 0.066 apart (median), 0.295
        at most, under tau 0.36; 2.2 % of the pairs of different people lie under tau too:
        such a swap ends no track, but its first different name puts the vote in flux (see
        ``_due``) and the vote turns within about half a vote window of frames.
        """
        tau = self.identity_tau
        if tau is None or (name is not None and track.labelled and name == track.label):
            return False
        distances = [float(np.sum((vector - known) ** 2)) for known in track.embeddings
                     if known.shape == vector.shape]
        if not distances or min(distances) <= tau:
            return False
        log.debug("track %d: embedding %.3f from its own (tau %.3f), a new person", track.track_id,
                  min(distances), tau)
        return True

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
        if len(self._events) == self._events.maxlen and not self._dropped_events:
            self._dropped_events = True
            log.warning("%d track events not collected: dropping the oldest", len(self._events))
        self._events.append(TrackEvent(kind, track.track_id, track.label, self._frame))


def appearance(pixels: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
    """The box's grey pixels as an 8x8 zero-mean unit vector; None for an empty or flat box."""
    height, width = pixels.shape[:2]
    x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
    x2, y2 = min(math.ceil(box[2]), width), min(math.ceil(box[3]), height)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    step = max(1, min(x2 - x1, y2 - y1) // APPEARANCE_PIXELS)
    crop = np.ascontiguousarray(pixels[y1:y2:step, x1:x2:step])
    if crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    patch = cv2.resize(crop, (APPEARANCE_SIZE, APPEARANCE_SIZE), interpolation=cv2.INTER_AREA)
    patch = patch.astype(np.float32).ravel()
    patch -= patch.mean()
    norm = float(np.linalg.norm(patch))
    return patch / norm if norm >= 1.0 else None


def _change(reference: np.ndarray | None, look: np.ndarray | None) -> float:
    """1 - correlation of two signatures, 0 when either is missing."""
    if reference is None or look is None:
        return 0.0
    return 1.0 - float(reference @ look)


def _abrupt(previous: Face, face: Face, jump: float, scale: float) -> bool:
    """Whether the box moved by more than ``jump`` of its side, or its area changed by more
    than a factor ``scale``, since the previous frame.

    Detector jitter on a steady face (the same photo shifted up to 4 px, with noise) moves the
    centre at most 0.09 of the side and the area by a factor 0.955..1.09 (people/ photos at
    640x480), so 0.2 and 1.4 leave about twice that as a margin. Bigger jumps than about half
    the side do not overlap enough to keep the track at all.
    """
    side = math.sqrt(previous.area)
    if side <= 0.0 or face.area <= 0.0:
        return previous.area != face.area
    shift = math.hypot((face.box[0] + face.box[2] - previous.box[0] - previous.box[2]) / 2,
                       (face.box[1] + face.box[3] - previous.box[1] - previous.box[3]) / 2)
    ratio = face.area / previous.area
    return shift > jump * side or not 1.0 / scale <= ratio <= scale


def confidence_band(distance: float | None, tau: float, previous: str | None = None) -> str:
    """"sure", "near" or "unknown" for a named face at squared ``distance``, with hysteresis:
    from its ``previous`` band, a face moves to the other side of the sure/near edge only once
    its distance is HYSTERESIS (of tau) past that edge. Past tau it is "unknown" whatever it was."""
    if distance is None or not distance < tau:
        return "unknown"
    edge = SURE_FRACTION * tau
    if previous == "sure":
        edge += HYSTERESIS * tau
    elif previous == "near":
        edge -= HYSTERESIS * tau
    return "sure" if distance < edge else "near"


def _vote(observations: deque[tuple[str | None, float]]) -> str | None:
    """The most frequent name in the window; a tie goes to the name seen most recently."""
    votes = Counter(name for name, _ in observations)
    best = max(votes.values())
    return next(name for name, _ in reversed(observations) if votes[name] == best)
