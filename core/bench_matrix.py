"""``oneshot bench --matrix``: every live stage for 1, 4 and 16 faces at 480p, 720p and 1080p.

Frames are tiles of the bundled sample face (so the command needs no test photos), encoded
as JPEG the way a webcam's MJPEG stream arrives. Each stage is timed alone, median of the
runs: decode, resize (detector input), detect (network), NMS (grid decode and suppression),
align, embed (all faces in one batch), match (against a 1,000-person gallery), track and
paint (boxes and labels). End to end is one frame taken through all of them in order, as the
live loop does when every face is due for embedding (the tracker usually spares most), timed
as a whole; throughput follows from it, and the networks' share of it (detect + embed over the
summed stages) says how much is left to gain outside them. Peak memory is the process's resident
high-water mark.
"""

from __future__ import annotations

import resource
import sys

import cv2
import numpy as np

from .bench import letterbox, median_ms
from .vision.drawing import draw_faces
from .storage.store import GalleryVectors
from .vision.imaging import load_image
from .live.loop import LIVE_LONG_SIDE
from .live.match import VectorIndex, decide
from .vision.pipeline import FacePipeline
from .resources import sample_face
from .live.track import FaceTracker

RESOLUTIONS = {"480p": (640, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
FACE_COUNTS = (1, 4, 16)
GALLERY_PEOPLE = 1000
STAGES = ("decode", "resize", "detect", "nms", "align", "embed", "match", "track", "paint")


def tiled_frame(face_photo: np.ndarray, faces: int, size: tuple[int, int]) -> np.ndarray:
    """A frame of ``size`` holding ``faces`` copies of the photo in a square grid."""
    width, height = size
    side = int(np.ceil(np.sqrt(faces)))
    tile = letterbox(face_photo, (width // side, height // side))
    frame = np.zeros((height, width, 3), np.uint8)
    for n in range(faces):
        row, column = divmod(n, side)
        frame[row * tile.shape[0]:(row + 1) * tile.shape[0], column * tile.shape[1]:(column + 1) * tile.shape[1]] = tile
    return frame


def peak_memory_mb() -> float:
    """The process's peak resident memory (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def encode_jpeg(frame: np.ndarray) -> np.ndarray:
    """The frame as a webcam's MJPEG stream would deliver it."""
    return cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]


def synthetic_index(people: int, dimensions: int) -> VectorIndex:
    """A gallery of ``people`` random descriptors at the spread of real ones."""
    rng = np.random.default_rng(0)
    return VectorIndex(GalleryVectors([f"person {n}" for n in range(people)], np.arange(people),
                                      rng.normal(scale=0.09, size=(people, dimensions)).astype(np.float32)))


def whole_frame(pipeline: FacePipeline, index: VectorIndex, tracker: FaceTracker, encoded: np.ndarray,
                long_side: int | None) -> int:
    """Every stage on one frame, in order, as the live loop would with every face due; faces found."""
    frame = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    found = pipeline.detector.detect(frame, long_side)
    tracker.update(found)
    if found:
        embeddings = pipeline.embedder.embed(pipeline.align(frame, found))
        decide(index.person_distances(embeddings), index.names, pipeline.tau, 3)
    draw_faces(frame, found)
    return len(found)


def time_stages(pipeline: FacePipeline, index: VectorIndex, frame: np.ndarray, repeat: int,
                long_side: int | None) -> tuple[dict, int]:
    """Median ms of each stage on one frame, and how many faces were found in it."""
    detector, embedder = pipeline.detector, pipeline.embedder
    encoded = encode_jpeg(frame)
    prepared = detector.prepare(frame, long_side)
    grids = detector.infer(prepared.blob)
    found = detector.decode(grids, prepared)
    chips = pipeline.align(frame, found)
    embeddings = embedder.embed(chips)
    tracker = FaceTracker()
    stage_ms = {
        "decode": median_ms(lambda: cv2.imdecode(encoded, cv2.IMREAD_COLOR), repeat),
        "resize": median_ms(lambda: detector.prepare(frame, long_side), repeat),
        "detect": median_ms(lambda: detector.infer(prepared.blob), repeat),
        "nms": median_ms(lambda: detector.decode(grids, prepared), repeat),
        "align": median_ms(lambda: pipeline.align(frame, found), repeat),
        "embed": median_ms(lambda: embedder.embed(chips), repeat),
        "match": median_ms(lambda: decide(index.person_distances(embeddings), index.names, pipeline.tau, 3), repeat),
        "track": median_ms(lambda: tracker.update(found), repeat),
        "paint": median_ms(lambda: draw_faces(frame, found), repeat),
        "whole_frame": median_ms(lambda: whole_frame(pipeline, index, FaceTracker(), encoded, long_side), repeat),
    }
    return stage_ms, len(found)


def run_matrix(pipeline: FacePipeline, repeat: int = 10, long_side: int | None = LIVE_LONG_SIDE) -> dict:
    photo = load_image(sample_face()).pixels
    index = synthetic_index(GALLERY_PEOPLE, pipeline.embedder.embedding_size)
    rows = []
    for label, size in RESOLUTIONS.items():
        for faces in FACE_COUNTS:
            stage_ms, found = time_stages(pipeline, index, tiled_frame(photo, faces, size), repeat, long_side)
            frame_ms = stage_ms.pop("whole_frame")
            stages_ms = sum(stage_ms.values())
            rows.append({"resolution": label, "frame": list(size), "faces": faces, "found": found,
                         "stage_ms": stage_ms, "frame_ms": frame_ms, "sum_of_stages_ms": stages_ms,
                         "fps": 1000.0 / frame_ms, "faces_per_second": found * 1000.0 / frame_ms,
                         "network_share": (stage_ms["detect"] + stage_ms["embed"]) / stages_ms})
    return {"device": pipeline.providers.device, "detector_long_side": long_side, "repeat": repeat,
            "gallery_people": GALLERY_PEOPLE, "rows": rows, "peak_memory_mb": peak_memory_mb()}


def format_matrix(report: dict) -> str:
    lines = [f"oneshot bench --matrix: {report['device']}, detector input {report['detector_long_side'] or 'full'} px, "
             f"{report['gallery_people']}-person gallery, median of {report['repeat']} runs (ms)",
             f"{'frame':>6} {'faces':>5} {'found':>5} " + " ".join(f"{s:>7}" for s in STAGES)
             + f" {'total':>7} {'fps':>6} {'faces/s':>7} {'net %':>5}"]
    for row in report["rows"]:
        lines.append(f"{row['resolution']:>6} {row['faces']:>5} {row['found']:>5} "
                     + " ".join(f"{row['stage_ms'][s]:7.2f}" for s in STAGES)
                     + f" {row['frame_ms']:7.2f} {row['fps']:6.1f} {row['faces_per_second']:7.1f}"
                     + f" {100 * row['network_share']:5.0f}")
    lines.append(f"net %: share of the frame spent in the two networks' runs (on a GPU: kernels and transfers);"
                 f" the rest is Python, OpenCV and NumPy. Peak memory {report['peak_memory_mb']:.0f} MB")
    return "\n".join(lines)
