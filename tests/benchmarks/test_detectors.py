"""CenterFace against YuNet on the shared photos: the measurements behind the detector choice.

Run: ``python -m pytest tests/benchmarks/test_detectors.py --benchmark-only -s``.

Each detector at its manifest's thresholds, at the still size (min_side 640) and at the live
loop's size (``LIVE_LONG_SIDE`` with the live Pc relief), on: the 18 labelled faces of
detection/ (boxes, IoU >= 0.4), scenes/ (face counts from the data README), people/ (one main
face each), the labelled and people/ faces with a painted mask (``mask_photo``, placed from
CenterFace's landmarks), people/ faces shrunk to 24 and 36 px tall in a grey 640x480 frame, and
edge/ (one face each). "false" counts boxes beyond the expected faces. Also YuNet-s from the
upstream folder, the variant not shipped, at the lowest Pc with no false box on the labelled,
scene and people/ faces at the still size (``S_SCORE``; its false boxes there score up to 0.62).

Landmarks: each YuNet's five points against CenterFace's on the same face (mean distance in eye
distances), and the squared distance between the descriptors of the chips cut from each
(tau 0.36). A per-point offset fitted on people/ (least squares in the face's eye frame) is
checked on scenes/ and ORL: it would be worth shipping only if it helped there too.

Speed: ms per 640x480 frame (``core.bench.time_detectors``), all detectors in turns.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from core.bench import fit_frame, shipped_detectors, time_detectors
from core.live.loop import LIVE_LONG_SIDE, live_threshold
from core.models.registry import file_sha256
from core.resources import sample_face
from core.training.conditions import mask_photo
from core.vision.align import align_face
from core.vision.detect import FaceDetector
from core.vision.imaging import load_image
from core.vision.nms import iou

UPSTREAM_S = Path(__file__).resolve().parents[2].parent / "shared" / "upstream" / "yunet" / "yunet_s_dynamic.onnx"
SCENE_FACES = {"two_people.jpg": 2, "obama_and_biden.jpg": 3, "kit_with_rose.jpg": 2}
SMALL_FACES = (24, 36)
SUFFIXES = {".jpg", ".jpeg", ".png"}
REFERENCE = "centerface"
S_SCORE = 0.65


def all_detectors() -> dict:
    detectors = shipped_detectors("cpu")
    if UPSTREAM_S.is_file():
        spec = detectors["yunet-n"].spec
        spec = dataclasses.replace(spec, id="yunet-s (upstream)", path=UPSTREAM_S, sha256=file_sha256(UPSTREAM_S))
        detectors[spec.id] = FaceDetector.open(spec, "cpu", score_threshold=S_SCORE, max_upscale=2.0)
    return detectors


def main_face(detector, pixels):
    return max(detector.detect(pixels), key=lambda face: face.area)


def small_frame(pixels, face, height):
    """``pixels`` shrunk so ``face`` is ``height`` px tall, centred in a grey 640x480 frame; its box there."""
    k = height / face.height
    shrunk = cv2.resize(pixels, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    x0, y0 = int((face.box[0] + face.box[2]) / 2 * k) - 320, int((face.box[1] + face.box[3]) / 2 * k) - 240
    frame = np.full((480, 640, 3), 90, np.uint8)
    left, top = max(0, x0), max(0, y0)
    right, bottom = min(shrunk.shape[1], x0 + 640), min(shrunk.shape[0], y0 + 480)
    frame[top - y0:bottom - y0, left - x0:right - x0] = shrunk[top:bottom, left:right]
    return frame, np.array(face.box) * k - [x0, y0, x0, y0]


def detection_sets(reference, data_dir, labelled_boxes) -> dict:
    """set -> [(pixels, truth)]: truth is a list of boxes, or the number of faces where only that is known."""
    people = [load_image(p).pixels for p in sorted((data_dir / "people").glob("*/*")) if p.suffix.lower() in SUFFIXES]
    labelled = [(load_image(p).pixels, [np.array(b, float) for b in boxes]) for p, boxes in labelled_boxes.items()]
    masked = []
    for pixels, boxes in labelled:
        faces = reference.detect(pixels, None, 0.3)
        for box in boxes:
            pixels = mask_photo(pixels, max(faces, key=lambda f: iou(box, np.array([f.box]))[0]))
        masked.append((pixels, boxes))
    main = [main_face(reference, pixels) for pixels in people]
    masked += [(mask_photo(pixels, face), [np.array(face.box)]) for pixels, face in zip(people, main)]
    small = []
    for pixels, face in zip(people, main):
        small += [(frame, [box]) for frame, box in (small_frame(pixels, face, h) for h in SMALL_FACES)]
    return {
        "labelled": labelled,
        "scenes": [(load_image(data_dir / "scenes" / name).pixels, count) for name, count in SCENE_FACES.items()],
        "people": [(pixels, 1) for pixels in people],
        "masked": masked,
        "small": small,
        "edge": [(load_image(p).pixels, 1) for p in sorted((data_dir / "edge").iterdir()) if p.suffix.lower() in SUFFIXES],
    }


def found_and_false(detector, items, long_side) -> tuple[int, int, int]:
    """Faces found, faces expected and false boxes over one set."""
    found = expected = false = 0
    for pixels, truth in items:
        boxes = np.array([f.box for f in detector.detect(pixels, long_side, live_threshold(detector.score_threshold, long_side))])
        if isinstance(truth, int):
            found, expected, false = found + min(len(boxes), truth), expected + truth, false + max(0, len(boxes) - truth)
            continue
        hits = {int(iou(box, boxes).argmax()) for box in truth if len(boxes) and iou(box, boxes).max() >= 0.4}
        found, expected, false = found + len(hits), expected + len(truth), false + len(boxes) - len(hits)
    return found, expected, false


def eye_frames(points):
    """Each face's eye frame: x along the eye line, y across it, one eye distance long."""
    x_axis = points[:, 1] - points[:, 0]
    return x_axis, np.stack([-x_axis[:, 1], x_axis[:, 0]], axis=1)


