"""Glue: image -> faces -> aligned chips -> condition -> embeddings, with per-stage timings.

``FacePipeline.load()`` opens the shipped models on the chosen execution provider (the two
detectors, embedder, the lower-face occlusion classifier and the two liveness networks), checks
their files against the manifests and warms them up, so the first real frame is not slow.

Two detectors, each where it wins (``core.modelbuild.manifests``, at YuNet): photos (enrolment,
the command line) go through CenterFace, on whose landmarks the embedder's taus were
calibrated; the live loop runs YuNet-n by default, a third of CenterFace's time at the live
size with no false box there, at the cost of fewer names on masked faces (the user may choose
CenterFace for the live view too: ``Settings.live_detector``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .align import align_face
from .condition import CLEAR, ConditionTaus, FaceCondition, assess
from .detect import Face, FaceDetector
from .embed import FaceEmbedder
from ..errors import ModelError
from .imaging import LoadedImage
from .liveness import LivenessChecker
from ..models.store import active_embedder, get_embedder
from ..models.registry import shipped_model, verify_file
from .occlusion import OcclusionDetector
from ..models.runtime import ProviderChoice, create_session
from ..timing import StageTimes

STILLS_DETECTOR = "centerface"
LIVE_DETECTORS = ("yunet-n", STILLS_DETECTOR)  # the first is the default


@dataclass(frozen=True, eq=False)
class FaceResult:
    """A face in the original image's coordinates, with its chip and descriptor."""

    face: Face
    chip: np.ndarray
    embedding: np.ndarray
    condition: FaceCondition = CLEAR
    liveness: float | None = None  # probability of a live face; None when not checked


