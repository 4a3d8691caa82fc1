"""``oneshot bench``: median milliseconds per stage on a fixed 640x480 frame with one face.

Every shipped detector is timed on the same frame too, at full size and at the live size, in
turns, so that whatever else loads the machine slows each of them alike.

Where dlib and its models are installed (the ``dev`` extra), the same run times dlib's own
pipeline (HOG detector, 5-point shape predictor, ResNet descriptor) on the same frame, so
the speed ratio compares like with like on this machine, measured seconds apart.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from .models.registry import find_models
from .vision.align import align_face
from .vision.detect import FaceDetector
from .errors import NoFaceError
from .vision.imaging import load_image
from .live.loop import LIVE_LONG_SIDE
from .vision.pipeline import FacePipeline
from .resources import sample_face
from .models.runtime import default_threads

FRAME_SIZE = (640, 480)
BATCH = 8


def median_ms(action, repeat: int, warm_up: int = 2) -> float:
    """Median wall-clock milliseconds of ``action()`` over ``repeat`` runs after a warm-up."""
    for _ in range(warm_up):
        action()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples)


def fit_frame(pixels: np.ndarray, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """Scale to cover ``size`` (width, height) and crop the centre: a webcam-like frame."""
    width, height = size
    factor = max(width / pixels.shape[1], height / pixels.shape[0])
    scaled = cv2.resize(pixels, (round(pixels.shape[1] * factor), round(pixels.shape[0] * factor)),
                        interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    top, left = (scaled.shape[0] - height) // 2, (scaled.shape[1] - width) // 2
    return np.ascontiguousarray(scaled[top:top + height, left:left + width])


def letterbox(pixels: np.ndarray, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """Scale to fit inside ``size`` (width, height) and pad with black: nothing is cut off."""
    width, height = size
    factor = min(width / pixels.shape[1], height / pixels.shape[0])
    new_w, new_h = round(pixels.shape[1] * factor), round(pixels.shape[0] * factor)
    scaled = cv2.resize(pixels, (new_w, new_h), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    frame[top:top + new_h, left:left + new_w] = scaled
    return frame


def shipped_detectors(provider: str) -> dict[str, FaceDetector]:
    """Every shipped detector by id, each on its own session."""
    return {spec.id: FaceDetector.open(spec, provider) for spec in find_models("detect")}


def time_detectors(detectors: dict[str, FaceDetector], frame: np.ndarray, repeat: int) -> dict:
    """Each detector's faces found and median ms on ``frame`` at full and live size, one run of
    each in turn per round."""
    sizes = {"full_ms": None, "live_ms": LIVE_LONG_SIDE}
    faces = {name: len(detector.detect(frame)) for name, detector in detectors.items()}  # and a warm-up
    samples = {(name, size): [] for name in detectors for size in sizes}
    for _ in range(repeat):
        for (name, size), times in samples.items():
            start = time.perf_counter()
            detectors[name].detect(frame, sizes[size])
            times.append((time.perf_counter() - start) * 1000.0)
    return {name: {"faces": found, **{size: statistics.median(samples[name, size]) for size in sizes}}
            for name, found in faces.items()}


def run_benchmark(pipeline: FacePipeline, image_path: Path | None = None, repeat: int = 30,
                  reference: bool = True) -> dict:
    """Time detect, align, embed (batch 1 and 8), liveness (both networks, where loaded) and
    the whole frame; optionally dlib's."""
    source = image_path or sample_face()
    frame = fit_frame(load_image(source).pixels)
    faces = pipeline.detector.detect(frame)
    if not faces:
        raise NoFaceError(str(source))
    main_face = max(faces, key=lambda f: f.area)
    landmarks = main_face.landmark_array()
    chip = align_face(frame, landmarks)
    chips = np.repeat(chip[None], BATCH, axis=0)

    def whole_frame(long_side: int | None = None) -> np.ndarray:
        """Detect (at ``long_side``, or the still-photo size), align, assess (the face's condition)
        and embed every face: what an identification costs without liveness, which the live
        loop runs once per new face and at re-embeddings (see ``liveness`` for its cost)."""
        found = pipeline.detector_for(long_side is not None).detect(frame, long_side)
        chips = pipeline.align(frame, found)
        pipeline.assess(found, chips)
        return pipeline.embedder.embed(chips)

    embed_batch = median_ms(lambda: pipeline.embedder.embed(chips), repeat)
    stage_ms = {
        "detect": median_ms(lambda: pipeline.detector.detect(frame), repeat),
        "align": median_ms(lambda: align_face(frame, landmarks), repeat),
        "embed_batch1": median_ms(lambda: pipeline.embedder.embed(chip[None]), repeat),
        f"embed_batch{BATCH}": embed_batch,
        f"embed_batch{BATCH}_per_face": embed_batch / BATCH,
    }
    if pipeline.occlusion is not None:  # the lower-face classifier on the face's chip
        stage_ms["assess"] = median_ms(lambda: pipeline.occlusion.covered(chip[None]), repeat)
    if pipeline.liveness is not None:  # both networks (2.7x and 4x crops) on the frame's face
        stage_ms["liveness"] = median_ms(lambda: pipeline.liveness.scores(frame, [main_face.box]), repeat)
    frame_ms = median_ms(whole_frame, repeat)
    live_ms = median_ms(lambda: whole_frame(LIVE_LONG_SIDE), repeat)
    report = {
        "image": str(source),
        "frame": list(FRAME_SIZE),
        "faces": len(faces),
        "detector": pipeline.detector.spec.id,
        "live_detector": pipeline.live_detector.spec.id,
        "device": pipeline.providers.device,
        "providers": list(pipeline.providers.providers),
        "threads": default_threads(),
        "repeat": repeat,
        "stage_ms": stage_ms,
        "frame_ms": frame_ms,
        "fps": 1000.0 / frame_ms,
        "live_frame_ms": live_ms,  # detector input LIVE_LONG_SIDE, as the live loop runs it
        "live_fps": 1000.0 / live_ms,
        "detectors": time_detectors(shipped_detectors("auto" if pipeline.providers.on_gpu else "cpu"), frame, repeat),
    }
    if reference:
        dlib_report = time_dlib(frame, max(5, repeat // 3))
        if dlib_report:
            dlib_report["speedup"] = dlib_report["frame_ms"] / frame_ms
            dlib_report["live_speedup"] = dlib_report["frame_ms"] / live_ms
            ours = whole_frame()
            theirs = np.array(dlib_report.pop("descriptors"))
            nearest = ((theirs[:, None, :] - ours[None]) ** 2).sum(-1).min(1)
            dlib_report["same_people"] = bool(len(theirs) == len(ours) and (nearest < pipeline.tau).all())
            dlib_report["embed_speedup"] = dlib_report["embed_ms"] / stage_ms["embed_batch1"]
            report["reference"] = dlib_report
    return report


def dlib_model_file(name: str) -> Path | None:
    """A model file of the ``face_recognition_models`` package, found without importing it.

    Its ``__init__`` needs ``pkg_resources``, which current setuptools no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    return path if path.is_file() else None


def time_dlib(frame: np.ndarray, repeat: int) -> dict | None:
    """dlib's pipeline on the same frame, or None when dlib or its models are not installed."""
    try:
        import dlib
    except ImportError:
        return None
    shape_model = dlib_model_file("shape_predictor_5_face_landmarks.dat")
    resnet_model = dlib_model_file("dlib_face_recognition_resnet_model_v1.dat")
    if shape_model is None or resnet_model is None:
        return None
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(shape_model))
    encoder = dlib.face_recognition_model_v1(str(resnet_model))
    boxes = detector(frame, 1)
    if not boxes:
        return None
    shape = predictor(frame, boxes[0])

    def whole_frame() -> None:
        for box in detector(frame, 1):
            encoder.compute_face_descriptor(frame, predictor(frame, box))

    return {
        "pipeline": f"dlib {dlib.__version__}: HOG detector (upsample 1), 5-point shape predictor, ResNet",
        "descriptors": [list(encoder.compute_face_descriptor(frame, predictor(frame, box))) for box in boxes],
        "detect_ms": median_ms(lambda: detector(frame, 1), repeat, warm_up=1),
        "embed_ms": median_ms(lambda: encoder.compute_face_descriptor(frame, shape), repeat, warm_up=1),
        "frame_ms": median_ms(whole_frame, repeat, warm_up=1),
    }


def format_bench(report: dict) -> str:
    """The table ``oneshot bench`` prints."""
    lines = [f"oneshot bench: {report['frame'][0]}x{report['frame'][1]} frame, {report['faces']} face, "
             f"{report['device']} ({report['threads']} threads), median of {report['repeat']} runs"]
    lines += [f"  {stage:<24}{ms:8.2f} ms" for stage, ms in report["stage_ms"].items()]
    lines.append(f"  {'whole frame':<24}{report['frame_ms']:8.2f} ms  ({report['fps']:.1f} frames/s)")
    lines.append(f"  {'whole frame, live size':<24}{report['live_frame_ms']:8.2f} ms  ({report['live_fps']:.1f} frames/s; "
                 f"detector input {LIVE_LONG_SIDE} px)")
    lines.append(f"detectors, same frame, in turns (photos: {report['detector']}, live: {report['live_detector']}):")
    lines += [f"  {name:<24}{row['full_ms']:8.2f} ms full size, {row['live_ms']:6.2f} ms at {LIVE_LONG_SIDE} px "
              f"({row['faces']} face{'s' if row['faces'] != 1 else ''})" for name, row in report["detectors"].items()]
    reference = report.get("reference")
    if reference:
        lines.append(f"reference, same frame, same run: {reference['pipeline']}")
        lines.append(f"  {'dlib detect':<24}{reference['detect_ms']:8.2f} ms")
        lines.append(f"  {'dlib embed':<24}{reference['embed_ms']:8.2f} ms  (ours {reference['embed_speedup']:.1f}x faster)")
        lines.append(f"  {'dlib whole frame':<24}{reference['frame_ms']:8.2f} ms  (ours {reference['speedup']:.1f}x faster, "
                     f"{reference['live_speedup']:.1f}x at live size; same people found: "
                     f"{'yes' if reference['same_people'] else 'NO'})")
    return "\n".join(lines)