def frame_offsets(source, target):
    """(N, 5, 2): ``target - source`` in ``source``'s eye frames."""
    x_axis, y_axis = eye_frames(source)
    scale = (x_axis ** 2).sum(1)[:, None]
    delta = target - source
    return np.stack([(delta * x_axis[:, None]).sum(2) / scale, (delta * y_axis[:, None]).sum(2) / scale], axis=2)


def shifted(points, offsets):
    """``points`` moved by one (5, 2) offset per point, given in their own eye frames."""
    x_axis, y_axis = eye_frames(points)
    return points + offsets[None, :, :1] * x_axis[:, None] + offsets[None, :, 1:] * y_axis[:, None]


def landmark_pairs(reference, detector, photos):
    """Every reference face with a detector face over it (IoU >= 0.5): pixels index, both (5, 2) point sets."""
    pairs = []
    for index, pixels in enumerate(photos):
        theirs = detector.detect(pixels)
        for face in reference.detect(pixels):
            overlap = iou(np.array(face.box), np.array([f.box for f in theirs]).reshape(-1, 4))
            if len(theirs) and overlap.max() >= 0.5:
                pairs.append((index, face.landmark_array(), theirs[int(overlap.argmax())].landmark_array()))
    return pairs


def agreement(embed, photos, pairs, offsets=None) -> str:
    """Mean point distance (eye distances) and descriptor drift d of the chips, median and max."""
    ours, theirs = np.array([p[1] for p in pairs]), np.array([p[2] for p in pairs])
    if offsets is not None:
        theirs = shifted(theirs, offsets)
    errors = np.linalg.norm(ours - theirs, axis=2).mean(1) / np.linalg.norm(ours[:, 1] - ours[:, 0], axis=1)
    drift = []
    for (index, _, _), a, b in zip(pairs, ours, theirs):
        vectors = embed(np.stack([align_face(photos[index], a), align_face(photos[index], b)]))
        drift.append(float(((vectors[0] - vectors[1]) ** 2).sum()))
    return (f"points {errors.mean():.3f} (max {errors.max():.3f}), "
            f"d median {np.median(drift):.4f} max {max(drift):.4f}")


def evaluate(pipeline, data_dir, labelled_boxes):
    detectors = all_detectors()
    reference = detectors[REFERENCE]
    sets = detection_sets(reference, data_dir, labelled_boxes)
    counts = {(name, size): [found_and_false(detector, items, side) for items in sets.values()]
              for name, detector in detectors.items() for size, side in (("full", None), ("live", LIVE_LONG_SIDE))}
    photos = {
        "people": [load_image(p).pixels for p in sorted((data_dir / "people").glob("*/*")) if p.suffix.lower() in SUFFIXES],
        "scenes": [load_image(data_dir / "scenes" / name).pixels for name in SCENE_FACES],
        "orl": [load_image(p).pixels for p in sorted((data_dir / "orl").glob("s*/*.pgm"))],
    }
    landmarks = {}
    for name, detector in detectors.items():
        if name == REFERENCE:
            continue
        pairs = {set_name: landmark_pairs(reference, detector, pixels) for set_name, pixels in photos.items()}
        people = pairs["people"]
        offsets = frame_offsets(np.array([p[2] for p in people]), np.array([p[1] for p in people]))
        landmarks[name] = {set_name: (agreement(pipeline.embedder.embed, photos[set_name], found),
                                      agreement(pipeline.embedder.embed, photos[set_name], found, offsets.mean(0)),
                                      frame_offsets(np.array([p[2] for p in found]), np.array([p[1] for p in found])))
                           for set_name, found in pairs.items()}
    speed = time_detectors(detectors, fit_frame(load_image(sample_face()).pixels), 30)
    return detectors, list(sets), counts, landmarks, speed


