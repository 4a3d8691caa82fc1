"""The live recognition service: models, gallery, matcher, tracker and the live loop in one
Qt-free object, driven alike by ``oneshot watch`` and the desktop app.

Its methods are typed and safe to call from any thread: the live loop (``live``) runs on one
thread while settings, model switches, enrolments and gallery changes arrive from others. A
change that takes time (a new model, provider or gallery) is prepared off the loop and
swapped in between two frames under one lock, so the live view never waits for it and never
sees half a change. Camera reconnection and best-of-burst enrolment live here, once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .activation import activate_model
from .archive import export_gallery, import_archive
from .camera import CameraError, Frame, FrameSource, LatestFrameGrabber, open_source
from .detect import Face
from .enrol import EnrolmentCandidate, EnrolmentResult, enrol, prepare_candidate
from .errors import OneShotError
from .gallery import Gallery
from .imaging import LoadedImage, load_image
from .live import LIVE_LONG_SIDE, LiveFace, LiveRecognizer, LiveResult
from .match import Match, Matcher
from .model_store import active_embedder
from .models import ModelSpec
from .pipeline import FacePipeline
from .quality import FaceCountError, QualityReport, choose_face, measure_quality
from .runtime import ProviderChoice
from .settings import Settings
from .track import TrackEvent

RETRY_SECONDS = 2.0  # a lost camera is tried again this often
BURST = 5  # good frames collected by "Capture"; the sharpest is enrolled
DEMO_FPS = 30.0  # an image folder plays like a webcam in the app
WAIT_SECONDS = 0.25  # longest wait for a frame: the loop yields at least this often (a cancel point)
STALL_SECONDS = 5.0  # a live source silent this long counts as lost
FPS_SMOOTHING = 0.1  # weight of the newest frame in the frames/s running estimate


@dataclass(frozen=True)
class SourceStarted:
    description: str
    restored: bool  # True when a lost source answered again


@dataclass(frozen=True)
class SourceLost:
    message: str
    retry_seconds: float


@dataclass(frozen=True, eq=False)
class Identified:
    """One frame of live identification: faces with their voted names, and the status figures."""

    frame: Frame
    faces: list[LiveFace]
    events: list[TrackEvent]
    tau: float
    fps: float
    stage_ms: dict[str, float]


@dataclass(frozen=True, eq=False)
class EnrolPreview:
    """One frame while enrolling: the face (if exactly one) and what to fix."""

    frame: Frame
    face: Face | None
    report: QualityReport | None
    hints: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class CandidateReady:
    candidate: EnrolmentCandidate
    similar: Match | None  # someone already enrolled this face resembles (below tau)
    duplicate: bool = False  # ``similar`` is closer than duplicate_tau: enrolling it anew needs force


@dataclass(frozen=True)
class EnrolFailed:
    message: str


LiveEvent = SourceStarted | SourceLost | Identified | EnrolPreview | CandidateReady | EnrolFailed


class RateMeter:
    """Frames per second as a running estimate: constant memory however long it runs."""

    def __init__(self, weight: float = FPS_SMOOTHING) -> None:
        self.weight = weight
        self.reset()

    def reset(self) -> None:
        self.rate = 0.0
        self._last: float | None = None

    def tick(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        if self._last is not None:
            instant = 1.0 / max(now - self._last, 1e-6)
            self.rate = instant if self.rate == 0.0 else (1 - self.weight) * self.rate + self.weight * instant
        self._last = now
        return self.rate


class RecognitionService:
    """Owns the models, the gallery and the live loop; see the module docstring for threads."""

    def __init__(self, settings: Settings, pipeline: FacePipeline, gallery: Gallery,
                 detect_long_side: int | None = LIVE_LONG_SIDE) -> None:
        self._swap = threading.RLock()  # held by the loop for one frame, and by every swap
        self._changing = threading.RLock()  # one change (settings, model) prepared at a time
        self.settings = settings.validated()
        self.detect_long_side = detect_long_side
        self._pipeline = pipeline
        self._gallery = gallery
        self.recognizer = self._new_recognizer()
        self._enrolling = False
        self._burst: list[tuple[float, Frame]] | None = None
        self.fps = RateMeter()

    @classmethod
    def open(cls, settings: Settings, detect_long_side: int | None = LIVE_LONG_SIDE) -> RecognitionService:
        """Load the models on the chosen provider and open the gallery (slow: off the UI thread)."""
        pipeline = FacePipeline.load(settings.provider, score_threshold=settings.score_threshold,
                                     nms_threshold=settings.nms_threshold)
        return cls(settings, pipeline, Gallery(settings.gallery_path()), detect_long_side)

    def close(self) -> None:
        with self._swap:
            self._gallery.close()

    def __enter__(self) -> RecognitionService:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- what is in service ------------------------------------------------------------------

    @property
    def providers(self) -> ProviderChoice:
        return self._pipeline.providers

    @property
    def model(self) -> ModelSpec:
        return self._pipeline.embedder.spec

    @property
    def tau(self) -> float:
        """The threshold in force (hand-set, else the model's calibrated one)."""
        return self.recognizer.matcher.tau

    @property
    def calibrated_tau(self) -> float:
        return self._pipeline.tau

    @property
    def gallery_path(self) -> Path:
        return self._gallery.path

    def _new_recognizer(self) -> LiveRecognizer:
        pipeline = self._pipeline
        matcher = Matcher(self._gallery, pipeline.embedder.spec.id, self.settings.effective_tau(pipeline.tau))
        return LiveRecognizer(pipeline, matcher, detect_long_side=self.detect_long_side)

    # -- changes ---------------------------------------------------------------------------

    def apply_settings(self, settings: Settings) -> None:
        """Put ``settings`` in force now: thresholds at once, a new provider or gallery between frames.

        The slow part (loading sessions, opening a gallery) happens on the caller's thread; a
        failure leaves everything as it was.
        """
        with self._changing:
            self._apply(settings.validated())

    def _apply(self, settings: Settings) -> None:
        pipeline, gallery = self._pipeline, self._gallery
        if settings.provider != self.settings.provider:
            pipeline = FacePipeline.load(settings.provider, embedder_id=self.model.id,
                                         score_threshold=settings.score_threshold,
                                         nms_threshold=settings.nms_threshold)
        if settings.gallery_path() != self.settings.gallery_path():
            gallery = Gallery(settings.gallery_path())
        with self._swap:
            previous = self._gallery
            self.settings = settings
            pipeline.detector.configure(settings.score_threshold, settings.nms_threshold)
            if pipeline is not self._pipeline or gallery is not previous:
                self._pipeline, self._gallery = pipeline, gallery
                self.recognizer = self._new_recognizer()
            else:
                self.recognizer.matcher.tau = settings.effective_tau(pipeline.tau)
            if gallery is not previous:
                previous.close()

    def switch_model(self, model_id: str, progress: Callable[[int, int], None] | None = None) -> ModelSpec:
        """Embed the gallery's chips with ``model_id`` and put it into service between two frames.

        A hand-set tau stays; otherwise the new model's calibrated tau comes with it. The
        previous model keeps running unless every step succeeds; the detector stays.
        """
        with self._changing:
            embedder, _ = activate_model(model_id, self._gallery, self.settings.provider, progress)
            pipeline = FacePipeline(self._pipeline.detector, embedder, self._pipeline.providers)
            pipeline.warm_up()
            with self._swap:
                self._pipeline = pipeline
                self.recognizer = self._new_recognizer()
            return embedder.spec

    def follow_active_model(self) -> ModelSpec | None:
        """Switch to the embedder made active elsewhere (``oneshot models activate``); None if unchanged."""
        with self._changing:
            chosen = active_embedder()
            return None if chosen.id == self.model.id else self.switch_model(chosen.id)

    # -- enrolment ---------------------------------------------------------------------------

    def set_enrolling(self, enrolling: bool) -> None:
        """Live frames go to the enrolment preview (quality hints) instead of identification."""
        self._enrolling = enrolling
        self._burst = None

    def capture_burst(self) -> None:
        """Collect the next BURST good frames and offer the best as a candidate."""
        self._enrolling = True
        self._burst = []

    @property
    def duplicate_tau(self) -> float:
        """Closer than this to someone enrolled, a face is refused as a new person unless forced."""
        return self._pipeline.embedder.duplicate_tau

    def enrolled_names(self) -> list[str]:
        """Everyone enrolled, for a dialog that offers to add a sample to one of them."""
        return [person.name for person in self._gallery.people()]

    def preview_enrolment(self, image: LoadedImage | str | Path, use_largest: bool = False,
                          face_number: int | None = None,
                          box: tuple[float, float, float, float] | None = None) -> CandidateReady:
        """Detect, check and embed the face of a photo; say whom it resembles. Nothing is stored.

        A group photo needs ``face_number`` (from 1, in detection order), ``box`` (original
        pixels) or ``use_largest``; without them its ``FaceCountError`` carries the faces.
        """
        if not isinstance(image, LoadedImage):
            image = load_image(image)
        return self._candidate(prepare_candidate(self._pipeline, image, use_largest, face_number=face_number,
                                                 box=box))

    def commit_enrolment(self, name: str, candidate: EnrolmentCandidate, force: bool = False,
                         add_sample: bool = False, confirmed: bool = False) -> EnrolmentResult:
        """Store a previewed candidate as a new person, or (``add_sample``) as one more sample of one.

        The duplicate gate applies unless ``force``; a sample far from the person unless ``confirmed``.
        """
        return enrol(self._gallery, self.recognizer.matcher, name, candidate, self.duplicate_tau,
                     force=force, add_sample=add_sample, confirmed=confirmed)

    def add_sample(self, name: str, photo: LoadedImage | str | Path, confirmed: bool = False,
                   force: bool = False) -> EnrolmentResult:
        """One more sample of an enrolled person from a photo (refused if far from them unless ``confirmed``)."""
        candidate = self.preview_enrolment(photo).candidate
        return self.commit_enrolment(name, candidate, force=force, add_sample=True, confirmed=confirmed)

    def _candidate(self, candidate: EnrolmentCandidate) -> CandidateReady:
        match = self.recognizer.matcher.match(candidate.embedding[None])[0]
        similar = match if match.name is not None else None
        return CandidateReady(candidate, similar, similar is not None and similar.distance < self.duplicate_tau)

    # -- the gallery -------------------------------------------------------------------------

    def people_count(self) -> int:
        return len(self._gallery.people())

    def thumbnails(self):
        return self._gallery.thumbnails()

    def rename(self, old: str, new: str):
        return self._gallery.rename(old, new)

    def forget(self, name: str) -> int:
        return self._gallery.forget(name)

    def export(self, path: Path) -> int:
        return export_gallery(self._gallery, self.model.id, path)

    def import_archive(self, path: Path) -> tuple[int, int]:
        return import_archive(self._gallery, path, self.model.id)

    def training_data(self, folder: Path | None, crops: bool = False, progress=None):
        """Chips for the training wizard: from a folder of people (detected and aligned here), or the gallery."""
        from .training.data import chips_from_folder, chips_from_gallery

        if folder is None:
            return chips_from_gallery(self._gallery)
        return chips_from_folder(folder, self._pipeline, crops, progress=progress)

    # -- the live loop -----------------------------------------------------------------------

    def live(self, spec: str, *, realtime: bool = True, reconnect: bool = True, max_frames: int | None = None,
             should_stop: Callable[[], bool] = lambda: False) -> Iterator[LiveEvent | None]:
        """Frames of ``spec`` (camera index, video file or image folder) through the current mode.

        ``realtime`` (the app): every source is read on its own thread keeping only the
        newest frame, folders play at DEMO_FPS and files start again at their end. Otherwise
        (``oneshot watch``) a file's frames are all processed in order and the stream ends
        with it. ``reconnect``: a lost or absent camera is reported (``SourceLost``) and
        tried again every RETRY_SECONDS; without it the ``CameraError`` is raised. None is
        yielded while waiting, at least every WAIT_SECONDS: a consumer can stop there.
        """
        processed, lost, announced = 0, False, False
        while not should_stop():
            try:
                source = open_source(spec, *self.settings.resolution, fps=DEMO_FPS if realtime else None)
                start = SourceStarted(source.description, restored=lost) if lost or not announced else None
                lost = False
                for event in self._run_source(source, realtime, should_stop, start):
                    announced = True
                    yield event
                    if isinstance(event, (Identified, EnrolPreview)):
                        processed += 1
                        if max_frames is not None and processed >= max_frames:
                            return
            except CameraError as error:
                if not reconnect:
                    raise
                lost = True
                yield SourceLost(str(error), RETRY_SECONDS)
                yield from _pause(RETRY_SECONDS, should_stop)
                continue
            if not realtime:
                return

    def finish(self) -> list[TrackEvent]:
        """End of the stream: every track leaves (``oneshot watch`` prints them)."""
        return self.recognizer.finish()

    def _run_source(self, source: FrameSource, realtime: bool, should_stop,
                    start: SourceStarted | None) -> Iterator[LiveEvent | None]:
        """One opened source to its end; ``start`` (if any) is announced once it is in hand."""
        if not realtime and not source.is_live:  # a file for the command line: every frame, in order
            with source:
                yield from self._announce(start)
                for result in self.recognizer.results(iter(source.read, None), live=False):
                    yield self._identified(result)
            return
        with LatestFrameGrabber(source) as grabber:
            yield from self._announce(start)
            last_frame = time.monotonic()
            while not should_stop():
                frame = grabber.latest(timeout=WAIT_SECONDS)
                if frame is None:
                    if grabber.finished:
                        return
                    if time.monotonic() - last_frame > STALL_SECONDS:
                        raise CameraError(source.description,
                                          f"{source.description}: no frame for {STALL_SECONDS:g} seconds")
                    yield None
                    continue
                last_frame = time.monotonic()
                yield from self._process(frame)

    def _announce(self, start: SourceStarted | None) -> Iterator[SourceStarted]:
        if start is not None:
            self.fps.reset()
            yield start

    def _process(self, frame: Frame) -> list[LiveEvent]:
        with self._swap:
            if self._enrolling:
                return self._preview(frame)
            return [self._identified(self.recognizer.process(frame))]

    def _identified(self, result: LiveResult) -> Identified:
        return Identified(result.frame, result.faces, result.events, self.recognizer.matcher.tau,
                          self.fps.tick(), self._pipeline.times.medians())

    def _preview(self, frame: Frame) -> list[LiveEvent]:
        """Quality hints for one frame; during a burst, the best of BURST good frames becomes a candidate."""
        pipeline = self._pipeline
        try:
            face = choose_face(pipeline.detect(frame.pixels), "camera")
        except FaceCountError:
            return [EnrolPreview(frame, None, None, ("only one person in view",))]
        except OneShotError:
            return [EnrolPreview(frame, None, None, ("look into the camera",))]
        report = measure_quality(frame.pixels, face)
        events: list[LiveEvent] = [EnrolPreview(frame, face, report, report.hints)]
        if self._burst is not None and report.ok:
            self._burst.append((report.score, frame))
            if len(self._burst) >= BURST:
                _, best = max(self._burst, key=lambda item: item[0])
                self._burst = None
                image = LoadedImage(best.pixels, f"camera frame {best.index}", best.pixels.shape[1::-1], 1.0)
                try:
                    events.append(self._candidate(prepare_candidate(pipeline, image)))
                except OneShotError as error:
                    events.append(EnrolFailed(str(error)))
        return events


def _pause(seconds: float, should_stop: Callable[[], bool]) -> Iterator[None]:
    """Wait ``seconds``, yielding every WAIT_SECONDS so the consumer can stop meanwhile."""
    until = time.monotonic() + seconds
    while not should_stop() and time.monotonic() < until:
        time.sleep(min(WAIT_SECONDS, max(0.0, until - time.monotonic())))
        yield None
