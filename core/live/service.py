"""The live recognition service: models, gallery, matcher, tracker and the live loop in one
Qt-free object, driven alike by ``oneshot watch`` and the desktop app.

Its methods are typed and safe to call from any thread: the live loop (``live``) runs on one
thread while settings, model switches, enrolments and gallery changes arrive from others. A
change that takes time (a new model, provider or gallery) is prepared off the loop and
swapped in between two frames under one lock, so the live view never waits for it and never
sees half a change. Camera reconnection and best-of-burst enrolment live here, once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models.activation import activate_model
from ..storage.archive import export_gallery, import_archive, read_archive
from .camera import CameraError, Frame, FrameSource, LatestFrameGrabber, open_source
from .camera_session import MAX_CAMERAS, CameraSession, FairTurns, camera_of, first_track_id
from ..vision.detect import Face
from .enrol import EnrolmentCandidate, EnrolmentResult, check_live, enrol, enrol_views, prepare_candidate
from ..errors import InputError, OneShotError
from ..storage.repository import Gallery
from ..storage.store import ImportCounts, Person, SampleInfo
from ..storage.location import open_gallery_at
from ..storage.names import name_key
from ..storage.sealing import PassphraseSource
from ..vision.imaging import LoadedImage, load_image
from .loop import LIVE_LONG_SIDE, LiveFace, LiveRecognizer, LiveResult
from .match import Match, Matcher
from ..models.store import active_embedder
from ..models.registry import ModelSpec
from ..vision.pipeline import FacePipeline
from ..errors import FaceCountError, QualityError
from ..vision.quality import PoseTarget, QualityReport, choose_face, measure_quality
from ..storage.retention import RetentionKeeper
from ..models.runtime import ProviderChoice
from ..settings import Settings
from ..timing import RateMeter
from .track import FaceTracker, TrackEvent
from .unknowns import UnknownFace, UnknownFaces, UnknownGroup

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # a lost camera is tried again this often
NAMED_SAMPLES = 3  # an unknown group's best faces stored when it is named or added to someone
BURST = 5  # good frames collected by "Capture"; the sharpest is enrolled
DEMO_FPS = 30.0  # an image folder plays like a webcam in the app
WAIT_SECONDS = 0.25  # longest wait for a frame: the loop yields at least this often (a cancel point)
STALL_SECONDS = 5.0  # a live source silent this long counts as lost


@dataclass(frozen=True)
class SourceStarted:
    description: str
    restored: bool  # True when a lost source answered again
    camera: int = 0


@dataclass(frozen=True)
class SourceLost:
    message: str
    retry_seconds: float
    camera: int = 0


@dataclass(frozen=True, eq=False)
class Identified:
    """One frame of live identification: faces with their voted names, and the status figures."""

    frame: Frame
    faces: list[LiveFace]
    events: list[TrackEvent]
    tau: float
    fps: float
    stage_ms: dict[str, float]
    camera: int = 0  # which of the window's cameras (0 with one)


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
        self._turns = FairTurns()  # one frame in the networks at a time, cameras served in turn
        self._sessions = {0: CameraSession(0, self._new_recognizer(0))}
        self._enrolling = False
        self._burst: list[tuple[float, Frame]] | None = None
        self._burst_pose: PoseTarget | None = None  # a guided view: only frames turned like this count
        self._unknowns = UnknownFaces(self.recognizer.matcher.tau)  # "Who's this?": in memory only
        self._unknowns_checked = None  # the gallery revision the groups were last checked against
        self._retention = RetentionKeeper(self.settings.retention_days)

    @classmethod
    def open(cls, settings: Settings, detect_long_side: int | None = LIVE_LONG_SIDE,
             passphrase: PassphraseSource = None) -> RecognitionService:
        """Load the models on the chosen provider and open the gallery (slow: off the UI thread).

        A gallery protected by a passphrase raises ``PassphraseNeededError`` without one:
        the caller asks the user (on its own thread) and opens again.
        """
        gallery = open_gallery_at(settings.gallery_path(), passphrase=passphrase)
        try:
            pipeline = FacePipeline.load(settings.provider, score_threshold=settings.score_threshold,
                                         nms_threshold=settings.nms_threshold, live_detector=settings.live_detector)
        except BaseException:
            gallery.close()
            raise
        return cls(settings, pipeline, gallery, detect_long_side)

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

    @property
    def gallery_online(self) -> bool:
        """False while a shared gallery's server cannot be reached (identification goes on from memory)."""
        return getattr(self._gallery, "online", True)

    @property
    def gallery_protection(self) -> str:
        """How the gallery is protected, in words ("encrypted (key in the system keyring)")."""
        return self._gallery.protection

    def history(self):
        """The gallery's history, oldest first, and where its chain breaks (None: intact)."""
        return self._gallery.history()

    @property
    def recognizer(self) -> LiveRecognizer:
        """The first camera's recognizer (the only one with one camera); its matcher is everyone's."""
        return self._sessions[0].recognizer

    @property
    def fps(self) -> RateMeter:
        return self._sessions[0].fps

    def _new_recognizer(self, camera: int, matcher: Matcher | None = None) -> LiveRecognizer:
        pipeline = self._pipeline
        if matcher is None:
            matcher = Matcher(self._gallery, pipeline.embedder.spec.id, self.settings.effective_tau(pipeline.tau),
                              condition_taus=pipeline.condition_taus)
        return LiveRecognizer(pipeline, matcher, FaceTracker(first_id=first_track_id(camera)),
                              detect_long_side=self.detect_long_side, liveness=self.settings.liveness)

    def _renew_recognizers(self) -> None:
        """New recognizers on the models in service, one per camera, sharing one matcher (one index)."""
        first = self._sessions[0]
        first.recognizer = self._new_recognizer(0)
        for session in self._sessions.values():
            if session is not first:
                session.recognizer = self._new_recognizer(session.number, first.recognizer.matcher)

    def _session(self, camera: int) -> CameraSession:
        if not 0 <= camera < MAX_CAMERAS:
            raise InputError(f"at most {MAX_CAMERAS} cameras at once (cameras 0 to {MAX_CAMERAS - 1})")
        with self._swap:
            if camera not in self._sessions:
                self._sessions[camera] = CameraSession(camera, self._new_recognizer(camera, self.recognizer.matcher))
            return self._sessions[camera]

    # -- changes ---------------------------------------------------------------------------

    def apply_settings(self, settings: Settings, passphrase: str | None = None) -> None:
        """Put ``settings`` in force now: thresholds at once, a new provider or gallery between frames.

        The slow part (loading sessions, opening a gallery) happens on the caller's thread; a
        failure leaves everything as it was. ``passphrase``: for a newly chosen gallery
        protected by one (without it, ``PassphraseNeededError``).
        """
        with self._changing:
            self._apply(settings.validated(), passphrase)

    def _apply(self, settings: Settings, passphrase: str | None) -> None:
        pipeline, gallery = self._pipeline, self._gallery
        if (settings.provider, settings.live_detector) != (self.settings.provider, self.settings.live_detector):
            pipeline = FacePipeline.load(settings.provider, embedder_id=self.model.id,
                                         score_threshold=settings.score_threshold,
                                         nms_threshold=settings.nms_threshold, live_detector=settings.live_detector)
        if settings.gallery_path() != self.settings.gallery_path():
            gallery = open_gallery_at(settings.gallery_path(), passphrase=passphrase)
        with self._swap:
            previous = self._gallery
            self.settings = settings
            pipeline.configure(settings.score_threshold, settings.nms_threshold)
            if pipeline is not self._pipeline or gallery is not previous:
                self._pipeline, self._gallery = pipeline, gallery
                self._renew_recognizers()
            else:
                self.recognizer.matcher.tau = settings.effective_tau(pipeline.tau)
                for session in self._sessions.values():
                    session.recognizer.liveness = settings.liveness
            if gallery is not previous:
                previous.close()
                self._retention = RetentionKeeper(settings.retention_days)
            self._retention.days = settings.retention_days

    def switch_model(self, model_id: str, progress: Callable[[int, int], None] | None = None) -> ModelSpec:
        """Embed the gallery's chips with ``model_id`` and put it into service between two frames.

        A hand-set tau stays; otherwise the new model's calibrated tau comes with it. The
        previous model keeps running unless every step succeeds; the detector stays.
        """
        with self._changing:
            embedder, _ = activate_model(model_id, self._gallery, self.settings.provider, progress)
            pipeline = self._pipeline.with_embedder(embedder)
            pipeline.warm_up()
            with self._swap:
                self._pipeline = pipeline
                self._renew_recognizers()
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

    def capture_burst(self, pose: PoseTarget | None = None) -> None:
        """Collect the next BURST good frames (turned as ``pose`` asks, if given) and offer the best."""
        self._enrolling = True
        self._burst_pose = pose
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
                                                 box=box, liveness=self.settings.liveness))

    def commit_enrolment(self, name: str, candidate: EnrolmentCandidate, force: bool = False,
                         add_sample: bool = False, confirmed: bool = False, masked: bool = False) -> EnrolmentResult:
        """Store a previewed candidate as a new person, or (``add_sample``) as one more sample of one
        (``masked``: a sample of them wearing a mask).

        The duplicate gate applies unless ``force``; a sample far from the person unless ``confirmed``.
        """
        return enrol(self._gallery, self.recognizer.matcher, name, candidate, self.duplicate_tau,
                     force=force, add_sample=add_sample, confirmed=confirmed, masked=masked)

    def commit_views(self, name: str, candidates: list[EnrolmentCandidate], force: bool = False,
                     add_sample: bool = False, confirmed: bool = False) -> EnrolmentResult:
        """Several views of one face (a guided enrolment) as one person's samples; see ``enrol_views``."""
        return enrol_views(self._gallery, self.recognizer.matcher, name, candidates, self.duplicate_tau,
                           force=force, add_sample=add_sample, confirmed=confirmed)

    def add_sample(self, name: str, photo: LoadedImage | str | Path, confirmed: bool = False,
                   force: bool = False, masked: bool = False) -> EnrolmentResult:
        """One more sample of an enrolled person from a photo (refused if far from them unless
        ``confirmed``); ``masked``: a photo of them wearing a mask."""
        candidate = self.preview_enrolment(photo).candidate
        return self.commit_enrolment(name, candidate, force=force, add_sample=True, confirmed=confirmed,
                                     masked=masked)

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

    def export(self, path: Path, passphrase: str | None) -> int:
        """``passphrase`` encrypts the export; None writes it plain (the caller has warned the user)."""
        return export_gallery(self._gallery, self.model.id, path, passphrase)

    def import_archive(self, path: Path, passphrase: str | None = None, on_conflict: str = "fail") -> ImportCounts:
        """An encrypted export without ``passphrase`` raises ``PassphraseNeededError`` at once (nothing is
        read past its header): the caller asks the user, never this thread, and calls again.
        ``on_conflict``: a name already enrolled fails the import, or is skipped or merged."""
        return import_archive(self._gallery, path, self.model.id, on_conflict=on_conflict, passphrase=passphrase)

    def archive_conflicts(self, path: Path, passphrase: str | None = None) -> tuple[list[str], int]:
        """The people of an export who are already enrolled (as the export spells them), and how
        many it holds: what to ask before a restore skips or merges them."""
        enrolled = {name_key(name) for name in self.enrolled_names()}
        names = [name for name, _, _ in read_archive(path, passphrase).people]
        return [name for name in names if name_key(name) in enrolled], len(names)

    def training_data(self, folder: Path | None, crops: bool = False, progress=None):
        """Chips for the training wizard: from a folder of people (detected and aligned here), or the gallery."""
        from ..training.data import chips_from_folder, chips_from_gallery

        if folder is None:
            return chips_from_gallery(self._gallery)
        return chips_from_folder(folder, self._pipeline, crops, progress=progress)

    def import_model(self, file: Path, licence: str, folder: Path | None, crops: bool, model_id: str | None,
                     framing, progress=None, should_stop: Callable[[], bool] = lambda: False) -> ModelSpec:
        """``oneshot models import`` for the app: check, calibrate on ``folder``'s people (None: the
        gallery's samples) and register ``file``; the model in service stays until switched."""
        from ..training.importing import import_model, sample_chip

        def faces():
            return self.training_data(folder, crops, progress), "the gallery" if folder is None else str(folder)

        return import_model(file, licence, faces, sample_chip(self._pipeline), model_id, framing, should_stop)

    # -- unknown faces -----------------------------------------------------------------------

    def unknown_groups(self) -> list[UnknownGroup]:
        """Who's this? The people the live loop saw but could not name, grouped (a cheap snapshot)."""
        return self._unknowns.groups()

    @property
    def unknowns_revision(self) -> int:
        """Changes whenever the groups do: a view redraws only then."""
        return self._unknowns.revision

    def name_unknown_group(self, group_id: int, name: str, force: bool = False) -> EnrolmentResult:
        """Enrol an unknown group as a new person ``name`` with its best samples (up to NAMED_SAMPLES).

        The best sample goes through the quality gate and ``enrol``'s duplicate gate (unless
        ``force``): if it fails, nothing is stored and the group stays. The others follow as
        samples of the new person, each through the same-person check; one refused is skipped.
        The group is gone once named.
        """
        return self._store_group(group_id, name, add_sample=False, force=force, confirmed=False)

    def add_unknown_group_to(self, group_id: int, name: str, confirmed: bool = False) -> EnrolmentResult:
        """Add an unknown group's best samples to the enrolled ``name`` (the first refused, with the
        distance, when it is farther than tau from them unless ``confirmed``); the group is gone."""
        return self._store_group(group_id, name, add_sample=True, force=False, confirmed=confirmed)

    def forget_unknown_group(self, group_id: int) -> None:
        """Drop a group without storing anything."""
        if not self._unknowns.remove(group_id):
            raise _gone(group_id)

    def _store_group(self, group_id: int, name: str, add_sample: bool, force: bool,
                     confirmed: bool) -> EnrolmentResult:
        group = self._unknowns.group(group_id)
        if group is None:
            raise _gone(group_id)
        if self._unknowns.model_id != self.model.id:  # seen under a model no longer in service
            raise _gone(group_id)
        best, *others = group.samples[:NAMED_SAMPLES]
        if not best.quality.ok:
            raise QualityError(f"unknown person {group_id}", best.quality)
        first = self.commit_enrolment(name, _candidate_of(best), force=force, add_sample=add_sample,
                                      confirmed=confirmed)
        name = first.person.name
        for sighting in others:
            if not sighting.quality.ok:
                continue
            try:
                self.commit_enrolment(name, _candidate_of(sighting), add_sample=True)
            except InputError as refused:  # the person is stored: a doubtful extra sample is not
                log.info("unknown person %d: sample from frame %d not added: %s", group_id, sighting.frame, refused)
        self._unknowns.remove(group_id)
        person = self._gallery.person(name)
        return EnrolmentResult(person, first.similar)

    def _remember_unknowns(self, result: LiveResult) -> None:
        """Feed the faces whose fresh embedding matched nobody, on a track voted unknown."""
        matcher, unknowns = self.recognizer.matcher, self._unknowns
        if unknowns.model_id != matcher.model_id:  # another model's vectors cannot be compared
            unknowns.clear(matcher.model_id)
        unknowns.tau = matcher.tau
        revision = matcher.gallery.revision
        if revision != self._unknowns_checked:  # enrolled elsewhere since: no longer unknown
            self._unknowns_checked = revision
            groups = unknowns.groups()
            if groups:
                for group, match in zip(groups, matcher.match(np.stack([g.centroid for g in groups]))):
                    if match.name is not None:
                        unknowns.remove(group.group_id)
        for face in result.faces:
            seen = face.observation
            if seen is None or face.name is not None or seen.match.name is not None:
                continue
            # The enrolment gate's measures rank a group's samples: 0.3 ms a face (640x480
            # frame, 2 cores), once per re-embedding of an unknown track, beside tens of ms to embed.
            quality = measure_quality(result.frame.pixels, face.face)
            unknowns.add(UnknownFace(face.face, seen.chip, seen.embedding, quality, result.frame.index, time.time()))

    # -- corrections and the person view -------------------------------------------------------

    def last_faces(self, camera: int = 0) -> list[LiveFace]:
        """The faces of the camera's last identified frame (an in-memory snapshot: cheap on any thread)."""
        session = self._sessions.get(camera)
        last = session.last if session is not None else None
        return [] if last is None else list(last.faces)

    def face_near(self, box: tuple[float, float, float, float], camera: int = 0) -> LiveFace | None:
        """The face of the last identified frame that overlaps ``box`` (frame pixels) the most.

        The window shows a frame or two behind the loop: a click on a box drawn there finds
        the same face's track here, under its newest id.
        """
        scored = [(_overlap(box, face.face.box), face) for face in self.last_faces(camera)]
        scored = [item for item in scored if item[0] > 0.0]
        return max(scored, key=lambda item: item[0])[1] if scored else None

    def face_candidate(self, track_id: int) -> EnrolmentCandidate:
        """Chip, embedding and quality of the face ``track_id`` on the last identified frame.

        Only that face is aligned and embedded, with the models in service now; nothing is stored.
        """
        return self._face(track_id)[0]

    def mark_not(self, track_id: int, name: str) -> int:
        """"Not ``name``": store the face ``track_id`` as one of ``name``'s negatives; return its id.

        From the next frame on the track is identified again (the gallery's revision changed),
        and a face closer to this one than to ``name``'s samples is not named ``name``.
        """
        candidate, model_id = self._face(track_id)
        return self._gallery.add_negative(name, candidate.chip, candidate.embedding, model_id, candidate.source,
                                          candidate.quality.score)

    def assign(self, track_id: int, name: str, confirmed: bool = False) -> EnrolmentResult:
        """"This is ``name``": the face ``track_id`` as one more sample of the enrolled ``name``.

        The add-sample check applies: a face farther than tau from ``name``'s samples
        (``NotThisPersonError``) or almost certainly someone else (``AlreadyEnrolledError``)
        is refused with the distance unless ``confirmed`` (the user says it is them all the same).
        """
        candidate = self._good_face(track_id)
        return self.commit_enrolment(name, candidate, force=confirmed, add_sample=True, confirmed=confirmed)

    def enrol_face(self, track_id: int, name: str, force: bool = False) -> EnrolmentResult:
        """Enrol the face ``track_id`` as the new person ``name``, through the quality and duplicate gates."""
        return self.commit_enrolment(name, self._good_face(track_id), force=force)

    def person_samples(self, name: str, damaged: list | None = None) -> list[SampleInfo]:
        """Every sample of ``name`` with its chip, source, date and quality, oldest first; with a
        ``damaged`` list, the samples that fail to open go there instead of refusing the read."""
        return self._gallery.person_samples(name, damaged)

    def sample_distances(self, name: str) -> dict[int, float]:
        """sample id -> its distance to the nearest of ``name``'s other samples (the model in service)."""
        return self._gallery.sample_distances(name, self.model.id)

    def remove_sample(self, sample_id: int) -> Person:
        """Delete one sample for good (the last one is refused: forget the person instead)."""
        return self._gallery.remove_sample(sample_id)

    def negatives(self, name: str) -> list[SampleInfo]:
        """The faces marked "not ``name``", oldest first."""
        return self._gallery.negatives(name)

    def remove_negative(self, negative_id: int) -> Person:
        return self._gallery.remove_negative(negative_id)

    def _face(self, track_id: int) -> tuple[EnrolmentCandidate, str]:
        with self._swap:  # the frame and the models it is embedded with, as one
            session = self._sessions.get(camera_of(track_id))
            last, pipeline = (session.last if session is not None else None), self._pipeline
        face = next((live.face for live in (last.faces if last is not None else []) if live.track_id == track_id),
                    None)
        if face is None:
            raise InputError("that face is no longer in view: right-click it again")
        pixels = last.frame.pixels
        chip = pipeline.align(pixels, [face])
        embedding = pipeline.embed(chip)[0]
        candidate = EnrolmentCandidate(face, chip[0], embedding, measure_quality(pixels, face),
                                       f"live frame {last.frame.index}")
        return candidate, pipeline.embedder.spec.id

    def _good_face(self, track_id: int) -> EnrolmentCandidate:
        """A face to store as a sample: it must pass the enrolment quality gate, and the model
        it was embedded with must still be the one in service."""
        candidate, model_id = self._face(track_id)
        if model_id != self.model.id:
            raise InputError("the face model changed meanwhile: right-click the face again")
        if not candidate.quality.ok:
            raise QualityError(candidate.source, candidate.quality)
        return candidate

    # -- the live loop -----------------------------------------------------------------------

    def live(self, spec: str, *, realtime: bool = True, reconnect: bool = True, max_frames: int | None = None,
             should_stop: Callable[[], bool] = lambda: False, camera: int = 0) -> Iterator[LiveEvent | None]:
        """Frames of ``spec`` (camera index, video file or image folder) through the current mode.

        ``realtime`` (the app): every source is read on its own thread keeping only the
        newest frame, folders play at DEMO_FPS and files start again at their end. Otherwise
        (``oneshot watch``) a file's frames are all processed in order and the stream ends
        with it. ``reconnect``: a lost or absent camera is reported (``SourceLost``) and
        tried again every RETRY_SECONDS; without it the ``CameraError`` is raised. None is
        yielded while waiting, at least every WAIT_SECONDS: a consumer can stop there.
        ``camera`` (0 to MAX_CAMERAS - 1): several loops, one per camera, each on its own
        thread, share the models, gallery and index (see ``camera_session``).
        """
        session = self._session(camera)
        processed, lost, announced = 0, False, False
        while not should_stop():
            try:
                source = open_source(spec, *self.settings.resolution, fps=DEMO_FPS if realtime else None)
                start = SourceStarted(source.description, lost, camera) if lost or not announced else None
                lost = False
                for event in self._run_source(source, realtime, should_stop, start, session):
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
                yield SourceLost(str(error), RETRY_SECONDS, camera)
                yield from _pause(RETRY_SECONDS, should_stop)
                continue
            if not realtime:
                return

    def finish(self) -> list[TrackEvent]:
        """End of the stream: every track leaves (``oneshot watch`` prints them)."""
        return self.recognizer.finish()

    def _run_source(self, source: FrameSource, realtime: bool, should_stop,
                    start: SourceStarted | None, session: CameraSession) -> Iterator[LiveEvent | None]:
        """One opened source to its end; ``start`` (if any) is announced once it is in hand."""
        if not realtime and not source.is_live:  # a file for the command line: every frame, in order
            with source:
                yield from self._announce(start, session)
                for result in session.recognizer.results(iter(source.read, None), live=False):
                    yield self._identified(result, session)
            return
        with LatestFrameGrabber(source) as grabber:
            yield from self._announce(start, session)
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
                yield from self._process(frame, session)

    def _announce(self, start: SourceStarted | None, session: CameraSession) -> Iterator[SourceStarted]:
        if start is not None:
            session.fps.reset()
            yield start

    def _process(self, frame: Frame, session: CameraSession) -> list[LiveEvent]:
        with self._turns, self._swap:
            if self._enrolling and session.number == 0:  # enrolment from the webcam: the first camera
                return self._preview(frame)
            return [self._identified(session.recognizer.process(frame), session)]

    def _identified(self, result: LiveResult, session: CameraSession) -> Identified:
        session.last = result  # one frame, replaced by the next: what a correction acts on
        self._remember_unknowns(result)
        self._retention.seen(self._gallery, [face.name for face in result.faces if face.name])
        self._retention.sweep(self._gallery)
        return Identified(result.frame, result.faces, result.events, self.recognizer.matcher.tau,
                          session.fps.tick(), self._pipeline.times.medians(), session.number)

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
        pose = self._burst_pose
        if self._burst is not None and report.ok and (pose is None or pose.holds(report.yaw)):
            live = float(pipeline.live_scores(frame.pixels, [face])[0]) if self.settings.liveness else None
            self._burst.append((report.score, frame, live))
            if len(self._burst) >= BURST:
                _, best, _ = max(self._burst, key=lambda item: item[0])
                scores = [score for _, _, score in self._burst if score is not None]
                self._burst = None
                image = LoadedImage(best.pixels, f"camera frame {best.index}", best.pixels.shape[1::-1], 1.0)
                try:
                    if scores:  # decided over the burst, like the live view over a track
                        check_live("camera", float(np.median(scores)))
                    events.append(self._candidate(prepare_candidate(pipeline, image)))
                except OneShotError as error:
                    events.append(EnrolFailed(str(error)))
        return events


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _gone(group_id: int) -> InputError:
    return InputError(f"there is no unknown person {group_id} any more (named, forgotten, or dropped for newer ones)")


def _candidate_of(sighting: UnknownFace) -> EnrolmentCandidate:
    return EnrolmentCandidate(sighting.face, sighting.chip, sighting.embedding, sighting.quality,
                              f"live frame {sighting.frame}")


def _pause(seconds: float, should_stop: Callable[[], bool]) -> Iterator[None]:
    """Wait ``seconds``, yielding every WAIT_SECONDS so the consumer can stop meanwhile."""
    until = time.monotonic() + seconds
    while not should_stop() and time.monotonic() < until:
        time.sleep(min(WAIT_SECONDS, max(0.0, until - time.monotonic())))
        yield None