class FacePipeline:
    """Detector + aligner + assessor + embedder, timed per stage.

    ``occlusion`` and ``liveness`` are optional so a caller (a test, an imported model's
    self-check) can run the recognition stages alone; ``load`` always opens both.
    """

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder, providers: ProviderChoice,
                 occlusion: OcclusionDetector | None = None, liveness: LivenessChecker | None = None,
                 live_detector: FaceDetector | None = None) -> None:
        self.detector = detector
        self.live_detector = live_detector or detector  # the live loop's (see the module docstring)
        self.embedder = embedder
        self.providers = providers
        self.occlusion = occlusion
        self.liveness = liveness
        self.times = StageTimes()

    @classmethod
    def load(
        cls,
        provider: str = "auto",
        model_dir: Path | None = None,
        score_threshold: float | None = None,
        nms_threshold: float | None = None,
        embedder_id: str | None = None,
        live_detector: str | None = None,
    ) -> "FacePipeline":
        """Open the detectors (``live_detector``: one of ``LIVE_DETECTORS``, None the default) and
        the active (or the named) embedder, verified, and warm them up."""
        live_id = live_detector or LIVE_DETECTORS[0]
        if live_id not in LIVE_DETECTORS:
            raise ModelError(f"unknown live detector {live_id!r}; choose {' or '.join(LIVE_DETECTORS)}")
        detector_spec = shipped_model(STILLS_DETECTOR, "detect", model_dir)
        embedder_spec = get_embedder(embedder_id, model_dir) if embedder_id else active_embedder(model_dir)
        verify_file(detector_spec)
        verify_file(embedder_spec)
        detector_session, choice = create_session(detector_spec.path, provider)
        embedder_session, _ = create_session(embedder_spec.path, provider)
        detector = FaceDetector(detector_session, detector_spec)
        pipeline = cls(
            detector,
            FaceEmbedder(embedder_session, embedder_spec),
            choice,
            OcclusionDetector.load(provider, model_dir),
            LivenessChecker.load(provider, model_dir),
            detector if live_id == STILLS_DETECTOR else FaceDetector.open(shipped_model(live_id, "detect", model_dir),
                                                                          provider),
        )
        pipeline.configure(score_threshold, nms_threshold)
        pipeline.warm_up()
        return pipeline

    def configure(self, score_threshold: float | None = None, nms_threshold: float | None = None) -> None:
        """The user's Pc and IoU (None: the manifests' own). Pc is CenterFace's; a live YuNet moves
        by as much from its own default, since the two networks' scores are on different scales."""
        self.detector.configure(score_threshold, nms_threshold)
        if self.live_detector is not self.detector:
            own = float(self.live_detector.spec.defaults["score_threshold"])
            shift = 0.0 if score_threshold is None else score_threshold - float(self.detector.spec.defaults["score_threshold"])
            self.live_detector.configure(min(1.0, max(0.0, own + shift)), nms_threshold)

    @property
    def tau(self) -> float:
        return self.embedder.tau

    @property
    def condition_taus(self) -> ConditionTaus:
        """The embedder's calibrated tau per face condition (see ``core.vision.condition``)."""
        return ConditionTaus.from_defaults(self.embedder.spec.defaults)

    def with_embedder(self, embedder: FaceEmbedder) -> "FacePipeline":
        """The same detector, assessors and provider around another embedder (a model switch)."""
        return FacePipeline(self.detector, embedder, self.providers, self.occlusion, self.liveness, self.live_detector)

    def warm_up(self) -> None:
        """One pass through each network so lazy allocations happen now, not on frame one."""
        for detector in {id(d): d for d in (self.detector, self.live_detector)}.values():
            detector.detect(np.zeros((480, 640, 3), dtype=np.uint8))
        size = self.embedder.chip_size
        self.embedder.embed(np.zeros((1, size, size, 3), dtype=np.uint8))
        if self.occlusion is not None:
            self.occlusion.covered(np.zeros((1, size, size, 3), dtype=np.uint8))
        if self.liveness is not None:
            self.liveness.scores(np.zeros((480, 640, 3), dtype=np.uint8), [(270.0, 190.0, 370.0, 310.0)])

    def detect(self, pixels: np.ndarray, long_side: int | None = None,
               score_threshold: float | None = None, live: bool = False) -> list[Face]:
        """Faces in the pixels' own coordinates, by the live detector when ``live``, timed as stage ``detect``."""
        with self.times.measure("detect"):
            return self.detector_for(live).detect(pixels, long_side, score_threshold)

    def detector_for(self, live: bool) -> FaceDetector:
        """The live view's detector, or the photos' one."""
        return self.live_detector if live else self.detector

    def align(self, pixels: np.ndarray, faces: list[Face]) -> np.ndarray:
        """(N, S, S, 3) chips for the faces, timed as stage ``align``."""
        size = self.embedder.chip_size
        with self.times.measure("align"):
            chips = [align_face(pixels, face.landmark_array(), size) for face in faces]
            return np.stack(chips) if chips else np.zeros((0, size, size, 3), dtype=np.uint8)

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors for a batch of chips, timed as stage ``embed``."""
        with self.times.measure("embed"):
            return self.embedder.embed(chips)

    def assess(self, faces: list[Face], chips: np.ndarray) -> list[FaceCondition]:
        """Each face's condition (masked, profile, small, dark or clear), timed as stage ``assess``.

        ``faces`` are in the pixels the ``chips`` were cut from. Without an occlusion model no
        face counts as masked.
        """
        with self.times.measure("assess"):
            if self.occlusion is None or not len(chips):
                covered, threshold = np.zeros(len(faces), dtype=np.float32), 1.0
            else:
                covered, threshold = self.occlusion.covered(chips), self.occlusion.threshold
            return [assess(face, chip, float(p), threshold) for face, chip, p in zip(faces, chips, covered)]

    def live_scores(self, pixels: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Each face's probability of being live (not a photo or a screen), timed as stage ``liveness``."""
        if self.liveness is None:
            raise ModelError("no liveness model is loaded")
        with self.times.measure("liveness"):
            return self.liveness.scores(pixels, [face.box for face in faces])

    def find_faces(self, image: LoadedImage) -> list[Face]:
        """Every face of a loaded image, in the original file's pixel coordinates."""
        return [face.scaled(image.scale) for face in self.detect(image.pixels)]

    def analyse(self, image: LoadedImage, liveness: bool = False) -> list[FaceResult]:
        """Every face of a loaded image with its chip, condition and descriptor (and, asked for,
        its liveness), in original coordinates."""
        faces = self.detect(image.pixels)
        chips = self.align(image.pixels, faces)
        conditions = self.assess(faces, chips)
        embeddings = self.embed(chips)
        scores = self.live_scores(image.pixels, faces).tolist() if liveness and faces else [None] * len(faces)
        return [
            FaceResult(face.scaled(image.scale), chip, embedding, condition, score)
            for face, chip, embedding, condition, score in zip(faces, chips, embeddings, conditions, scores)
        ]
