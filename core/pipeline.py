"""Glue: image -> faces -> aligned chips -> embeddings, with per-stage timings.

``FacePipeline.load()`` opens both shipped models on the chosen execution provider, checks
their files against the manifests and warms them up, so the first real frame is not slow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .align import align_face
from .detect import Face, FaceDetector
from .embed import FaceEmbedder
from .imaging import LoadedImage
from .model_store import active_embedder, get_embedder
from .models import find_model, verify_file
from .runtime import ProviderChoice, create_session
from .timing import StageTimes


@dataclass(frozen=True, eq=False)
class FaceResult:
    """A face in the original image's coordinates, with its chip and descriptor."""

    face: Face
    chip: np.ndarray
    embedding: np.ndarray


class FacePipeline:
    """Detector + aligner + embedder, timed per stage."""

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder, providers: ProviderChoice) -> None:
        self.detector = detector
        self.embedder = embedder
        self.providers = providers
        self.times = StageTimes()

    @classmethod
    def load(
        cls,
        provider: str = "auto",
        model_dir: Path | None = None,
        score_threshold: float | None = None,
        nms_threshold: float | None = None,
        embedder_id: str | None = None,
    ) -> "FacePipeline":
        """Open the detector and the active (or the named) embedder, verified, and warm them up."""
        detector_spec = find_model("detect", model_dir)
        embedder_spec = get_embedder(embedder_id, model_dir) if embedder_id else active_embedder(model_dir)
        verify_file(detector_spec)
        verify_file(embedder_spec)
        detector_session, choice = create_session(detector_spec.path, provider)
        embedder_session, _ = create_session(embedder_spec.path, provider)
        pipeline = cls(
            FaceDetector(detector_session, detector_spec, score_threshold, nms_threshold),
            FaceEmbedder(embedder_session, embedder_spec),
            choice,
        )
        pipeline.warm_up()
        return pipeline

    @property
    def tau(self) -> float:
        return self.embedder.tau

    def warm_up(self) -> None:
        """One pass through each network so lazy allocations happen now, not on frame one."""
        self.detector.detect(np.zeros((480, 640, 3), dtype=np.uint8))
        size = self.embedder.chip_size
        self.embedder.embed(np.zeros((1, size, size, 3), dtype=np.uint8))

    def detect(self, pixels: np.ndarray, long_side: int | None = None,
               score_threshold: float | None = None) -> list[Face]:
        """Faces in the pixels' own coordinates, timed as stage ``detect``."""
        with self.times.measure("detect"):
            return self.detector.detect(pixels, long_side, score_threshold)

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

    def find_faces(self, image: LoadedImage) -> list[Face]:
        """Every face of a loaded image, in the original file's pixel coordinates."""
        return [face.scaled(image.scale) for face in self.detect(image.pixels)]

    def analyse(self, image: LoadedImage) -> list[FaceResult]:
        """Every face of a loaded image with its chip and descriptor, in original coordinates."""
        faces = self.detect(image.pixels)
        chips = self.align(image.pixels, faces)
        embeddings = self.embed(chips)
        return [
            FaceResult(face.scaled(image.scale), chip, embedding)
            for face, chip, embedding in zip(faces, chips, embeddings)
        ]
