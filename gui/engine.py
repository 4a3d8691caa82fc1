"""The recognition engine: capture and inference on their own threads, results as Qt signals.

The UI thread only paints. This QThread owns the models, the gallery connection and the
frame source; the source is read by core's newest-frame grabber, so when inference is
slower than the camera, stale frames are dropped and each painted image comes with the
boxes computed on that very image. Commands from the UI go through a queue and are picked
up between frames. A lost camera is reported and reopened every two seconds until it
answers again or the user stops it.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass

from PySide6.QtCore import QThread, Signal

from core.activation import activate_model
from core.camera import CameraError, LatestFrameGrabber, open_source
from core.enrol import EnrolmentCandidate, enrol, prepare_candidate
from core.errors import OneShotError
from core.gallery import Gallery
from core.imaging import LoadedImage, load_image
from core.live import LiveFace, LiveRecognizer
from core.match import Match, Matcher
from core.pipeline import FacePipeline
from core.quality import FaceCountError, QualityReport, choose_face, measure_quality
from core.settings import Settings

from .imageconv import rgb_to_qimage

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
BURST = 5
DEMO_FPS = 30.0  # an image folder plays like a webcam


@dataclass(frozen=True)
class FrameReport:
    """What the main window paints over one frame, and its status-bar figures."""

    faces: list[LiveFace]
    tau: float
    fps: float
    stage_ms: dict
    captured: float  # time.monotonic() when the camera delivered the frame


@dataclass(frozen=True)
class EnrolView:
    """One preview frame of the enrolment dialog: the face (if one) and what to fix."""

    face: object  # Face or None
    report: QualityReport | None
    hints: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class CandidateReport:
    candidate: EnrolmentCandidate
    similar: Match | None  # someone already enrolled this face resembles (below tau)


class RecognitionEngine(QThread):
    ready = Signal(object)  # ProviderChoice, once the models are loaded
    failed = Signal(str)  # the engine cannot run at all (missing or damaged model, ...)
    frameProcessed = Signal(object, object)  # QImage, FrameReport
    enrolFrame = Signal(object, object)  # QImage, EnrolView
    candidateReady = Signal(object)  # CandidateReport
    enrolFailed = Signal(str)
    enrolled = Signal(object)  # EnrolmentResult
    sourceChanged = Signal(str)  # description of the running source, "" when stopped
    cameraLost = Signal(str)
    cameraRestored = Signal()
    galleryChanged = Signal(int)  # number of people
    modelChanged = Signal(object)  # ModelSpec of the embedder now in service
    modelFailed = Signal(str)

    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._commands: queue.Queue = queue.Queue()
        self._stopping = False
        self.pipeline: FacePipeline | None = None
        self._grabber: LatestFrameGrabber | None = None
        self._source_spec: str | None = None
        self._retry_at: float | None = None
        self._mode = "identify"
        self._burst: list = []
        self._fps = 0.0
        self._last_frame_time: float | None = None

    # -- called from the UI thread ---------------------------------------------------------

    def start_source(self, spec: str) -> None:
        self._commands.put(("start", spec))

    def stop_source(self) -> None:
        self._commands.put(("stop", None))

    def apply_settings(self, settings: Settings) -> None:
        self._commands.put(("settings", settings))

    def set_mode(self, mode: str) -> None:
        self._commands.put(("mode", mode))

    def capture_burst(self) -> None:
        self._commands.put(("burst", None))

    def candidate_from_photo(self, path: str) -> None:
        self._commands.put(("photo", path))

    def enrol_candidate(self, name: str, candidate: EnrolmentCandidate, force: bool) -> None:
        self._commands.put(("enrol", (name, candidate, force)))

    def switch_model(self, model_id: str) -> None:
        """Re-embed the gallery with ``model_id`` and put it into service (between frames)."""
        self._commands.put(("model", model_id))

    def refresh_gallery(self) -> None:
        """The gallery was changed elsewhere (the gallery manager): recount its people."""
        self._commands.put(("gallery", None))

    def add_sample(self, name: str, photo: str):
        """Blocking: one more sample of ``name`` from a photo (the gallery manager's Add sample).

        Runs on the caller's (background) thread; ONNX Runtime sessions and the gallery are
        safe to share with the engine thread.
        """
        candidate = prepare_candidate(self.pipeline, load_image(photo))
        return enrol(self.gallery, self.matcher, name, candidate, self.pipeline.embedder.duplicate_tau,
                     add_sample=True)

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Stop the loop, release camera and gallery, and wait for the thread to end."""
        self._stopping = True
        self._commands.put(("quit", None))
        self.wait(timeout_ms)

    # -- the engine thread -------------------------------------------------------------------

    def run(self) -> None:
        try:
            self.pipeline = FacePipeline.load(self.settings.provider, score_threshold=self.settings.score_threshold,
                                              nms_threshold=self.settings.nms_threshold)
            self.gallery = Gallery(self.settings.gallery_path())
        except OneShotError as error:
            self.failed.emit(str(error))
            return
        self.matcher = Matcher(self.gallery, self.pipeline.embedder.spec.id, self.settings.tau)
        self.recognizer = LiveRecognizer(self.pipeline, self.matcher)
        self.ready.emit(self.pipeline.providers)
        self.galleryChanged.emit(len(self.gallery.people()))
        try:
            while not self._stopping:
                self._handle_commands(block=self._grabber is None and self._retry_at is None)
                if self._stopping:
                    break
                self._retry_if_due()
                if self._grabber is not None:
                    self._next_frame()
        finally:
            self._close_source()
            self.gallery.close()

    def _handle_commands(self, block: bool) -> None:
        try:
            command, argument = self._commands.get(timeout=0.25) if block else self._commands.get_nowait()
        except queue.Empty:
            return
        handler = getattr(self, f"_do_{command}")
        try:
            handler(argument)
        except OneShotError as error:
            if command in ("photo", "enrol", "burst"):
                self.enrolFailed.emit(str(error))
            elif command == "model":
                self.modelFailed.emit(str(error))
            else:
                self.cameraLost.emit(str(error))

    def _do_gallery(self, _) -> None:
        self.galleryChanged.emit(len(self.gallery.people()))

    def _do_quit(self, _) -> None:
        self._stopping = True

    def _do_start(self, spec: str) -> None:
        self._close_source()
        self._source_spec = spec
        self._open_source()

    def _do_stop(self, _) -> None:
        self._source_spec = None
        self._retry_at = None
        self._close_source()
        self.sourceChanged.emit("")

    def _do_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.matcher.tau = settings.tau
        self.pipeline.detector.score_threshold = settings.score_threshold
        self.pipeline.detector.nms_threshold = settings.nms_threshold

    def _do_model(self, model_id: str) -> None:
        """The previous model keeps running unless every step succeeds; the detector stays as it is."""
        embedder, _ = activate_model(model_id, self.gallery, self.settings.provider)
        self.pipeline = FacePipeline(self.pipeline.detector, embedder, self.pipeline.providers)
        self.pipeline.warm_up()
        self.matcher = Matcher(self.gallery, embedder.spec.id, embedder.tau)
        self.recognizer = LiveRecognizer(self.pipeline, self.matcher)
        self.modelChanged.emit(embedder.spec)

    def _do_mode(self, mode: str) -> None:
        self._mode = mode
        self._burst = []

    def _do_burst(self, _) -> None:
        self._burst = []
        self._mode = "burst"

    def _do_photo(self, path: str) -> None:
        self._emit_candidate(prepare_candidate(self.pipeline, load_image(path)))

    def _do_enrol(self, argument) -> None:
        name, candidate, force = argument
        result = enrol(self.gallery, self.matcher, name, candidate, self.pipeline.embedder.duplicate_tau, force=force)
        self.enrolled.emit(result)
        self.galleryChanged.emit(len(self.gallery.people()))

    # -- frames ----------------------------------------------------------------------------

    def _open_source(self) -> None:
        width, height = self.settings.resolution
        try:
            source = open_source(self._source_spec, width, height, fps=DEMO_FPS)
        except CameraError as error:
            self._lost(str(error))
            return
        self._grabber = LatestFrameGrabber(source)
        self._grabber.start()
        self._retry_at = None
        self.sourceChanged.emit(source.description)

    def _close_source(self) -> None:
        if self._grabber is not None:
            self._grabber.stop()
            self._grabber = None

    def _lost(self, message: str) -> None:
        self._close_source()
        self._retry_at = time.monotonic() + RETRY_SECONDS
        self.cameraLost.emit(message)

    def _retry_if_due(self) -> None:
        if self._retry_at is not None and time.monotonic() >= self._retry_at and self._source_spec:
            self._open_source()
            if self._grabber is not None:
                self.cameraRestored.emit()

    def _next_frame(self) -> None:
        try:
            frame = self._grabber.latest(timeout=0.25)
        except CameraError as error:
            self._lost(str(error))
            return
        if frame is None:
            if self._grabber.finished:  # a video or folder played to its end: play it again
                self._close_source()
                self._open_source()
            return
        if self._mode == "identify":
            self._identify(frame)
        else:
            self._preview_enrolment(frame)

    def _identify(self, frame) -> None:
        result = self.recognizer.process(frame)
        now = time.perf_counter()
        if self._last_frame_time is not None:
            instant = 1.0 / max(now - self._last_frame_time, 1e-6)
            self._fps = instant if self._fps == 0 else 0.9 * self._fps + 0.1 * instant
        self._last_frame_time = now
        report = FrameReport(result.faces, self.matcher.tau, self._fps, self.pipeline.times.medians(), frame.captured)
        self.frameProcessed.emit(rgb_to_qimage(frame.pixels), report)

    def _preview_enrolment(self, frame) -> None:
        faces = self.pipeline.detect(frame.pixels)
        try:
            face = choose_face(faces, "camera")
        except FaceCountError:
            self.enrolFrame.emit(rgb_to_qimage(frame.pixels), EnrolView(None, None, ("only one person in view",)))
            return
        except OneShotError:
            self.enrolFrame.emit(rgb_to_qimage(frame.pixels), EnrolView(None, None, ("look into the camera",)))
            return
        report = measure_quality(frame.pixels, face)
        self.enrolFrame.emit(rgb_to_qimage(frame.pixels), EnrolView(face, report, report.hints))
        if self._mode == "burst" and report.ok:
            self._burst.append((report.score, frame))
            if len(self._burst) >= BURST:
                _, best = max(self._burst, key=lambda item: item[0])
                self._mode = "enrol"
                self._burst = []
                image = LoadedImage(best.pixels, f"camera frame {best.index}", best.pixels.shape[1::-1], 1.0)
                try:
                    self._emit_candidate(prepare_candidate(self.pipeline, image))
                except OneShotError as error:
                    self.enrolFailed.emit(str(error))

    def _emit_candidate(self, candidate: EnrolmentCandidate) -> None:
        match = self.matcher.match(candidate.embedding[None])[0]
        self.candidateReady.emit(CandidateReport(candidate, match if match.name is not None else None))
