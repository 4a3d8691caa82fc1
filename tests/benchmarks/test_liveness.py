"""Liveness: APCER/BPCER at the shipped threshold, and the time it adds per face and per frame.

Run: ``python -m pytest tests/benchmarks/test_liveness.py --benchmark-only -s``.

Error rates (ISO/IEC 30107-3 names): APCER is the share of attack presentations judged live,
BPCER the share of bona fide presentations judged not live, both at ``LIVE_THRESHOLD`` on the
largest face the detector finds in the frame (a frame where it finds none is counted apart:
no face, nothing to name). Presentations:

- upstream's samples (image_T1 live, image_F1 and image_F2 photos of prints);
- every shared photo with one main face (the largest at least twice the area of the next):
  ``SEEDS`` bona fide webcam frames cropped from it, and ``SEEDS`` prints and ``SEEDS``
  screens rendered from it by tests/attacks.py, half of them in front of another shared
  photo (blurred), half in front of a wall.

Timing: the liveness networks alone on 1 face and on 4 faces in one batch, and a 640x480
frame with one face, detect alone against detect + liveness, with the detector's own time
on the same frame measured in the same run (at the live loop's input size and at full size).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from core.bench import median_ms
from core.bench_matrix import RESOLUTIONS, tiled_frame
from core.vision.imaging import load_image
from core.live.loop import LIVE_LONG_SIDE
from core.vision.liveness import LIVE_THRESHOLD
from core.resources import sample_face

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from attacks import ATTACKS, bona_fide_frame  # noqa: E402

SEEDS = 4
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
REPEAT = 30
TIMES: dict[str, float] = {}


def shared_photos(data_dir: Path) -> list[Path]:
    """Every bona fide photo of the shared data (never MFR2 or NUAA: they are kept aside)."""
    found = [p for p in sorted((data_dir / "people").glob("*/*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    for folder in ("scenes", "detection", "edge"):
        found += [p for p in sorted((data_dir / folder).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    return found + [data_dir / "liveness" / "image_T1.jpg"]


def main_face(pipeline, pixels: np.ndarray):
    """The largest face when it is at least twice the area of the next, else None."""
    faces = sorted(pipeline.detect(pixels), key=lambda f: f.area, reverse=True)
    if not faces or (len(faces) > 1 and faces[1].area * 2 > faces[0].area):
        return None
    return faces[0]


def largest_score(pipeline, frame: np.ndarray) -> float | None:
    """The live score of the largest face in ``frame``, or None when no face is found."""
    faces = pipeline.detect(frame)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.area)
    return float(pipeline.live_scores(frame, [face])[0])


def quantiles(scores: list[float]) -> str:
    if not scores:
        return "-"
    return " ".join(f"{q:.3f}" for q in np.quantile(scores, [0.0, 0.1, 0.5, 0.9, 1.0]))


def evaluate(pipeline, data_dir: Path) -> dict[str, dict]:
    """presentation type -> {"bona_fide": bool, "scores": [...], "missed": frames without a face}."""
    rows = {name: {"bona_fide": bona, "scores": [], "missed": 0} for name, bona in
            (("upstream live (T1)", True), ("upstream print (F1, F2)", False), ("bona fide frame", True),
             ("print", False), ("screen", False))}

    def add(name: str, score: float | None) -> None:
        if score is None:
            rows[name]["missed"] += 1
        else:
            rows[name]["scores"].append(score)

    samples = data_dir / "liveness"
    add("upstream live (T1)", largest_score(pipeline, load_image(samples / "image_T1.jpg").pixels))
    for name in ("image_F1.jpg", "image_F2.jpg"):
        add("upstream print (F1, F2)", largest_score(pipeline, load_image(samples / name).pixels))
    photos = shared_photos(data_dir)
    loaded = {path: load_image(path).pixels for path in photos}
    used = []
    for index, path in enumerate(photos):
        face = main_face(pipeline, loaded[path])
        if face is None:
            continue
        used.append(path.relative_to(data_dir))
        for seed in range(SEEDS):
            rng = np.random.default_rng([index, seed])
            add("bona fide frame", largest_score(pipeline, bona_fide_frame(loaded[path], rng, face.box)))
            for kind, render in ATTACKS.items():
                scene = loaded[photos[(index + 1 + seed) % len(photos)]] if seed % 2 else None
                add(kind, largest_score(pipeline, render(loaded[path], rng, face.box, scene)))
    rows["_photos"] = used
    return rows


def test_error_rates(benchmark, pipeline, data_dir):
    rows = benchmark.pedantic(evaluate, args=(pipeline, data_dir), rounds=1, iterations=1)
    used = rows.pop("_photos")
    print(f"\nliveness at LIVE_THRESHOLD {LIVE_THRESHOLD}, {len(used)} shared photos with one main face, "
          f"{SEEDS} seeds each")
    print(f"{'presentation':<26}{'frames':>7}{'no face':>8}{'judged live':>12}  {'APCER':>7}{'BPCER':>7}   "
          "score quantiles (min 10% 50% 90% max)")
    summary = {}
    for name, row in rows.items():
        scores = np.array(row["scores"])
        live = int((scores >= LIVE_THRESHOLD).sum())
        rate = live / len(scores) if row["bona_fide"] is False and len(scores) else None
        miss = (len(scores) - live) / len(scores) if row["bona_fide"] and len(scores) else None
        summary[name] = {"frames": len(scores), "no_face": row["missed"], "live": live,
                         "apcer": rate, "bpcer": miss}
        print(f"{name:<26}{len(scores):>7}{row['missed']:>8}{live:>12}  "
              f"{'' if rate is None else f'{rate:7.1%}':>7}{'' if miss is None else f'{miss:7.1%}':>7}   "
              f"{quantiles(row['scores'])}")
    attacks = [s for name in ATTACKS for s in rows[name]["scores"]]
    print(f"{'all rendered attacks':<26}{len(attacks):>7}{'':>8}{sum(s >= LIVE_THRESHOLD for s in attacks):>12}  "
          f"{np.mean(np.array(attacks) >= LIVE_THRESHOLD):7.1%}")
    benchmark.extra_info.update({"threshold": LIVE_THRESHOLD, "photos": [str(p) for p in used], "rates": summary})
    assert summary["upstream live (T1)"]["live"] == 1 and summary["upstream print (F1, F2)"]["live"] == 0


@pytest.fixture(scope="module")
def one_face(pipeline):
    frame = load_image(sample_face()).pixels
    faces = pipeline.detect(frame)
    assert len(faces) == 1
    return frame, faces


@pytest.fixture(scope="module")
def four_faces(pipeline):
    frame = tiled_frame(load_image(sample_face()).pixels, 4, RESOLUTIONS["480p"])
    faces = pipeline.detect(frame)
    assert len(faces) == 4
    return frame, faces


def test_liveness_one_face(benchmark, pipeline, one_face):
    frame, faces = one_face
    benchmark(pipeline.liveness.scores, frame, [f.box for f in faces])
    TIMES["liveness, 1 face"] = benchmark.stats.stats.median * 1000


def test_liveness_four_faces(benchmark, pipeline, four_faces):
    frame, faces = four_faces
    benchmark(pipeline.liveness.scores, frame, [f.box for f in faces])
    TIMES["liveness, 4 faces (batch)"] = benchmark.stats.stats.median * 1000
    benchmark.extra_info["ms_per_face"] = TIMES["liveness, 4 faces (batch)"] / 4


@pytest.mark.parametrize("long_side", [LIVE_LONG_SIDE, None], ids=["live-size", "full-size"])
def test_frame_with_liveness(benchmark, pipeline, one_face, long_side):
    """Detect + liveness on a 640x480 frame with one face; detect alone timed in the same run."""
    frame = one_face[0]

    def detect_and_check() -> int:
        faces = pipeline.detect(frame, long_side)
        return len(pipeline.liveness.scores(frame, [f.box for f in faces]))

    detect_ms = median_ms(lambda: pipeline.detect(frame, long_side), REPEAT)
    assert benchmark(detect_and_check) == 1
    both_ms = benchmark.stats.stats.median * 1000
    detect_after = median_ms(lambda: pipeline.detect(frame, long_side), REPEAT)
    detect_ms = min(detect_ms, detect_after)  # before and after, the quieter of the two
    size = f"{LIVE_LONG_SIDE} px" if long_side else "full size"
    TIMES[f"detect alone ({size})"] = detect_ms
    TIMES[f"detect + liveness ({size})"] = both_ms
    benchmark.extra_info.update({"detect_ms": detect_ms, "added_ms": both_ms - detect_ms,
                                 "added_vs_detect": (both_ms - detect_ms) / detect_ms})


def test_detect_and_summary(benchmark, pipeline, one_face):
    """The detector alone at the live size (the yardstick), then all the timings above side by side."""
    frame, faces = one_face
    benchmark(pipeline.detect, frame, LIVE_LONG_SIDE)
    detect_live = benchmark.stats.stats.median * 1000
    liveness_one = median_ms(lambda: pipeline.liveness.scores(frame, [f.box for f in faces]), REPEAT)
    print(f"\nliveness timing, 640x480 frame, median ms (detector same frame, same run: {detect_live:.2f} ms "
          f"at {LIVE_LONG_SIDE} px; liveness 1 face now {liveness_one:.2f} ms = {liveness_one / detect_live:.2f}x detect)")
    for name, ms in TIMES.items():
        print(f"  {name:<32}{ms:8.2f} ms  ({ms / detect_live:.2f}x detect at {LIVE_LONG_SIDE} px)")
    if "liveness, 4 faces (batch)" in TIMES:
        print(f"  {'liveness per face, batch of 4':<32}{TIMES['liveness, 4 faces (batch)'] / 4:8.2f} ms")
    for size in (f"{LIVE_LONG_SIDE} px", "full size"):
        if f"detect alone ({size})" in TIMES:
            alone, both = TIMES[f"detect alone ({size})"], TIMES[f"detect + liveness ({size})"]
            print(f"  frame at {size}: liveness adds {both - alone:.2f} ms to detect's {alone:.2f} ms "
                  f"(+{(both - alone) / alone:.0%})")