def test_detector_comparison(benchmark, pipeline, data_dir, labelled_boxes):
    detectors, set_names, counts, landmarks, speed = benchmark.pedantic(
        evaluate, args=(pipeline, data_dir, labelled_boxes), rounds=1, iterations=1)
    print(f"\nfound/expected +false boxes at each manifest's thresholds; live: {LIVE_LONG_SIDE} px, Pc relieved")
    print(f"{'detector':<20}{'size':<6}{'Pc':>5}{'NMS':>5}" + "".join(f"{s:>13}" for s in set_names)
          + f"{'ms/frame':>10}")
    for (name, size), rows in counts.items():
        detector = detectors[name]
        print(f"{name:<20}{size:<6}{detector.score_threshold:5.2f}{detector.nms_threshold:5.2f}"
              + "".join(f"{f'{f}/{e} +{x}':>13}" for f, e, x in rows) + f"{speed[name][f'{size}_ms']:10.2f}")
    print("ms: one 640x480 frame, median of 30 runs in turns; full = still size (min_side 640)")
    print(f"landmarks against {REFERENCE}'s, and the chips' descriptor drift d (tau 0.36):")
    for name, sets in landmarks.items():
        for set_name, (raw, mapped, offsets) in sets.items():
            print(f"  {name:<20}{set_name:<8}as decoded: {raw}")
            print(f"  {'':<20}{'':<8}people/-fitted offset: {mapped}")
            print(f"  {'':<20}{'':<8}per-point offset mean {np.round(offsets.mean(0), 3).tolist()} "
                  f"spread {np.round(offsets.std(0), 3).tolist()}")
    assert counts["yunet-n", "live"][0] == (18, 18, 0)


def orl_frame(path: Path) -> np.ndarray:
    """An ORL crop enlarged 2.5x in the middle of a black 640x480 frame, as tests/test_live.py frames them."""
    face = cv2.resize(load_image(path).pixels, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_LINEAR)
    frame = np.zeros((480, 640, 3), np.uint8)
    top, left = (480 - face.shape[0]) // 2, (640 - face.shape[1]) // 2
    frame[top:top + face.shape[0], left:left + face.shape[1]] = face
    return frame


def identify_live(pipeline, detectors, data_dir, tmp_path) -> dict:
    """(detector, clear | masked) -> (right, wrong, unknown, no face): people/ and ORL s1-s40
    enrolled from their first photo through the photos' detector (as the app enrols), the other
    photos framed as 640x480 camera frames (masked: ``mask_photo``) and named by each detector at
    the live size with the app's own matching (condition, masked copies, condition taus)."""
    from core.bench import letterbox
    from core.live.match import Matcher
    from core.storage.repository import Gallery
    from core.vision.masks import copies_model_id, copy_vectors

    model = pipeline.embedder.spec.id
    probes = []
    with Gallery(tmp_path / "live-identification.db") as gallery:
        def enrol(name: str, pixels: np.ndarray) -> None:
            chip = pipeline.align(pixels, [main_face(pipeline.detector, pixels)])
            gallery.enroll(name, chip[0], pipeline.embed(chip)[0], model, 1.0, "benchmark",
                           derived={copies_model_id(model): copy_vectors(pipeline.embed, chip)[0]})

        for folder in sorted(p for p in (data_dir / "people").iterdir() if p.is_dir()):
            photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
            enrol(folder.name, load_image(photos[0]).pixels)
            probes += [(folder.name, letterbox(load_image(p).pixels)) for p in photos[1:]]
        for person in range(1, 41):
            folder = data_dir / "orl" / f"s{person}"
            enrol(folder.name, orl_frame(folder / "1.pgm"))
            probes += [(folder.name, orl_frame(folder / f"{n}.pgm")) for n in range(2, 11)]
        masked = [(name, mask_photo(pixels, main_face(pipeline.detector, pixels))) for name, pixels in probes]
        matcher = Matcher(gallery, model, pipeline.tau, condition_taus=pipeline.condition_taus)
        outcome = {}
        for label, detector in detectors.items():
            threshold = live_threshold(detector.score_threshold, LIVE_LONG_SIDE)
            for kind, shown in (("clear", probes), ("masked", masked)):
                tally = [0, 0, 0, 0]
                for name, pixels in shown:
                    faces = detector.detect(pixels, LIVE_LONG_SIDE, threshold)
                    if not faces:
                        tally[3] += 1
                        continue
                    face = max(faces, key=lambda found: found.area)
                    chips = pipeline.align(pixels, [face])
                    named = matcher.match(pipeline.embed(chips), pipeline.assess([face], chips))[0].name
                    tally[2 if named is None else 0 if named == name else 1] += 1
                outcome[label, kind] = tuple(tally)
    return outcome


def test_live_identification_by_detector(benchmark, pipeline, data_dir, tmp_path):
    """Whether a live detector's points name people as well as the photos' detector's: the
    embedder's taus were calibrated on CenterFace's. "Unknown" beats a wrong name."""
    detectors = all_detectors()
    outcome = benchmark.pedantic(identify_live, args=(pipeline, detectors, data_dir, tmp_path), rounds=1, iterations=1)
    print(f"\nlive identification at {LIVE_LONG_SIDE} px, enrolled through {REFERENCE} (right / wrong / unknown / no face):")
    for (label, kind), (right, wrong, unknown, missed) in outcome.items():
        print(f"  {label:<20}{kind:<8}{right:5} right {wrong:4} wrong {unknown:5} unknown {missed:4} no face")
    assert outcome["yunet-n", "clear"][1] == 0
