"""The Qt face of ``core.live.service.RecognitionService``: its results as signals, its slow calls on workers.

Nothing here recognises anything. The service is opened on a worker (loading models takes
seconds), the live loop runs on another and reaches the UI thread as signals carrying a
ready-made QImage, and each typed call (settings, model, enrolment) is one worker whose
result or error comes back as a signal. At most ``FRAMES_IN_FLIGHT`` frames wait for the UI
thread at any time: a busy UI drops frames instead of queueing them without end.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from core.errors import WrongPassphraseError
from core.errors import AlreadyEnrolledError, NotThisPersonError
from core.errors import OneShotError
from core.errors import PassphraseNeededError
from core.vision.imaging import LoadedImage, load_image
from core.errors import FaceCountError
from core.redact import redact
from core.live.service import (
    CandidateReady,
    EnrolFailed,
    EnrolPreview,
    Identified,
    RecognitionService,
    SourceLost,
    SourceStarted,
)
from core.settings import Settings

from .imageconv import rgb_to_qimage
from .workers import Worker, run_in_background, stop_all

log = logging.getLogger(__name__)

FRAMES_IN_FLIGHT = 2


def describe(error: Exception) -> str:
    """Our errors say what to do; anything else at least says what it was."""
    return str(error) if isinstance(error, OneShotError) else f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class Refusal:
    """A correction refused by a check the user may overrule: which one (``"assign"`` or ``"enrol"``),
    of which face, for which name, and the error (``AlreadyEnrolledError`` or ``NotThisPersonError``)."""

    action: str
    track_id: int
    name: str
    error: Exception


class LiveController(QObject):
    ready = Signal(object)  # ProviderChoice, once the models are loaded
    failed = Signal(str)  # the service cannot run at all (missing or damaged model, ...)
    frameProcessed = Signal(object, object)  # QImage, core.live.service.Identified
    enrolFrame = Signal(object, object)  # QImage, core.live.service.EnrolPreview
    candidateReady = Signal(object)  # core.live.service.CandidateReady
    enrolFailed = Signal(str)
    enrolled = Signal(object)  # EnrolmentResult
    enrolRefused = Signal(object)  # AlreadyEnrolledError or NotThisPersonError: the user may overrule it
    facesFound = Signal(object, object, object)  # QImage, LoadedImage, [Face] in its pixels: a group photo
    namesListed = Signal(list)  # everyone enrolled
    sourceChanged = Signal(str)  # description of the running source, "" when stopped
    cameraLost = Signal(str)
    cameraRestored = Signal()
    cameraState = Signal(int, str)  # another camera of the window (1 to 3): what it plays, or why it stopped
    galleryChanged = Signal(int)  # number of people
    modelChanged = Signal(object)  # ModelSpec of the embedder now in service
    modelFailed = Signal(str)
    settingsApplied = Signal(object)  # the Settings now in force
    settingsFailed = Signal(str)
    passphraseNeeded = Signal(str)  # the gallery needs a passphrase (or the one given was wrong): why, in words
    locked = Signal()  # no passphrase was given at start: the gallery stays shut until ``give_passphrase``
    unknownsChanged = Signal()  # an unknown group was named, added to someone or forgotten
    unknownStored = Signal(object)  # EnrolmentResult of a named or added unknown group
    unknownRefused = Signal(int, str, object)  # group id, name, AlreadyEnrolledError or NotThisPersonError
    unknownFailed = Signal(str)
    corrected = Signal(str)  # a correction from the live window was stored: what it did, in words
    correctionRefused = Signal(object)  # Refusal: a check the user may overrule
    correctionFailed = Signal(str)

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.service: RecognitionService | None = None
        self.source: str | None = None  # what the live loop plays, or is about to
        self._live: Worker | None = None
        self._extra: dict[int, Worker] = {}  # cameras 1.. of a window showing several
        self._extra_wanted: list[str] = []  # cameras to start once those playing have stopped
        self._in_flight = Counter()  # frames per camera waiting for the UI thread
        self._in_flight_lock = threading.Lock()
        self._closed = False
        self._waiting_for_passphrase = None  # (retry(passphrase), failure signal) while the user is asked

    # -- life cycle ----------------------------------------------------------------------------

    def open(self, passphrase: str | None = None) -> None:
        def load():
            service = RecognitionService.open(self.settings, passphrase=passphrase)
            return service, service.people_count()

        run_in_background(load, self._opened, lambda error: self._not_opened(error, self.open, self.failed),
                          name="open models")

    def reopen(self, settings: Settings) -> None:
        """Open again with other settings (another gallery) while the gallery is locked."""
        if self.is_locked:
            self.settings = settings
            self._waiting_for_passphrase = None
            self.open()

    @property
    def is_locked(self) -> bool:
        """Nothing is open: the gallery waits for its passphrase (the window offers Unlock)."""
        return self.service is None and self._waiting_for_passphrase is not None

    def _not_opened(self, error: Exception, retry, failed: Signal) -> None:
        """A gallery that needs a passphrase (or was given a wrong one) asks the user, through
        the window, on the UI thread; any other failure is reported on ``failed``."""
        if self._closed:
            return
        if isinstance(error, (PassphraseNeededError, WrongPassphraseError)):
            self._waiting_for_passphrase = (retry, failed)
            self.passphraseNeeded.emit(
                "Wrong passphrase: the gallery was not opened and nothing was changed. Check it and try again."
                if isinstance(error, WrongPassphraseError) else
                "This gallery is protected by a passphrase. Type it to open the gallery.")
        else:
            failed.emit(describe(error))

    def give_passphrase(self, passphrase: str | None) -> None:
        """The user's answer to ``passphraseNeeded``: try again with it, or (None) give up. Given up
        at start, the gallery stays locked (``locked``) and a later answer still opens it."""
        if self._waiting_for_passphrase is None:
            return
        retry, failed = self._waiting_for_passphrase
        if passphrase:
            self._waiting_for_passphrase = None
            retry(passphrase)
        elif self.service is None:
            self.locked.emit()
        else:
            self._waiting_for_passphrase = None
            failed.emit("the gallery is protected by a passphrase and none was given: it was not opened, "
                        "nothing was changed")

    def _opened(self, loaded: tuple[RecognitionService, int]) -> None:
        service, people = loaded
        if self._closed:
            service.close()
            return
        self.service = service
        self.galleryChanged.emit(people)
        self.ready.emit(service.providers)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop the live loop, join every worker, then close the service; False if one would not end."""
        self._closed = True
        self.source = None
        ended = stop_all(timeout_ms)
        if self.service is not None:
            self.service.close()
        return ended

    def _call(self, name: str, function, on_done, on_failed) -> None:
        """``function`` on a worker; its outcome is dropped once the controller is shut down."""
        if self._closed or self.service is None:
            return
        run_in_background(function, lambda result: self._closed or on_done(result),
                          lambda error: self._closed or on_failed(describe(error)), name=name)

    # -- the live loop -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._live is not None

    def start_source(self, spec: str) -> None:
        """Play ``spec``; a source already playing is stopped first."""
        self.source = spec
        if self._live is not None:
            self._live.cancel()  # its ``finished`` starts the new source
        elif self.service is not None and not self._closed:
            self._start_live(spec)

    def stop_source(self) -> None:
        self.source = None
        self._extra_wanted = []
        if self._live is not None:
            self._live.cancel()
        for worker in self._extra.values():
            worker.cancel()

    def start_extra_sources(self, specs: list[str]) -> None:
        """Cameras 1, 2, ... of a window showing several, each on its own worker and loop; the
        service shares the models, gallery and index between them and gives each its turn.
        Other cameras still playing are stopped first: these start once they all have."""
        self._extra_wanted = list(specs)
        for worker in self._extra.values():
            worker.cancel()
        if not self._extra:
            self._start_extras()

    def _start_extras(self) -> None:
        specs, self._extra_wanted = self._extra_wanted, []
        if self.service is None or self._closed:
            return
        for camera, spec in enumerate(specs, 1):
            worker = Worker(f"live camera {camera}")
            worker.progress.connect(self._on_live)
            worker.failed.connect(lambda error, camera=camera: self.cameraState.emit(camera, describe(error)))
            worker.finished.connect(lambda camera=camera: self._extra_ended(camera))
            self._extra[camera] = worker
            worker.start(self._events, spec, worker, camera)

    def _extra_ended(self, camera: int) -> None:
        self._extra.pop(camera, None)
        with self._in_flight_lock:
            self._in_flight[camera] = 0
        if not self._closed:
            self.cameraState.emit(camera, "Stopped")
            if not self._extra and self._extra_wanted:
                self._start_extras()

    @property
    def extra_running(self) -> list[int]:
        return sorted(self._extra)

    def _start_live(self, spec: str) -> None:
        worker = Worker(f"live {redact(spec)}")
        worker.progress.connect(self._on_live)
        worker.failed.connect(lambda error: self.cameraLost.emit(describe(error)))
        worker.finished.connect(self._live_ended)
        self._live = worker
        worker.start(self._events, spec, worker)

    def _events(self, spec: str, worker: Worker, camera: int = 0):
        """On the worker: the service's events, frames turned into QImages, at most FRAMES_IN_FLIGHT
        queued per camera."""
        for event in self.service.live(spec, should_stop=worker.cancelled, camera=camera):
            if isinstance(event, (Identified, EnrolPreview)):
                with self._in_flight_lock:
                    dropped = self._in_flight[camera] >= FRAMES_IN_FLIGHT
                    self._in_flight[camera] += not dropped
                if dropped:
                    yield None  # still a cancel point
                    continue
                yield rgb_to_qimage(event.frame.pixels), event
            else:
                yield event

    def _on_live(self, item) -> None:
        if isinstance(item, tuple):
            image, event = item
            with self._in_flight_lock:
                self._in_flight[getattr(event, "camera", 0)] -= 1
            (self.frameProcessed if isinstance(event, Identified) else self.enrolFrame).emit(image, event)
        elif isinstance(item, SourceStarted) and item.camera:
            self.cameraState.emit(item.camera, item.description)
        elif isinstance(item, SourceStarted):
            self.sourceChanged.emit(item.description)
            if item.restored:
                self.cameraRestored.emit()
        elif isinstance(item, SourceLost) and item.camera:
            self.cameraState.emit(item.camera, f"{item.message}\nRetrying every {item.retry_seconds:g} s…")
        elif isinstance(item, SourceLost):
            self.cameraLost.emit(item.message)
        elif isinstance(item, CandidateReady):
            self.candidateReady.emit(item)
        elif isinstance(item, EnrolFailed):
            self.enrolFailed.emit(item.message)

    def _live_ended(self) -> None:
        self._live = None
        with self._in_flight_lock:
            self._in_flight[0] = 0
        if self.source is not None and not self._closed:
            self._start_live(self.source)
        else:
            self.sourceChanged.emit("")

    # -- typed calls -------------------------------------------------------------------------

    def apply_settings(self, settings: Settings, passphrase: str | None = None) -> None:
        """Thresholds at once; a new provider or gallery is loaded on a worker and swapped in
        (a gallery that needs a passphrase asks for it, see ``passphraseNeeded``)."""
        if self._closed or self.service is None:
            return

        def apply():
            self.service.apply_settings(settings, passphrase)
            return self.service.people_count()

        def applied(count: int) -> None:
            self.settings = settings
            self.settingsApplied.emit(settings)
            self.galleryChanged.emit(count)

        run_in_background(apply, lambda count: self._closed or applied(count),
                          lambda error: self._not_opened(error, lambda given: self.apply_settings(settings, given),
                                                         self.settingsFailed), name="apply settings")

    def switch_model(self, model_id: str) -> None:
        """Re-embed the gallery with ``model_id`` and put it into service."""
        self._call("switch model", lambda: self.service.switch_model(model_id), self.modelChanged.emit,
                   self.modelFailed.emit)

    def follow_active_model(self) -> None:
        """The active model was changed elsewhere (``oneshot models activate``): follow it."""
        self._call("follow model", self.service.follow_active_model,
                   lambda spec: spec is not None and self.modelChanged.emit(spec), self.modelFailed.emit)

    def set_enrolling(self, enrolling: bool) -> None:
        if self.service is not None:
            self.service.set_enrolling(enrolling)

    def capture_burst(self, pose=None) -> None:
        """The best of a short burst of good frames (turned as ``pose`` asks) comes as ``candidateReady``."""
        self.service.capture_burst(pose)

    def preview_photo(self, photo: str | LoadedImage, face_number: int | None = None) -> None:
        """A candidate from a photo (``candidateReady``); a group photo's faces to choose from (``facesFound``)."""
        def preview():
            image = photo if isinstance(photo, LoadedImage) else load_image(photo)
            try:
                return self.service.preview_enrolment(image, face_number=face_number)
            except FaceCountError as several:
                return rgb_to_qimage(image.pixels), image, list(several.faces)

        def previewed(outcome) -> None:
            if isinstance(outcome, CandidateReady):
                self.candidateReady.emit(outcome)
            else:
                self.facesFound.emit(*outcome)

        self._call("read photo", preview, previewed, self.enrolFailed.emit)

    def list_enrolled(self) -> None:
        """Everyone enrolled, as ``namesListed``."""
        self._call("list people", self.service.enrolled_names, self.namesListed.emit,
                   lambda message: log.warning("cannot list the gallery's people: %s", message))

    def commit_enrolment(self, name: str, candidate, force: bool = False, add_sample: bool = False,
                         confirmed: bool = False, masked: bool = False) -> None:
        """Store the candidate (``enrolled``); a refusal the user may overrule comes as ``enrolRefused``.

        ``candidate`` may be a list: the views of a guided enrolment, stored together or not at all;
        ``masked``: one view added to someone enrolled, showing them masked.
        """
        if isinstance(candidate, list):
            def store():
                return self.service.commit_views(name, candidate, force, add_sample, confirmed)
        else:
            def store():
                return self.service.commit_enrolment(name, candidate, force, add_sample, confirmed, masked)
        self._store("enrol", store,
                    self.enrolRefused.emit, self.enrolled.emit, self.enrolFailed.emit)

    def refresh_gallery(self) -> None:
        """The gallery was changed (the gallery manager): recount its people."""
        self._call("count people", self.service.people_count, self.galleryChanged.emit,
                   lambda message: log.warning("cannot count the gallery's people: %s", message))

    # -- unknown faces -------------------------------------------------------------------------

    def unknown_groups(self) -> tuple[int | None, list]:
        """(revision, groups) of "Who's this?": an in-memory snapshot, cheap enough for the UI
        thread; (None, []) before the models are loaded."""
        if self.service is None:
            return None, []
        revision = self.service.unknowns_revision  # read first: a change after it shows next time
        return revision, self.service.unknown_groups()

    def name_unknown_group(self, group_id: int, name: str, force: bool = False) -> None:
        """Enrol a group as ``name`` (``unknownStored``); a refusal the user may overrule comes as ``unknownRefused``."""
        self._store_unknown(group_id, name, lambda: self.service.name_unknown_group(group_id, name, force))

    def add_unknown_group_to(self, group_id: int, name: str, confirmed: bool = False) -> None:
        """Add a group's samples to the enrolled ``name``; outcomes as for ``name_unknown_group``."""
        self._store_unknown(group_id, name, lambda: self.service.add_unknown_group_to(group_id, name, confirmed))

    def forget_unknown_group(self, group_id: int) -> None:
        self._call("forget unknown person", lambda: self.service.forget_unknown_group(group_id),
                   lambda _: self.unknownsChanged.emit(), self.unknownFailed.emit)

    def enrolled_names_for(self, on_done) -> None:
        """Everyone enrolled, to ``on_done`` alone (``namesListed`` belongs to the enrol dialog)."""
        self._call("list people", self.service.enrolled_names, on_done, self.unknownFailed.emit)

    def _store_unknown(self, group_id: int, name: str, store) -> None:
        def stored(result) -> None:
            self.unknownStored.emit(result)
            self.unknownsChanged.emit()

        self._store("store unknown person", store, lambda refusal: self.unknownRefused.emit(group_id, name, refusal),
                    stored, self.unknownFailed.emit)

    # -- corrections from the live window ------------------------------------------------------

    def face_near(self, box):
        """The live face (newest track) under a box drawn on screen; None before the models load
        or when it has left. An in-memory snapshot: cheap enough for the UI thread."""
        return None if self.service is None else self.service.face_near(box)

    def names_for_correction(self, on_done) -> None:
        """Everyone enrolled, to ``on_done`` ("This is ..." offers them)."""
        self._call("list people", self.service.enrolled_names, on_done, self.correctionFailed.emit)

    def mark_not(self, track_id: int, name: str) -> None:
        """"Not ``name``": the face becomes one of their negatives (``corrected``)."""
        def mark() -> str:
            self.service.mark_not(track_id, name)
            return f"Noted: that face is not {name}."

        self._call("mark not", mark, self.corrected.emit, self.correctionFailed.emit)

    def assign(self, track_id: int, name: str, confirmed: bool = False) -> None:
        """"This is ``name``": one more sample of them; a refusal comes as ``correctionRefused``."""
        self._correct("assign", track_id, name, lambda: self.service.assign(track_id, name, confirmed),
                      lambda result: f"Added a sample to {result.person.name}.")

    def enrol_face(self, track_id: int, name: str, force: bool = False) -> None:
        """Enrol the face as the new person ``name``; a refusal comes as ``correctionRefused``."""
        self._correct("enrol", track_id, name, lambda: self.service.enrol_face(track_id, name, force),
                      lambda result: f"Enrolled {result.person.name}.")

    def _correct(self, action: str, track_id: int, name: str, store, say) -> None:
        self._store(f"correction: {action}", lambda: say(store()),
                    lambda refusal: self.correctionRefused.emit(Refusal(action, track_id, name, refusal)),
                    self.corrected.emit, self.correctionFailed.emit)

    def _store(self, name: str, store, refused, stored, failed) -> None:
        """``store()`` on a worker: success to ``stored`` (and the new head count to ``galleryChanged``);
        a refusal the user may overrule (a duplicate, a face unlike the person) to ``refused``."""
        def run():
            try:
                return store(), self.service.people_count()
            except (AlreadyEnrolledError, NotThisPersonError) as refusal:
                return refusal, None

        def settled(outcome) -> None:
            result, count = outcome
            if count is None:
                refused(result)
                return
            stored(result)
            self.galleryChanged.emit(count)

        self._call(name, run, settled, failed)
