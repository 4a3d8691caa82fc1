"""The live loop: frame -> detect -> track -> liveness -> (align -> assess -> embed -> match,
only when due) -> labels.

A tracked face is re-embedded only when its track asks for it (new, every N frames, a
clearly better view, a box that jumps, a changed look under the box, a vote in flux), so a
steady scene costs far fewer network calls than faces; an embedding far from the track's own
ends it and starts a new one, so a name follows the face, not the box. Every stage is timed,
and the counters say how much work the tracker saved.

With liveness on, each new face is scored on its first few frames and again at each
re-embedding; the track's median decides (``core.live.track.LIVENESS_FRAMES``). A face is embedded
and named only once its track is judged live: a photo or a screen held up is never named,
and costs no embedding.

The detector runs only on frames where something moved (``core.live.motion``), and at least
every ``DETECT_EVERY`` frames; a still frame reuses the faces of the last one detected, so a
quiet camera costs little more than its tracking and the faces that are due.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .camera import Frame
from ..vision.detect import Face
from ..vision.liveness import LIVE_THRESHOLD
from .match import Match, Matcher
from .motion import MotionGate
from ..vision.pipeline import FacePipeline
from .track import FaceTracker, TrackEvent


@dataclass(frozen=True, eq=False)
class Observation:
    """What this frame computed for a face that was due: its chip, embedding and 1:N answer."""

    chip: np.ndarray
    embedding: np.ndarray
    match: Match


@dataclass(frozen=True)
class LiveFace:
    track_id: int
    face: Face
    name: str | None  # the voted identity; None is unknown (and always for a face not judged live)
    distance: float | None  # latest distance observed for that identity
    live: bool | None = None  # judged live over the track; None: not decided yet, or liveness is off
    liveness: float | None = None  # the track's median live probability
    condition: str = "clear"  # at the track's latest embedding: "masked", "profile", "small", "dark"
    tau: float | None = None  # the threshold that condition was decided at (None: the matcher's)
    # Only on the frames the face was embedded (None on the others): "Who's this?" groups the
    # unknown ones from here, without a second embedding.
    observation: Observation | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, eq=False)
class LiveResult:
    frame: Frame
    faces: list[LiveFace]
    events: list[TrackEvent]


@dataclass
class LiveCounters:
    frames: int = 0
    faces_seen: int = 0
    embed_calls: int = 0  # faces embedded (each is one row of a batched call)
    batches: int = 0  # network calls made for embedding
    liveness_calls: int = 0  # faces scored for liveness
    detections: int = 0  # frames the detector ran on
    detections_skipped: int = 0  # frames that reused the previous detection (nothing moved)
    stage_ms: dict = field(default_factory=dict)


# The detector's input for live frames: longest side 384 px. A webcam face near the screen
# does not need 640: on ../shared/data/detection every labelled face (the smallest 37 px tall
# in a 500 px photo) is still found at 384, with no extra box; at 320 one is missed. A
# 640x480 frame then detects in 16 ms instead of 30-39. Still photos (enrolment, the
# command line) keep the full size, where the landmarks are sharper.
LIVE_LONG_SIDE = 384
# At that size the live loop detects with Pc this much below the configured threshold. A mask
# (or a turned head) lowers Pc: on 90 masked copies of ../shared/data/detection's faces, 384 px
# found 82 at Pc 0.6 and 89 at 0.5 (and at 0.4), with no extra box on any shared photo (one at
# 0.3); the full-size stills found 87 at 0.6 and gain nothing from a lower Pc but extra boxes.
LIVE_SCORE_RELIEF = 0.1


def live_threshold(configured: float, long_side: int | None) -> float | None:
    """The Pc the live loop detects with: relieved at the small live size, as configured otherwise."""
    return max(0.0, configured - LIVE_SCORE_RELIEF) if long_side else None


def camera_long_side(long_side: int | None, pixels: np.ndarray) -> int | None:
    """The detector's input side for this camera's frame: ``long_side``, but never larger than
    the frame. A 320x240 camera enlarged to 384 found the same 42 faces as at its own size on
    24 shared photos letterboxed to 320x240, and took 13.5 ms a frame instead of 8.2."""
    return min(long_side, max(pixels.shape[:2])) if long_side else None


class LiveRecognizer:
    """Runs the recognition stages on a stream of frames, one ``process`` call per frame."""

    def __init__(self, pipeline: FacePipeline, matcher: Matcher, tracker: FaceTracker | None = None,
                 detect_long_side: int | None = LIVE_LONG_SIDE, liveness: bool = False,
                 motion: MotionGate | None = None) -> None:
        self.pipeline = pipeline
        self.detect_long_side = detect_long_side
        self.motion = motion or MotionGate()
        self._faces: list[Face] = []  # the last frame detected: reused while nothing moves
        self._liveness = False
        self.liveness = liveness
        self.matcher = matcher
        self.tracker = tracker or FaceTracker()
        self.times = pipeline.times
        self.counters = LiveCounters()
        self._identities = None  # (gallery revision, tau) the current votes were cast under

    @property
    def liveness(self) -> bool:
        """Whether faces must be judged live before they are named (only with a liveness model)."""
        return self._liveness

    @liveness.setter
    def liveness(self, on: bool) -> None:
        self._liveness = bool(on) and self.pipeline.liveness is not None

    def process(self, frame: Frame) -> LiveResult:
        """One frame through every stage, in order: the lowest latency for a live camera."""
        return self._recognise(frame, self._detect(frame.pixels))

    def stream(self, frames: Iterable[Frame]) -> Iterator[LiveResult]:
        """``process`` over a stream, detecting each frame while the one before is embedded.

        The detector pass of frame n+1 runs on a worker thread while this thread tracks,
        aligns, embeds and matches frame n (ONNX Runtime releases the GIL), and the results
        come out in order. Frame n's result waits for frame n+1 to arrive, so this suits
        files and a backlog, not a live view. On the CPU the two networks then fight for the
        same cores: 30 frames of four faces took 11 % longer than ``process`` in a steady
        scene and 3 % less when every face was re-embedded every frame (2 cores,
        ``tests/benchmarks/test_frame.py::test_stream``), hence ``results``.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="oneshot-detect") as worker:
            pending = None
            for frame in frames:
                detection = worker.submit(self._detect, frame.pixels)
                if pending is not None:
                    yield self._recognise(pending[0], pending[1].result())
                pending = (frame, detection)
            if pending is not None:
                yield self._recognise(pending[0], pending[1].result())

    def _detect(self, pixels: np.ndarray) -> list[Face]:
        """This frame's faces: the last detection's while nothing moved, else the detector's."""
        if self.motion.still(pixels):
            self.counters.detections_skipped += 1
            return self._faces
        long_side = camera_long_side(self.detect_long_side, pixels)
        live = long_side is not None  # at the live size, the live detector; a file at full size, the photos' one
        threshold = live_threshold(self.pipeline.detector_for(live).score_threshold, long_side)
        self._faces = self.pipeline.detect(pixels, long_side, threshold, live)
        self.counters.detections += 1
        return self._faces

    def results(self, frames: Iterable[Frame], live: bool) -> Iterator[LiveResult]:
        """Every frame's result, overlapped (``stream``) only for a file on a GPU, where the
        detector's network runs on the device while this thread embeds on it and decodes."""
        if live or not self.pipeline.providers.on_gpu:
            return map(self.process, frames)
        return self.stream(frames)

    def _recognise(self, frame: Frame, faces: list[Face]) -> LiveResult:
        """Everything after detection: track, then align, embed and match the faces that are due."""
        identities = (self.matcher.gallery.revision, self.matcher.tau)
        if identities != self._identities:  # someone enrolled, renamed, forgotten; a new tau
            self.tracker.reidentify()
            self.tracker.identity_tau = self.matcher.tau  # farther from a track's own: someone else
            self._identities = identities
        with self.times.measure("track"):
            # The pixels feed the tracker's per-frame appearance check, which asks for an
            # embedding at once when someone else takes a face's place under the same box.
            tracked = self.tracker.update(faces, frame.pixels)
        if self.liveness:
            self._score_liveness(frame, tracked)
        due_indices = [index for index, item in enumerate(tracked) if self._due(item)]
        due = [tracked[index] for index in due_indices]
        track_ids = {item.track_id: item.track_id for item in tracked}
        observations: dict[int, Observation] = {}  # by index in ``tracked``
        if due:
            chips = self.pipeline.align(frame.pixels, [item.face for item in due])
            conditions = self.pipeline.assess([item.face for item in due], chips)
            embeddings = self.pipeline.embed(chips)
            with self.times.measure("match"):
                matches = self.matcher.match(embeddings, conditions)
            for index, item, chip, match, embedding in zip(due_indices, due, chips, matches, embeddings):
                observations[index] = Observation(chip, embedding, match)
                # A track whose new embedding is someone else's ends here; its face goes on
                # under a new track id, with its own vote.
                distance = np.inf if match.distance is None else match.distance  # None: an empty gallery
                track_ids[item.track_id] = self.tracker.observe(item.track_id, match.name, distance, embedding)
                self.tracker.set_condition(track_ids[item.track_id], match.condition, match.tau)
            self.counters.embed_calls += len(due)
            self.counters.batches += 1
        self.counters.frames += 1
        self.counters.faces_seen += len(faces)
        labelled = []
        for index, item in enumerate(tracked):
            track_id = track_ids[item.track_id]
            name, distance = self.tracker.label(track_id)
            live, score = self.tracker.liveness(track_id, LIVE_THRESHOLD) if self.liveness else (None, None)
            if self.liveness and not live:
                name, distance = None, None
            labelled.append(LiveFace(track_id, item.face, name, distance, live, score,
                                     *self.tracker.condition(track_id), observations.get(index)))
        return LiveResult(frame, labelled, self.tracker.pop_events())

    def _score_liveness(self, frame: Frame, tracked: list) -> None:
        """Score, in one batch, the faces whose tracks are undecided or due for a new embedding."""
        scored = [item for item in tracked
                  if self.tracker.needs_liveness(item.track_id, item.needs_embedding, LIVE_THRESHOLD)]
        if scored:
            scores = self.pipeline.live_scores(frame.pixels, [item.face for item in scored])
            for item, score in zip(scored, scores):
                self.tracker.observe_liveness(item.track_id, float(score))
            self.counters.liveness_calls += len(scored)

    def _due(self, item) -> bool:
        """Whether to embed a tracked face now: when the tracker asks, and with liveness on only
        once the track is judged live (at once then, if it waited for the verdict)."""
        if not self.liveness:
            return item.needs_embedding
        if self.tracker.liveness(item.track_id, LIVE_THRESHOLD)[0] is not True:
            return False
        return item.needs_embedding or not self.tracker.identified(item.track_id)

    def finish(self) -> list[TrackEvent]:
        """End of stream: every track leaves."""
        return self.tracker.finish()

    def summary(self) -> LiveCounters:
        self.counters.stage_ms = self.times.medians()
        return self.counters
